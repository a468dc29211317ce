import NetCore

/// VRRP protocol versions.
public enum VRRPVersion: UInt8, Hashable, Sendable, Codable {
    /// RFC 3768: IPv4 only, interval in whole seconds, 8 bytes of authentication data.
    case v2 = 2
    /// RFC 5798: IPv4 and IPv6, interval in centiseconds, checksum over a pseudo-header.
    case v3 = 3
}

/// A VRRP ADVERTISEMENT (the only packet type, RFC 5798 §5.1 / RFC 3768 §5.1), as a value.
///
/// The wire form is produced by `encoded(source:destination:checksumAsV2:)` and parsed by
/// `init(decoding:family:source:destination:checksumAsV2:)`, which rejects anything odd with a
/// typed `PacketError`.
public struct Advertisement: Hashable, Sendable, CustomStringConvertible {
    /// RFC 3768 §5.3.6 authentication. `ah` (type 2) is recognised on decode so it can be
    /// rejected with a clear reason; Vigil never sends it.
    public enum Authentication: Hashable, Sendable {
        case none
        /// Simple text password, at most 8 bytes, zero padded on the wire.
        case password([UInt8])
        case ah

        var typeByte: UInt8 {
            switch self {
            case .none: 0
            case .password: 1
            case .ah: 2
            }
        }

        /// PASS authentication from a configured `auth_pass`: keepalived keeps the first 8 bytes.
        public static func pass(_ text: String) -> Authentication { .password(Array(text.utf8.prefix(8))) }
    }

    public var version: VRRPVersion
    public var vrid: UInt8
    /// 0 = master is stopping (RFC 5798 §6.4.3), 255 = address owner.
    public var priority: UInt8
    /// Interval field as on the wire: seconds (v2) or centiseconds (v3, 12 bits).
    public var intervalField: UInt16
    public var addresses: [IPAddress]
    /// v2 only; always `.none` for v3.
    public var authentication: Authentication

    public init(
        version: VRRPVersion, vrid: UInt8, priority: UInt8, intervalField: UInt16, addresses: [IPAddress],
        authentication: Authentication = .none
    ) {
        self.version = version
        self.vrid = vrid
        self.priority = priority
        self.intervalField = intervalField
        self.addresses = addresses
        self.authentication = version == .v2 ? authentication : .none
    }

    /// The advertisement interval the packet carries.
    public var interval: Duration {
        version == .v2 ? .seconds(Int(intervalField)) : .milliseconds(Int(intervalField) * 10)
    }

    /// Encodes `interval` as the version's wire field: whole seconds (at least 1) for v2,
    /// centiseconds (1...4095) for v3.
    public static func intervalField(for interval: Duration, version: VRRPVersion) -> UInt16 {
        let ms = interval.milliseconds
        switch version {
        case .v2: return UInt16(clamping: max(1, min(255, (ms + 500) / 1000)))
        case .v3: return UInt16(clamping: max(1, min(4095, (ms + 5) / 10)))
        }
    }

    public var description: String {
        "VRRPv\(version.rawValue) vrid \(vrid) prio \(priority) int \(intervalField) addrs \(addresses.map(\.description))"
    }

    static let headerLength = 8
    static let authLength = 8
    /// IANA protocol number for VRRP.
    public static let ipProtocol: UInt8 = 112

    /// The wire bytes, checksum included.
    ///
    /// - Parameters:
    ///   - source, destination: the IP source and destination; the v3 checksum covers them in a
    ///     pseudo-header (RFC 5798 §5.2.8). Ignored for v2.
    ///   - checksumAsV2: keepalived's `v3_checksum_as_v2`: an IPv4 v3 checksum without the
    ///     pseudo-header (what some routers send).
    public func encoded(source: IPAddress, destination: IPAddress, checksumAsV2: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerLength + addresses.count * 16 + Self.authLength)
        out.append(version.rawValue << 4 | 1)
        out.append(vrid)
        out.append(priority)
        out.append(UInt8(clamping: addresses.count))
        switch version {
        case .v2:
            out.append(authentication.typeByte)
            out.append(UInt8(clamping: intervalField))
        case .v3:
            let f = intervalField & 0x0fff
            out.append(UInt8(f >> 8))
            out.append(UInt8(f & 0xff))
        }
        out.append(0)
        out.append(0)
        for a in addresses { out.append(contentsOf: a.bytes) }
        if version == .v2 {
            var auth = [UInt8](repeating: 0, count: Self.authLength)
            if case .password(let p) = authentication {
                for (i, b) in p.prefix(8).enumerated() { auth[i] = b }
            }
            out.append(contentsOf: auth)
        }
        let sum = Self.checksum(
            out, pseudoHeader: Self.usesPseudoHeader(version: version, family: source.family, checksumAsV2: checksumAsV2)
                ? (source, destination) : nil)
        out[6] = UInt8(sum >> 8)
        out[7] = UInt8(sum & 0xff)
        return out
    }

    /// Decodes and validates one VRRP packet (the IP payload).
    ///
    /// Checks, in order: length of the fixed header, version (2 or 3; v2 only over IPv4), type 1,
    /// the length the address count implies (shorter: `truncated`, longer: `trailingBytes`), the
    /// checksum, and the v2 authentication type (0, 1 or 2). Instance-specific checks (VRID,
    /// password, interval, address list, TTL) are the instance's job.
    ///
    /// - Throws: `PacketError` naming the reason and the source address.
    public init(
        decoding packet: some Collection<UInt8>, family: AddressFamily, source: IPAddress, destination: IPAddress,
        checksumAsV2: Bool = false
    ) throws(PacketError) {
        let bytes = Array(packet)
        let from = "from \(source)"
        guard bytes.count >= Self.headerLength else {
            throw PacketError(.truncated, "VRRP packet \(from) has \(bytes.count) bytes, the header needs \(Self.headerLength)")
        }
        guard let version = VRRPVersion(rawValue: bytes[0] >> 4) else {
            throw PacketError(.badVersion, "unsupported VRRP version \(bytes[0] >> 4) \(from)")
        }
        if version == .v2 && family == .inet6 {
            throw PacketError(.badVersion, "VRRPv2 packet over IPv6 \(from)")
        }
        guard bytes[0] & 0x0f == 1 else {
            throw PacketError(.badType, "invalid VRRP packet type \(bytes[0] & 0x0f) \(from)")
        }
        let count = Int(bytes[3])
        let addrLen = family == .inet ? 4 : 16
        let expected = Self.headerLength + count * addrLen + (version == .v2 ? Self.authLength : 0)
        guard bytes.count >= expected else {
            throw PacketError(
                .truncated, "VRRP packet \(from) has \(bytes.count) bytes but announces \(count) addresses (\(expected) bytes)")
        }
        guard bytes.count == expected else {
            throw PacketError(.trailingBytes, "VRRP packet \(from) has \(bytes.count - expected) bytes after its end")
        }
        let pseudo = Self.usesPseudoHeader(version: version, family: family, checksumAsV2: checksumAsV2)
        guard Self.checksum(bytes, pseudoHeader: pseudo ? (source, destination) : nil) == 0 else {
            throw PacketError(.badChecksum, "Invalid VRRPv\(version.rawValue) checksum \(from)")
        }
        var addrs: [IPAddress] = []
        addrs.reserveCapacity(count)
        for i in 0..<count {
            let start = Self.headerLength + i * addrLen
            // Length was checked above, so these slices are complete.
            addrs.append(IPAddress(bytes: bytes[start..<start + addrLen], family: family)!)
        }
        var auth = Authentication.none
        var interval: UInt16
        switch version {
        case .v2:
            interval = UInt16(bytes[5])
            let data = Array(bytes[(expected - Self.authLength)...])
            switch bytes[4] {
            case 0: auth = .none
            case 1:
                // The password is zero padded; trailing zeros are not part of it.
                var p = data
                while p.last == 0 { p.removeLast() }
                auth = .password(p)
            case 2: auth = .ah
            default:
                throw PacketError(.authTypeMismatch, "unknown authentication type \(bytes[4]) \(from)")
            }
        case .v3:
            interval = UInt16(bytes[4] & 0x0f) << 8 | UInt16(bytes[5])
        }
        self.init(
            version: version, vrid: bytes[1], priority: bytes[2], intervalField: interval, addresses: addrs,
            authentication: auth)
    }

    static func usesPseudoHeader(version: VRRPVersion, family: AddressFamily, checksumAsV2: Bool) -> Bool {
        switch version {
        case .v2: false
        case .v3: family == .inet6 || !checksumAsV2
        }
    }

    /// RFC 1071 Internet checksum of `data`, preceded by the RFC 5798 §5.2.8 pseudo-header
    /// (IPv4: src, dst, zero, protocol, length; IPv6: src, dst, 32-bit length, zeros, next
    /// header) when given. Over a packet whose checksum field is filled in, the result is 0.
    public static func checksum(_ data: [UInt8], pseudoHeader: (IPAddress, IPAddress)?) -> UInt16 {
        var sum: UInt32 = 0
        func add(_ bytes: [UInt8]) {
            var i = 0
            while i + 1 < bytes.count {
                sum &+= UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
                i += 2
            }
            if i < bytes.count { sum &+= UInt32(bytes[i]) << 8 }
        }
        if let (src, dst) = pseudoHeader {
            add(src.bytes)
            add(dst.bytes)
            let len = UInt32(data.count)
            if src.family == .inet {
                add([0, ipProtocol, UInt8(len >> 8), UInt8(len & 0xff)])
            } else {
                add([UInt8(len >> 24), UInt8((len >> 16) & 0xff), UInt8((len >> 8) & 0xff), UInt8(len & 0xff), 0, 0, 0, ipProtocol])
            }
        }
        add(data)
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
