import DataPlane
import DataPlaneNFTables
import Foundation
import NetCore
import TestSupport

/// The topology of nft-dataplane.md §1: client, director, three real servers (nginx) on one
/// bridge, plus a back bridge for NAT. Everything lives in namespaces prefixed `vgd`.
final class DataPlaneLab: @unchecked Sendable {
    let lab: NetnsLab
    let br: String, cli: String, dir: String
    var rs: [String] = []
    let dirTemp: String
    static let vip = "10.77.0.21"
    static let front = ["10.77.0.12", "10.77.0.13", "10.77.0.14"]
    static let back = ["10.78.0.12", "10.78.0.13", "10.78.0.14"]

    init(_ name: String) throws {
        lab = NetnsLab(prefix: "vgd")
        dirTemp = NSTemporaryDirectory() + "vgd-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        br = try lab.addNamespace("br")
        cli = try lab.addNamespace("cli")
        dir = try lab.addNamespace("dir")
        do {
            try setUp()
        } catch {
            teardown()
            throw error
        }
    }

    private func setUp() throws {
        try lab.addBridge("br0", in: br)
        try lab.addBridge("br1", in: br)
        try lab.attach(cli, ifname: "eth0", bridge: "br0", in: br, port: "p-cli", mac: "02:77:00:00:00:10", addresses: ["10.77.0.10/24"])
        try lab.attach(dir, ifname: "eth0", bridge: "br0", in: br, port: "p-dir", mac: "02:77:00:00:00:11", addresses: ["10.77.0.11/24"])
        try lab.attach(dir, ifname: "eth1", bridge: "br1", in: br, port: "b-dir", mac: "02:78:00:00:00:01", addresses: ["10.78.0.1/24"])
        try lab.sh(dir, """
            sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
            ip addr add \(Self.vip)/32 dev eth0
            """)
        try lab.sh(cli, "sysctl -qw net.ipv4.tcp_rmem='4096 65536 131072'")
        try FileManager.default.createDirectory(atPath: dirTemp, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        for i in 1...3 {
            let ns = try lab.addNamespace("rs\(i)")
            rs.append(ns)
            let n = 11 + i
            try lab.attach(ns, ifname: "eth0", bridge: "br0", in: br, port: "p-rs\(i)", mac: "02:77:00:00:00:\(n)", addresses: ["10.77.0.\(n)/24"])
            try lab.attach(ns, ifname: "eth1", bridge: "br1", in: br, port: "b-rs\(i)", mac: "02:78:00:00:00:\(n)", addresses: ["10.78.0.\(n)/24"])
            try lab.sh(ns, """
                ip addr add \(Self.vip)/32 dev lo
                sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
                ip route add default via 10.78.0.1 dev eth1 table 78
                ip rule add from 10.78.0.0/24 lookup 78 pref 100
                """)
            let d = "\(dirTemp)/rs\(i)"
            try FileManager.default.createDirectory(atPath: "\(d)/www", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            try FileManager.default.createDirectory(atPath: "\(d)/tmp", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            try "rs\(i)\n".write(toFile: "\(d)/www/index.html", atomically: true, encoding: .utf8)
            try lab.sh(nil, "truncate -s 3M \(d)/www/mid.bin && chmod -R a+rX \(d)")
            let conf = """
                worker_processes 1;
                pid \(d)/nginx.pid;
                error_log \(d)/error.log warn;
                events { worker_connections 4096; }
                http {
                  access_log off; sendfile on; tcp_nopush on;
                  keepalive_timeout 65; keepalive_requests 1000;
                  client_body_temp_path \(d)/tmp/cb; proxy_temp_path \(d)/tmp/px; fastcgi_temp_path \(d)/tmp/fc;
                  uwsgi_temp_path \(d)/tmp/uw; scgi_temp_path \(d)/tmp/sc;
                  default_type text/plain;
                  server { listen 80 reuseport; listen 8080 reuseport; root \(d)/www;
                           location /slow/ { alias \(d)/www/; limit_rate 1m; } }
                }
                """
            try conf.write(toFile: "\(d)/nginx.conf", atomically: true, encoding: .utf8)
            try lab.spawn(ns, ["nginx", "-c", "\(d)/nginx.conf", "-e", "\(d)/error.log", "-g", "daemon off;"])
        }
        for (i, ns) in rs.enumerated() {
            let ok = waitUntil(timeout: 10) { (try? lab.sh(ns, "curl -s -m 1 http://10.77.0.\(12 + i)/")) == "rs\(i + 1)\n" }
            if !ok { throw LabError("nginx in \(ns) did not come up") }
        }
    }

    func backend(_ settings: NFTEngineSettings = NFTEngineSettings(interface: "eth0")) -> NFTablesBackend {
        NFTablesBackend(settings: settings, commandPrefix: ["ip", "netns", "exec", dir])
    }

    /// One HTTP GET from the client; returns the body ("rsN") or nil on failure.
    func get(_ url: String = "http://\(vip)/") -> String? {
        guard let r = try? lab.run(cli, ["curl", "-s", "-m", "3", url], timeout: 10), r.status == 0 else { return nil }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    var vip: String { Self.vip }

    func teardown() {
        lab.teardown()
        try? FileManager.default.removeItem(atPath: dirTemp)
    }
}

func sock(_ a: String, _ p: UInt16) -> SocketAddress { SocketAddress(address: IPAddress(a)!, port: p) }

func service(_ sched: String, weights: [Int32] = [1, 1, 1], nat: Bool = false, port: UInt16 = 80) -> VirtualService {
    let addrs = nat ? DataPlaneLab.back : DataPlaneLab.front
    return VirtualService(
        key: .address(.tcp, sock(DataPlaneLab.vip, port)), scheduler: sched,
        destinations: zip(addrs, weights).map { a, w in
            Destination(address: sock(a, nat ? 8080 : port), forwarding: nat ? .masquerade : .directRoute, weight: w)
        })
}
