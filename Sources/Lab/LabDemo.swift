import Foundation
import NetCore

#if canImport(Glibc)
import Glibc
#endif

/// Counts which real server answered each request (the page names it: `web1 V12 …`).
public func tally(_ bodies: [String]) -> [String: Int] {
    var out: [String: Int] = [:]
    for b in bodies {
        let name = b.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
        out[name, default: 0] += 1
    }
    return out
}

/// True when `bodies` rotate over `servers` exactly: every window of `servers.count`
/// consecutive answers holds each server once (round robin).
public func isExactRotation(_ bodies: [String], over servers: Int) -> Bool {
    let names = bodies.map { $0.split(separator: " ").dropFirst().first.map(String.init) ?? "?" }
    guard names.count >= servers, !names.contains("?") else { return false }
    for i in 0...(names.count - servers) where Set(names[i..<(i + servers)]).count != servers {
        return false
    }
    return true
}

/// The largest gap between two successful probes, given (time, success) samples in order.
public func longestOutage(_ samples: [(Date, Bool)]) -> TimeInterval {
    var last: Date?
    var worst: TimeInterval = 0
    for (t, ok) in samples where ok {
        if let l = last { worst = max(worst, t.timeIntervalSince(l)) }
        last = t
    }
    return worst
}

/// `vigil lab demo`: walks through the reference scenario with a readable timeline, checking
/// at each step what a user would check, and says whether it held.
public final class LabDemo: @unchecked Sendable {
    public let runner: LabRunner
    var failures = 0
    let started = Date()

    public init(runner: LabRunner) { self.runner = runner }

    var t: LabTopology { runner.topology }

    func say(_ s: String) {
        runner.log(String(format: "[%6.1fs] ", Date().timeIntervalSince(started)) + s)
    }

    func check(_ ok: Bool, _ what: String) {
        say((ok ? "PASS  " : "FAIL  ") + what)
        if !ok { failures += 1 }
    }

    /// `n` sequential requests from the client to the VIP; the bodies of those that succeeded
    /// and the number that failed.
    public func requests(_ n: Int) -> (bodies: [String], failed: Int) {
        var bodies: [String] = []
        var failed = 0
        var errors: [String] = []
        for _ in 0..<n {
            switch HTTPProbe.get(LabTopology.vip, timeout: 2, namespace: t.client.namespace) {
            case .success(let b): bodies.append(b)
            case .failure(let e):
                failed += 1
                errors.append(e.description)
            }
        }
        let names = bodies.map { $0.split(separator: " ").dropFirst().first.map(String.init) ?? "?" }
        say("answers: \(names.joined(separator: " "))" + (failed > 0 ? "; \(failed) failed (\(Set(errors).joined(separator: "; ")))" : ""))
        return (bodies, failed)
    }

    /// Probes the VIP every 10 ms on a background thread until `stop` is set.
    final class Prober: @unchecked Sendable {
        var samples: [(Date, Bool)] = []
        var stop = false
        let lock = NSLock()
        var thread: Thread?

        func start(namespace: String) {
            let th = Thread { [self] in
                while !lock.withLock({ stop }) {
                    let t0 = Date()
                    let ok: Bool
                    if case .success = HTTPProbe.get(LabTopology.vip, timeout: 0.2, namespace: namespace) { ok = true } else { ok = false }
                    lock.withLock { samples.append((t0, ok)) }
                    let spent = Date().timeIntervalSince(t0)
                    if spent < 0.01 { usleep(useconds_t((0.01 - spent) * 1_000_000)) }
                }
            }
            thread = th
            th.start()
        }

        func finish() -> [(Date, Bool)] {
            lock.withLock { stop = true }
            while thread?.isFinished == false { usleep(5_000) }
            return lock.withLock { samples }
        }
    }

    func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    func logContains(_ d: LabTopology.Host, _ text: String, after offset: Int = 0) -> Bool {
        let log = runner.directorLog(d)
        guard log.utf8.count >= offset else { return false }
        return String(decoding: log.utf8.dropFirst(offset), as: UTF8.self).contains(text)
    }

    func logSize(_ d: LabTopology.Host) -> Int { runner.directorLog(d).utf8.count }

    /// Runs the whole demo; returns the number of checks that did not hold.
    public func run() -> Int {
        let master = t.master
        let backup = t.backup
        let rs13 = t.realServers[1]

        say("Step 1: lab up: two directors (V11 MASTER priority 150, V15 BACKUP priority 100), three web servers, VIP \(LabTopology.vip)")
        do { try runner.up() } catch {
            check(false, "lab up: \(error)")
            return failures
        }

        say("Step 2: 30 requests from the client to http://\(LabTopology.vip)/")
        var r = requests(30)
        check(r.failed == 0 && r.bodies.count == 30 && isExactRotation(r.bodies, over: 3), "round robin: every request answered, rotating exactly over V12, V13, V14 (10 each)")

        say("Step 3: kill -9 the master V11 (its VIP and rules stay behind, its link goes down as a dead host's would)")
        let backupLog = logSize(backup)
        let prober = Prober()
        prober.start(namespace: t.client.namespace)
        usleep(300_000)
        let killedAt = Date()
        runner.signalDirector(master, SIGKILL)
        _ = try? runner.run(["ip", "link", "set", LabTopology.interface, "down"], in: master.namespace)
        let took = waitFor(10) { logContains(backup, "(LVSha) Entering MASTER STATE", after: backupLog) && runner.vipHolders().contains { $0.name == backup.name } }
        let takeover = Date().timeIntervalSince(killedAt)
        check(took, String(format: "V15 logged '(LVSha) Entering MASTER STATE' and holds the VIP (%.2f s after the kill; master-down interval is 3.61 s)", takeover))
        _ = waitFor(3) { if case .success = HTTPProbe.get(LabTopology.vip, timeout: 0.5, namespace: t.client.namespace) { return true } else { return false } }
        usleep(500_000)
        let samples = prober.finish()
        let outage = longestOutage(samples)
        check(outage < 3.61 + 1.0, String(format: "client-visible outage %.2f s (probing every 10 ms), within the master-down interval + 1 s", outage))
        r = requests(9)
        check(r.failed == 0 && isExactRotation(r.bodies, over: 3), "requests continue through V15, still rotating over the three servers")

        say("Step 4: V11 comes back (link up, vigil run started again): it has the higher priority and preempts")
        _ = try? runner.run(["ip", "link", "set", LabTopology.interface, "up"], in: master.namespace)
        let masterLog = logSize(master)
        let backupLog2 = logSize(backup)
        do {
            var state = runner.loadState() ?? LabState(prefix: t.prefix)
            try runner.startDirector(master, state: &state)
        } catch { check(false, "restart V11: \(error)") }
        let back = waitFor(12) {
            logContains(master, "(LVSha) Entering MASTER STATE", after: masterLog) && runner.vipHolders().map(\.name) == [master.name]
        }
        check(back, "V11 logged 'Entering MASTER STATE' and holds the VIP again")
        check(waitFor(3) { logContains(backup, "(LVSha) Entering BACKUP STATE", after: backupLog2) }, "V15 went back to BACKUP")
        r = requests(9)
        check(r.failed == 0 && isExactRotation(r.bodies, over: 3), "requests rotate over the three servers through V11")

        say("Step 5: V13's page changes, so its MD5 no longer matches the configured digest")
        let page = "\(runner.stateDirectory)/\(rs13.name)/www/index.html"
        let original = (try? String(contentsOfFile: page, encoding: .utf8)) ?? t.page(of: rs13)
        try? "web2 V13 changed\n".write(toFile: page, atomically: true, encoding: .utf8)
        let changeLog = logSize(master)
        let removedAt = Date()
        let removed = waitFor(30) { logContains(master, "Removing service [\(rs13.address)]:tcp:80 from VS [\(LabTopology.vip)]:tcp:80", after: changeLog) }
        check(removed, String(format: "V11 logged 'Removing service [%@]:tcp:80 from VS [%@]:tcp:80' after %.1f s (delay_loop 6, one retry 3 s later)", rs13.address.description, LabTopology.vip.description, Date().timeIntervalSince(removedAt)))
        r = requests(10)
        let names = Set(tally(r.bodies).keys)
        check(r.failed == 0 && !names.contains(rs13.name) && names == ["V12", "V14"], "requests now rotate over V12 and V14 only")
        say("restoring V13's page")
        try? original.write(toFile: page, atomically: true, encoding: .utf8)
        let restoreLog = logSize(master)
        let restoredAt = Date()
        let added = waitFor(15) { logContains(master, "Adding service [\(rs13.address)]:tcp:80 to VS [\(LabTopology.vip)]:tcp:80", after: restoreLog) }
        check(added, String(format: "V11 logged 'Adding service [%@]:tcp:80 to VS' after %.1f s (within one delay_loop)", rs13.address.description, Date().timeIntervalSince(restoredAt)))
        r = requests(30)
        check(r.failed == 0 && isExactRotation(r.bodies, over: 3), "requests rotate over all three servers again")

        say("Step 6: lab status")
        usleep(1_200_000)  // the directors write their status once a second
        runner.log(runner.status())
        return failures
    }
}
