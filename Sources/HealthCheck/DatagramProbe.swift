import HealthCheckCore
import NetCore
import SysCore

#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking datagram socket owned by one check attempt (UDP_CHECK, DNS_CHECK, PING_CHECK).
/// Waiting is an async poll loop (sleeping between tries), so a silent server only delays its
/// own check.
struct DatagramProbe: ~Copyable {
    let fd: Int32
    let peer: String

    init(fd: Int32, peer: String) {
        self.fd = fd
        self.peer = peer
    }

    /// Opens `socket(family, type, proto)` with O_NONBLOCK, applies bind/fwmark and connects.
    static func open(family: AddressFamily, type: Int32, proto: Int32, connectTo: NetCore.SocketAddress, bindAddress: IPAddress?, bindPort: UInt16?, fwmark: UInt32?) throws(CheckIOError) -> DatagramProbe {
        let peer = connectTo.description
        let af = family == .inet ? AF_INET : AF_INET6
        let s = socket(af, type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), proto)
        guard s >= 0 else {
            throw CheckIOError(.socket, reason: SystemError.last("socket").description, peer: peer)
        }
        let probe = DatagramProbe(fd: s, peer: peer)
        if var mark = fwmark, setsockopt(s, SOL_SOCKET, SO_MARK, &mark, socklen_t(MemoryLayout<UInt32>.size)) != 0 {
            throw CheckIOError(.socket, reason: SystemError.last("setsockopt(SO_MARK)").description, peer: peer)
        }
        if bindAddress != nil || bindPort != nil {
            let local = NetCore.SocketAddress(address: bindAddress ?? (family == .inet ? IPAddress("0.0.0.0")! : IPAddress("::")!), port: bindPort ?? 0)
            let r = withSockaddr(local) { bind(s, $0, $1) }
            guard r == 0 else { throw CheckIOError(.socket, reason: SystemError.last("bind", context: local.description).description, peer: peer) }
        }
        let r = withSockaddr(connectTo) { connect(s, $0, $1) }
        guard r == 0 else { throw CheckIOError(.connect, reason: String(cString: strerror(errno)), peer: peer) }
        return probe
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws(CheckIOError) {
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard n == bytes.count else { throw CheckIOError(.send, reason: String(cString: strerror(errno)), peer: peer) }
    }

    /// Waits for datagrams until `accept` returns true for one or `timeout` passes (nil). An ICMP
    /// error reported on the socket (ECONNREFUSED etc.) throws.
    func receive(timeout: Duration, accept: ([UInt8]) -> Bool) async throws(CheckIOError) -> [UInt8]? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var buf = [UInt8](repeating: 0, count: 65536)
        var pause = Duration.milliseconds(1)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n >= 0 {
                let d = Array(buf[..<n])
                if accept(d) { return d }
                continue
            }
            let e = errno
            if e != EAGAIN && e != EWOULDBLOCK && e != EINTR {
                throw CheckIOError(.connect, reason: String(cString: strerror(e)), peer: peer)
            }
            if clock.now >= deadline { return nil }
            do { try await Task.sleep(for: min(pause, deadline - clock.now)) } catch { return nil }
            pause = min(pause * 2, .milliseconds(20))
        }
    }
}

/// Calls `body` with a sockaddr for `address`.
func withSockaddr<R>(_ address: NetCore.SocketAddress, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    switch address.address {
    case .v4(let a):
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = address.port.bigEndian
        sin.sin_addr.s_addr = a.value.bigEndian
        return withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    case .v6(let a):
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = address.port.bigEndian
        let b = a.bytes
        withUnsafeMutableBytes(of: &sin6.sin6_addr) { raw in for i in 0..<16 { raw[i] = b[i] } }
        return withUnsafePointer(to: &sin6) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
    }
}

enum DatagramChecks {
    static func udp(_ spec: CheckerSpec, _ u: UDPCheckSpec) async -> CheckOutcome {
        let target = spec.target
        do throws(CheckIOError) {
            let probe = try DatagramProbe.open(
                family: spec.connectTo.address.family, type: Int32(SOCK_DGRAM.rawValue), proto: Int32(IPPROTO_UDP),
                connectTo: spec.connectTo, bindAddress: spec.bindAddress, bindPort: spec.bindPort, fwmark: spec.fwmark)
            let payload = u.payload ?? (0..<16).map { _ in UInt8.random(in: 0...255) }
            try probe.send(payload)
            let reply = try await probe.receive(timeout: spec.policy.connectTimeout) { _ in true }
            guard let reply else {
                // No ICMP error and no reply: fine unless a reply is required (keepalived relies on
                // ICMP port-unreachable to see a dead server).
                if u.requireReply != nil || u.minReplyLength > 0 { return .failed("UDP check to \(target) timed out.") }
                return .ok()
            }
            if let why = u.check(reply: reply, target: target) { return .failed(why) }
            return .ok()
        } catch {
            return .failed("UDP check to \(target) failed: \(error.reason).")
        }
    }

    static func dns(_ spec: CheckerSpec, name: String, type: DNSQuery.RecordType) async -> CheckOutcome {
        let target = spec.target
        let query = DNSQuery(id: UInt16.random(in: 0...UInt16.max), name: name, type: type)
        do throws(CheckIOError) {
            let bytes: [UInt8]
            do { bytes = try query.encode() } catch { return .failed("DNS_CHECK to \(target): \(error.message)") }
            let probe = try DatagramProbe.open(
                family: spec.connectTo.address.family, type: Int32(SOCK_DGRAM.rawValue), proto: Int32(IPPROTO_UDP),
                connectTo: spec.connectTo, bindAddress: spec.bindAddress, bindPort: spec.bindPort, fwmark: spec.fwmark)
            try probe.send(bytes)
            var why: String?
            let reply = try await probe.receive(timeout: spec.policy.connectTimeout) { r in
                why = query.check(reply: r)
                // Keep waiting past replies to other ids (stale answers).
                return why == nil || r.count < 2 || (UInt16(r[0]) << 8 | UInt16(r[1])) == query.id
            }
            guard reply != nil else { return .failed("DNS_CHECK to \(target) timed out.") }
            if let why { return .failed("DNS_CHECK to \(target) failed: \(why).") }
            return .ok()
        } catch {
            return .failed("DNS_CHECK to \(target) failed: \(error.reason).")
        }
    }

    /// True when this process's gid may open unprivileged ICMP sockets (ping_group_range).
    static func pingSocketAllowed() -> Bool {
        guard let f = fopen("/proc/sys/net/ipv4/ping_group_range", "r") else { return false }
        defer { fclose(f) }
        var lo: UInt32 = 1, hi: UInt32 = 0
        guard withUnsafeMutablePointer(to: &lo, { l in withUnsafeMutablePointer(to: &hi) { h in vfscanf_helper(f, l, h) } }) else { return false }
        let g = getgid()
        return lo <= g && g <= hi
    }

    static func ping(_ spec: CheckerSpec, sequence: UInt16) async -> CheckOutcome {
        let target = spec.target
        let v6 = spec.connectTo.address.family == .inet6
        let proto = v6 ? Int32(IPPROTO_ICMPV6) : Int32(IPPROTO_ICMP)
        let dgram = pingSocketAllowed()
        let type = dgram ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_RAW.rawValue)
        let id = UInt16.random(in: 0...UInt16.max)
        let payload = Array("vigil-ping-\(sequence)".utf8)
        do throws(CheckIOError) {
            let probe = try DatagramProbe.open(
                family: spec.connectTo.address.family, type: type, proto: proto,
                connectTo: NetCore.SocketAddress(address: spec.connectTo.address, port: 0), bindAddress: spec.bindAddress, bindPort: nil, fwmark: spec.fwmark)
            try probe.send(ICMPEcho(isV6: v6, identifier: id, sequence: sequence, payload: payload).encodeRequest())
            let reply = try await probe.receive(timeout: spec.policy.connectTimeout) { r in
                guard let e = try? ICMPEcho.parseReply(r, isV6: v6, hasIPHeader: !dgram && !v6) else { return false }
                // Ping sockets rewrite the identifier; raw sockets see every echo reply.
                return e.sequence == sequence && e.payload == payload && (dgram || e.identifier == id)
            }
            return reply == nil ? .failed("PING_CHECK to \(target) timed out.") : .ok()
        } catch {
            return .failed("PING_CHECK to \(target) failed: \(error.reason).")
        }
    }
}

/// Reads two unsigned numbers from a /proc file.
private func vfscanf_helper(_ f: UnsafeMutablePointer<FILE>, _ lo: UnsafeMutablePointer<UInt32>, _ hi: UnsafeMutablePointer<UInt32>) -> Bool {
    var line = [CChar](repeating: 0, count: 64)
    guard fgets(&line, 64, f) != nil else { return false }
    let words = cString(line).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
    guard words.count == 2, let a = UInt32(words[0]), let b = UInt32(words[1]) else { return false }
    lo.pointee = a
    hi.pointee = b
    return true
}

/// A C string buffer as a Swift string (up to the first NUL).
func cString(_ buf: [CChar]) -> String {
    let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
