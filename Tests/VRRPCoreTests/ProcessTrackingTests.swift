import Testing
import VRRPCore

@Suite struct ProcessTrackingTests {
    let procs: [ProcessTrackRule.Process] = [
        .init(comm: "nginx", argv: ["nginx: master process /usr/sbin/nginx"]),
        .init(comm: "nginx", argv: ["nginx: worker process"]),
        .init(comm: "haproxy", argv: ["/usr/sbin/haproxy", "-f", "/etc/haproxy/haproxy.cfg", "-db"]),
        .init(comm: "a-very-long-pro", argv: ["/opt/bin/a-very-long-process-name"]),
    ]

    @Test func countsByNameAndQuorum() {
        #expect(ProcessTrackRule(name: "n", process: ["nginx"]).count(in: procs) == 2)
        #expect(ProcessTrackRule(name: "n", process: ["nginx"]).status(in: procs) == .up)
        #expect(ProcessTrackRule(name: "n", process: ["nginx"], quorum: 3).status(in: procs) == .down)
        #expect(ProcessTrackRule(name: "n", process: ["nginx"], quorumMax: 1).status(in: procs) == .down)
        #expect(ProcessTrackRule(name: "x", process: ["sshd"]).status(in: procs) == .down)
        // comm holds 15 characters of the name.
        #expect(ProcessTrackRule(name: "l", process: ["a-very-long-process-name"]).count(in: procs) == 1)
    }

    @Test func parametersMatchExactlyInitiallyOrPartially() {
        let exact = ProcessTrackRule(name: "h", process: ["haproxy", "-f", "/etc/haproxy/haproxy.cfg", "-db"])
        #expect(exact.count(in: procs) == 1)
        #expect(ProcessTrackRule(name: "h", process: ["haproxy", "-f"]).count(in: procs) == 0)
        #expect(ProcessTrackRule(name: "h", process: ["haproxy", "-f"], paramMatch: .initial).count(in: procs) == 1)
        #expect(ProcessTrackRule(name: "h", process: ["haproxy", "/etc/haproxy/haproxy.cfg"], paramMatch: .partial).count(in: procs) == 1)
        #expect(ProcessTrackRule(name: "h", process: ["haproxy", "-db", "-f"], paramMatch: .partial).count(in: procs) == 0)
        // full_command matches argv[0] instead of comm.
        #expect(ProcessTrackRule(name: "h", process: ["/usr/sbin/haproxy"], fullCommand: true).count(in: procs) == 1)
        #expect(ProcessTrackRule(name: "h", process: ["haproxy"], fullCommand: true).count(in: procs) == 0)
    }

    @Test func aMissingProcessTakesTheWeightOffThePriority() {
        let t = Tracker(name: "web", kind: .process, weight: -50)
        #expect(t.contribution(.down) == .delta(-50))
        #expect(t.contribution(.up) == .delta(0))
        #expect(Tracker(name: "web", kind: .process).contribution(.down) == .fault)
    }
}

/// `fork_delay` / `terminate_delay` / `delay` (keepalived.conf(5) vrrp_track_process), on a manual clock.
@Suite struct ProcessQuorumTrackerTests {
    let rule = ProcessTrackRule(name: "web", process: ["nginx"])
    func at(_ s: Double) -> Instant { .seconds(s) }

    @Test func withoutDelaysEveryChangeIsReportedAtOnce() {
        var t = ProcessQuorumTracker(rule: rule)
        #expect(t.observe(count: 1, now: at(0)) == .up)
        #expect(t.observe(count: 1, now: at(1)) == nil)
        #expect(t.observe(count: 0, now: at(2)) == .down)
        #expect(t.observe(count: 2, now: at(3)) == .up)
    }

    @Test func downWaitsForTerminateDelay() {
        var t = ProcessQuorumTracker(rule: rule, terminateDelay: .seconds(3))
        #expect(t.observe(count: 1, now: at(0)) == .up)
        #expect(t.observe(count: 0, now: at(1)) == nil)
        #expect(t.deadline == at(4))
        #expect(t.observe(count: 0, now: at(2)) == nil)
        #expect(t.observe(count: 0, now: at(3.9)) == nil)
        #expect(t.status == .up)
        #expect(t.observe(count: 0, now: at(4)) == .down)
        #expect(t.status == .down)
        #expect(t.deadline == nil)
        // Coming back is not delayed (no fork_delay).
        #expect(t.observe(count: 1, now: at(5)) == .up)
    }

    @Test func aRestartShorterThanTheDelayChangesNothing() {
        var t = ProcessQuorumTracker(rule: rule, terminateDelay: .seconds(3))
        #expect(t.observe(count: 1, now: at(0)) == .up)
        #expect(t.observe(count: 0, now: at(1)) == nil)
        #expect(t.observe(count: 1, now: at(2)) == nil)
        #expect(t.deadline == nil)
        // Long after the first deadline: still up, nothing was reported.
        #expect(t.observe(count: 1, now: at(10)) == nil)
        #expect(t.status == .up)
        // A second loss starts a fresh delay.
        #expect(t.observe(count: 0, now: at(11)) == nil)
        #expect(t.observe(count: 0, now: at(13.5)) == nil)
        #expect(t.observe(count: 0, now: at(14)) == .down)
    }

    @Test func upWaitsForForkDelay() {
        var t = ProcessQuorumTracker(rule: rule, forkDelay: .seconds(2))
        // The start-up state is taken at once, as keepalived's initial /proc scan.
        #expect(t.observe(count: 0, now: at(0)) == .down)
        #expect(t.observe(count: 1, now: at(1)) == nil)
        #expect(t.deadline == at(3))
        #expect(t.observe(count: 1, now: at(2)) == nil)
        #expect(t.observe(count: 1, now: at(3)) == .up)
        // Going down is not delayed (no terminate_delay).
        #expect(t.observe(count: 0, now: at(4)) == .down)
        // A process that appears and exits within fork_delay is never reported.
        #expect(t.observe(count: 1, now: at(5)) == nil)
        #expect(t.observe(count: 0, now: at(6)) == nil)
        #expect(t.observe(count: 0, now: at(20)) == nil)
        #expect(t.status == .down)
    }

    @Test func quorumMaxExceededWaitsForForkDelayLikeKeepalived() {
        // quorum 1, quorum_max 2: a third process is a fault, but a transient fork is not.
        var t = ProcessQuorumTracker(rule: ProcessTrackRule(name: "web", process: ["nginx"], quorumMax: 2),
                                     forkDelay: .seconds(2), terminateDelay: .seconds(5))
        #expect(t.observe(count: 2, now: at(0)) == .up)
        #expect(t.observe(count: 3, now: at(1)) == nil)
        #expect(t.observe(count: 2, now: at(2)) == nil)
        #expect(t.status == .up)
        #expect(t.observe(count: 3, now: at(3)) == nil)
        #expect(t.observe(count: 4, now: at(4)) == nil)
        #expect(t.observe(count: 3, now: at(5)) == .down)
        // Falling back within quorum_max is a count going down: terminate_delay.
        #expect(t.observe(count: 2, now: at(6)) == nil)
        #expect(t.observe(count: 2, now: at(10.9)) == nil)
        #expect(t.observe(count: 2, now: at(11)) == .up)
    }
}
