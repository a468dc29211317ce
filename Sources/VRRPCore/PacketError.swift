import NetCore

/// Why a received VRRP packet was rejected. Every rejection is counted in `ReceiveStatistics`
/// under its `Code`, and the message names the peer.
public struct PacketError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The rejection reason; one counter per code.
    public enum Code: String, Hashable, Sendable, CaseIterable, Codable {
        /// Fewer bytes than the header or the advertised address count needs (RFC 5798 §7.1).
        case truncated
        /// Bytes after the last address (v3) or the authentication data (v2).
        case trailingBytes
        /// Version nibble is not 2 or 3, v2 over IPv6, or not the instance's version.
        case badVersion
        /// Type nibble is not 1 (ADVERTISEMENT).
        case badType
        /// The Internet checksum does not verify (RFC 5798 §5.2.8).
        case badChecksum
        /// TTL / hop limit other than 255 (RFC 5798 §7.1).
        case badTTL
        /// No instance with this VRID on the interface (counted by the demux).
        case vridMismatch
        /// Authentication type differs from the configured one (RFC 3768 §5.3.6).
        case authTypeMismatch
        /// PASS authentication with a different password.
        case authPasswordMismatch
        /// v2 advertisement interval differs from ours (RFC 3768 §7.1).
        case intervalMismatch
        /// Advertised addresses differ from our virtual_ipaddress list (unless skip_check_adv_addr).
        case addressListMismatch
        /// Unicast source not among the configured peers (check_unicast_src).
        case unknownSource
        /// The address count is zero where addresses are required, or a family mismatch.
        case addressCount
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Per-reason receive counters for one instance or one interface (for the demux's VRID misses),
/// plus the traffic counters keepalived reports in its stats dump.
public struct ReceiveStatistics: Hashable, Sendable, Codable {
    public private(set) var rejected: [PacketError.Code: Int] = [:]
    public var advertisementsReceived = 0
    public var advertisementsSent = 0
    public var priorityZeroReceived = 0
    public var priorityZeroSent = 0
    public var becameMaster = 0
    public var releasedMaster = 0

    public init() {}

    public subscript(_ code: PacketError.Code) -> Int { rejected[code, default: 0] }

    public mutating func count(_ code: PacketError.Code) { rejected[code, default: 0] += 1 }

    /// Total rejected packets, all reasons.
    public var totalRejected: Int { rejected.values.reduce(0, +) }
}
