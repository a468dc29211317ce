import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Opens a socket bound to 127.0.0.1 on an ephemeral port; returns (fd, port).
func bindLoopback(type: Int32) -> (Int32, UInt16) {
    let fd = socket(AF_INET, type, 0)
    precondition(fd >= 0)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    sin.sin_port = 0
    let r = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    precondition(r == 0)
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return (fd, UInt16(bigEndian: sin.sin_port))
}

/// A tiny threaded HTTP/TCP server on loopback. `routes` maps a request path to the raw bytes
/// written back (then the connection is closed); the path `/hang` keeps the connection open
/// without answering. `greeting` bytes (SMTP) are sent on accept; `replies` answer each line.
final class TestTCPServer: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32
    let routes = Mutex<[String: [UInt8]]>([:])
    let lineReplies = Mutex<[String: String]>([:])
    var greeting: String?
    private let stopped = Atomic<Bool>(false)
    private let openConns = Mutex<[Int32]>([])
    let requests = Mutex<[String]>([])

    init(greeting: String? = nil) {
        (fd, port) = bindLoopback(type: Int32(SOCK_STREAM.rawValue))
        self.greeting = greeting
        listen(fd, 128)
        let t = Thread { [self] in acceptLoop() }
        t.start()
    }

    func set(_ path: String, status: String = "200 OK", body: [UInt8], headers: String = "") {
        let head = "HTTP/1.0 \(status)\r\nServer: vgh-test\r\n\(headers)\r\n"
        routes.withLock { $0[path] = Array(head.utf8) + body }
    }

    func setRaw(_ path: String, _ bytes: [UInt8]) { routes.withLock { $0[path] = bytes } }

    private func acceptLoop() {
        while !stopped.load(ordering: .relaxed) {
            let c = accept(fd, nil, nil)
            if c < 0 { if stopped.load(ordering: .relaxed) { return } else { continue } }
            openConns.withLock { $0.append(c) }
            let t = Thread { [self] in handle(c) }
            t.start()
        }
    }

    private func handle(_ c: Int32) {
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if let g = greeting {
            _ = g.withCString { send(c, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            var buf = [UInt8](repeating: 0, count: 1024)
            var acc = ""
            while true {
                let n = recv(c, &buf, buf.count, 0)
                if n <= 0 { break }
                acc += String(decoding: buf[..<n], as: UTF8.self)
                while let r = acc.range(of: "\r\n") {
                    let line = String(acc[..<r.lowerBound])
                    acc = String(acc[r.upperBound...])
                    requests.withLock { $0.append(line) }
                    let verb = String(line.split(separator: " ").first ?? "")
                    if let reply = lineReplies.withLock({ $0[verb] }) {
                        _ = reply.withCString { send(c, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                    }
                    if verb == "QUIT" { close(c); return }
                }
            }
            close(c)
            return
        }
        var req: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while !req.contains(10) || String(decoding: req, as: UTF8.self).range(of: "\r\n\r\n") == nil {
            let n = recv(c, &buf, buf.count, 0)
            if n <= 0 { close(c); return }
            req += buf[..<n]
        }
        let text = String(decoding: req, as: UTF8.self)
        requests.withLock { $0.append(text) }
        let path = text.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
        if path == "/hang" {
            while !stopped.load(ordering: .relaxed) { usleep(20_000) }
            close(c)
            return
        }
        let resp = routes.withLock { $0[path] } ?? Array("HTTP/1.0 404 Not Found\r\n\r\nnot found".utf8)
        var off = 0
        while off < resp.count {
            let n = resp[off...].withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            off += n
        }
        close(c)
    }

    /// Idempotent: a second close() could close someone else's descriptor.
    func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    deinit { stop() }
}

/// A UDP responder on loopback: `answer` maps a datagram to the reply (nil = stay silent).
final class TestUDPServer: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32
    private let stopped = Atomic<Bool>(false)

    init(answer: @escaping @Sendable ([UInt8]) -> [UInt8]?) {
        (fd, port) = bindLoopback(type: Int32(SOCK_DGRAM.rawValue))
        var tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let fd = self.fd
        let t = Thread { [self] in
            var buf = [UInt8](repeating: 0, count: 2048)
            while !self.stopped.load(ordering: .relaxed) {
                var from = sockaddr_storage()
                var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let n = withUnsafeMutablePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buf, buf.count, 0, $0, &len) } }
                if n <= 0 { continue }
                if let reply = answer(Array(buf[..<n])) {
                    _ = withUnsafePointer(to: &from) { p in
                        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in reply.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, len) } }
                    }
                }
            }
            close(fd)
        }
        t.start()
    }

    func stop() { stopped.store(true, ordering: .relaxed) }
    deinit { stop() }
}

/// A loopback port with nothing listening (bound then closed).
func closedPort() -> UInt16 {
    let (fd, port) = bindLoopback(type: Int32(SOCK_STREAM.rawValue))
    close(fd)
    return port
}

/// A self-signed certificate and key made with openssl in a temp dir (nil when openssl is absent).
func makeSelfSignedCert() throws -> (dir: String, cert: String, key: String)? {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else { return nil }
    let dir = NSTemporaryDirectory() + "vgh-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    p.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem",
                   "-days", "2", "-subj", "/CN=vgh.test"]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { return nil }
    return (dir, dir + "/cert.pem", dir + "/key.pem")
}

/// Starts `openssl s_server -WWW` on 127.0.0.1:`port`, serving the files of `tls.dir` over TLS with
/// its certificate. The caller kills and reaps the returned process.
func startTLSFileServer(_ tls: (dir: String, cert: String, key: String), port: UInt16) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    p.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", tls.cert, "-key", tls.key, "-WWW", "-quiet"]
    p.currentDirectoryURL = URL(fileURLWithPath: tls.dir)
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    p.standardInput = FileHandle.nullDevice
    try p.run()
    return p
}
