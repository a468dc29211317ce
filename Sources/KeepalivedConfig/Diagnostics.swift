/// Where a piece of configuration came from: the real file, line and column (1-based) after
/// includes, parameter expansion and `~SEQ` repetition have been undone.
public struct SourceLocation: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }

    public static func < (a: Self, b: Self) -> Bool {
        (a.file, a.line, a.column) < (b.file, b.line, b.column)
    }
}

/// How bad a diagnostic is. `error` means keepalived would refuse or misread the file (the
/// configuration must not be used); `warning` means it runs but probably not as intended; `note`
/// is information (e.g. a keyword Vigil recognises but does not act on).
public enum DiagnosticSeverity: String, Sendable, Hashable, Codable, Comparable {
    case note, warning, error

    private var rank: Int { self == .note ? 0 : self == .warning ? 1 : 2 }
    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
}

/// A diagnostic's stable machine-readable identity (printed in `--json` output).
public struct DiagnosticCode: Sendable, Hashable, Codable, CustomStringConvertible, RawRepresentable {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ raw: String) { self.rawValue = raw }
    public var description: String { rawValue }

    // Lexical and preprocessing
    public static let unbalancedBraces = Self("unbalanced-braces")
    public static let unexpectedBrace = Self("unexpected-brace")
    public static let missingBlock = Self("missing-block")
    public static let nestingTooDeep = Self("nesting-too-deep")
    public static let lineTooLong = Self("line-too-long")
    public static let invalidByte = Self("invalid-byte")
    public static let unterminatedQuote = Self("unterminated-quote")
    public static let includeMissing = Self("include-missing")
    public static let includeLoop = Self("include-loop")
    public static let includeUnreadable = Self("include-unreadable")
    public static let fileUnreadable = Self("file-unreadable")
    public static let parameterError = Self("parameter")
    public static let sequenceError = Self("sequence")
    // Keywords
    public static let unknownKeyword = Self("unknown-keyword")
    public static let unknownBlock = Self("unknown-block")
    public static let misplacedKeyword = Self("misplaced-keyword")
    public static let legacyPlacement = Self("legacy-placement")
    public static let deprecatedKeyword = Self("deprecated-keyword")
    public static let unsupportedKeyword = Self("unsupported-keyword")
    public static let newerKeyword = Self("newer-keyword")
    public static let duplicateKeyword = Self("duplicate-keyword")
    public static let missingArgument = Self("missing-argument")
    public static let extraArgument = Self("extra-argument")
    // Values
    public static let invalidValue = Self("invalid-value")
    public static let valueOutOfRange = Self("value-out-of-range")
    public static let invalidAddress = Self("invalid-address")
    public static let truncatedValue = Self("truncated-value")
    // Semantics
    public static let missingRequired = Self("missing-required")
    public static let duplicateName = Self("duplicate-name")
    public static let duplicateVRID = Self("duplicate-vrid")
    public static let undefinedReference = Self("undefined-reference")
    public static let strictMode = Self("strict-mode")
    public static let conflict = Self("conflict")
    public static let portMismatch = Self("port-mismatch")
    public static let quorum = Self("quorum")
    public static let addressOwner = Self("address-owner")
    // Host checks
    public static let noSuchInterface = Self("no-such-interface")
    public static let scriptMissing = Self("script-missing")
    public static let scriptNotExecutable = Self("script-not-executable")
    public static let scriptSecurity = Self("script-security")
    public static let noSuchUser = Self("no-such-user")
}

/// One finding about a configuration, with the place it refers to.
public struct ConfigDiagnostic: Sendable, Hashable, Codable, CustomStringConvertible {
    public var severity: DiagnosticSeverity
    public var code: DiagnosticCode
    public var location: SourceLocation
    public var message: String
    /// A hint printed as a `note:` line under the diagnostic.
    public var hint: String?

    public init(severity: DiagnosticSeverity, code: DiagnosticCode, location: SourceLocation,
                message: String, hint: String? = nil) {
        self.severity = severity
        self.code = code
        self.location = location
        self.message = message
        self.hint = hint
    }

    /// Compiler style: `file:line:col: error: message` and, if present, `file:line:col: note: hint`.
    public var description: String {
        var s = "\(location): \(severity.rawValue): \(message)"
        if let hint { s += "\n\(location): note: \(hint)" }
        return s
    }
}
