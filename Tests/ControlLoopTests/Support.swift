import Daemon
import DataPlane
import Foundation
import Lab
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// One `vigil run` started by a test inside a namespace, with its config, log and status files
/// in a private directory.
final class VigilUnderTest: @unchecked Sendable {
    let lab: NetnsLab
    let ns: String
    let dir: String
    var configPath: String { dir + "/keepalived.conf" }
    var statusPath: String { dir + "/status.json" }
    var logPath: String { dir + "/vigil.log" }
    private(set) var process: Process?

    init(lab: NetnsLab, ns: String, dir: String) {
        self.lab = lab
        self.ns = ns
        self.dir = dir
    }

    func start(config: String, arguments: [String]) throws {
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        process = try lab.spawn(ns, [vigilBinaryPath, "run", "-f", configPath, "--status-file", statusPath, "--log-file", logPath] + arguments)
    }

    /// Writes the new configuration and sends SIGHUP; returns once the daemon logged the reload.
    func reload(config: String, timeout: Double = 15) throws {
        let before = log.components(separatedBy: "Reload complete").count
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        guard let p = process else { return }
        kill(p.processIdentifier, SIGHUP)
        guard waitUntil(timeout: timeout, { self.log.components(separatedBy: "Reload complete").count > before }) else {
            throw LabError("no 'Reload complete' after SIGHUP; log:\n\(log)")
        }
    }

    /// SIGTERM and wait; returns the exit status.
    func stop() -> Int32? {
        guard let p = process else { return nil }
        lab.signal(p, SIGTERM)
        return p.isRunning ? nil : p.terminationStatus
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    var status: StatusSnapshot? { try? StatusSnapshot.read(from: statusPath) }

    /// Alive state per "server of service" as the status file reports it.
    func alive() -> [String: Bool] {
        var out: [String: Bool] = [:]
        for r in status?.realServers ?? [] { out["\(r.server) \(r.service)"] = r.alive }
        return out
    }

    /// The kernel's pool for `service` (read back by the daemon): "ip:port" → weight.
    func pool(_ service: String) -> [String: Int32]? {
        guard let s = status?.services.first(where: { $0.key.description == service }) else { return nil }
        return Dictionary(s.destinations.map { ("\($0.address.address):\($0.address.port)", $0.weight) }, uniquingKeysWith: { a, _ in a })
    }

    /// Waits for a fresh status file (written after `since`).
    func waitForStatus(timeout: Double = 20) -> Bool {
        waitUntil(timeout: timeout) { self.status != nil }
    }
}

/// A test's scratch directory, removed by `remove()`.
func makeScratchDirectory(_ tag: String) throws -> String {
    let dir = "/tmp/vgk-\(tag)-\(getpid())-\(UInt32.random(in: 0...0xffff))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    chmod(dir, 0o755)
    return dir
}

func md5(_ text: String) -> String { LabPages.digest(of: text) }

/// Seconds since `start`.
func elapsed(since start: Date) -> Double { Date().timeIntervalSince(start) }

/// Polls `condition` and returns the time it took to hold, or nil after `timeout`.
func timeUntil(timeout: Double, _ condition: () -> Bool) -> Double? {
    let start = Date()
    return waitUntil(timeout: timeout, condition) ? elapsed(since: start) : nil
}

/// Small protocol servers for the checkers, controlled by flag files in `dir`:
/// HTTP 8080 (body from `body.txt`, `/health` gives 503 while `status.fail` exists),
/// HTTP 8081 (accepts and never answers while `hang` exists), HTTPS 8443 (500 while
/// `tls.fail` exists), SMTP 25 (554 greeting while `smtp.fail`), DNS 53/udp (SERVFAIL while
/// `dns.fail`), UDP 9000 (answers `pong` to `ping`, silent while `udp.fail`).
let protocolServersScript = #"""
import http.server, os, socket, socketserver, ssl, sys, threading, time
D = sys.argv[1]; ADDR = sys.argv[2]
def flag(n): return os.path.exists(os.path.join(D, n))

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def log_message(self, *a): pass
    def reply(self, code, body):
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        port = self.server.server_address[1]
        if port == 8081:
            while flag("hang"): time.sleep(0.2)
            return self.reply(200, b"ok\n")
        if port == 8443:
            return self.reply(500 if flag("tls.fail") else 200, b"tls ok\n")
        if self.path == "/health":
            return self.reply(503 if flag("status.fail") else 200, b"healthy\n")
        with open(os.path.join(D, "body.txt"), "rb") as f: self.reply(200, f.read())

class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

def serve(port, tls=False):
    s = S((ADDR, port), H)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(D, "cert.pem"), os.path.join(D, "key.pem"))
        s.socket = ctx.wrap_socket(s.socket, server_side=True)
    threading.Thread(target=s.serve_forever, daemon=True).start()

class SMTP(socketserver.StreamRequestHandler):
    def handle(self):
        if flag("smtp.fail"):
            self.wfile.write(b"554 no service\r\n"); return
        self.wfile.write(b"220 vgk ESMTP\r\n")
        for line in self.rfile:
            cmd = line.strip().upper()
            if cmd.startswith(b"HELO") or cmd.startswith(b"EHLO"): self.wfile.write(b"250 hello\r\n")
            elif cmd.startswith(b"QUIT"): self.wfile.write(b"221 bye\r\n"); return
            else: self.wfile.write(b"500 what\r\n")

class TS(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

def udp(port, answer):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((ADDR, port))
    def loop():
        while True:
            data, peer = u.recvfrom(2048)
            r = answer(data)
            if r is not None: u.sendto(r, peer)
    threading.Thread(target=loop, daemon=True).start()

def dns(q):
    if len(q) < 12: return None
    rcode = 2 if flag("dns.fail") else 0
    return q[:2] + bytes([0x81, 0x80 | rcode]) + q[4:6] + b"\0\0\0\0\0\0" + q[12:]

serve(8080); serve(8081); serve(8084); serve(8443, tls=True)
threading.Thread(target=TS((ADDR, 25), SMTP).serve_forever, daemon=True).start()
udp(53, dns)
udp(9000, lambda d: None if flag("udp.fail") else (b"pong" if d == b"ping" else b"what"))
open(os.path.join(D, "ready"), "w").close()
while True: time.sleep(3600)
"""#
