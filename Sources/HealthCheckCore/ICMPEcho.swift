/// ICMP / ICMPv6 echo messages for PING_CHECK (RFC 792, RFC 4443 §4.1–4.2).
public struct ICMPEcho: Sendable, Hashable {
    public var isV6: Bool
    public var identifier: UInt16
    public var sequence: UInt16
    public var payload: [UInt8]

    public init(isV6: Bool, identifier: UInt16, sequence: UInt16, payload: [UInt8]) {
        self.isV6 = isV6
        self.identifier = identifier
        self.sequence = sequence
        self.payload = payload
    }

    /// Echo request bytes. For IPv4 the checksum is filled in (RFC 792); for ICMPv6 it is left 0
    /// because the kernel computes it over the pseudo-header (RFC 4443 §2.3, RFC 3542 §3.1).
    public func encodeRequest() -> [UInt8] {
        var b: [UInt8] = [isV6 ? 128 : 8, 0, 0, 0, UInt8(identifier >> 8), UInt8(identifier & 0xff), UInt8(sequence >> 8), UInt8(sequence & 0xff)]
        b += payload
        if !isV6 {
            let c = ICMPEcho.checksum(b)
            b[2] = UInt8(c >> 8)
            b[3] = UInt8(c & 0xff)
        }
        return b
    }

    /// Internet checksum (RFC 1071).
    public static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count {
            sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }

    /// Parses an echo reply. Raw IPv4 sockets deliver the IP header first; set `hasIPHeader`.
    /// With `checkIdentifier` false (ping sockets rewrite the id) only the sequence is compared.
    public static func parseReply(_ data: [UInt8], isV6: Bool, hasIPHeader: Bool) throws(CodecError) -> ICMPEcho {
        var d = data[...]
        if hasIPHeader && !isV6 {
            guard let first = d.first else { throw CodecError(.truncated, "empty ICMP packet") }
            let ihl = Int(first & 0x0f) * 4
            guard ihl >= 20, d.count >= ihl else { throw CodecError(.truncated, "IPv4 header shorter than its IHL") }
            d = d.dropFirst(ihl)
        }
        guard d.count >= 8 else { throw CodecError(.truncated, "ICMP message of \(d.count) bytes is shorter than 8") }
        let bytes = Array(d)
        let want: UInt8 = isV6 ? 129 : 0
        guard bytes[0] == want, bytes[1] == 0 else {
            throw CodecError(.mismatch, "ICMP type \(bytes[0]) code \(bytes[1]) is not an echo reply")
        }
        if !isV6 && checksum(bytes) != 0 { throw CodecError(.badChecksum, "ICMP echo reply has a bad checksum") }
        return ICMPEcho(
            isV6: isV6, identifier: UInt16(bytes[4]) << 8 | UInt16(bytes[5]), sequence: UInt16(bytes[6]) << 8 | UInt16(bytes[7]),
            payload: Array(bytes[8...]))
    }
}
