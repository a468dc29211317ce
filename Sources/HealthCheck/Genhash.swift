import HealthCheckCore
import NIOCore
import NIOPosix
import NetCore

/// `genhash`: fetches one URL the way HTTP_GET/SSL_GET does and computes the MD5 of the body
/// (keepalived.md §4.3), so the digest can be pasted into a `digest` line.
public enum Genhash {
    public struct Options: Sendable, Hashable {
        public var server: IPAddress
        public var port: UInt16
        public var path: String
        public var ssl: Bool
        public var sni: Bool
        public var virtualhost: String?
        public var version: HTTPProtocolVersion
        public var timeout: Duration
        public var fwmark: UInt32?

        public init(
            server: IPAddress, port: UInt16, path: String, ssl: Bool = false, sni: Bool = false, virtualhost: String? = nil,
            version: HTTPProtocolVersion = .http10, timeout: Duration = .seconds(5), fwmark: UInt32? = nil
        ) {
            self.server = server
            self.port = port
            self.path = path
            self.ssl = ssl
            self.sni = sni
            self.virtualhost = virtualhost
            self.version = version
            self.timeout = timeout
            self.fwmark = fwmark
        }
    }

    /// A finished fetch.
    public struct Result: Sendable {
        public var fetch: HTTPFetch
        public var options: Options
        public var digest: String { fetch.digest }
    }

    /// Errors genhash reports (then exits non-zero, unlike keepalived's genhash).
    public enum Failure: Error, Sendable, CustomStringConvertible {
        case io(CheckIOError)
        case request(String)

        public var description: String {
            switch self {
            case .io(let e): "\(e)"
            case .request(let m): m
            }
        }
    }

    /// Fetches the URL and hashes the body. The status code is not checked (a 404 page is hashed
    /// too, as keepalived does).
    public static func run(_ o: Options, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws(Failure) -> Result {
        let target = NetCore.SocketAddress(address: o.server, port: o.port)
        let request: [UInt8]
        do {
            request = try httpRequest(path: o.path, virtualhost: o.virtualhost, server: target, version: o.version)
        } catch { throw .request("genhash: \(error.message)") }
        let connector = TCPConnector(group: group, connectTo: target, connectTimeout: o.timeout, fwmark: o.fwmark)
        do throws(CheckIOError) {
            let ctx = o.ssl ? try CheckRunner.sharedTLS.context(for: TLSSettings()) : nil
            let fetch = try await HTTPChecker.fetch(connector: connector, request: request, ssl: ctx, serverName: o.sni ? o.virtualhost : nil)
            if fetch.timedOut {
                throw CheckIOError(.readTimeout, reason: "no end of response within \(o.timeout.seconds) s", peer: target.description)
            }
            return Result(fetch: fetch, options: o)
        } catch {
            throw .io(error)
        }
    }

    /// The default output: `MD5SUM = <hex>` (keepalived 1.x genhash); `quiet` gives the hex alone
    /// (what keepalived 2.x prints).
    public static func summary(_ r: Result, quiet: Bool) -> String {
        quiet ? r.digest : "MD5SUM = \(r.digest)"
    }

    /// `-v`: banner-separated sections like keepalived's genhash.
    public static func verboseReport(_ r: Result) -> String {
        let raw = r.fetch.response.raw
        let headerEnd = r.fetch.response.bodyStart ?? raw.count
        let header = Array(raw[..<headerEnd])
        let body = Array(r.fetch.response.hashedBody)
        var out = ""
        out += banner("HTTP Header Buffer") + "\n" + hexDump(header) + "\n"
        out += banner("HTTP Header Ascii Buffer") + "\n" + String(decoding: header, as: UTF8.self) + "\n"
        out += banner("HTML Buffer") + "\n" + hexDump(body) + "\n"
        if let m = r.fetch.response.lengthMismatch { out += m + "\n\n" }
        let digestBytes = stride(from: 0, to: r.digest.count, by: 2).map { i -> UInt8 in
            let s = r.digest.index(r.digest.startIndex, offsetBy: i)
            return UInt8(r.digest[s..<r.digest.index(s, offsetBy: 2)], radix: 16) ?? 0
        }
        out += banner("HTML hash resulting") + "\n" + hexDump(digestBytes) + "\n"
        out += banner("HTML hash final resulting") + "\n" + r.digest + "\n\n"
        let us = r.fetch.elapsed.components.seconds * 1_000_000 + r.fetch.elapsed.components.attoseconds / 1_000_000_000_000
        out += "Global response time for [\(r.options.path)] = \(us) usecs"
        return out
    }

    /// `-----------------------[    HTTP Header Buffer    ]-----------------------`
    public static func banner(_ name: String) -> String {
        "-----------------------[    \(name)    ]-----------------------"
    }

    /// keepalived's dump format: `0000  48 54 54 50 2f 31 2e 30 - 20 32 30 30 20 4f 4b 0d   HTTP/1.0 200 OK.`
    public static func hexDump(_ bytes: [UInt8]) -> String {
        var lines: [String] = []
        var i = 0
        while i < bytes.count {
            var line = hex4(i) + " "
            for j in i..<(i + 16) {
                line += j < bytes.count ? " " + hex2(bytes[j]) : "   "
                if j == i + 7 { line += " -" }
            }
            line += "   "
            for j in i..<min(i + 16, bytes.count) {
                let b = bytes[j]
                line += (0x20...0x7e).contains(b) ? String(UnicodeScalar(b)) : "."
            }
            lines.append(line)
            i += 16
        }
        return lines.joined(separator: "\n")
    }

    private static func hex2(_ b: UInt8) -> String { (b < 16 ? "0" : "") + String(b, radix: 16) }
    private static func hex4(_ v: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }
}

extension CheckRunner {
    static let sharedTLS = TLSContextCache()
}
