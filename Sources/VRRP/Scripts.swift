import CVigilShims
import Foundation
import SysCore
import VRRPCore

#if canImport(Glibc)
import Glibc
#endif

/// A script command line as keepalived splits it: unquoted spaces separate words, single or
/// double quotes group them.
public struct ScriptCommand: Hashable, Sendable, CustomStringConvertible {
    public var argv: [String]

    public init(argv: [String]) { self.argv = argv }

    public init(_ line: String) {
        var words: [String] = []
        var current = ""
        var quote: Character?
        var inWord = false
        for c in line {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c
                inWord = true
            } else if c == " " || c == "\t" {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(c)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        argv = words
    }

    public var description: String { argv.joined(separator: " ") }
}

/// Who scripts run as (`script_user USER [GROUP]`).
public struct ScriptUser: Hashable, Sendable {
    public var uid: uid_t
    public var gid: gid_t

    public init(uid: uid_t, gid: gid_t) {
        self.uid = uid
        self.gid = gid
    }

    /// Looks the user (and optional group) up with `getpwnam`/`getgrnam`.
    public init?(name: String, group: String? = nil) {
        guard let pw = getpwnam(name) else { return nil }
        uid = pw.pointee.pw_uid
        gid = pw.pointee.pw_gid
        if let group {
            guard let gr = getgrnam(group) else { return nil }
            gid = gr.pointee.gr_gid
        }
    }
}

/// How a script run ended.
public enum ScriptOutcome: Hashable, Sendable {
    case exited(Int32)
    case signalled(Int32)
    case timedOut
    case failedToStart(String)

    public var succeeded: Bool { self == .exited(0) }
}

/// Runs scripts without blocking the caller's protocol work: the child is forked, then polled
/// from the calling task; on timeout its process group gets SIGTERM, then SIGKILL after `grace`.
public enum ScriptRunner {
    public static func run(
        _ command: ScriptCommand, user: ScriptUser? = nil, timeout: Duration, grace: Duration = .seconds(2)
    ) async -> ScriptOutcome {
        guard let first = command.argv.first else { return .failedToStart("empty command") }
        guard let path = resolve(first) else { return .failedToStart("\(first): not found") }
        var cargs: [UnsafeMutablePointer<CChar>?] = command.argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        let pid = vigil_spawn(path, &cargs, user == nil ? 0 : 1, user?.uid ?? 0, user?.gid ?? 0)
        if pid < 0 { return .failedToStart(SystemError.last("fork", context: path).description) }
        let start = ContinuousClock.now
        var signalled = false
        while true {
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                if signalled { return .timedOut }
                let sig = status & 0x7f
                return sig == 0 ? .exited((status >> 8) & 0xff) : .signalled(sig)
            }
            if r < 0 && errno != EINTR { return .failedToStart(SystemError.last("waitpid").description) }
            let elapsed = ContinuousClock.now - start
            if !signalled && elapsed >= timeout {
                kill(-pid, SIGTERM)
                signalled = true
            } else if signalled && elapsed >= timeout + grace {
                kill(-pid, SIGKILL)
            }
            // Sleep even when cancelled, so the child is always reaped.
            try? await Task.sleep(for: .milliseconds(10))
            if Task.isCancelled && !signalled {
                kill(-pid, SIGTERM)
                signalled = true
            }
        }
    }

    static func resolve(_ name: String) -> String? {
        if name.contains("/") { return name }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in path.split(separator: ":") {
            let p = "\(dir)/\(name)"
            if access(p, X_OK) == 0 { return p }
        }
        return nil
    }
}

/// An instance's (or sync group's) notify configuration (keepalived.conf(5) §2.7).
public struct NotifyConfig: Hashable, Sendable {
    public var master: ScriptCommand?
    public var backup: ScriptCommand?
    public var fault: ScriptCommand?
    public var stop: ScriptCommand?
    public var masterRxLowerPriority: ScriptCommand?
    /// `notify`: gets `INSTANCE|GROUP name STATE priority` appended.
    public var notify: ScriptCommand?

    public init() {}

    /// The commands to run for a notification, specific one first (keepalived's order).
    public func commands(for n: VRRPNotification) -> [ScriptCommand] {
        var out: [ScriptCommand] = []
        let specific: ScriptCommand? =
            switch n.state {
            case .master: master
            case .backup: backup
            case .fault: fault
            case .stop: stop
            case .masterRxLowerPriority: masterRxLowerPriority
            }
        if let specific { out.append(specific) }
        if let notify, n.state != .masterRxLowerPriority {
            out.append(ScriptCommand(argv: notify.argv + n.scriptArguments))
        }
        return out
    }
}

/// A `vrrp_script` block (keepalived.conf(5) §1.7).
public struct VRRPScriptConfig: Hashable, Sendable {
    public var name: String
    public var command: ScriptCommand
    public var interval: Duration = .seconds(1)
    /// Defaults to the interval.
    public var timeout: Duration?
    public var rise = 1
    public var fall = 1
    public var user: ScriptUser?
    /// `init_fail`: start in the failed state.
    public var initFail = false

    public init(name: String, command: ScriptCommand) {
        self.name = name
        self.command = command
    }
}

/// A `track_file` block: the file holds an integer, polled every `interval`.
public struct TrackFileConfig: Hashable, Sendable {
    public var name: String
    public var path: String
    public var interval: Duration = .seconds(1)

    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }

    /// keepalived reads the first integer in the file; a missing or unreadable file counts as 0.
    public static func value(of path: String) -> Int {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return 0 }
        let t = text.drop { $0 == " " || $0 == "\t" || $0 == "\n" }
        var s = ""
        for c in t {
            if c.isNumber || (s.isEmpty && (c == "-" || c == "+")) { s.append(c) } else { break }
        }
        return Int(s) ?? 0
    }
}

/// A `vrrp_track_process` block: the rule, its `fork_delay`/`terminate_delay` and how often
/// /proc is read. keepalived follows the kernel's proc connector; Vigil reads /proc every
/// `interval` (default 1 s) and, while a delay runs, once more when it ends.
public struct TrackProcessConfig: Hashable, Sendable {
    public var rule: ProcessTrackRule
    public var interval: Duration = .seconds(1)
    /// Wait before reporting a change caused by more matching processes (quorum reached, or
    /// quorum_max passed); a change back within it is not reported (keepalived.conf(5)).
    public var forkDelay: Duration = .zero
    /// Wait before reporting a change caused by fewer matching processes (quorum lost, or back
    /// within quorum_max).
    public var terminateDelay: Duration = .zero

    public init(rule: ProcessTrackRule, forkDelay: Duration = .zero, terminateDelay: Duration = .zero) {
        self.rule = rule
        self.forkDelay = forkDelay
        self.terminateDelay = terminateDelay
    }

    /// The debouncer for this block, fed with counts from /proc.
    public func tracker() -> ProcessQuorumTracker {
        ProcessQuorumTracker(rule: rule, forkDelay: forkDelay, terminateDelay: terminateDelay)
    }

    /// Every process of this host's PID namespace, from /proc (`comm` and `cmdline`).
    public static func processes(procRoot: String = "/proc") -> [ProcessTrackRule.Process] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: procRoot) else { return [] }
        var out: [ProcessTrackRule.Process] = []
        for e in entries where e.first?.isNumber == true {
            guard let comm = try? String(contentsOfFile: "\(procRoot)/\(e)/comm", encoding: .utf8) else { continue }
            let raw = FileManager.default.contents(atPath: "\(procRoot)/\(e)/cmdline") ?? Data()
            let argv = raw.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            out.append(.init(comm: comm.trimmingCharacters(in: .newlines), argv: argv.last == "" ? Array(argv.dropLast()) : argv))
        }
        return out
    }
}

/// The notify FIFO (`notify_fifo PATH`): created if missing and opened read-write and
/// non-blocking, as keepalived does, so opening never waits for a reader and a stalled reader
/// costs dropped lines (reported as EAGAIN) instead of a stalled protocol. A regular file at
/// the path is appended to.
public final class NotifyFIFO: Sendable {
    private let fd: Int32

    public init(path: String) throws(SystemError) {
        var st = stat()
        if stat(path, &st) != 0 {
            _ = try retryingSyscall("mkfifo", context: path) { mkfifo(path, 0o600) }
        }
        fd = try retryingSyscall("open", context: path) { open(path, O_RDWR | O_NONBLOCK | O_APPEND | O_CLOEXEC) }
    }

    /// Writes one line (a newline is added).
    public func write(_ line: String) throws(SystemError) {
        let bytes = Array((line + "\n").utf8)
        _ = try retryingSyscall("write(notify_fifo)") { bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
    }

    public func close() { Glibc.close(fd) }
}
