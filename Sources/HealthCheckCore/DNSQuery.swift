/// Errors of the small protocol codecs (DNS, UDP patterns, ICMP).
public struct CodecError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable { case badName, badType, badHex, truncated, mismatch, badChecksum }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

/// DNS_CHECK's query and answer check (RFC 1035 §4.1).
///
/// The query is a standard query with RD set and one question of class IN. A reply passes when it
/// is at least a header long, carries the query's id, has QR set and RCODE 0 — keepalived's rule.
public struct DNSQuery: Sendable, Hashable {
    /// The record types DNS_CHECK accepts (`type` keyword), with their RFC codes.
    public enum RecordType: String, Sendable, Hashable, CaseIterable {
        case a = "A", ns = "NS", cname = "CNAME", soa = "SOA", mx = "MX", txt = "TXT", aaaa = "AAAA"
        case rrsig = "RRSIG", dnskey = "DNSKEY"

        public var code: UInt16 {
            switch self {
            case .a: 1
            case .ns: 2
            case .cname: 5
            case .soa: 6
            case .mx: 15
            case .txt: 16
            case .aaaa: 28
            case .rrsig: 46
            case .dnskey: 48
            }
        }

        /// Case-insensitive keyword lookup.
        public init(keyword: String) throws(CodecError) {
            guard let t = RecordType(rawValue: keyword.uppercased()) else {
                throw CodecError(.badType, "DNS type '\(keyword)' is not one of \(RecordType.allCases.map(\.rawValue).joined(separator: " "))")
            }
            self = t
        }
    }

    public var id: UInt16
    public var name: String
    public var type: RecordType

    public init(id: UInt16, name: String = ".", type: RecordType = .soa) {
        self.id = id
        self.name = name
        self.type = type
    }

    /// The wire form (RFC 1035 §4.1.1 header + §4.1.2 question).
    public func encode() throws(CodecError) -> [UInt8] {
        var out: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        out += try DNSQuery.encodeName(name)
        out += [UInt8(type.code >> 8), UInt8(type.code & 0xff), 0, 1]
        return out
    }

    /// Encodes a domain name as labels (RFC 1035 §3.1); "." and "" are the root.
    public static func encodeName(_ name: String) throws(CodecError) -> [UInt8] {
        var out: [UInt8] = []
        let trimmed = name.hasSuffix(".") ? String(name.dropLast()) : name
        if !trimmed.isEmpty {
            for label in trimmed.split(separator: ".", omittingEmptySubsequences: false) {
                let b = Array(label.utf8)
                guard !b.isEmpty, b.count <= 63 else {
                    throw CodecError(.badName, "DNS name '\(name)' has an empty label or one longer than 63 bytes")
                }
                out.append(UInt8(b.count))
                out += b
            }
        }
        out.append(0)
        guard out.count <= 255 else { throw CodecError(.badName, "DNS name '\(name)' is longer than 255 bytes") }
        return out
    }

    /// Checks a reply against this query: nil when it passes, else keepalived-like reason.
    public func check(reply: [UInt8]) -> String? {
        guard reply.count >= 12 else { return "DNS reply of \(reply.count) bytes is shorter than a header" }
        let rid = UInt16(reply[0]) << 8 | UInt16(reply[1])
        guard rid == id else { return "DNS reply id \(rid) does not match query id \(id)" }
        guard reply[2] & 0x80 != 0 else { return "DNS reply has QR unset" }
        let rcode = reply[3] & 0x0f
        guard rcode == 0 else { return "DNS reply rcode is \(rcode)" }
        return nil
    }
}
