import IPVSAdm
import NetCore

/// Parser for `/proc/net/ip_vs_conn`, whose lines the kernel writes as
/// `"%-3s %08X %04X %08X %04X %08X %04X %-11s %7lu%s\n"` (IPv6 entries print addresses with
/// `%pI6`, eight colon-separated groups) under a one-line header (reference/ipvs.md §3.2).
public enum IPVSConnectionTable {
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public var source: String
        public var line: Int
        public var message: String
        public var description: String { "\(source):\(line): \(message)" }
    }

    public static func parse(_ text: String, source: String = "/proc/net/ip_vs_conn") throws(ParseError) -> [ConnectionEntry] {
        var out: [ConnectionEntry] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fields = raw.split(separator: " ", omittingEmptySubsequences: true)
            if fields.isEmpty || fields[0] == "Pro" { continue }
            func fail(_ m: String) -> ParseError { ParseError(source: source, line: i + 1, message: m) }
            guard fields.count >= 9 else { throw fail("expected at least 9 fields, got \(fields.count)") }
            func endpoint(_ a: Substring, _ p: Substring, _ what: String) throws(ParseError) -> SocketAddress {
                guard let port = UInt16(p, radix: 16) else { throw fail("\(what) port '\(p)' is not hex") }
                if a.contains(":") {
                    guard let v6 = IPv6Address(a) else { throw fail("\(what) address '\(a)' is not IPv6") }
                    return SocketAddress(address: .v6(v6), port: port)
                }
                guard a.count == 8, let v = UInt32(a, radix: 16) else { throw fail("\(what) address '\(a)' is not 8 hex digits") }
                return SocketAddress(address: .v4(IPv4Address(v)), port: port)
            }
            guard let expires = UInt32(fields[8]) else { throw fail("expiry '\(fields[8])' is not a number") }
            out.append(
                ConnectionEntry(
                    protocolName: String(fields[0]), client: try endpoint(fields[1], fields[2], "client"),
                    virtual: try endpoint(fields[3], fields[4], "virtual"), destination: try endpoint(fields[5], fields[6], "destination"),
                    state: String(fields[7]), expires: expires,
                    persistenceEngine: fields.count > 9 ? String(fields[9]) : nil,
                    persistenceData: fields.count > 10 ? fields[10...].joined(separator: " ") : nil))
        }
        return out
    }
}
