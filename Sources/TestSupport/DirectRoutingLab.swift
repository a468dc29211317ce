import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The reference scenario's network in namespaces: a client, a director and three nginx real
/// servers on one bridge (DR: the VIP on each real server's `lo` with the ARP sysctls), plus a
/// back bridge on which the real servers route replies from their back addresses through the
/// director (NAT). Real server N answers `rsN\n` on port 80 and 8080 at every address.
///
/// Addresses: client 10.77.0.10, director 10.77.0.11 (+ 10.78.0.1 on eth1), VIP 10.77.0.21 on
/// the director's eth0, real servers 10.77.0.12-14 (front) and 10.78.0.12-14 (back).
public final class DirectRoutingLab: @unchecked Sendable {
    public let lab: NetnsLab
    public let bridge: String, client: String, director: String
    public private(set) var realServers: [String] = []
    public let workDir: String
    public static let vip = "10.77.0.21"
    public static let front = ["10.77.0.12", "10.77.0.13", "10.77.0.14"]
    public static let back = ["10.78.0.12", "10.78.0.13", "10.78.0.14"]

    /// `prefix` is the helper's namespace prefix (e.g. `vge`), `name` tells tests apart in paths.
    public init(prefix: String, name: String) throws {
        lab = NetnsLab(prefix: prefix)
        workDir = NSTemporaryDirectory() + "\(prefix)-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        bridge = try lab.addNamespace("br")
        client = try lab.addNamespace("cli")
        director = try lab.addNamespace("dir")
        do {
            try setUp()
        } catch {
            teardown()
            throw error
        }
    }

    private func setUp() throws {
        try lab.addBridge("br0", in: bridge)
        try lab.addBridge("br1", in: bridge)
        try lab.attach(client, ifname: "eth0", bridge: "br0", in: bridge, port: "p-cli", mac: "02:77:00:00:00:10", addresses: ["10.77.0.10/24"])
        try lab.attach(director, ifname: "eth0", bridge: "br0", in: bridge, port: "p-dir", mac: "02:77:00:00:00:11", addresses: ["10.77.0.11/24"])
        try lab.attach(director, ifname: "eth1", bridge: "br1", in: bridge, port: "b-dir", mac: "02:78:00:00:00:01", addresses: ["10.78.0.1/24"])
        try lab.sh(director, """
            sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
            ip addr add \(Self.vip)/32 dev eth0
            """)
        // A small receive buffer keeps long downloads' ACK stream flowing through the director.
        try lab.sh(client, "sysctl -qw net.ipv4.tcp_rmem='4096 65536 131072'")
        try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        for i in 1...3 {
            let ns = try lab.addNamespace("rs\(i)")
            realServers.append(ns)
            let n = 11 + i
            try lab.attach(ns, ifname: "eth0", bridge: "br0", in: bridge, port: "p-rs\(i)", mac: "02:77:00:00:00:\(n)", addresses: ["10.77.0.\(n)/24"])
            try lab.attach(ns, ifname: "eth1", bridge: "br1", in: bridge, port: "b-rs\(i)", mac: "02:78:00:00:00:\(n)", addresses: ["10.78.0.\(n)/24"])
            try lab.sh(ns, """
                ip addr add \(Self.vip)/32 dev lo
                sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
                ip route add default via 10.78.0.1 dev eth1 table 78
                ip rule add from 10.78.0.0/24 lookup 78 pref 100
                """)
            let d = "\(workDir)/rs\(i)"
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
        for (i, ns) in realServers.enumerated() {
            let ok = waitUntil(timeout: 10) { (try? lab.sh(ns, "curl -s -m 1 http://10.77.0.\(12 + i)/")) == "rs\(i + 1)\n" }
            if !ok { throw LabError("nginx in \(ns) did not come up") }
        }
    }

    /// One HTTP GET from the client; the body (`rsN`) or nil on failure.
    /// With `localPort`, the request leaves from that client port and asks the server to close
    /// first, so the port is free again at once (no TIME_WAIT on the client).
    public func get(_ url: String = "http://\(DirectRoutingLab.vip)/", localPort: UInt16? = nil) -> String? {
        let port = localPort.map { ["--local-port", "\($0)", "-H", "Connection: close"] } ?? []
        guard let r = try? lab.run(client, ["curl", "-s", "-m", "3"] + port + [url], timeout: 10), r.status == 0 else { return nil }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// How many of `bodies` came from rs1, rs2, rs3.
    public static func perServer(_ bodies: [String]) -> [Int] {
        ["rs1", "rs2", "rs3"].map { name in bodies.filter { $0 == name }.count }
    }

    public func teardown() {
        lab.teardown()
        try? FileManager.default.removeItem(atPath: workDir)
    }
}
