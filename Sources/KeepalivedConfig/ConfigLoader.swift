#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Parses a keepalived TIMER: decimal seconds with up to 6 decimals (µs resolution).
public func parseTimer(_ text: String) -> Duration? {
    var seconds: Int64 = 0
    var micros: Int64 = 0
    var fracDigits = 0
    var seenDot = false
    var digits = 0
    for c in text.utf8 {
        if c == UInt8(ascii: ".") {
            if seenDot { return nil }
            seenDot = true
            continue
        }
        guard c >= 0x30 && c <= 0x39 else { return nil }
        let d = Int64(c - 0x30)
        if seenDot {
            fracDigits += 1
            guard fracDigits <= 6 else { return nil }
            micros = micros * 10 + d
        } else {
            digits += 1
            guard digits <= 10 else { return nil }
            seconds = seconds * 10 + d
        }
    }
    guard digits > 0 || fracDigits > 0 else { return nil }
    while fracDigits < 6 { micros *= 10; fracDigits += 1 }
    return .seconds(seconds) + .microseconds(micros)
}

/// Options for `ConfigLoader.load`.
public struct LoadOptions: Sendable {
    /// The config-id for `@ID` lines (`-i ID`); nil means the host name up to the first dot.
    public var configID: String?
    /// `${_INSTANCE}`.
    public var instanceName: String
    /// Run host checks like `keepalived -t` (interfaces, scripts, users). `--offline` turns them off.
    public var hostChecks: Bool
    /// Interfaces that exist; nil means read `/sys/class/net`.
    public var interfaces: Set<String>?
    /// Seed for `${_RANDOM}` (0 = fixed default, so results are reproducible).
    public var randomSeed: UInt64
    /// Keep the preprocessed syntax tree for `dump`.
    public var keepSyntax: Bool

    public init(configID: String? = nil, instanceName: String = "", hostChecks: Bool = true,
                interfaces: Set<String>? = nil, randomSeed: UInt64 = 0, keepSyntax: Bool = false) {
        self.configID = configID
        self.instanceName = instanceName
        self.hostChecks = hostChecks
        self.interfaces = interfaces
        self.randomSeed = randomSeed
        self.keepSyntax = keepSyntax
    }

    /// The default config-id: the host name up to the first dot (keepalived.md §1.1).
    public static var defaultConfigID: String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count) == 0 else { return "" }
        let name = String(cString: buf)
        return String(name.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }
}

/// The result of loading a configuration: a best-effort model (also when there are errors) and
/// every diagnostic, sorted by file and line.
public struct LoadResult: Sendable {
    public var config: KeepalivedConfiguration
    public var diagnostics: [ConfigDiagnostic]
    /// The preprocessed statements (only with `LoadOptions.keepSyntax`), for `dump`.
    var syntax: [SyntaxNode]

    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
    public var errors: [ConfigDiagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [ConfigDiagnostic] { diagnostics.filter { $0.severity == .warning } }
    /// Recognised keywords Vigil does not act on (one note per occurrence).
    public var unsupportedKeywords: [ConfigDiagnostic] { diagnostics.filter { $0.code == .unsupportedKeyword } }

    /// The configuration after preprocessing (includes, parameters, `~SEQ`, conditionals) in
    /// canonical keepalived syntax, without unknown or misplaced keywords. Needs `keepSyntax`.
    public func dump() -> String { Dumper.dump(syntax) }
}

/// Entry point: reads keepalived.conf, preprocesses, parses, builds the model and validates it.
public enum ConfigLoader {
    /// Loads the file at `path` (includes resolve relative to the including file).
    public static func load(path: String, options: LoadOptions = LoadOptions()) -> LoadResult {
        run(path: path, text: nil, options: options)
    }

    /// Loads configuration text as if it were the file `fileName` (for tests and stdin).
    public static func load(text: String, fileName: String = "keepalived.conf", options: LoadOptions = LoadOptions(hostChecks: false)) -> LoadResult {
        run(path: fileName, text: Array(text.utf8), options: options)
    }

    /// Loads raw bytes (need not be UTF-8) as the file `fileName`.
    public static func load(bytes: [UInt8], fileName: String = "keepalived.conf", options: LoadOptions = LoadOptions(hostChecks: false)) -> LoadResult {
        run(path: fileName, text: bytes, options: options)
    }

    static func run(path: String, text: [UInt8]?, options: LoadOptions) -> LoadResult {
        let pre = Preprocessor(options: PreprocessorOptions(
            configID: options.configID ?? LoadOptions.defaultConfigID,
            instanceName: options.instanceName,
            randomSeed: options.randomSeed,
            environment: { name in getenv(name).map { String(cString: $0) } }))
        let tree = pre.run(mainPath: path, text: text)
        var builder = Builder(diags: pre.diags)
        builder.build(tree)
        var validator = Validator(builder: builder)
        validator.validate()
        if options.hostChecks {
            validator.hostChecks(interfaces: options.interfaces ?? HostInfo.interfaces())
        }
        let files = pre.files
        var diags = validator.diags.items.map { d -> ConfigDiagnostic in
            let f = Int(d.loc.file) < files.count ? files[Int(d.loc.file)] : path
            return ConfigDiagnostic(severity: d.severity, code: d.code,
                                    location: SourceLocation(file: f, line: max(1, Int(d.loc.line)), column: max(1, Int(d.loc.col))),
                                    message: d.message, hint: d.hint)
        }
        if validator.diags.errorCount > validator.diags.items.filter({ $0.severity == .error }).count {
            diags.append(ConfigDiagnostic(severity: .error, code: .invalidValue, location: SourceLocation(file: path, line: 1, column: 1),
                                          message: "too many diagnostics; only the first \(DiagnosticSink.limit) are shown"))
        }
        // Stable sort by place so output reads like a compiler's.
        let indexed = diags.enumerated().sorted { a, b in
            a.element.location != b.element.location ? a.element.location < b.element.location : a.offset < b.offset
        }
        return LoadResult(config: validator.config, diagnostics: indexed.map(\.element), syntax: options.keepSyntax ? tree : [])
    }
}
