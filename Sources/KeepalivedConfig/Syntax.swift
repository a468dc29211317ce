/// Compact internal location: index into the loader's file table, 1-based line and column.
struct Loc: Sendable, Hashable {
    var file: Int32
    var line: Int32
    var col: Int32
    init(_ file: Int32, _ line: Int32, _ col: Int32) {
        self.file = file
        self.line = line
        self.col = col
    }
}

/// One word of a statement after quoting and escapes are resolved.
struct Word: Sendable, Hashable {
    var text: String
    var loc: Loc
}

/// One statement (`keyword args…`) with its block, if it has one. Built by the preprocessor
/// from the token stream; the typed model is built from a tree of these.
struct SyntaxNode: Sendable {
    var words: [Word]
    var children: [SyntaxNode]?
    /// Location of the `{` that opened `children`.
    var openLoc: Loc?

    var keyword: String { words[0].text }
    var loc: Loc { words[0].loc }
    var args: ArraySlice<Word> { words.dropFirst() }
}

/// Internal diagnostic with a compact location; converted to `ConfigDiagnostic` at the end.
struct RawDiagnostic: Sendable {
    var severity: DiagnosticSeverity
    var code: DiagnosticCode
    var loc: Loc
    var message: String
    var hint: String?
}

/// Collects diagnostics for one load.
struct DiagnosticSink: Sendable {
    var items: [RawDiagnostic] = []
    var errorCount = 0
    /// Caps the list so that a megabyte of binary garbage does not produce millions of lines.
    static let limit = 10_000

    mutating func add(_ severity: DiagnosticSeverity, _ code: DiagnosticCode, _ loc: Loc,
                      _ message: String, hint: String? = nil) {
        if severity == .error { errorCount += 1 }
        guard items.count < Self.limit else { return }
        items.append(RawDiagnostic(severity: severity, code: code, loc: loc, message: message, hint: hint))
    }
    mutating func error(_ code: DiagnosticCode, _ loc: Loc, _ message: String, hint: String? = nil) {
        add(.error, code, loc, message, hint: hint)
    }
    mutating func warning(_ code: DiagnosticCode, _ loc: Loc, _ message: String, hint: String? = nil) {
        add(.warning, code, loc, message, hint: hint)
    }
    mutating func note(_ code: DiagnosticCode, _ loc: Loc, _ message: String, hint: String? = nil) {
        add(.note, code, loc, message, hint: hint)
    }
}
