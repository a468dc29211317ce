import Foundation
import NetCore
import TestSupport
import Testing
import VRRPCore

@testable @_spi(Testing) import VRRP

@Suite(.serialized, .enabled(if: isRoot))
struct VigilPairTests {
    @Test func electionFailoverPreemptAndGracefulStop() async throws {
        let topo = try Topology()
        defer { topo.teardown() }
        var a = try Router(topo.a, [referenceSetup("192.168.0.11", priority: 150)])
        let b = try Router(topo.b, [referenceSetup("192.168.0.15", priority: 100)])
        // Election: the priority-150 director holds the VIP, the other does not.
        #expect(await wait(8) { topo.hasAddress(topo.a, "192.168.0.21") })
        #expect(await wait(2) { b.state == .backup })
        #expect(!topo.hasAddress(topo.b, "192.168.0.21"))
        #expect(a.logs.contains("(LVSha) Entering BACKUP STATE (init)"))
        #expect(a.logs.contains("(LVSha) Entering MASTER STATE"))
        try await Task.sleep(for: .seconds(2))
        #expect(a.state == .master && b.state == .backup)
        #expect((b.service.status().first?.statistics.advertisementsReceived ?? 0) >= 2)

        // Kill the master (no goodbye): the backup takes over within master-down + 0.5 s.
        await a.crash()
        try topo.lab.sh(topo.a, "ip addr del 192.168.0.21/32 dev eth0")
        let t0 = Date()
        #expect(await wait(6) { topo.hasAddress(topo.b, "192.168.0.21") })
        let took = Date().timeIntervalSince(t0)
        #expect(took < 3.609 + 0.5, "takeover took \(took) s")
        #expect(b.logs.contains("(LVSha) Receive advertisement timeout"))

        // The priority-150 director comes back and preempts.
        a = try Router(topo.a, [referenceSetup("192.168.0.11", priority: 150)])
        #expect(await wait(8) { topo.hasAddress(topo.a, "192.168.0.21") })
        #expect(await wait(2) { !topo.hasAddress(topo.b, "192.168.0.21") })
        #expect(a.logs.contains("(LVSha) received lower priority (100) advert from 192.168.0.15 - discarding"))
        #expect(b.logs.contains("(LVSha) Master received advert from 192.168.0.11 with higher priority 150, ours 100"))

        // Graceful stop: priority 0, the backup takes over after skew time (0.61 s).
        let t1 = Date()
        await a.stop()
        #expect(a.logs.contains("(LVSha) sent 0 priority"))
        #expect(!topo.hasAddress(topo.a, "192.168.0.21"))
        #expect(await wait(3) { topo.hasAddress(topo.b, "192.168.0.21") })
        #expect(Date().timeIntervalSince(t1) < 0.61 + 0.5)
        #expect(b.logs.contains("(LVSha) Backup received priority 0 advertisement"))
        await b.stop()
        #expect(!topo.hasAddress(topo.b, "192.168.0.21"))
    }
}
