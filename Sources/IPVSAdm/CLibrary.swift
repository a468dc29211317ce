#if canImport(Glibc)
import Glibc
#endif
import NetCore

/// Thin wrappers over the libc parsers ipvsadm itself uses, so that edge cases (`10.1` meaning
/// 10.0.0.1, hex and octal parts, `+5`, leading blanks) are accepted exactly as it accepts them.
enum CLib {
    /// ipvsadm's `string_to_number`: `strtol` base 10, whole string, within `min...max`.
    static func stringToNumber(_ s: String, _ min: Int, _ max: Int) -> Int? {
        s.withCString { p -> Int? in
            var end: UnsafeMutablePointer<CChar>?
            Glibc.errno = 0
            let n = strtol(p, &end, 10)
            guard let e = end, e.pointee == 0, e != UnsafeMutablePointer(mutating: p) else { return nil }
            guard Glibc.errno != ERANGE, min <= n, n <= max else { return nil }
            return n
        }
    }

    /// `strtol(s, &end, 10)` with the end check: nil unless the whole string is a number.
    static func strtolWhole(_ s: String) -> (value: Int, overflow: Bool)? {
        s.withCString { p -> (Int, Bool)? in
            var end: UnsafeMutablePointer<CChar>?
            Glibc.errno = 0
            let n = strtol(p, &end, 10)
            guard let e = end, e.pointee == 0, e != UnsafeMutablePointer(mutating: p) else { return nil }
            return (n, Glibc.errno == ERANGE)
        }
    }

    /// `atoi`.
    static func atoi(_ s: String) -> Int32 { Glibc.atoi(s) }

    /// `inet_aton` (IPv4, all its shorthand forms).
    static func inetAton(_ s: String) -> IPv4Address? {
        var a = in_addr()
        guard Glibc.inet_aton(s, &a) != 0 else { return nil }
        return IPv4Address(UInt32(bigEndian: a.s_addr))
    }

    static func inetPton4(_ s: String) -> IPv4Address? {
        var a = in_addr()
        guard inet_pton(AF_INET, s, &a) == 1 else { return nil }
        return IPv4Address(UInt32(bigEndian: a.s_addr))
    }

    static func inetPton6(_ s: String) -> IPv6Address? {
        var a = in6_addr()
        guard inet_pton(AF_INET6, s, &a) == 1 else { return nil }
        return withUnsafeBytes(of: &a) { IPv6Address(bytes: Array($0)) }
    }

    /// `inet_ntop` text of an address (glibc's IPv6 compression rules).
    static func ntop(_ address: IPAddress) -> String {
        var buf = [CChar](repeating: 0, count: 64)
        switch address {
        case .v4(let v4):
            var a = in_addr(s_addr: v4.value.bigEndian)
            _ = inet_ntop(AF_INET, &a, &buf, 64)
        case .v6(let v6):
            var a = in6_addr()
            withUnsafeMutableBytes(of: &a) { raw in
                for (i, b) in v6.bytes.enumerated() { raw[i] = b }
            }
            _ = inet_ntop(AF_INET6, &a, &buf, 64)
        }
        return cString(buf)
    }

    /// `gethostbyname` (IPv4 only) as ipvsadm's `host_to_addr`.
    static func hostToAddress(_ name: String) -> IPv4Address? {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &res) == 0, let first = res else { return nil }
        defer { freeaddrinfo(res) }
        guard let sa = first.pointee.ai_addr else { return nil }
        return sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
            IPv4Address(UInt32(bigEndian: $0.pointee.sin_addr.s_addr))
        }
    }

    /// `getservbyname(name, proto)` → port.
    static func serviceToPort(_ name: String, proto: String) -> UInt16? {
        var ent = servent()
        var result: UnsafeMutablePointer<servent>?
        var buf = [CChar](repeating: 0, count: 4096)
        guard getservbyname_r(name, proto, &ent, &buf, buf.count, &result) == 0, let r = result else { return nil }
        return UInt16(bigEndian: UInt16(truncatingIfNeeded: r.pointee.s_port))
    }

    /// `getservbyport(port, proto)` → name.
    static func portToService(_ port: UInt16, proto: String) -> String? {
        var ent = servent()
        var result: UnsafeMutablePointer<servent>?
        var buf = [CChar](repeating: 0, count: 4096)
        guard getservbyport_r(Int32(port.bigEndian), proto, &ent, &buf, buf.count, &result) == 0,
            let r = result, let n = r.pointee.s_name
        else { return nil }
        return String(cString: n)
    }

    /// `gethostbyaddr` → the canonical name.
    static func addressToHost(_ address: IPAddress) -> String? {
        var buf = [CChar](repeating: 0, count: 1025)
        var rc: Int32 = -1
        switch address {
        case .v4(let v4):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_addr.s_addr = v4.value.bigEndian
            rc = withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    getnameinfo($0, socklen_t(MemoryLayout<sockaddr_in>.size), &buf, 1025, nil, 0, NI_NAMEREQD)
                }
            }
        case .v6(let v6):
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { raw in
                for (i, b) in v6.bytes.enumerated() { raw[i] = b }
            }
            rc = withUnsafePointer(to: &sin6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    getnameinfo($0, socklen_t(MemoryLayout<sockaddr_in6>.size), &buf, 1025, nil, 0, NI_NAMEREQD)
                }
            }
        }
        return rc == 0 ? cString(buf) : nil
    }

    static func cString(_ buf: [CChar]) -> String {
        let bytes = buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `strerror`.
    static func strerror(_ e: Int32) -> String { String(cString: Glibc.strerror(e)) }
}
