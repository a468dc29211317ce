import NetCore

/// `http_protocol`: the request line version and whether `Connection: close` is sent.
public enum HTTPProtocolVersion: String, Sendable, Hashable, CaseIterable {
    case http10 = "1.0"
    /// keepalived's `1.0C`: HTTP/1.0 with `Connection: close`.
    case http10Close = "1.0C"
    case http11 = "1.1"

    /// Accepts `1.0`, `1.0c`/`1.0C` and `1.1` (genhash's `-P` and keepalived.conf spellings).
    public init?(keyword: String) {
        switch keyword.lowercased() {
        case "1.0": self = .http10
        case "1.0c": self = .http10Close
        case "1.1": self = .http11
        default: return nil
        }
    }
}

/// Errors building or parsing HTTP health-check data.
public struct HTTPCheckError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable { case requestTooLong, badStatusCode, badDigest, noData, badStatusLine }
    public var code: Code
    public var message: String
    public var description: String { message }
}

/// The GET request keepalived sends, byte for byte (keepalived.md §4.2):
/// `GET /path HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.0.0.1:80\r\n\r\n`.
///
/// `1.1` and `1.0C` add `Connection: close` before `Host`. Host is the virtual host (no port) when
/// one is given, else the address and port (IPv6 in brackets). The request is capped at 2048 bytes.
public func httpRequest(path: String, virtualhost: String?, server: SocketAddress, version: HTTPProtocolVersion) throws(HTTPCheckError) -> [UInt8] {
    let host = virtualhost ?? server.description
    let line = version == .http11 ? "HTTP/1.1" : "HTTP/1.0"
    var text = "GET \(path) \(line)\r\nUser-Agent: KeepAliveClient\r\n"
    if version != .http10 { text += "Connection: close\r\n" }
    text += "Host: \(host)\r\n\r\n"
    let bytes = Array(text.utf8)
    guard bytes.count <= 2048 else {
        throw HTTPCheckError(code: .requestTooLong, message: "HTTP request for \(path) is \(bytes.count) bytes, more than 2048")
    }
    return bytes
}

/// A set of accepted status codes (`status_code 200 301-302`; default 200–299; valid 100–599).
public struct StatusCodeSet: Sendable, Hashable, CustomStringConvertible {
    public var ranges: [ClosedRange<Int>]

    public init(_ ranges: [ClosedRange<Int>]) { self.ranges = ranges }

    public static let `default` = StatusCodeSet([200...299])

    /// Parses keepalived's words: `N` or `A-B`, each within 100–599.
    public init(parsing words: [String]) throws(HTTPCheckError) {
        var r: [ClosedRange<Int>] = []
        for w in words {
            let parts = w.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let lo = Int(parts[0]), let hi = Int(parts.last!),
                lo <= hi, lo >= 100, hi <= 599
            else {
                throw HTTPCheckError(code: .badStatusCode, message: "status_code '\(w)' is not a code or range within 100-599")
            }
            r.append(lo...hi)
        }
        self.ranges = r
    }

    public func contains(_ code: Int) -> Bool { ranges.contains { $0.contains(code) } }

    public var description: String {
        ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: " ")
    }
}

/// A received HTTP response, split the way keepalived does: status from the first line, body after
/// the first CRLFCRLF, `Content-Length:` (case-sensitive) limiting the bytes hashed. Chunked
/// framing is not decoded.
public struct HTTPResponse: Sendable, Hashable {
    public var raw: [UInt8]
    /// Status code from `HTTP/x.y NNN`, nil when the first line has none.
    public var statusCode: Int?
    /// Index of the first body byte, nil when no CRLFCRLF was seen.
    public var bodyStart: Int?
    /// The `Content-Length:` value, when present.
    public var contentLength: Int?

    public init(raw: [UInt8]) {
        self.raw = raw
        self.bodyStart = HTTPResponse.headerEnd(raw)
        let headerEnd = bodyStart ?? raw.count
        let headerText = String(decoding: raw[..<headerEnd], as: UTF8.self)
        let lines = headerText.split(separator: "\r\n", omittingEmptySubsequences: false)
        if let first = lines.first {
            let words = first.split(separator: " ", omittingEmptySubsequences: true)
            if words.count >= 2, words[0].hasPrefix("HTTP/"), let c = Int(words[1]), words[1].count == 3 { statusCode = c }
        }
        for l in lines.dropFirst() where l.hasPrefix("Content-Length:") {
            contentLength = Int(l.dropFirst("Content-Length:".count).trimmingSpaces)
            break
        }
    }

    static func headerEnd(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        var i = 0
        while i + 3 < b.count {
            if b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i + 4 }
            i += 1
        }
        return nil
    }

    /// All bytes after the header.
    public var receivedBody: ArraySlice<UInt8> { raw[(bodyStart ?? raw.count)...] }

    /// The bytes keepalived hashes: the body, limited to Content-Length when that is smaller.
    public var hashedBody: ArraySlice<UInt8> {
        let b = receivedBody
        if let cl = contentLength, cl >= 0, cl < b.count { return b.prefix(cl) }
        return b
    }

    /// True when the whole body announced by Content-Length has arrived (reading can stop early).
    public var isCompleteByLength: Bool {
        guard let cl = contentLength else { return false }
        return receivedBody.count >= cl
    }

    /// keepalived's log line when Content-Length disagrees with what arrived.
    public var lengthMismatch: String? {
        guard let cl = contentLength, cl != receivedBody.count else { return nil }
        return "content_length (\(cl)) does not match received bytes (\(receivedBody.count))"
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return s
    }
}

/// One `url { }` block of HTTP_GET/SSL_GET.
public struct URLCheck: Sendable, Hashable {
    public var path: String
    /// Lower-case 32-hex MD5 of the body, when set.
    public var digest: String?
    public var statusCodes: StatusCodeSet
    public var virtualhost: String?
    /// `regex` with its options and offsets, when set.
    public var bodyPattern: HTTPBodyPattern?

    public init(
        path: String, digest: String? = nil, statusCodes: StatusCodeSet = .default, virtualhost: String? = nil,
        bodyPattern: HTTPBodyPattern? = nil
    ) throws(HTTPCheckError) {
        self.path = path
        if let d = digest {
            guard d.count == 32, d.allSatisfy({ $0.isHexDigit }) else {
                throw HTTPCheckError(code: .badDigest, message: "digest '\(d)' for url \(path) is not 32 hexadecimal characters")
            }
            self.digest = d.lowercased()
        }
        self.statusCodes = statusCodes
        self.virtualhost = virtualhost
        self.bodyPattern = bodyPattern
    }

    /// Judges a complete response. `bodyDigest` is the MD5 hex of `response.hashedBody` (computed
    /// by the caller, only needed when `digest` is set). Messages use keepalived's wording.
    public func evaluate(_ response: HTTPResponse, bodyDigest: String?, target: String) -> CheckOutcome {
        guard !response.raw.isEmpty else {
            return .failed("Read, no data received from \(target) url(\(path)).")
        }
        guard let code = response.statusCode, statusCodes.contains(code) else {
            let c = response.statusCode.map(String.init) ?? "none"
            return .failed("HTTP status code error to \(target) url(\(path)), status_code [\(c)].")
        }
        if let want = digest {
            let got = bodyDigest ?? ""
            if got != want {
                return .failed("MD5 digest error to \(target) url[\(path)], MD5SUM [\(got)].")
            }
        }
        // keepalived 2.2.7's wording (check_http.c, timeout_epilog).
        if let p = bodyPattern, !p.accepts(response.receivedBody) {
            return .failed("Regex match failed server \(target).")
        }
        return .ok()
    }
}
