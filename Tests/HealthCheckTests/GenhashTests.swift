import Foundation
import HealthCheck
import HealthCheckCore
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Bodies served for the digest comparisons: empty, ~1 MiB, chunked framing, a 404 page.
func servedBodies(_ server: TestTCPServer) {
    server.set("/empty", body: [])
    var big = [UInt8](repeating: 0, count: 1 << 20)
    for i in big.indices { big[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 7) }
    server.set("/large", body: big, headers: "Content-Length: \(big.count)\r\n")
    server.setRaw("/chunked", Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nchunky\r\n0\r\n\r\n".utf8))
    server.set("/missing", status: "404 Not Found", body: Array("<html>no such page</html>\n".utf8))
    server.set("/abc", body: Array("abc".utf8))
}

func lastHex(_ s: String) -> String? {
    s.split(whereSeparator: { $0 == " " || $0 == "\n" }).last.map(String.init).flatMap { $0.count == 32 ? $0 : nil }
}

@Suite(.serialized) struct GenhashTests {
    var hasDebianGenhash: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/genhash") }

    @Test func digestsMatchDebianGenhashAndMd5sum() throws {
        let server = TestTCPServer()
        defer { server.stop() }
        servedBodies(server)
        for path in ["/empty", "/large", "/chunked", "/missing", "/abc"] {
            let ours = try runCommand([vigilBinaryPath, "genhash", "-s", "127.0.0.1", "-p", "\(server.port)", "-u", path])
            #expect(ours.status == 0, "\(path): \(ours.stderr)")
            #expect(ours.stdout.hasPrefix("MD5SUM = "))
            let quiet = try runCommand([vigilBinaryPath, "genhash", "-s", "127.0.0.1", "-p", "\(server.port)", "-u", path, "--quiet"])
            let hex = quiet.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(hex.count == 32)
            #expect(lastHex(ours.stdout) == hex)
            if hasDebianGenhash {
                let theirs = try runCommand(["/usr/bin/genhash", "-s", "127.0.0.1", "-p", "\(server.port)", "-u", path])
                #expect(theirs.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == hex, "\(path)")
            }
        }
        // Independent check: abc's digest is md5("abc"); the chunked one hashes the framing.
        let abc = try runCommand([vigilBinaryPath, "genhash", "-s", "127.0.0.1", "-p", "\(server.port)", "-u", "/abc", "--quiet"])
        #expect(abc.stdout == "900150983cd24fb0d6963f7d28e17f72\n")
        let ch = try runCommand([vigilBinaryPath, "genhash", "-s", "127.0.0.1", "-p", "\(server.port)", "-u", "/chunked", "--quiet"])
        #expect(ch.stdout.trimmingCharacters(in: .newlines) == md5Hex(Array("6\r\nchunky\r\n0\r\n\r\n".utf8)))
        // The request is keepalived's, byte for byte.
        let reqs = server.requests.withLock { $0 }
        #expect(reqs.contains("GET /abc HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 127.0.0.1:\(server.port)\r\n\r\n"))
    }

    @Test func invokedAsGenhashAndProtocolVirtualhostOptions() throws {
        let server = TestTCPServer()
        defer { server.stop() }
        servedBodies(server)
        let dir = NSTemporaryDirectory() + "vgh-gh-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let link = dir + "/genhash"
        try? FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: vigilBinaryPath)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runCommand([link, "-s", "127.0.0.1", "-p", "\(server.port)", "-u", "/abc", "-r", "1.1", "-V", "www.example.com"])
        #expect(r.status == 0)
        #expect(r.stdout == "MD5SUM = 900150983cd24fb0d6963f7d28e17f72\n")
        #expect(server.requests.withLock { $0 }.contains("GET /abc HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.com\r\n\r\n"))
        let p = try runCommand([link, "-s", "127.0.0.1", "-p", "\(server.port)", "-u", "/abc", "-P", "1.0c"])
        #expect(p.status == 0)
        #expect(server.requests.withLock { $0 }.contains("GET /abc HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: 127.0.0.1:\(server.port)\r\n\r\n"))
        let bad = try runCommand([link, "-s", "127.0.0.1", "-u", "/", "-P", "2.0"])
        #expect(bad.status != 0 && bad.stderr.contains("1.0c"))
    }

    @Test func verboseSections() throws {
        let server = TestTCPServer()
        defer { server.stop() }
        servedBodies(server)
        let r = try runCommand([vigilBinaryPath, "genhash", "-s", "127.0.0.1", "-p", "\(server.port)", "-u", "/abc", "-v"])
        #expect(r.status == 0)
        for s in ["HTTP Header Buffer", "HTTP Header Ascii Buffer", "HTML Buffer", "HTML hash resulting", "HTML hash final resulting"] {
            #expect(r.stdout.contains("-----------------------[    \(s)    ]-----------------------"))
        }
        #expect(r.stdout.contains("0000  48 54 54 50 2f 31 2e 30 - 20 32 30 30 20 4f 4b 0d   HTTP/1.0 200 OK."))
        #expect(r.stdout.contains("Global response time for [/abc] = "))
        #expect(r.stdout.hasSuffix("MD5SUM = 900150983cd24fb0d6963f7d28e17f72\n"))
    }

    @Test func connectionRefusedAndTimeoutAreClearErrors() throws {
        let port = closedPort()
        let r = try runCommand([vigilBinaryPath, "genhash", "-s", "127.0.0.1", "-p", "\(port)", "-u", "/"])
        #expect(r.status != 0)
        #expect(r.stderr == "genhash: cannot connect to 127.0.0.1:\(port): Connection refused\n")
        #expect(r.stdout.isEmpty)
        let server = TestTCPServer()
        defer { server.stop() }
        let started = Date()
        let t = try runCommand([vigilBinaryPath, "genhash", "-s", "127.0.0.1", "-p", "\(server.port)", "-u", "/hang", "-t", "0.5"])
        #expect(t.status != 0)
        #expect(t.stderr.hasPrefix("genhash: timeout reading from 127.0.0.1:\(server.port)"))
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test func httpsDigestsMatchDebianGenhash() throws {
        guard let tls = try makeSelfSignedCert() else { return }
        defer { try? FileManager.default.removeItem(atPath: tls.dir) }
        try "hello over tls\n".write(toFile: tls.dir + "/page.html", atomically: true, encoding: .utf8)
        try Data().write(to: URL(fileURLWithPath: tls.dir + "/empty.html"))
        let port = closedPort()
        let p = try startTLSFileServer(tls, port: port)
        defer { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        #expect(waitUntil(timeout: 10) { tcpOpen(port) })
        for path in ["/page.html", "/empty.html"] {
            let ours = try runCommand([vigilBinaryPath, "genhash", "-S", "-s", "127.0.0.1", "-p", "\(port)", "-u", path, "--quiet"])
            #expect(ours.status == 0, "\(ours.stderr)")
            let hex = ours.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(hex.count == 32)
            if hasDebianGenhash {
                let theirs = try runCommand(["/usr/bin/genhash", "-S", "-s", "127.0.0.1", "-p", "\(port)", "-u", path])
                #expect(theirs.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == hex, "\(path)")
            }
        }
        let page = try runCommand([vigilBinaryPath, "genhash", "-S", "-s", "127.0.0.1", "-p", "\(port)", "-u", "/page.html", "--quiet"])
        #expect(page.stdout.trimmingCharacters(in: .newlines) == md5Hex(Array("hello over tls\n".utf8)))
    }
}

func tcpOpen(_ port: UInt16) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    sin.sin_port = port.bigEndian
    return withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
}
