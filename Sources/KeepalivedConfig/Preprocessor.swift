#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The keepalived.conf preprocessor and lexer (keepalived.md §1.1): comments, line continuation,
// `@ID` conditionals, `$NAME=` parameters, `~SEQ`/`~LST` repetition, includes, quoting and the
// splitting of lines at braces. It works on UTF-8 bytes and feeds statements straight into a
// tree builder with an explicit stack, so deep nesting cannot overflow the call stack.

private let SP = UInt8(ascii: " "), TAB = UInt8(ascii: "\t"), CR = UInt8(ascii: "\r")
private let LF = UInt8(ascii: "\n"), BSL = UInt8(ascii: "\\"), DQ = UInt8(ascii: "\"")
private let SQ = UInt8(ascii: "'"), HASH = UInt8(ascii: "#"), BANG = UInt8(ascii: "!")
private let LBR = UInt8(ascii: "{"), RBR = UInt8(ascii: "}"), DOLLAR = UInt8(ascii: "$")
private let TILDE = UInt8(ascii: "~"), AT = UInt8(ascii: "@"), EQ = UInt8(ascii: "=")

@inline(__always) private func isSpace(_ c: UInt8) -> Bool {
    c == SP || c == TAB || c == CR || c == 0x0b || c == 0x0c
}
@inline(__always) private func isNameChar(_ c: UInt8) -> Bool {
    (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x5f
}

/// A line of text with the source location of each byte. `locs` is nil for the common case of
/// an untouched physical line, where byte `i` sits at column `base.col + i`.
struct LocatedText {
    var bytes: [UInt8]
    var locs: [Loc]?
    var base: Loc

    @inline(__always) func loc(_ i: Int) -> Loc {
        if let locs { return locs.isEmpty ? base : locs[min(i, locs.count - 1)] }
        return Loc(base.file, base.line, base.col + Int32(truncatingIfNeeded: min(i, Int(Int32.max - base.col))))
    }

    mutating func materializeLocs() {
        if locs == nil { locs = (0..<bytes.count).map { loc($0) } }
    }

    func slice(_ from: Int, _ to: Int) -> LocatedText {
        let lo = min(from, bytes.count), hi = max(lo, min(to, bytes.count))
        if let locs {
            return LocatedText(bytes: Array(bytes[lo..<hi]), locs: Array(locs[lo..<hi]), base: loc(lo))
        }
        return LocatedText(bytes: Array(bytes[lo..<hi]), locs: nil, base: loc(lo))
    }
}

/// Options the preprocessor needs from the loader.
struct PreprocessorOptions {
    var configID: String
    var instanceName: String
    var randomSeed: UInt64
    var environment: (String) -> String?
    static let maxLineLength = 1024
    static let maxDepth = 100
    static let maxIncludeDepth = 32
    static let maxExpansionDepth = 32
    static let maxGeneratedLines = 2_000_000
}

final class Preprocessor {
    var files: [String] = []
    var diags = DiagnosticSink()
    let options: PreprocessorOptions
    private var params: [String: [UInt8]] = [:]
    private var includeStack: [String] = []
    private var rng: UInt64
    private var generatedLines = 0

    // Tree builder state.
    private struct Frame {
        var nodes: [SyntaxNode] = []
        var anonymous = false
        var openLoc: Loc
    }
    private var stack: [Frame] = [Frame(openLoc: Loc(0, 1, 1))]
    private var lastWasStatement = false
    private var lastStatementLine: Loc?

    init(options: PreprocessorOptions) {
        self.options = options
        self.rng = options.randomSeed == 0 ? 0x9E37_79B9_7F4A_7C15 : options.randomSeed
    }

    // MARK: - Files

    func fileID(_ path: String) -> Int32 {
        files.append(path)
        return Int32(files.count - 1)
    }

    /// Reads a whole file as bytes, or nil if it cannot be opened.
    static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) != S_IFDIR else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(Int(max(st.st_size, 0)) + 1)
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    /// Processes the top-level file. Returns the syntax tree.
    func run(mainPath: String, text: [UInt8]?) -> [SyntaxNode] {
        let id = fileID(mainPath)
        if let text {
            includeStack.append(canonical(mainPath))
            processFile(bytes: text, file: id)
            includeStack.removeLast()
        } else if let bytes = Self.readFile(mainPath) {
            includeStack.append(canonical(mainPath))
            processFile(bytes: bytes, file: id)
            includeStack.removeLast()
        } else {
            diags.error(.fileUnreadable, Loc(id, 1, 1), "cannot read configuration file '\(mainPath)': \(String(cString: strerror(errno)))")
        }
        return finish(eof: Loc(id, 1, 1))
    }

    private func canonical(_ path: String) -> String {
        guard let p = realpath(path, nil) else { return path }
        defer { free(p) }
        return String(cString: p)
    }

    // MARK: - Physical lines

    private func processFile(bytes: [UInt8], file: Int32) {
        var lineNo: Int32 = 0
        var pending: [LocatedText] = []  // continuation pieces
        var lastLoc = Loc(file, 1, 1)
        bytes.withUnsafeBufferPointer { buf in
            let n = buf.count
            var i = 0
            while i < n {
                var e = i
                while e < n && buf[e] != LF { e += 1 }
                lineNo &+= 1
                let lineLoc = Loc(file, lineNo, 1)
                lastLoc = lineLoc
                var end = e
                // A NUL ends the line for keepalived (C strings); say so instead of silently
                // dropping the rest.
                var nul = i
                while nul < end && buf[nul] != 0 { nul += 1 }
                if nul < end {
                    diags.error(.invalidByte, Loc(file, lineNo, Int32(nul - i + 1)), "NUL byte in line; the rest of the line is ignored")
                    end = nul
                }
                if end - i > PreprocessorOptions.maxLineLength {
                    diags.error(.lineTooLong, lineLoc, "line too long (\(end - i) bytes; keepalived's limit is \(PreprocessorOptions.maxLineLength)) - ignoring it")
                    i = e + 1
                    continue
                }
                // Decomment: `#`/`!` outside double quotes end the line; `\` escapes one byte.
                var inQuote = false
                var j = i
                var cut = end
                while j < end {
                    let c = buf[j]
                    if c == BSL { j += 2; continue }
                    if c == DQ { inQuote.toggle() } else if !inQuote && (c == HASH || c == BANG) { cut = j; break }
                    j += 1
                }
                while cut > i && isSpace(buf[cut - 1]) { cut -= 1 }
                // Trailing backslash (not an escaped one) continues the line.
                var bs = 0
                var k = cut
                while k > i && buf[k - 1] == BSL { bs += 1; k -= 1 }
                let continues = bs % 2 == 1
                let piece = LocatedText(bytes: Array(buf[i..<(continues ? cut - 1 : cut)]), locs: nil, base: lineLoc)
                i = e + 1
                if continues {
                    pending.append(piece)
                    continue
                }
                if pending.isEmpty {
                    processLogical(piece, depth: 0)
                } else {
                    pending.append(piece)
                    processLogical(joinContinuation(pending), depth: 0)
                    pending.removeAll()
                }
            }
        }
        if !pending.isEmpty { processLogical(joinContinuation(pending), depth: 0) }
        _ = lastLoc
    }

    /// Joins continued lines. A `$NAME=` definition keeps the line breaks (each line of a
    /// multi-line parameter becomes its own line when used); other statements join with a space.
    private func joinContinuation(_ pieces: [LocatedText]) -> LocatedText {
        let first = pieces[0].bytes
        var s = 0
        while s < first.count && isSpace(first[s]) { s += 1 }
        let isDefinition = s < first.count && first[s] == DOLLAR && definitionName(first, from: s) != nil
        var out = LocatedText(bytes: [], locs: [], base: pieces[0].base)
        for (n, p) in pieces.enumerated() {
            if n > 0 {
                out.bytes.append(isDefinition ? LF : SP)
                out.locs!.append(p.base)
            }
            out.bytes.append(contentsOf: p.bytes)
            out.locs!.append(contentsOf: (0..<p.bytes.count).map { p.loc($0) })
        }
        return out
    }

    /// If `bytes[from...]` is `$NAME=`, the name and the index after `=`.
    private func definitionName(_ bytes: [UInt8], from: Int) -> (String, Int)? {
        var j = from + 1
        let start = j
        while j < bytes.count && isNameChar(bytes[j]) { j += 1 }
        guard j > start, j < bytes.count, bytes[j] == EQ else { return nil }
        return (String(decoding: bytes[start..<j], as: UTF8.self), j + 1)
    }

    // MARK: - Logical lines

    private func processLogical(_ text: LocatedText, depth: Int) {
        var s = 0
        let b = text.bytes
        while s < b.count && isSpace(b[s]) { s += 1 }
        guard s < b.count else { return }
        generatedLines += 1
        if generatedLines > PreprocessorOptions.maxGeneratedLines {
            if generatedLines == PreprocessorOptions.maxGeneratedLines + 1 {
                diags.error(.sequenceError, text.loc(s), "more than \(PreprocessorOptions.maxGeneratedLines) lines generated; stopping expansion")
            }
            return
        }
        var text = text
        // `@ID line` / `@^ID line`
        if b[s] == AT {
            var j = s + 1
            var negate = false
            if j < b.count && b[j] == UInt8(ascii: "^") { negate = true; j += 1 }
            let idStart = j
            while j < b.count && !isSpace(b[j]) { j += 1 }
            let id = String(decoding: b[idStart..<j], as: UTF8.self)
            if id.isEmpty {
                diags.error(.invalidValue, text.loc(s), "'@' must be followed by a config-id")
                return
            }
            if (id == options.configID) == negate { return }
            text = text.slice(j, b.count)
            processLogical(text, depth: depth)
            return
        }
        // `$NAME=VALUE`
        if b[s] == DOLLAR, let (name, valueStart) = definitionName(b, from: s) {
            var v = valueStart
            while v < b.count && (b[v] == SP || b[v] == TAB) { v += 1 }
            params[name] = Array(b[v...])
            return
        }
        // `~SEQ(...)`, `~SEQx(...)`, `~LST(...)`
        if b[s] == TILDE {
            processRepetition(text, at: s, depth: depth)
            return
        }
        // Parameter expansion; a multi-line value yields several lines.
        if b.contains(DOLLAR) {
            let expanded = expand(text, depth: 0)
            // The name of a definition may itself come from a parameter (`$P_${n}=…`).
            if expanded.bytes.count > s, expanded.bytes[s] == DOLLAR, let (name, valueStart) = definitionName(expanded.bytes, from: s) {
                var v = valueStart
                while v < expanded.bytes.count && (expanded.bytes[v] == SP || expanded.bytes[v] == TAB) { v += 1 }
                params[name] = Array(expanded.bytes[v...])
                return
            }
            if expanded.bytes.contains(LF) {
                var start = 0
                for (i, c) in expanded.bytes.enumerated() where c == LF {
                    processExpandedLine(expanded.slice(start, i), depth: depth)
                    start = i + 1
                }
                processExpandedLine(expanded.slice(start, expanded.bytes.count), depth: depth)
                return
            }
            tokenizeAndEmit(expanded)
            return
        }
        tokenizeAndEmit(text)
    }

    private func processExpandedLine(_ t: LocatedText, depth: Int) {
        guard depth < PreprocessorOptions.maxExpansionDepth else {
            diags.error(.parameterError, t.base, "parameter expansion nested too deeply")
            return
        }
        processLogical(t, depth: depth + 1)
    }

    // MARK: - Parameters

    /// Expands `$NAME` (followed by whitespace or end of line) and `${NAME …}` recursively.
    /// Expanded bytes take the location of the `$` that produced them.
    private func expand(_ text: LocatedText, depth: Int) -> LocatedText {
        let b = text.bytes
        guard b.contains(DOLLAR) else { return text }
        if depth > PreprocessorOptions.maxExpansionDepth {
            diags.error(.parameterError, text.base, "parameter expansion nested too deeply (recursive definition?)")
            return text
        }
        var out = LocatedText(bytes: [], locs: [], base: text.base)
        out.bytes.reserveCapacity(b.count + 16)
        var i = 0
        var changed = false
        while i < b.count {
            let c = b[i]
            if c == BSL && i + 1 < b.count {
                out.bytes.append(c); out.locs!.append(text.loc(i))
                out.bytes.append(b[i + 1]); out.locs!.append(text.loc(i + 1))
                i += 2
                continue
            }
            guard c == DOLLAR, i + 1 < b.count else {
                out.bytes.append(c); out.locs!.append(text.loc(i)); i += 1
                continue
            }
            let here = text.loc(i)
            var replacement: [UInt8]? = nil
            var after = i
            if b[i + 1] == LBR {
                var j = i + 2
                var level = 1
                while j < b.count {
                    if b[j] == LBR { level += 1 } else if b[j] == RBR { level -= 1; if level == 0 { break } }
                    j += 1
                }
                if j < b.count {
                    let inner = expand(LocatedText(bytes: Array(b[(i + 2)..<j]), locs: nil, base: here), depth: depth + 1).bytes
                    replacement = builtinOrParam(inner, at: here)
                    after = j + 1
                    if replacement == nil {
                        diags.warning(.parameterError, here, "parameter '${\(String(decoding: inner, as: UTF8.self))}' is not defined; it is left as written",
                                      hint: "define it with '$NAME=value' before its use")
                    }
                }
            } else if isNameChar(b[i + 1]) {
                var j = i + 1
                while j < b.count && isNameChar(b[j]) { j += 1 }
                // keepalived 2.2.7 expands `$NAME` only when whitespace or the end of the line
                // follows (`10.0.$a.1` is not expanded; write `10.0.${a}.1`).
                if j == b.count || isSpace(b[j]) {
                    let name = String(decoding: b[(i + 1)..<j], as: UTF8.self)
                    if let v = params[name] { replacement = v; after = j }
                }
            }
            if let replacement {
                let sub = expand(LocatedText(bytes: replacement, locs: nil, base: here), depth: depth + 1)
                out.bytes.append(contentsOf: sub.bytes)
                out.locs!.append(contentsOf: repeatElement(here, count: sub.bytes.count))
                i = after
                changed = true
            } else {
                out.bytes.append(c); out.locs!.append(here); i += 1
            }
        }
        return changed ? out : text
    }

    /// Value of `${…}` contents: a predefined name or a parameter; nil leaves it as written.
    private func builtinOrParam(_ inner: [UInt8], at loc: Loc) -> [UInt8]? {
        let words = inner.split(whereSeparator: { isSpace($0) }).map { String(decoding: $0, as: UTF8.self) }
        guard let name = words.first else { return nil }
        switch name {
        case "_PWD":
            let f = files[Int(loc.file)]
            if let slash = f.lastIndex(of: "/") {
                let dir = String(f[..<slash])
                return Array((dir.isEmpty ? "/" : dir).utf8)
            }
            var buf = [CChar](repeating: 0, count: 4096)
            return getcwd(&buf, buf.count) != nil ? Array(String(cString: buf).utf8) : Array(".".utf8)
        case "_INSTANCE": return Array(options.instanceName.utf8)
        case "_HASH": return [HASH]
        case "_BANG": return [BANG]
        case "_ENV":
            guard words.count == 2 else {
                diags.error(.parameterError, loc, "${_ENV} needs exactly one variable name")
                return []
            }
            return Array((options.environment(words[1]) ?? "").utf8)
        case "_RANDOM":
            var lo = 0, hi = 32767
            if words.count > 1 { guard let v = Int(words[1]), v >= 0 else { diags.error(.parameterError, loc, "invalid ${_RANDOM} minimum '\(words[1])'"); return [] }; lo = v }
            if words.count > 2 { guard let v = Int(words[2]), v >= lo else { diags.error(.parameterError, loc, "invalid ${_RANDOM} maximum '\(words[2])'"); return [] }; hi = v }
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            let span = UInt64(hi - lo + 1)
            return Array(String(lo + Int((rng >> 33) % span)).utf8)
        default:
            guard words.count == 1 else { return nil }
            return params[name]
        }
    }

    // MARK: - ~SEQ / ~LST

    private func processRepetition(_ text: LocatedText, at s: Int, depth: Int) {
        let b = text.bytes
        let loc = text.loc(s)
        var j = s + 1
        while j < b.count && isNameChar(b[j]) { j += 1 }
        let kind = String(decoding: b[(s + 1)..<j], as: UTF8.self)
        guard kind == "SEQ" || kind == "SEQx" || kind == "LST", j < b.count, b[j] == UInt8(ascii: "(") else {
            diags.error(.sequenceError, loc, "unknown repetition '~\(kind)'", hint: "use ~SEQ(var,start,step,end), ~SEQx(…) or ~LST(var,v1,v2…)")
            return
        }
        // Find the closing parenthesis (braces may group list items).
        var k = j + 1
        var level = 0
        while k < b.count {
            if b[k] == LBR { level += 1 } else if b[k] == RBR { level -= 1 } else if b[k] == UInt8(ascii: ")") && level == 0 { break }
            k += 1
        }
        guard k < b.count else {
            diags.error(.sequenceError, loc, "missing ')' in ~\(kind)")
            return
        }
        let argsText = expand(text.slice(j + 1, k), depth: 0)
        let rest = text.slice(k + 1, b.count)
        let args = splitTopLevel(argsText.bytes)
        var iterations: [[(String, [UInt8])]] = []
        if kind == "LST" {
            guard args.count >= 2 else {
                diags.error(.sequenceError, loc, "~LST needs a variable and at least one value")
                return
            }
            let first = args[0]
            if first.first == LBR {
                let names = splitTopLevel(Array(first.dropFirst().dropLast())).map { String(decoding: $0, as: UTF8.self) }
                for tuple in args.dropFirst() {
                    let vals = tuple.first == LBR ? splitTopLevel(Array(tuple.dropFirst().dropLast())) : [tuple]
                    guard vals.count == names.count else {
                        diags.error(.sequenceError, loc, "~LST tuple has \(vals.count) values for \(names.count) variables")
                        return
                    }
                    iterations.append(Array(zip(names, vals)))
                }
            } else {
                let name = String(decoding: first, as: UTF8.self)
                iterations = args.dropFirst().map { [(name, $0)] }
            }
        } else {
            let nums = args.dropFirst().map { Int(String(decoding: $0, as: UTF8.self).trimmingSpaces()) }
            guard let nameBytes = args.first, !nameBytes.isEmpty, (1...3).contains(nums.count), nums.allSatisfy({ $0 != nil }) else {
                diags.error(.sequenceError, loc, "malformed ~\(kind)(…)", hint: "expected ~\(kind)(var,end), ~\(kind)(var,start,end) or ~\(kind)(var,start,step,end) with integers")
                return
            }
            let name = String(decoding: nameBytes, as: UTF8.self)
            var start = 0, step = 1, end = 0
            switch nums.count {
            case 1: end = nums[0]!
            case 2: start = nums[0]!; end = nums[1]!
            default: start = nums[0]!; step = nums[1]!; end = nums[2]!
            }
            guard step != 0, (step > 0 && start <= end) || (step < 0 && start >= end) || start == end else {
                if step == 0 { diags.error(.sequenceError, loc, "~\(kind) step must not be 0") }
                return
            }
            let count = (end - start) / step + 1
            guard count <= PreprocessorOptions.maxGeneratedLines else {
                diags.error(.sequenceError, loc, "~\(kind) would generate \(count) lines")
                return
            }
            var v = start
            while step > 0 ? v <= end : v >= end {
                let text = kind == "SEQx" ? String(v, radix: 16) : String(v)
                iterations.append([(name, Array(text.utf8))])
                v += step
            }
        }
        for assignment in iterations {
            let saved = assignment.map { ($0.0, params[$0.0]) }
            for (n, v) in assignment { params[n] = v }
            processLogical(rest, depth: depth + 1)
            for (n, v) in saved { params[n] = v }
            if generatedLines > PreprocessorOptions.maxGeneratedLines { break }
        }
    }

    /// Splits on commas that are not inside braces, trimming spaces.
    private func splitTopLevel(_ b: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var cur: [UInt8] = []
        var level = 0
        for c in b {
            if c == LBR { level += 1 } else if c == RBR { level -= 1 }
            if c == UInt8(ascii: ",") && level == 0 { out.append(cur.trimmed()); cur = [] } else { cur.append(c) }
        }
        out.append(cur.trimmed())
        return out
    }

    // MARK: - Tokens

    /// Splits a line into words and braces and hands them to the tree builder (or handles an
    /// include).
    private func tokenizeAndEmit(_ text: LocatedText) {
        let b = text.bytes
        // `include` lines are not split at braces: `{a,b}` is a csh brace pattern.
        var s = 0
        while s < b.count && isSpace(b[s]) { s += 1 }
        if b.count - s > 7, b[s] == UInt8(ascii: "i"), b[s + 1] == UInt8(ascii: "n"), b[s + 2] == UInt8(ascii: "c") {
            var e = s
            while e < b.count && !isSpace(b[e]) { e += 1 }
            let kw = String(decoding: b[s..<e], as: UTF8.self)
            if Self.includeKeywords.contains(kw) {
                var words = [Word(text: kw, loc: text.loc(s))]
                var i = e
                while i < b.count {
                    while i < b.count && isSpace(b[i]) { i += 1 }
                    guard i < b.count else { break }
                    let st = i
                    while i < b.count && !isSpace(b[i]) { i += 1 }
                    var w = String(decoding: b[st..<i], as: UTF8.self)
                    if w.count >= 2, let f = w.first, (f == "\"" || f == "'"), w.last == f { w = String(w.dropFirst().dropLast()) }
                    words.append(Word(text: w, loc: text.loc(st)))
                }
                handleInclude(words)
                lastWasStatement = false
                return
            }
        }
        var words: [Word] = []
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            if isSpace(c) { i += 1; continue }
            if c == LBR || c == RBR {
                if !words.isEmpty { emitStatement(words); words.removeAll(keepingCapacity: true) }
                if c == LBR { openBrace(text.loc(i)) } else { closeBrace(text.loc(i)) }
                i += 1
                continue
            }
            // A word. Fast path: no quotes or escapes.
            let start = i
            var simple = true
            var j = i
            while j < n {
                let d = b[j]
                if isSpace(d) || d == LBR || d == RBR { break }
                if d == DQ || d == SQ || d == BSL { simple = false; break }
                j += 1
            }
            if simple {
                words.append(Word(text: String(decoding: b[start..<j], as: UTF8.self), loc: text.loc(start)))
                i = j
                continue
            }
            var out: [UInt8] = []
            var quote: UInt8 = 0
            j = start
            while j < n {
                let d = b[j]
                if quote == 0 {
                    if isSpace(d) || d == LBR || d == RBR { break }
                    if d == DQ || d == SQ { quote = d; j += 1; continue }
                } else if d == quote {
                    quote = 0; j += 1; continue
                }
                if d == BSL && quote != SQ && j + 1 < n {
                    j = unescape(b, at: j + 1, into: &out)
                    continue
                }
                out.append(d)
                j += 1
            }
            if quote != 0 {
                diags.error(.unterminatedQuote, text.loc(start), "missing closing \(quote == DQ ? "double" : "single") quote")
            }
            words.append(Word(text: String(decoding: out, as: UTF8.self), loc: text.loc(start)))
            i = j
        }
        if !words.isEmpty { emitStatement(words) }
    }

    /// Decodes the escape starting at `b[i]` (after the backslash); returns the next index.
    private func unescape(_ b: [UInt8], at i: Int, into out: inout [UInt8]) -> Int {
        let c = b[i]
        func hex(_ x: UInt8) -> UInt8? {
            switch x {
            case 0x30...0x39: return x - 0x30
            case 0x61...0x66: return x - 0x61 + 10
            case 0x41...0x46: return x - 0x41 + 10
            default: return nil
            }
        }
        switch c {
        case UInt8(ascii: "n"): out.append(LF)
        case UInt8(ascii: "t"): out.append(TAB)
        case UInt8(ascii: "r"): out.append(CR)
        case UInt8(ascii: "a"): out.append(7)
        case UInt8(ascii: "b"): out.append(8)
        case UInt8(ascii: "f"): out.append(12)
        case UInt8(ascii: "v"): out.append(11)
        case UInt8(ascii: "e"): out.append(27)
        case UInt8(ascii: "x"):
            var v: UInt8 = 0
            var j = i + 1
            while j < b.count && j < i + 3, let h = hex(b[j]) { v = v &* 16 &+ h; j += 1 }
            if j == i + 1 { out.append(c); return i + 1 }
            out.append(v)
            return j
        case UInt8(ascii: "0")...UInt8(ascii: "7"):
            var v: UInt8 = 0
            var j = i
            while j < b.count && j < i + 3 && b[j] >= 0x30 && b[j] <= 0x37 { v = v &* 8 &+ (b[j] - 0x30); j += 1 }
            out.append(v)
            return j
        case UInt8(ascii: "c"):
            if i + 1 < b.count { out.append(b[i + 1] & 0x1f); return i + 2 }
            out.append(c)
        default: out.append(c)
        }
        return i + 1
    }

    // MARK: - Statements and includes

    private static let includeKeywords: Set<String> = ["include", "includer", "includem", "includew", "includeb", "includea"]

    private func emitStatement(_ words: [Word]) {
        if words[0].text.hasPrefix("include"), Self.includeKeywords.contains(words[0].text) {
            handleInclude(words)
            lastWasStatement = false
            return
        }
        stack[stack.count - 1].nodes.append(SyntaxNode(words: words, children: nil, openLoc: nil))
        lastWasStatement = true
    }

    private func handleInclude(_ words: [Word]) {
        let kw = words[0]
        guard words.count >= 2 else {
            diags.error(.missingArgument, kw.loc, "'\(kw.text)' needs a file name or pattern")
            return
        }
        let strict = kw.text != "include"
        let including = files[Int(kw.loc.file)]
        var pattern = words[1].text
        if !pattern.hasPrefix("/"), let slash = including.lastIndex(of: "/") {
            pattern = String(including[...slash]) + pattern
        }
        var g = glob_t()
        defer { globfree(&g) }
        #if canImport(Glibc)
        let flags = GLOB_BRACE | GLOB_TILDE
        #else
        let flags: Int32 = 0
        #endif
        let rc = glob(pattern, flags, nil, &g)
        var paths: [String] = []
        if rc == 0 {
            for k in 0..<Int(g.gl_pathc) { if let p = g.gl_pathv[k] { paths.append(String(cString: p)) } }
        }
        if paths.isEmpty {
            let msg = "Config files missing '\(words[1].text)'"
            if strict {
                diags.error(.includeMissing, words[1].loc, msg, hint: "'\(kw.text)' requires its files to exist; plain 'include' tolerates missing files")
            } else {
                diags.warning(.includeMissing, words[1].loc, msg + " (ignored by plain 'include')")
            }
            return
        }
        for path in paths {
            let canon = canonical(path)
            if includeStack.contains(canon) {
                diags.error(.includeLoop, words[1].loc, "'\(path)' includes itself (include loop)", hint: "include chain: " + includeStack.joined(separator: " -> ") + " -> " + canon)
                continue
            }
            guard includeStack.count < PreprocessorOptions.maxIncludeDepth else {
                diags.error(.includeLoop, words[1].loc, "includes nested more than \(PreprocessorOptions.maxIncludeDepth) deep")
                continue
            }
            guard let bytes = Self.readFile(path) else {
                if strict {
                    diags.error(.includeUnreadable, words[1].loc, "cannot read included file '\(path)'")
                } else {
                    diags.warning(.includeUnreadable, words[1].loc, "cannot read included file '\(path)' (ignored)")
                }
                continue
            }
            let id = fileID(path)
            includeStack.append(canon)
            processFile(bytes: bytes, file: id)
            includeStack.removeLast()
        }
    }

    private func openBrace(_ loc: Loc) {
        let top = stack.count - 1
        guard lastWasStatement, let last = stack[top].nodes.last, last.children == nil else {
            diags.error(.unexpectedBrace, loc, "Unexpected '{' - no keyword before it; its block is ignored")
            stack.append(Frame(anonymous: true, openLoc: loc))
            lastWasStatement = false
            return
        }
        if stack.count > PreprocessorOptions.maxDepth {
            diags.error(.nestingTooDeep, loc, "blocks nested more than \(PreprocessorOptions.maxDepth) deep; the inner block is ignored")
            stack.append(Frame(anonymous: true, openLoc: loc))
            lastWasStatement = false
            return
        }
        stack.append(Frame(openLoc: loc))
        lastWasStatement = false
    }

    private func closeBrace(_ loc: Loc) {
        lastWasStatement = false
        guard stack.count > 1 else {
            diags.error(.unbalancedBraces, loc, "Extra '}' found", hint: "this brace closes no block")
            return
        }
        let frame = stack.removeLast()
        if frame.anonymous { return }
        let top = stack.count - 1
        let idx = stack[top].nodes.count - 1
        stack[top].nodes[idx].children = frame.nodes
        stack[top].nodes[idx].openLoc = frame.openLoc
    }

    private func finish(eof: Loc) -> [SyntaxNode] {
        while stack.count > 1 {
            let open = stack[stack.count - 1].openLoc
            diags.error(.unbalancedBraces, open, "missing '}' at end of file for the block opened here")
            closeBrace(open)
        }
        return stack[0].nodes
    }
}

extension Array where Element == UInt8 {
    func trimmed() -> [UInt8] {
        var s = 0, e = count
        while s < e && (self[s] == SP || self[s] == TAB) { s += 1 }
        while e > s && (self[e - 1] == SP || self[e - 1] == TAB) { e -= 1 }
        return Array(self[s..<e])
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
