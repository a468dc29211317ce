import ArgumentParser
import KeepalivedConfig
#if canImport(Glibc)
import Glibc
#endif

/// `vigil check`: checks a keepalived.conf like `keepalived -t`, with compiler-style diagnostics.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a keepalived.conf and report every problem (like keepalived -t).",
        discussion: "Exit status: 0 when there are no errors (warnings allowed), 1 otherwise.")

    @Option(name: [.short, .customLong("use-file")], help: "Configuration file.")
    var file: String = "/etc/keepalived/keepalived.conf"

    @Option(name: [.customShort("i"), .customLong("config-id")], help: "config-id for '@ID' lines (default: host name up to the first dot).")
    var configID: String?

    @Flag(help: "Skip host checks (interfaces, scripts, users).")
    var offline = false

    @Flag(help: "Print the diagnostics as JSON on standard output.")
    var json = false

    @Flag(help: "Print the preprocessed configuration in canonical keepalived syntax.")
    var dump = false

    @Flag(name: .customLong("no-notes"), help: "Do not print notes (e.g. keywords Vigil does not act on).")
    var noNotes = false

    func run() throws {
        let result = ConfigLoader.load(path: file, options: LoadOptions(configID: configID, hostChecks: !offline, keepSyntax: dump))
        let shown = noNotes ? result.diagnostics.filter { $0.severity != .note } : result.diagnostics
        if json {
            print(CheckReport.json(shown))
        } else {
            var err = ""
            for d in shown { err += d.description + "\n" }
            let e = result.errors.count, w = result.warnings.count
            let n = result.diagnostics.count - e - w
            err += "\(file): \(e) error\(e == 1 ? "" : "s"), \(w) warning\(w == 1 ? "" : "s"), \(n) note\(n == 1 ? "" : "s")\n"
            let bytes = Array(err.utf8)
            bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
        }
        if dump { print(result.dump(), terminator: "") }
        if result.hasErrors { throw ExitCode(1) }
    }
}

enum CheckReport {
    static func json(_ diags: [ConfigDiagnostic]) -> String {
        func esc(_ s: String) -> String {
            var o = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": o += "\\\""
                case "\\": o += "\\\\"
                case "\n": o += "\\n"
                case "\t": o += "\\t"
                default:
                    if u.value < 0x20 {
                        let h = String(u.value, radix: 16)
                        o += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                    } else { o.unicodeScalars.append(u) }
                }
            }
            return o + "\""
        }
        let items = diags.map { d in
            "{\"severity\":\(esc(d.severity.rawValue)),\"code\":\(esc(d.code.rawValue)),\"file\":\(esc(d.location.file)),\"line\":\(d.location.line),\"column\":\(d.location.column),\"message\":\(esc(d.message))" + (d.hint.map { ",\"hint\":\(esc($0))" } ?? "") + "}"
        }
        return "[" + items.joined(separator: ",\n ") + "]"
    }
}
