#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Address family, with the Linux `AF_*` values used on the wire by netlink and IPVS.
public enum AddressFamily: UInt16, Sendable, Hashable, Codable, CustomStringConvertible {
    case inet = 2
    case inet6 = 10

    public var description: String { self == .inet ? "inet" : "inet6" }
}

/// An IPv4 address. `value` holds the address in host order (192.168.0.1 = 0xC0A8_0001).
public struct IPv4Address: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self.value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses strict dotted-quad notation (as `inet_pton(AF_INET)` does: four decimal parts, no
    /// leading `+`, each 0...255).
    public init?(_ text: some StringProtocol) {
        var parts: [UInt32] = []
        var current: UInt32 = 0
        var digits = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, parts.count < 3 else { return nil }
                parts.append(current)
                current = 0
                digits = 0
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                current = current * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                guard digits <= 3, current <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, parts.count == 3 else { return nil }
        parts.append(current)
        self.value = parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]
    }

    /// The four bytes in network order.
    public var bytes: [UInt8] {
        [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8),
         UInt8(truncatingIfNeeded: value)]
    }

    /// Builds an address from the first four bytes of `bytes` (network order).
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count >= 4 else { return nil }
        var v: UInt32 = 0
        for b in bytes.prefix(4) { v = v << 8 | UInt32(b) }
        self.value = v
    }

    public var description: String {
        "\(value >> 24).\((value >> 16) & 0xff).\((value >> 8) & 0xff).\(value & 0xff)"
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }

    public var isMulticast: Bool { value >> 28 == 0xE }
    public var isLoopback: Bool { value >> 24 == 127 }
    public var isUnspecified: Bool { value == 0 }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let a = IPv4Address(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad IPv4 address '\(text)'"))
        }
        self = a
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An IPv6 address, as 16 bytes in network order held in two words.
public struct IPv6Address: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count >= 16 else { return nil }
        var h: UInt64 = 0
        var l: UInt64 = 0
        for (i, b) in bytes.prefix(16).enumerated() {
            if i < 8 { h = h << 8 | UInt64(b) } else { l = l << 8 | UInt64(b) }
        }
        self.high = h
        self.low = l
    }

    /// Parses any textual form `inet_pton(AF_INET6)` accepts (including `::ffff:1.2.3.4`).
    public init?(_ text: some StringProtocol) {
        let s = String(text)
        guard !s.isEmpty, s.utf8.count <= 45, s.contains(":") else { return nil }
        var storage = in6_addr()
        let ok = s.withCString { inet_pton(Int32(AF_INET6), $0, &storage) }
        guard ok == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &storage) { Array($0) }
        self.init(bytes: bytes)
    }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16)
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: high >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: low >> UInt64(shift))) }
        return out
    }

    /// RFC 5952 canonical text, as `inet_ntop` prints it.
    public var description: String {
        var storage = in6_addr()
        let b = bytes
        withUnsafeMutableBytes(of: &storage) { raw in
            for i in 0..<16 { raw[i] = b[i] }
        }
        var buffer = [CChar](repeating: 0, count: 64)
        let res = inet_ntop(Int32(AF_INET6), &storage, &buffer, socklen_t(buffer.count))
        guard res != nil else { return "::" }
        return buffer.withUnsafeBufferPointer { ptr in
            String(decoding: ptr.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.high, lhs.low) < (rhs.high, rhs.low) }

    public var isMulticast: Bool { high >> 56 == 0xff }
    public var isLinkLocal: Bool { high >> 54 == 0x3fa }  // fe80::/10
    public var isUnspecified: Bool { high == 0 && low == 0 }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let a = IPv6Address(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad IPv6 address '\(text)'"))
        }
        self = a
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An IPv4 or IPv6 address.
public enum IPAddress: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public init?(_ text: some StringProtocol) {
        if let a = IPv4Address(text) {
            self = .v4(a)
        } else if let a = IPv6Address(text) {
            self = .v6(a)
        } else {
            return nil
        }
    }

    /// Decodes 4 bytes as IPv4 or 16 bytes as IPv6 (or the family given, reading the leading bytes).
    public init?(bytes: some Collection<UInt8>, family: AddressFamily? = nil) {
        switch family ?? (bytes.count == 4 ? .inet : .inet6) {
        case .inet:
            guard let a = IPv4Address(bytes: bytes) else { return nil }
            self = .v4(a)
        case .inet6:
            guard let a = IPv6Address(bytes: bytes) else { return nil }
            self = .v6(a)
        }
    }

    public var family: AddressFamily {
        switch self {
        case .v4: .inet
        case .v6: .inet6
        }
    }

    /// Network-order bytes: 4 for IPv4, 16 for IPv6.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let a): a.bytes
        case .v6(let a): a.bytes
        }
    }

    public var description: String {
        switch self {
        case .v4(let a): a.description
        case .v6(let a): a.description
        }
    }

    public var isMulticast: Bool {
        switch self {
        case .v4(let a): a.isMulticast
        case .v6(let a): a.isMulticast
        }
    }

    public var isUnspecified: Bool {
        switch self {
        case .v4(let a): a.isUnspecified
        case .v6(let a): a.isUnspecified
        }
    }

    /// Maximum prefix length for the family (32 or 128).
    public var bitWidth: Int { family == .inet ? 32 : 128 }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.v4(let a), .v4(let b)): a < b
        case (.v6(let a), .v6(let b)): a < b
        case (.v4, .v6): true
        case (.v6, .v4): false
        }
    }

    /// The address with all bits after `prefixLength` cleared.
    public func masked(to prefixLength: Int) -> IPAddress {
        switch self {
        case .v4(let a):
            let len = max(0, min(32, prefixLength))
            let mask: UInt32 = len == 0 ? 0 : ~UInt32(0) << UInt32(32 - len)
            return .v4(IPv4Address(a.value & mask))
        case .v6(let a):
            let len = max(0, min(128, prefixLength))
            let hiMask: UInt64 = len >= 64 ? ~0 : (len == 0 ? 0 : ~UInt64(0) << UInt64(64 - len))
            let loMask: UInt64 = len <= 64 ? 0 : (len == 128 ? ~0 : ~UInt64(0) << UInt64(128 - len))
            return .v6(IPv6Address(high: a.high & hiMask, low: a.low & loMask))
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let a = IPAddress(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad IP address '\(text)'"))
        }
        self = a
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An address with a prefix length (`192.168.0.21/32`, `2001:db8::/64`).
public struct IPPrefix: Hashable, Sendable, Codable, CustomStringConvertible {
    public var address: IPAddress
    public var length: Int

    public init(address: IPAddress, length: Int) {
        self.address = address
        self.length = length
    }

    /// Parses `ADDR` (host prefix) or `ADDR/LEN`. Returns nil for a malformed address or a length
    /// outside 0...32 (IPv4) or 0...128 (IPv6).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let addr = IPAddress(parts[0]) else { return nil }
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy(\.isASCIIDigitChar), let len = Int(parts[1]),
                  len <= addr.bitWidth
            else { return nil }
            self.init(address: addr, length: len)
        } else {
            self.init(address: addr, length: addr.bitWidth)
        }
    }

    public var network: IPAddress { address.masked(to: length) }

    public func contains(_ other: IPAddress) -> Bool {
        other.family == address.family && other.masked(to: length) == network
    }

    /// The IPv4 netmask as an address (255.255.255.0 for /24); nil for IPv6.
    public var netmask: IPv4Address? {
        guard case .v4 = address else { return nil }
        return IPv4Address(length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length))
    }

    public var description: String { "\(address)/\(length)" }
}

extension Character {
    fileprivate var isASCIIDigitChar: Bool { isASCII && isNumber }
}

/// An Ethernet MAC address.
public struct MACAddress: Hashable, Sendable, Codable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 6 else { return nil }
        self.bytes = Array(bytes)
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (also with `-`).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(whereSeparator: { $0 == ":" || $0 == "-" })
        guard parts.count == 6 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard p.count <= 2, let v = UInt8(p, radix: 16) else { return nil }
            out.append(v)
        }
        self.bytes = out
    }

    public var description: String {
        bytes.map { b in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined(separator: ":")
    }

    public static let broadcast = MACAddress(bytes: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])!
}

/// An address and port. Prints as `1.2.3.4:80` or `[2001:db8::1]:80`.
public struct SocketAddress: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    public var description: String {
        switch address {
        case .v4(let a): "\(a):\(port)"
        case .v6(let a): "[\(a)]:\(port)"
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.address, lhs.port) < (rhs.address, rhs.port) }
}
