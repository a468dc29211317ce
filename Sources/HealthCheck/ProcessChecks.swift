import CHealthCheckShims
import HealthCheckCore

#if canImport(Glibc)
import Glibc
#endif

enum ProcessChecks {
    /// Runs a MISC_CHECK script: split like keepalived, started in its own process group as
    /// `user` when set; at `misc_timeout` the group gets SIGTERM, then SIGKILL a moment later.
    static func misc(_ m: MiscSpec, policy: CheckerPolicy, target: String) async -> CheckOutcome {
        let argv = MiscCheckRules.splitCommand(m.path)
        guard let prog = argv.first else { return .failed("Misc check for [\(target)]: empty misc_path.") }
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargs.append(nil)
        defer { for p in cargs { free(p) } }
        let pid = cargs.withUnsafeBufferPointer { vgh_spawn(prog, $0.baseAddress, m.uid.map { Int($0) } ?? -1, m.gid.map { Int($0) } ?? -1) }
        guard pid > 0 else {
            return .failed("Misc check for [\(target)] by [\(m.path)] cannot run: \(String(cString: strerror(errno))).")
        }
        let termination = await wait(pid: pid, timeout: m.timeout ?? policy.delayLoop)
        return MiscCheckRules.outcome(termination, dynamic: m.dynamic, target: target, script: m.path)
    }

    /// Polls for the child's exit (cheap: scripts are few), killing it at the timeout.
    static func wait(pid: pid_t, timeout: Duration) async -> MiscCheckRules.Termination {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var pause = Duration.milliseconds(1)
        while true {
            if let t = reap(pid) { return t }
            if clock.now >= deadline { break }
            try? await Task.sleep(for: min(pause, deadline - clock.now))
            pause = min(pause * 2, .milliseconds(25))
        }
        kill(-pid, SIGTERM)
        kill(pid, SIGTERM)
        let grace = clock.now + min(timeout, .seconds(1))
        while clock.now < grace {
            if reap(pid) != nil { return .timedOut }
            try? await Task.sleep(for: .milliseconds(10))
        }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        while reap(pid) == nil { try? await Task.sleep(for: .milliseconds(5)) }
        return .timedOut
    }

    private static func reap(_ pid: pid_t) -> MiscCheckRules.Termination? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid {
            if status & 0x7f == 0 { return .exited((status >> 8) & 0xff) }
            return .signalled(status & 0x7f)
        }
        if r < 0 && errno == ECHILD { return .exited(255) }
        return nil
    }

    static func file(_ f: FileSpec, target: String) -> CheckOutcome {
        var text: String?
        if let fp = fopen(f.path, "r") {
            var buf = [CChar](repeating: 0, count: 256)
            text = fgets(&buf, 256, fp) != nil ? cString(buf) : ""
            fclose(fp)
        }
        return FileCheckRules.outcome(fileText: text, weight: f.weight, reverse: f.reverse, target: target)
    }
}
