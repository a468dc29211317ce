/// The `regex` of an HTTP_GET/SSL_GET `url` block (keepalived.conf(5)): the response body must
/// contain a match — or, with `regex_no_match`, must not — that starts between
/// `regex_min_offset` and `regex_max_offset` bytes into the body.
///
/// keepalived compiles the pattern with PCRE2; Vigil uses Swift's `Regex`, whose syntax is
/// PCRE's for the common subset (classes, quantifiers, groups, anchors, lookahead, `\d\w\s`,
/// inline flags). Like PCRE2 without `utf`, the body is matched byte by byte (each byte one
/// character); with the `utf` option it is decoded as UTF-8.
public struct HTTPBodyPattern: Sendable, Hashable {
    /// What Vigil does with a `regex_options` word.
    public enum OptionSupport: Sendable, Hashable {
        /// Changes what matches, and Vigil applies it.
        case applied
        /// Only tunes PCRE2's compiler or forbids pattern features; results are the same without it.
        case noEffect
        /// A PCRE2 option Vigil's matcher cannot honour.
        case unsupported
        /// Not a PCRE2 option keepalived knows.
        case unknown
    }

    public static func support(of option: String) -> OptionSupport {
        switch option {
        case "caseless", "multiline", "dotall", "extended", "ungreedy", "utf", "ucp", "firstline": .applied
        case "no_auto_possess", "no_dotstar_anchor", "no_start_optimize", "never_ucp", "never_utf", "no_auto_capture",
            "use_offset_limit", "dupnames":
            .noEffect
        case "allow_empty_class", "alt_bsux", "auto_callout", "dollar_endonly", "match_unset_backref", "never_backslash_c",
            "alt_circumflex", "alt_verbnames":
            .unsupported
        default: .unknown
        }
    }

    public struct CompileError: Error, Hashable, Sendable, CustomStringConvertible {
        public var pattern: String
        public var reason: String
        public var description: String { "invalid regex '\(pattern)': \(reason)" }
    }

    public let pattern: String
    /// The applied options, as written.
    public let options: Set<String>
    public let noMatch: Bool
    /// First body offset at which a match may start.
    public let minOffset: Int
    /// Last body offset at which a match may start (inclusive), nil for no limit.
    public let maxOffset: Int?

    public init(pattern: String, options: [String] = [], noMatch: Bool = false, minOffset: Int = 0, maxOffset: Int? = nil) throws(CompileError) {
        self.pattern = pattern
        self.options = Set(options.filter { Self.support(of: $0) == .applied })
        self.noMatch = noMatch
        self.minOffset = max(0, minOffset)
        self.maxOffset = maxOffset
        _ = try compiled()
    }

    /// The Swift regex with the options applied. `Regex` is not Sendable, so it is built where it
    /// is used (a few microseconds) rather than stored.
    func compiled() throws(CompileError) -> Regex<AnyRegexOutput> {
        var source = pattern
        if options.contains("extended") { source = "(?x)" + source }
        var r: Regex<AnyRegexOutput>
        do {
            r = try Regex(source)
        } catch {
            throw CompileError(pattern: pattern, reason: "\(error)")
        }
        // PCRE2 matches code units, not grapheme clusters ("\r\n" is two characters there).
        r = r.matchingSemantics(.unicodeScalar)
        if options.contains("caseless") { r = r.ignoresCase() }
        if options.contains("multiline") { r = r.anchorsMatchLineEndings() }
        if options.contains("dotall") { r = r.dotMatchesNewlines() }
        if options.contains("ungreedy") { r = r.repetitionBehavior(.reluctant) }
        // Without `ucp`, PCRE2's \d \w \s and \b are ASCII only.
        if !options.contains("ucp") { r = r.asciiOnlyCharacterClasses() }
        return r
    }

    /// Whether the body contains a match starting within the offsets (before `noMatch` is applied).
    public func found(in body: ArraySlice<UInt8>) -> Bool {
        guard minOffset <= body.count else { return false }
        let useUTF8 = options.contains("utf")
        let text: String
        if useUTF8 {
            text = String(decoding: body, as: UTF8.self)
        } else {
            var scalars = String.UnicodeScalarView()
            scalars.append(contentsOf: body.map { Unicode.Scalar($0) })
            text = String(scalars)
        }
        func offset(_ i: String.Index) -> Int {
            useUTF8 ? text.utf8.distance(from: text.startIndex, to: i) : text.unicodeScalars.distance(from: text.startIndex, to: i)
        }
        // Byte offset → index (for UTF-8, the first scalar boundary at or after it).
        var start = text.startIndex
        if useUTF8 {
            var i = text.utf8.index(text.startIndex, offsetBy: minOffset, limitedBy: text.utf8.endIndex) ?? text.utf8.endIndex
            while i < text.endIndex && i.samePosition(in: text.unicodeScalars) == nil { i = text.utf8.index(after: i) }
            start = i
        } else {
            start = text.unicodeScalars.index(text.startIndex, offsetBy: minOffset)
        }
        guard let regex = try? compiled(), let m = try? regex.firstMatch(in: text[start...]) else { return false }
        let at = offset(m.range.lowerBound)
        if let maxOffset, at > maxOffset { return false }
        if options.contains("firstline") {
            // The match must start in the first line of the subject (from the start offset).
            if let nl = text[start...].unicodeScalars.firstIndex(of: "\n"), m.range.lowerBound > nl { return false }
        }
        return true
    }

    /// The check's verdict: a match is required, or forbidden with `regex_no_match`.
    public func accepts(_ body: ArraySlice<UInt8>) -> Bool { found(in: body) != noMatch }

    public static func == (a: HTTPBodyPattern, b: HTTPBodyPattern) -> Bool {
        a.pattern == b.pattern && a.options == b.options && a.noMatch == b.noMatch && a.minOffset == b.minOffset && a.maxOffset == b.maxOffset
    }

    public func hash(into h: inout Hasher) {
        h.combine(pattern)
        h.combine(options)
        h.combine(noMatch)
        h.combine(minOffset)
        h.combine(maxOffset)
    }
}
