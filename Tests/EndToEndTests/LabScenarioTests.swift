import Foundation
import Lab
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The reference scenario as `vigil lab demo` runs it (nftables data plane, HTTP_GET checkers,
/// VRRP between two `vigil run` directors), judged on the raw measurements rather than on the
/// demo's own verdicts.
@Suite(.serialized, .enabled(if: labTestsEnabled, "needs root, the built vigil, nginx and nft"))
struct LabScenarioTests {
    @Test func demoScenarioHoldsTheIssueBounds() throws {
        let prefix = "vgt1"
        forceDown(prefix)
        defer { forceDown(prefix) }
        let log = LogBuffer()
        let runner = makeRunner(prefix: prefix, buffer: log)
        let demo = LabDemo(runner: runner)
        demo.run()
        let r = demo.report
        let recorded = readState(prefix: prefix)?.processes ?? []
        runner.down()
        let after = leftovers(prefix: prefix, recorded: recorded)
        let comment = Comment(rawValue: log.text)

        try #require(r.upSucceeded, comment)
        // Round robin: 30 answers, 10 from each server, in a strict rotation.
        #expect(r.rotationFailed == 0, comment)
        #expect(r.rotation.count == 30)
        #expect(isExactRotation(names: r.rotation, over: 3), "rotation \(r.rotation)")
        #expect(tally(r.rotation.map { "w \($0)" }) == ["V12": 10, "V13": 10, "V14": 10])

        // Failover: the backup takes over within the master-down interval + 1 s, and no
        // request sent after the takeover fails.
        let takeover = try #require(r.takeoverSeconds, comment)
        #expect(takeover <= r.masterDownInterval + 1, "takeover after \(takeover) s")
        #expect(r.probesAfterTakeover > 10)
        #expect(r.failedAfterTakeover == 0, "failed after the takeover: \(r.probeErrorsAfterTakeover)")
        #expect(r.afterFailoverFailed == 0)
        #expect(isExactRotation(names: r.afterFailover, over: 3) && r.afterFailover.count == 9, "after failover \(r.afterFailover)")

        // Preemption: the master comes back, the backup steps down, traffic rotates through V11.
        #expect(r.preemptionSeconds != nil, comment)
        #expect(r.backupReturnedToBackup)
        #expect(r.afterPreemptionFailed == 0)
        #expect(isExactRotation(names: r.afterPreemption, over: 3) && r.afterPreemption.count == 9, "after preemption \(r.afterPreemption)")

        // Digest failure: V13 leaves within the checker bound, returns within one delay_loop.
        let removal = try #require(r.removalSeconds, comment)
        #expect(removal <= CheckerBounds.removal, "removed after \(removal) s")
        #expect(r.duringRemovalFailed == 0)
        #expect(Set(r.duringRemoval) == ["V12", "V14"] && r.duringRemoval.count == 10, "while V13 is out: \(r.duringRemoval)")
        let restore = try #require(r.returnSeconds, comment)
        #expect(restore <= CheckerBounds.restore, "returned after \(restore) s")
        #expect(r.afterReturnFailed == 0)
        #expect(isExactRotation(names: r.afterReturn, over: 3) && r.afterReturn.count == 30, "after return \(r.afterReturn)")

        // `lab down`: nothing left behind. The lab had real processes to stop.
        #expect(recorded.filter { $0.what.hasPrefix("nginx") }.count == 3)
        #expect(recorded.filter { $0.what.hasPrefix("vigil run") }.count >= 2)
        #expect(after.isEmpty, "left behind: \(after)")
    }

    /// A client port is reused sooner or later; a SYN from it starts a new connection, which
    /// must be scheduled among the servers in the pool, never sent to a removed one because an
    /// earlier connection from the same port went there (IPVS reschedules such a SYN too).
    @Test
    func newConnectionsFromAReusedPortNeverReachARemovedServer() throws {
        let prefix = "vgt9"
        forceDown(prefix)
        defer { forceDown(prefix) }
        let log = LogBuffer()
        let runner = makeRunner(prefix: prefix, buffer: log)
        try runner.up()
        let client = runner.topology.client.namespace
        func get(from port: Int?) -> String {
            switch HTTPProbe.get(LabTopology.vip, timeout: 2, namespace: client, sourcePort: port.map { UInt16($0) }) {
            case .success(let body): return serverNames([body])[0]
            case .failure(let e): return "error: \(e)"
            }
        }
        let ports = Array(41000..<41006)
        let first = ports.map(get(from:))
        #expect(Set(first) == ["V12", "V13", "V14"], "first answers \(first)")
        let toV13 = zip(ports, first).filter { $0.1 == "V13" }.map(\.0)
        try #require(!toV13.isEmpty)

        let master = runner.topology.master
        let v13 = runner.topology.realServers[1]
        try "web2 V13 changed\n".write(toFile: "\(runner.stateDirectory)/V13/www/index.html", atomically: true, encoding: .utf8)
        let removed = waitUntil(timeout: CheckerBounds.removal) {
            runner.lvsLog(master).contains("Removing service [\(v13.address)]:tcp:80 from VS [\(LabTopology.vip)]:tcp:80")
        }
        try #require(removed, Comment(rawValue: log.text + runner.lvsLog(master)))
        // The log line comes first, the data plane a moment later: wait until fresh ports no
        // longer reach V13 (round robin over three puts it in any three answers in a row).
        var recent: [String] = []
        let applied = waitUntil(timeout: 5) {
            recent = Array((recent + [get(from: nil)]).suffix(3))
            return recent.count == 3 && recent.allSatisfy { $0 == "V12" || $0 == "V14" }
        }
        try #require(applied, "fresh connections still reach V13: \(recent)")
        let again = toV13.map(get(from:))
        #expect(again.allSatisfy { $0 == "V12" || $0 == "V14" }, "ports \(toV13) answered by \(again) after V13 left the pool")
    }

    @Test func downAfterACrashedUpRemovesEverything() throws {
        let prefix = "vgt2"
        forceDown(prefix)
        defer { forceDown(prefix) }
        let up = try Background(["lab", "up", "--prefix", prefix], output: "/tmp/\(prefix)-up.out")
        // Kill it once both directors run: everything is half-built and nobody will clean up.
        let midway = waitUntil(timeout: 30) {
            (readState(prefix: prefix)?.processes.filter { $0.what.hasPrefix("vigil run") }.count ?? 0) == 2
        }
        try #require(midway, "lab up never started its directors: \(up.output)")
        up.signal(SIGKILL)
        let st = up.wait(timeout: 10)
        #expect(st != nil, "\((try? runCommand(["ps", "-o", "pid,ppid,stat,cmd", "-p", "\(up.process.processIdentifier)"]))?.stdout ?? "")")
        let recorded = readState(prefix: prefix)?.processes ?? []
        #expect(recorded.count == 5)
        #expect(recorded.allSatisfy(isRunning), "every recorded process outlives the crash")
        #expect(labNamespaces(prefix).count == 7)

        // A second `lab up` refuses, and leaves the crashed lab alone.
        let again = try vigil(["lab", "up", "--prefix", prefix])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already exists"), "\(again.stderr)")
        #expect(labNamespaces(prefix).count == 7)
        #expect(recorded.allSatisfy(isRunning))

        let down = try vigil(["lab", "down", "--prefix", prefix])
        #expect(down.status == 0, "\(down.stderr)")
        let after = leftovers(prefix: prefix, recorded: recorded)
        #expect(after.isEmpty, "left behind: \(after)")
    }

    @Test func downWithoutAStateFileRemovesNamespacesAndTheirProcesses() throws {
        let prefix = "vgt3"
        forceDown(prefix)
        defer { forceDown(prefix) }
        let up = try Background(["lab", "up", "--prefix", prefix], output: "/tmp/\(prefix)-up.out")
        let servers = waitUntil(timeout: 30) {
            (readState(prefix: prefix)?.processes.filter { $0.what.hasPrefix("nginx") }.count ?? 0) == 3
        }
        try #require(servers, "lab up never started its web servers: \(up.output)")
        up.signal(SIGKILL)
        #expect(up.wait(timeout: 10) != nil)
        let recorded = readState(prefix: prefix)?.processes ?? []
        // A crash before anything was recorded: only the namespaces tell what is there.
        try FileManager.default.removeItem(atPath: "/run/vigil-lab/\(prefix)/state.json")
        #expect(!recorded.isEmpty && recorded.allSatisfy(isRunning))

        let down = try vigil(["lab", "down", "--prefix", prefix])
        #expect(down.status == 0, "\(down.stderr)")
        let after = leftovers(prefix: prefix, recorded: recorded)
        #expect(after.isEmpty, "left behind: \(after)")
    }

    @Test func upRefusesWhenItsNamespacesExist() throws {
        let prefix = "vgt4"
        forceDown(prefix)
        defer { _ = try? runCommand(["ip", "netns", "del", "\(prefix)-v13"]) }
        try #require(try runCommand(["ip", "netns", "add", "\(prefix)-v13"]).status == 0)
        let r = try vigil(["lab", "up", "--prefix", prefix])
        #expect(r.status == 1)
        #expect(r.stderr.contains("namespace \(prefix)-v13 already exists"), "\(r.stderr)")
        // It created nothing and removed nothing.
        #expect(labNamespaces(prefix) == ["\(prefix)-v13"])
        #expect(!FileManager.default.fileExists(atPath: "/run/vigil-lab/\(prefix)"))
    }

    @Test func interruptDuringUpRemovesTheLab() throws {
        let prefix = "vgt5"
        forceDown(prefix)
        defer { forceDown(prefix) }
        let up = try Background(["lab", "up", "--prefix", prefix], output: "/tmp/\(prefix)-up.out")
        let servers = waitUntil(timeout: 30) {
            (readState(prefix: prefix)?.processes.filter { $0.what.hasPrefix("nginx") }.count ?? 0) == 3
        }
        try #require(servers, "lab up never started its web servers: \(up.output)")
        let recorded = readState(prefix: prefix)?.processes ?? []
        up.signal(SIGINT)
        let status = up.wait(timeout: 30)
        #expect(status == 130, "exit status \(String(describing: status)): \(up.output)")
        #expect(up.output.contains("interrupted: removing the lab"))
        let after = leftovers(prefix: prefix, recorded: recorded + (readState(prefix: prefix)?.processes ?? []))
        #expect(after.isEmpty, "left behind: \(after)")
    }

    @Test func interruptDuringDemoRemovesTheLab() throws {
        let prefix = "vgt6"
        forceDown(prefix)
        defer { forceDown(prefix) }
        let demo = try Background(["lab", "demo", "--prefix", prefix], output: "/tmp/\(prefix)-demo.out")
        // Interrupt while requests flow (Step 2), with the directors up.
        let flowing = waitUntil(timeout: 40) { demo.output.contains("Step 2:") }
        try #require(flowing, "the demo never reached step 2: \(demo.output)")
        let recorded = readState(prefix: prefix)?.processes ?? []
        #expect(recorded.filter { $0.what.hasPrefix("vigil run") }.count == 2)
        let interruptedAt = Date()
        demo.signal(SIGINT)
        let status = demo.wait(timeout: 30)
        #expect(status == 130, "exit status \(String(describing: status)): \(demo.output)")
        // It stopped there: it did not go on with the demo's later steps first.
        #expect(Date().timeIntervalSince(interruptedAt) < 15)
        #expect(demo.output.contains("interrupted: removing the lab"))
        #expect(!demo.output.contains("Step 4:"), "\(demo.output)")
        let after = leftovers(prefix: prefix, recorded: recorded)
        #expect(after.isEmpty, "left behind: \(after); \(demo.output)")
    }
}
