/// UDP_CHECK's payload and reply rules.
public struct UDPCheckSpec: Sendable, Hashable {
    /// Bytes sent (`payload HEX`); the I/O layer sends random bytes when nil.
    public var payload: [UInt8]?
    /// `require_reply HEX` with `x` nibble wildcards; nil means any reply (or none) is fine.
    public var requireReply: HexPattern?
    public var minReplyLength: Int
    public var maxReplyLength: Int

    public init(payload: [UInt8]? = nil, requireReply: HexPattern? = nil, minReplyLength: Int = 0, maxReplyLength: Int = 255) {
        self.payload = payload
        self.requireReply = requireReply
        self.minReplyLength = minReplyLength
        self.maxReplyLength = maxReplyLength
    }

    /// nil when the reply passes; otherwise keepalived's reason.
    public func check(reply: [UInt8], target: String) -> String? {
        if reply.count < minReplyLength || reply.count > maxReplyLength {
            return "UDP check to \(target) reply length \(reply.count) outside \(minReplyLength)-\(maxReplyLength)."
        }
        if let p = requireReply, !p.matches(reply) { return "UDP check to \(target) reply data mismatch." }
        return nil
    }

    /// Parses plain hex (`payload`): an even number of hex digits, spaces ignored.
    public static func parseHex(_ text: String) throws(CodecError) -> [UInt8] {
        let p = try HexPattern(text)
        guard p.nibbles.allSatisfy({ $0 != nil }) else { throw CodecError(.badHex, "'\(text)' has wildcards where plain hex is needed") }
        return p.bytes.map { $0.value }
    }
}

/// A hex pattern where `x` matches any nibble (`require_reply 0a0bxx0d`).
public struct HexPattern: Sendable, Hashable {
    /// One entry per nibble, nil = wildcard.
    public var nibbles: [UInt8?]

    public init(_ text: String) throws(CodecError) {
        var n: [UInt8?] = []
        for c in text where c != " " {
            if c == "x" || c == "X" { n.append(nil); continue }
            guard let v = c.hexDigitValue else { throw CodecError(.badHex, "'\(text)' has a non-hex character '\(c)'") }
            n.append(UInt8(v))
        }
        guard !n.isEmpty, n.count % 2 == 0 else { throw CodecError(.badHex, "'\(text)' needs an even, non-zero number of hex digits") }
        nibbles = n
    }

    /// Bytes as (value, mask).
    public var bytes: [(value: UInt8, mask: UInt8)] {
        stride(from: 0, to: nibbles.count, by: 2).map { i in
            let hi = nibbles[i], lo = nibbles[i + 1]
            return (value: (hi ?? 0) << 4 | (lo ?? 0), mask: (hi == nil ? 0 : 0xf0) | (lo == nil ? 0 : 0x0f))
        }
    }

    /// The reply must be at least as long as the pattern and match it byte by byte under the mask.
    public func matches(_ data: [UInt8]) -> Bool {
        let b = bytes
        guard data.count >= b.count else { return false }
        for (i, p) in b.enumerated() where data[i] & p.mask != p.value & p.mask { return false }
        return true
    }
}
