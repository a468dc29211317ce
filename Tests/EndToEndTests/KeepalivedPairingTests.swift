import Foundation
import Lab
import Testing
import TestSupport

/// One director runs Vigil (the full stack), the other keepalived for VRRP only (`keepalived -P`:
/// this kernel has no IPVS for keepalived's checkers) with `vigil run -C` beside it for the
/// checkers and the nftables data plane: the migration step where keepalived still owns VRRP.
@Suite(.serialized, .enabled(if: labTestsEnabled && haveProgram("keepalived"), "needs root, the built vigil, nginx, nft and keepalived"))
struct KeepalivedPairingTests {
    @Test(arguments: [
        ("V15", "vgt7"),  // Vigil master, keepalived backup
        ("V11", "vgt8"),  // keepalived master, Vigil backup
    ])
    func rotationFailoverAndPreemption(keepalivedOn: String, prefix: String) throws {
        forceDown(prefix)
        defer { forceDown(prefix) }
        let log = LogBuffer()
        let runner = makeRunner(prefix: prefix, options: LabOptions(keepalivedOn: keepalivedOn), buffer: log)
        let demo = LabDemo(runner: runner, steps: [.rotation, .failover, .preemption])
        demo.run()
        let r = demo.report
        let state = readState(prefix: prefix)
        let recorded = state?.processes ?? []
        let keepalivedLog = runner.directorLog(try #require(runner.topology.host(named: keepalivedOn)))
        runner.down()
        let after = leftovers(prefix: prefix, recorded: recorded)
        let comment = Comment(rawValue: log.text + "\n--- keepalived:\n" + keepalivedLog)

        try #require(r.upSucceeded, comment)
        #expect(state?.options?.keepalivedOn == keepalivedOn)
        // keepalived really ran VRRP there: its own VRRP process, its own log lines.
        #expect(recorded.contains { $0.what == "keepalived VRRP \(keepalivedOn)" })
        #expect(recorded.contains { $0.what == "vigil run -C \(keepalivedOn)" })
        #expect(keepalivedLog.contains("Starting VRRP child process"), comment)

        #expect(r.rotationFailed == 0, comment)
        #expect(r.rotation.count == 30 && isExactRotation(names: r.rotation, over: 3), "rotation \(r.rotation)")

        let takeover = try #require(r.takeoverSeconds, comment)
        #expect(takeover <= r.masterDownInterval + 1, "takeover after \(takeover) s")
        #expect(r.probesAfterTakeover > 10)
        #expect(r.failedAfterTakeover == 0, "failed after the takeover: \(r.probeErrorsAfterTakeover)")
        #expect(r.afterFailoverFailed == 0 && r.afterFailover.count == 9 && isExactRotation(names: r.afterFailover, over: 3), "after failover \(r.afterFailover)")

        #expect(r.preemptionSeconds != nil, comment)
        #expect(r.backupReturnedToBackup, comment)
        #expect(r.afterPreemptionFailed == 0 && r.afterPreemption.count == 9 && isExactRotation(names: r.afterPreemption, over: 3), "after preemption \(r.afterPreemption)")

        // keepalived and its VRRP process were stopped by PID with the rest.
        #expect(after.isEmpty, "left behind: \(after)")
    }
}
