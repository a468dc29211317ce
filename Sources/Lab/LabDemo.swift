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
    isExactRotation(names: serverNames(bodies), over: servers)
}

/// True when the server `names` rotate exactly over `servers` servers.
public func isExactRotation(names: [String], over servers: Int) -> Bool {
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

/// One step of the demo, as `vigil lab demo --steps` names it.
public enum LabStep: String, CaseIterable, Codable, Sendable {
    /// 30 requests rotate exactly over the three servers.
    case rotation
    /// The master is killed (kill -9, link down); the backup takes over.
    case failover
    /// The master comes back and preempts (needs `failover`).
    case preemption
    /// One page changes (digest mismatch): the server leaves the pool; restored, it returns.
    case digest
}

/// What the demo measured, for the timeline's verdicts and for the end-to-end tests (which judge
/// the raw numbers themselves). Names are the servers that answered, in order (`V12` …).
public struct LabReport: Codable, Sendable {
    public struct Check: Codable, Sendable {
        public var passed: Bool
        public var what: String
    }
    public var checks: [Check] = []
    public var failures: Int { checks.filter { !$0.passed }.count }
    /// Whether `lab up` worked (nothing else ran otherwise).
    public var upSucceeded = false
    public var upError: String?

    /// The backup's master-down interval: 3 × advert_int + (256 − priority) / 256 (RFC 3768 §6.1).
    public var masterDownInterval = 3.0 + (256.0 - 100.0) / 256.0

    // rotation
    public var rotation: [String] = []
    public var rotationFailed = 0

    // failover
    /// From the kill to the backup's `Entering MASTER STATE` with the VIP on its interface.
    public var takeoverSeconds: Double?
    /// How long killing the master and taking its link down took (part of `takeoverSeconds`).
    public var killSeconds: Double?
    /// Longest gap between successful probes around the failover.
    public var outageSeconds: Double?
    /// Probes started after the takeover was seen, and how many of them failed.
    public var probesAfterTakeover = 0
    public var failedAfterTakeover = 0
    public var probeErrorsAfterTakeover: [String] = []
    public var afterFailover: [String] = []
    public var afterFailoverFailed = 0

    // preemption
    /// From the restart to the master's `Entering MASTER STATE` with the VIP back on it alone.
    public var preemptionSeconds: Double?
    public var backupReturnedToBackup = false
    public var afterPreemption: [String] = []
    public var afterPreemptionFailed = 0

    // digest
    /// From the page change until V13 stopped getting requests (three answers in a row without it).
    public var removalSeconds: Double?
    public var duringRemoval: [String] = []
    public var duringRemovalFailed = 0
    /// From the restore until V13 answered again.
    public var returnSeconds: Double?
    public var afterReturn: [String] = []
    public var afterReturnFailed = 0

    public init() {}
}

/// The server names in answers such as `web1 V12 192.168.0.12`.
public func serverNames(_ bodies: [String]) -> [String] {
    bodies.map { $0.split(separator: " ").dropFirst().first.map(String.init) ?? "?" }
}

/// `vigil lab demo`: walks through the reference scenario with a readable timeline, checking
/// at each step what a user would check, and says whether it held.
public final class LabDemo: @unchecked Sendable {
    public let runner: LabRunner
    public let steps: Set<LabStep>
    /// Pause between failover probes (10 ms on a real machine; longer in a slow guest).
    public let probeInterval: Double
    public private(set) var report = LabReport()
    let started = Date()

    public init(runner: LabRunner, steps: Set<LabStep> = Set(LabStep.allCases), probeInterval: Double = 0.01) {
        self.runner = runner
        self.steps = steps
        self.probeInterval = probeInterval
    }

    var t: LabTopology { runner.topology }

    func say(_ s: String) {
        runner.log(String(format: "[%6.1fs] ", Date().timeIntervalSince(started)) + s)
    }

    func check(_ ok: Bool, _ what: String) {
        say((ok ? "PASS  " : "FAIL  ") + what)
        report.checks.append(.init(passed: ok, what: what))
    }

    /// `n` sequential requests from the client to the VIP; the names of the servers that
    /// answered and the number of requests that failed.
    public func requests(_ n: Int) -> (names: [String], failed: Int) {
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
        let names = serverNames(bodies)
        say("answers: \(names.joined(separator: " "))" + (failed > 0 ? "; \(failed) failed (\(Set(errors).joined(separator: "; ")))" : ""))
        return (names, failed)
    }

    /// Probes the VIP every `interval` on a background thread until `finish`.
    final class Prober: @unchecked Sendable {
        struct Sample {
            var start: Date
            var ok: Bool
            var error: String?
        }
        var samples: [Sample] = []
        var stop = false
        let lock = NSLock()
        var thread: Thread?

        func start(namespace: String, interval: Double) {
            let th = Thread { [self] in
                while !lock.withLock({ stop }) {
                    let t0 = Date()
                    let sample: Sample
                    switch HTTPProbe.get(LabTopology.vip, timeout: 0.2, namespace: namespace) {
                    case .success: sample = Sample(start: t0, ok: true)
                    case .failure(let e): sample = Sample(start: t0, ok: false, error: e.description)
                    }
                    lock.withLock { samples.append(sample) }
                    let spent = Date().timeIntervalSince(t0)
                    if spent < interval { usleep(useconds_t((interval - spent) * 1_000_000)) }
                }
            }
            thread = th
            th.start()
        }

        func finish() -> [Sample] {
            lock.withLock { stop = true }
            while thread?.isFinished == false { usleep(5_000) }
            return lock.withLock { samples }
        }
    }

    func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    func contains(_ log: String, _ text: String, after offset: Int) -> Bool {
        guard log.utf8.count >= offset else { return false }
        return String(decoding: log.utf8.dropFirst(offset), as: UTF8.self).contains(text)
    }

    func exact(_ r: (names: [String], failed: Int), _ n: Int) -> Bool {
        r.failed == 0 && r.names.count == n && isExactRotation(names: r.names, over: 3)
    }

    /// Runs the demo's steps (`lab up` first); returns the number of checks that did not hold.
    /// The measurements are in `report`.
    @discardableResult
    public func run() -> Int {
        let master = t.master
        let backup = t.backup
        let who = { [runner] (d: LabTopology.Host) in runner.runsKeepalived(d) ? "keepalived" : "vigil" }

        say("Step 1: lab up: two directors (V11 MASTER priority 150 [\(who(master))], V15 BACKUP priority 100 [\(who(backup))]), three web servers, VIP \(LabTopology.vip)")
        do { try runner.up() } catch {
            report.upError = "\(error)"
            check(false, "lab up: \(error)")
            return report.failures
        }
        report.upSucceeded = true

        if steps.contains(.rotation) {
            say("Step 2: 30 requests from the client to http://\(LabTopology.vip)/")
            let r = requests(30)
            report.rotation = r.names
            report.rotationFailed = r.failed
            check(exact(r, 30), "round robin: every request answered, rotating exactly over V12, V13, V14 (10 each)")
        }

        if steps.contains(.failover) {
            failover(master: master, backup: backup)
            if steps.contains(.preemption) { preemption(master: master, backup: backup) }
        }

        if steps.contains(.digest) { digest(master: master) }

        say("Step 6: lab status")
        usleep(1_200_000)  // the directors write their status once a second
        runner.log(runner.status())
        return report.failures
    }

    func failover(master: LabTopology.Host, backup: LabTopology.Host) {
        let down = String(format: "%.2f", report.masterDownInterval)
        say("Step 3: kill -9 the master V11 (its VIP and rules stay behind, its link goes down as a dead host's would)")
        let backupLog = runner.directorLog(backup).utf8.count
        let prober = Prober()
        prober.start(namespace: t.client.namespace, interval: probeInterval)
        usleep(300_000)
        let killedAt = Date()
        runner.signalDirector(master, SIGKILL)
        _ = try? runner.run(["ip", "link", "set", LabTopology.interface, "down"], in: master.namespace)
        report.killSeconds = Date().timeIntervalSince(killedAt)
        let took = waitFor(15) {
            contains(runner.directorLog(backup), "(LVSha) Entering MASTER STATE", after: backupLog) && runner.vipHolders().contains { $0.name == backup.name }
        }
        let tookAt = Date()
        let takeover = tookAt.timeIntervalSince(killedAt)
        if took { report.takeoverSeconds = takeover }
        check(took, String(format: "V15 logged '(LVSha) Entering MASTER STATE' and holds the VIP (%.2f s after the kill; master-down interval is %@ s)", takeover, down))
        _ = waitFor(3) { if case .success = HTTPProbe.get(LabTopology.vip, timeout: 0.5, namespace: t.client.namespace) { return true } else { return false } }
        usleep(1_000_000)
        let samples = prober.finish()
        let outage = longestOutage(samples.map { ($0.start, $0.ok) })
        report.outageSeconds = outage
        let after = samples.filter { $0.start >= tookAt }
        report.probesAfterTakeover = after.count
        report.failedAfterTakeover = after.filter { !$0.ok }.count
        report.probeErrorsAfterTakeover = Array(Set(after.compactMap(\.error))).sorted()
        check(took && outage < report.masterDownInterval + 1.0, String(format: "client-visible outage %.2f s (probing every %.0f ms), within the master-down interval + 1 s", outage, probeInterval * 1000))
        check(took && report.failedAfterTakeover == 0 && after.count > 0, "none of the \(after.count) probes sent after the takeover failed" + (report.failedAfterTakeover > 0 ? " (\(report.failedAfterTakeover) did: \(report.probeErrorsAfterTakeover.joined(separator: "; ")))" : ""))
        let r = requests(9)
        report.afterFailover = r.names
        report.afterFailoverFailed = r.failed
        check(exact(r, 9), "requests continue through V15, still rotating over the three servers")
    }

    func preemption(master: LabTopology.Host, backup: LabTopology.Host) {
        say("Step 4: V11 comes back (link up, \(runner.runsKeepalived(master) ? "keepalived and vigil run -C" : "vigil run") started again): it has the higher priority and preempts")
        _ = try? runner.run(["ip", "link", "set", LabTopology.interface, "up"], in: master.namespace)
        let masterLog = runner.directorLog(master).utf8.count
        let backupLog = runner.directorLog(backup).utf8.count
        let restartedAt = Date()
        do {
            var state = runner.loadState() ?? LabState(prefix: t.prefix)
            try runner.startDirector(master, state: &state)
        } catch { check(false, "restart V11: \(error)") }
        let back = waitFor(15) {
            contains(runner.directorLog(master), "(LVSha) Entering MASTER STATE", after: masterLog) && runner.vipHolders().map(\.name) == [master.name]
        }
        if back { report.preemptionSeconds = Date().timeIntervalSince(restartedAt) }
        check(back, String(format: "V11 logged 'Entering MASTER STATE' and holds the VIP again (%.2f s after the restart)", Date().timeIntervalSince(restartedAt)))
        report.backupReturnedToBackup = waitFor(3) { contains(runner.directorLog(backup), "(LVSha) Entering BACKUP STATE", after: backupLog) }
        check(report.backupReturnedToBackup, "V15 went back to BACKUP")
        // The restarted director's data plane is programmed by its own process; give the
        // client a moment to learn the VIP's MAC from the gratuitous ARPs.
        _ = waitFor(5) { if case .success = HTTPProbe.get(LabTopology.vip, timeout: 0.5, namespace: t.client.namespace) { return true } else { return false } }
        let r = requests(9)
        report.afterPreemption = r.names
        report.afterPreemptionFailed = r.failed
        check(exact(r, 9), "requests rotate over the three servers through V11")
    }

    /// Requests one at a time until the last `window` answers satisfy `done`; the time that
    /// took, or nil after `seconds`.
    func untilAnswers(window: Int, within seconds: Double, _ done: ([String]) -> Bool) -> Double? {
        let start = Date()
        var last: [String] = []
        while Date().timeIntervalSince(start) < seconds {
            if case .success(let body) = HTTPProbe.get(LabTopology.vip, timeout: 1, namespace: t.client.namespace) {
                last.append(serverNames([body])[0])
            } else {
                last.append("failed")
            }
            if last.count > window { last.removeFirst() }
            if last.count == window && done(last) { return Date().timeIntervalSince(start) }
            usleep(20_000)
        }
        return nil
    }

    func digest(master: LabTopology.Host) {
        let rs13 = t.realServers[1]
        say("Step 5: V13's page changes, so its MD5 no longer matches the configured digest")
        let page = "\(runner.stateDirectory)/\(rs13.name)/www/index.html"
        let original = (try? String(contentsOfFile: page, encoding: .utf8)) ?? t.page(of: rs13)
        let changeLog = runner.lvsLog(master).utf8.count
        let changedAt = Date()
        try? "web2 V13 changed\n".write(toFile: page, atomically: true, encoding: .utf8)
        let removedLine = "Removing service [\(rs13.address)]:tcp:80 from VS [\(LabTopology.vip)]:tcp:80"
        let logged = waitFor(40) { contains(runner.lvsLog(master), removedLine, after: changeLog) }
        check(logged, String(format: "V11 logged '%@' after %.1f s", removedLine, Date().timeIntervalSince(changedAt)))
        // Round robin over three servers puts V13 in every three consecutive answers while it
        // is in the pool: three answers without it mean the data plane has dropped it.
        let out = untilAnswers(window: 3, within: 40 - Date().timeIntervalSince(changedAt)) { !$0.contains("V13") && !$0.contains("failed") }
        if out != nil { report.removalSeconds = Date().timeIntervalSince(changedAt) }
        check(out != nil, String(format: "V13 gets no more requests %.1f s after the change (delay_loop 6, connect_timeout 3, one retry 3 s later)", report.removalSeconds ?? -1))
        var r = requests(10)
        report.duringRemoval = r.names
        report.duringRemovalFailed = r.failed
        check(r.failed == 0 && Set(r.names) == ["V12", "V14"], "requests now rotate over V12 and V14 only")
        say("restoring V13's page")
        let restoreLog = runner.lvsLog(master).utf8.count
        let restoredAt = Date()
        try? original.write(toFile: page, atomically: true, encoding: .utf8)
        let addedLine = "Adding service [\(rs13.address)]:tcp:80 to VS [\(LabTopology.vip)]:tcp:80"
        let added = waitFor(15) { contains(runner.lvsLog(master), addedLine, after: restoreLog) }
        check(added, String(format: "V11 logged '%@' after %.1f s", addedLine, Date().timeIntervalSince(restoredAt)))
        let back = untilAnswers(window: 1, within: 15 - Date().timeIntervalSince(restoredAt)) { $0 == ["V13"] }
        if back != nil { report.returnSeconds = Date().timeIntervalSince(restoredAt) }
        check(back != nil, String(format: "V13 answers again %.1f s after the restore (within one delay_loop)", report.returnSeconds ?? -1))
        r = requests(30)
        report.afterReturn = r.names
        report.afterReturnFailed = r.failed
        check(exact(r, 30), "requests rotate over all three servers again")
    }
}
