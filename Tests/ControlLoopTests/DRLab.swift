import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A client, a director and DR real servers running nginx on one bridge, all in namespaces:
/// 192.168.7.10 client, .11 director (VIP .21 on its eth0), real servers from .12 on.
final class DRLab: @unchecked Sendable {
    static let vip = "192.168.7.21"
    let lab: NetnsLab
    let dir: String
    let client: String
    let director: String
    /// Real server name → (namespace, address).
    private(set) var servers: [String: (ns: String, address: String)] = [:]

    init(tag: String, servers names: [String]) throws {
        lab = NetnsLab(prefix: tag)
        dir = try makeScratchDirectory(tag)
        let sw = try lab.addNamespace("sw")
        try lab.addBridge("br0", in: sw)
        client = try lab.addNamespace("cl")
        director = try lab.addNamespace("dir")
        try lab.attach(client, ifname: "eth0", bridge: "br0", in: sw, port: "p-cl", addresses: ["192.168.7.10/24"])
        try lab.attach(director, ifname: "eth0", bridge: "br0", in: sw, port: "p-dir", addresses: ["192.168.7.11/24", "\(Self.vip)/24"])
        // A small receive buffer makes a client-side rate limit hold the server's connection open.
        try lab.sh(client, "sysctl -qw net.ipv4.tcp_rmem='4096 65536 131072'")
        try lab.sh(director, "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0")
        for (i, name) in names.enumerated() {
            let ns = try lab.addNamespace(name)
            let address = "192.168.7.\(12 + i)"
            try lab.attach(ns, ifname: "eth0", bridge: "br0", in: sw, port: "p-\(name)", addresses: ["\(address)/24"])
            servers[name] = (ns, address)
            try lab.sh(ns, "\(vigilBinaryPath) realserver setup --vip \(Self.vip) >/dev/null")
            // A small send buffer keeps a rate-limited download's connection open on the server
            // until the client has read most of it (nginx would otherwise hand the whole file to
            // the kernel and close at once).
            try lab.sh(ns, "sysctl -qw net.ipv4.tcp_wmem='4096 16384 65536'")
            let root = "\(dir)/\(name)"
            for sub in ["www", "tmp", "log"] {
                try FileManager.default.createDirectory(atPath: "\(root)/\(sub)", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            }
            try setPage(name, page(name))
            try lab.sh(nil, "head -c 3000000 /dev/zero > \(root)/www/big.bin && chmod 644 \(root)/www/big.bin")
            let conf = """
                worker_processes 1;
                pid \(root)/nginx.pid;
                error_log \(root)/log/error.log warn;
                events { worker_connections 4096; }
                http {
                  access_log off; sendfile on; keepalive_timeout 65; keepalive_requests 100000;
                  client_body_temp_path \(root)/tmp/cb; proxy_temp_path \(root)/tmp/px; fastcgi_temp_path \(root)/tmp/fc;
                  uwsgi_temp_path \(root)/tmp/uw; scgi_temp_path \(root)/tmp/sc;
                  default_type text/plain;
                  server { listen 80 backlog=4096; root \(root)/www;
                           location /slow/ { alias \(root)/www/; limit_rate 300k; } }
                }

                """
            try conf.write(toFile: "\(root)/nginx.conf", atomically: true, encoding: .utf8)
            try lab.spawn(ns, ["nginx", "-c", "\(root)/nginx.conf", "-e", "\(root)/log/error.log", "-g", "daemon off;"])
        }
        for (name, s) in servers {
            guard waitUntil(timeout: 10, { (try? self.lab.run(self.client, ["curl", "-s", "-m", "1", "http://\(s.address)/"]).stdout) == self.page(name) }) else {
                throw LabError("nginx on \(name) does not answer")
            }
        }
    }

    func page(_ name: String) -> String { "vgk real server \(name)\n" }

    func setPage(_ name: String, _ text: String) throws {
        try text.write(toFile: "\(dir)/\(name)/www/index.html", atomically: true, encoding: .utf8)
        chmod("\(dir)/\(name)/www/index.html", 0o644)
    }

    func address(_ name: String) -> String { servers[name]!.address }

    /// The real server with an established connection from the client on port 80.
    func serverWithClientConnection() -> String? {
        for (name, s) in servers {
            let out = (try? lab.sh(s.ns, "ss -Htn state connected '( sport = :80 )'")) ?? ""
            if out.contains("192.168.7.10") { return name }
        }
        return nil
    }

    /// Lines the notify/quorum scripts appended to `notify.log`.
    func notes() -> [String] {
        ((try? String(contentsOfFile: "\(dir)/notify.log", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    private var notesSeen = 0

    /// Waits until the scripts since the last call wrote exactly `expected` (in any order: they
    /// run concurrently, as keepalived forks them).
    func expectNotes(_ expected: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        var got: [String] = []
        _ = waitUntil(timeout: 5) {
            got = Array(notes().dropFirst(notesSeen))
            return got.count >= expected.count
        }
        Thread.sleep(forTimeInterval: 0.1)
        got = Array(notes().dropFirst(notesSeen))
        #expect(got.sorted() == expected.sorted(), "scripts ran \(got), expected \(expected)", sourceLocation: sourceLocation)
        notesSeen += got.count
    }

    func teardown() {
        lab.teardown()
        try? FileManager.default.removeItem(atPath: dir)
    }
}
