import Foundation
import NetCore
import Netlink

#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP/1.0 client that runs from inside a lab namespace: the socket is created in the
/// namespace (it stays there), then used from any thread. Used by the demo and the tests to
/// send requests through the VIP and to measure outages with fine-grained probes.
public enum HTTPProbe {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// GETs `path` from `address:port` within `timeout` seconds; returns the body. With
    /// `sourcePort`, the request leaves from that client port (the server closes first, so the
    /// port is free again at once).
    public static func get(
        _ address: IPv4Address, port: UInt16 = 80, path: String = "/", timeout: Double = 1, namespace: String?, sourcePort: UInt16? = nil
    ) -> Result<String, Failure> {
        let fd: Int32
        do {
            let make = { socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
            fd = try namespace.map { try withNetworkNamespace($0) { make() } } ?? make()
        } catch {
            return .failure(Failure(description: "namespace \(namespace ?? "-"): \(error)"))
        }
        guard fd >= 0 else { return .failure(Failure(description: "socket: \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        let deadline = Date().addingTimeInterval(timeout)
        if let sourcePort {
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_port = sourcePort.bigEndian
            let bound = withUnsafePointer(to: &local) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if bound != 0 { return .failure(Failure(description: "bind to port \(sourcePort): \(String(cString: strerror(errno)))")) }
        }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        sin.sin_addr.s_addr = address.value.bigEndian
        let rc = withUnsafePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 && errno != EINPROGRESS {
            return .failure(Failure(description: "connect to \(address):\(port): \(String(cString: strerror(errno)))"))
        }
        guard wait(fd, events: Int16(POLLOUT), until: deadline) else {
            return .failure(Failure(description: "connect to \(address):\(port): timed out"))
        }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        if err != 0 { return .failure(Failure(description: "connect to \(address):\(port): \(String(cString: strerror(err)))")) }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(address)\r\nUser-Agent: vigil-lab\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            return .failure(Failure(description: "send to \(address):\(port): \(String(cString: strerror(errno)))"))
        }
        var response: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            guard wait(fd, events: Int16(POLLIN), until: deadline) else {
                return .failure(Failure(description: "reading from \(address):\(port): timed out"))
            }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                return .failure(Failure(description: "reading from \(address):\(port): \(String(cString: strerror(errno)))"))
            }
            response += buf[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else {
            return .failure(Failure(description: "\(address):\(port) sent no HTTP response"))
        }
        guard text.hasPrefix("HTTP/1.") , text.split(separator: " ").dropFirst().first == "200" else {
            return .failure(Failure(description: "\(address):\(port) answered '\(text.prefix(while: { $0 != "\r" }))'"))
        }
        return .success(String(text[split.upperBound...]))
    }

    static func wait(_ fd: Int32, events: Int16, until deadline: Date) -> Bool {
        while true {
            let ms = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            var p = pollfd(fd: fd, events: events, revents: 0)
            let r = poll(&p, 1, ms)
            if r > 0 { return true }
            if r == 0 { return false }
            if errno != EINTR { return false }
        }
    }
}
