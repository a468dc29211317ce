import Foundation
@testable import KeepalivedConfig

enum Fixtures {
    static let root: String = {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        return here.appendingPathComponent("Fixtures").path
    }()

    static func list(_ dir: String) -> [String] {
        let path = root + "/" + dir
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { $0.hasSuffix(".conf") }.sorted().map { path + "/" + $0 }
    }

    static var valid: [String] { list("valid") }
    static var invalid: [String] { list("invalid") }

    static let seeds = ["/work/shared/fixtures/seed/keepalived-V11-master.conf",
                        "/work/shared/fixtures/seed/keepalived-V15-backup.conf"].filter { FileManager.default.fileExists(atPath: $0) }

    /// The interfaces the differential namespace has; fixtures use eth0/eth1.
    static let interfaces: Set<String> = ["lo", "eth0", "eth1"]

    static func options(hostChecks: Bool = true, keepSyntax: Bool = false) -> LoadOptions {
        LoadOptions(configID: "vgctest", hostChecks: hostChecks, interfaces: interfaces, keepSyntax: keepSyntax)
    }

    /// `# expect: CODE` on the first line of an invalid fixture.
    static func expectedCode(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let first = text.split(separator: "\n").first, first.hasPrefix("# expect: ") else { return nil }
        return String(first.dropFirst("# expect: ".count))
    }
}

func load(_ text: String, file: String = "t.conf", configID: String = "vgctest") -> LoadResult {
    ConfigLoader.load(text: text, fileName: file, options: LoadOptions(configID: configID, hostChecks: false, keepSyntax: true))
}

func codes(_ r: LoadResult, _ severity: DiagnosticSeverity? = nil) -> [String] {
    r.diagnostics.filter { severity == nil || $0.severity == severity }.map(\.code.rawValue)
}
