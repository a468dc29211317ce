import DataPlane
import Foundation
import IPVSAdm

/// The fixture files: `cases.txt` (ipvsadm invocations), the transcript captured from the real
/// ipvsadm in ipvs-vm, and `run-cases.sh` which produces such a transcript.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func text(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }
}

/// One ipvsadm invocation of a case file.
struct Case: Sendable {
    var line: String
    var arguments: [String]
    var standardInput: String
}

/// What one invocation printed (as the transcript records it: line by line).
struct Outcome: Sendable, Equatable, CustomStringConvertible {
    var stdout: [String]
    var stderr: [String]
    var exitCode: Int32

    var description: String {
        (stdout.map { "O|\($0)" } + stderr.map { "E|\($0)" } + ["R|\(exitCode)"]).joined(separator: "\n")
    }
}

/// Parses a case file the way `run-cases.sh` reads it.
func parseCases(_ text: String) -> [Case] {
    var cases: [Case] = []
    for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
        let line = String(raw)
        if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("! ") { continue }
        var args = line
        var input = ""
        if let r = line.range(of: " <<< ") {
            args = String(line[..<r.lowerBound])
            input = printfPercentB(String(line[r.upperBound...]))
        }
        let words = args.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        cases.append(Case(line: line, arguments: words, standardInput: input))
    }
    return cases
}

/// `printf '%b'`: backslash escapes; `\c` ends the output.
func printfPercentB(_ s: String) -> String {
    var out = ""
    var it = s.makeIterator()
    while let c = it.next() {
        guard c == "\\" else { out.append(c); continue }
        guard let e = it.next() else { out.append("\\"); break }
        switch e {
        case "n": out.append("\n")
        case "t": out.append("\t")
        case "\\": out.append("\\")
        case "c": return out
        default: out.append("\\"); out.append(e)
        }
    }
    return out
}

/// Parses a transcript (`C|`, `O|`, `E|`, `R|` lines; anything else is guest console noise).
func parseTranscript(_ text: String) -> [(line: String, outcome: Outcome)] {
    var result: [(String, Outcome)] = []
    var current: (String, Outcome)?
    for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
        let line = String(raw)
        if line.hasPrefix("C|") {
            current = (String(line.dropFirst(2)), Outcome(stdout: [], stderr: [], exitCode: -1))
        } else if line.hasPrefix("O|") {
            current?.1.stdout.append(String(line.dropFirst(2)))
        } else if line.hasPrefix("E|") {
            current?.1.stderr.append(String(line.dropFirst(2)))
        } else if line.hasPrefix("R|"), var c = current {
            c.1.exitCode = Int32(line.dropFirst(2)) ?? -1
            result.append(c)
            current = nil
        }
    }
    return result
}

/// Splits output into lines as `sed 's/^/O|/'` shows them.
func lines(_ s: String) -> [String] {
    if s.isEmpty { return [] }
    var parts = s.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if parts.last == "" { parts.removeLast() }
    return parts
}

/// A MemoryBackend configured like the ipvs-vm guest: no `sip` PE module, no `twos`.
func guestLikeBackend() -> MemoryBackend {
    var s = MemoryBackend.State()
    s.persistenceEngines = []
    s.schedulers.removeAll { $0 == "twos" }
    s.interfaces = ["lo", "v0", "v1"]
    return MemoryBackend(state: s)
}

/// Runs every case in order against one backend (as the guest ran them against one kernel).
func replay(_ cases: [Case], backend: MemoryBackend) async -> [(line: String, outcome: Outcome)] {
    var out: [(String, Outcome)] = []
    for c in cases {
        let r = await IPVSAdm.run(arguments: c.arguments, program: "ipvsadm", standardInput: c.standardInput, backend: backend)
        out.append((c.line, Outcome(stdout: lines(r.stdout), stderr: lines(r.stderr), exitCode: r.exitCode)))
    }
    return out
}

/// Human-readable differences between the real ipvsadm and ours, case by case.
func differences(expected: [(line: String, outcome: Outcome)], actual: [(line: String, outcome: Outcome)]) -> [String] {
    var diffs: [String] = []
    if expected.count != actual.count { diffs.append("case count: ipvsadm \(expected.count), vigil \(actual.count)") }
    for (e, a) in zip(expected, actual) {
        if e.line != a.line {
            diffs.append("case mismatch: \(e.line) vs \(a.line)")
            break
        }
        if e.outcome != a.outcome {
            diffs.append("ipvsadm \(e.line)\n--- real ipvsadm\n\(e.outcome)\n--- vigil\n\(a.outcome)")
        }
    }
    return diffs
}
