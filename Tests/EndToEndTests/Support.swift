import Foundation
import Lab
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// True when `name` is an executable on PATH.
func haveProgram(_ name: String) -> Bool {
    ((try? runCommand(["sh", "-c", "command -v \(name)"]))?.status ?? 1) == 0
}

/// The lab tests need root, the built `vigil`, nginx and nft.
let labTestsEnabled = isRoot && FileManager.default.isExecutableFile(atPath: vigilBinaryPath) && haveProgram("nginx") && haveProgram("nft")

/// Collects a lab's log lines (printed only when a test wants them).
final class LogBuffer: @unchecked Sendable {
    private var lines: [String] = []
    private let lock = NSLock()
    func add(_ s: String) { lock.withLock { lines.append(s) } }
    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}

/// A runner using the built binary, logging into `buffer`.
func makeRunner(prefix: String, options: LabOptions = LabOptions(), buffer: LogBuffer) -> LabRunner {
    LabRunner(prefix: prefix, vigil: vigilBinaryPath, options: options, log: { buffer.add($0) })
}

/// The lab's namespaces that exist now.
func labNamespaces(_ prefix: String) -> [String] {
    let out = (try? runCommand(["ip", "netns", "list"]))?.stdout ?? ""
    return out.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }.filter { $0.hasPrefix("\(prefix)-") }
}

/// True while `pid` runs with `startTime` (a zombie counts as ended).
func isRunning(_ p: LabState.Started) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(p.pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")")
    else { return false }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return false }
    return UInt64(fields[19]) == p.startTime
}

/// What a lab left behind: namespaces, live recorded processes, its state directory.
struct Leftovers: CustomStringConvertible {
    var namespaces: [String]
    var processes: [LabState.Started]
    var stateDirectoryExists: Bool
    var isEmpty: Bool { namespaces.isEmpty && processes.isEmpty && !stateDirectoryExists }
    var description: String {
        "namespaces \(namespaces), processes \(processes.map { "\($0.what) (\($0.pid))" }), state directory \(stateDirectoryExists ? "present" : "gone")"
    }
}

func leftovers(prefix: String, recorded: [LabState.Started], stateRoot: String = "/run/vigil-lab") -> Leftovers {
    Leftovers(
        namespaces: labNamespaces(prefix),
        processes: recorded.filter(isRunning),
        stateDirectoryExists: FileManager.default.fileExists(atPath: "\(stateRoot)/\(prefix)"))
}

/// The state file of lab `prefix`, read directly (as a user would `cat` it).
func readState(prefix: String, stateRoot: String = "/run/vigil-lab") -> LabState? {
    guard let data = FileManager.default.contents(atPath: "\(stateRoot)/\(prefix)/state.json") else { return nil }
    return try? JSONDecoder().decode(LabState.self, from: data)
}

/// A `vigil` command started in the background with its output in a file; killed by PID if
/// the test ends before it does.
final class Background: @unchecked Sendable {
    let process = Process()
    let outputPath: String

    init(_ args: [String], output: String) throws {
        outputPath = output
        FileManager.default.createFile(atPath: output, contents: nil)
        let h = FileHandle(forWritingAtPath: output)
        process.executableURL = URL(fileURLWithPath: vigilBinaryPath)
        process.arguments = args
        process.standardOutput = h
        process.standardError = h
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// Waits for the process to end; its exit status, or nil after `timeout`.
    func wait(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    func signal(_ sig: Int32) {
        if process.isRunning { kill(process.processIdentifier, sig) }
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: outputPath)
    }
}

/// Runs `vigil` to completion.
func vigil(_ args: [String], timeout: Double = 60) throws -> CommandResult {
    try runCommand([vigilBinaryPath] + args, timeout: timeout)
}

/// Removes lab `prefix` whatever state it is in (test cleanup, also after a failure).
func forceDown(_ prefix: String) {
    LabRunner(prefix: prefix, vigil: vigilBinaryPath, log: { _ in }).down()
}

/// keepalived's HTTP_GET bounds from the checker issue, for the scenario's virtual server: a
/// failing server leaves the pool within delay_loop × (retry + 1) + connect_timeout and returns
/// within one delay_loop. `delay_loop 6`, `connect_timeout 3` (a virtual-server default for its
/// checkers); `retry` is HTTP_GET's default, 1: the seed's `nb_get_retry 3` sits at the
/// virtual_server level, where keepalived 2.2.7 rejects it (`keepalived -t`: "Unknown keyword
/// 'nb_get_retry'") and so does Vigil. The measurement adds the time to notice the log line
/// (polled every 20 ms) and the check itself.
enum CheckerBounds {
    static let delayLoop = 6.0
    static let retry = 1.0
    static let connectTimeout = 3.0
    static let observation = 0.5
    static var removal: Double { delayLoop * (retry + 1) + connectTimeout + observation }
    static var restore: Double { delayLoop + observation }
}
