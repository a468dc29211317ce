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
