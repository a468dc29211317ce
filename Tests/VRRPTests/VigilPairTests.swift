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
        // The stopping master keeps the VIP until b advertises as master (handover), so stop()
        // returns after b took over.
        let t1 = Date()
        let stopping = Task { [a] in await a.stop() }
        #expect(await wait(3) { topo.hasAddress(topo.b, "192.168.0.21") })
        #expect(Date().timeIntervalSince(t1) < 0.61 + 0.5)
        await stopping.value
        #expect(a.logs.contains("(LVSha) sent 0 priority"))
        #expect(!topo.hasAddress(topo.a, "192.168.0.21"))
        #expect(b.logs.contains("(LVSha) Backup received priority 0 advertisement"))
        await b.stop()
        #expect(!topo.hasAddress(topo.b, "192.168.0.21"))
    }
}

@Suite(.serialized, .enabled(if: isRoot))
struct GratuitousTests {
    func mac(_ topo: Topology, _ ns: String) throws -> String {
        let out = try topo.lab.sh(ns, "cat /sys/class/net/eth0/address 2>/dev/null; ip -o link show eth0")
        let words = out.split(whereSeparator: { $0 == " " || $0 == "\n" })
        return String(words[words.firstIndex(of: "link/ether")! + 1])
    }

    /// A client's neighbour cache follows the VIP to the new master at once: gratuitous ARP
    /// (IPv4) and unsolicited NA with the override flag (IPv6) replace the old MAC, without the
    /// client having to re-resolve.
    @Test func neighboursLearnTheNewMaster() async throws {
        let topo = try Topology()
        defer { topo.teardown() }
        try topo.lab.sh(topo.c, "ip addr add 2001:db8::99/64 dev eth0 nodad")
        func v6(_ src: String, _ prio: UInt8) -> VRRPInstanceSetup {
            let c = VRRPInstanceConfig(
                name: "V6", interface: "eth0", vrid: 71, version: .v3, priority: prio, primaryAddress: IPAddress(src)!,
                virtualAddresses: [IPAddress("2001:db8::21")!])
            return VRRPInstanceSetup(config: c, vips: [VirtualIP(prefix: IPPrefix("2001:db8::21/64")!, device: "eth0")])
        }
        let a = try Router(topo.a, [referenceSetup("192.168.0.11", priority: 150), v6("fe80::11", 150)])
        #expect(await wait(8) { let s = a.service.status(); return s.count == 2 && s.allSatisfy { $0.state == .master } })
        let macA = try mac(topo, topo.a)
        let macB = try mac(topo, topo.b)
        func neigh(_ addr: String) -> String { (try? topo.lab.run(topo.c, ["ip", "neigh", "show", addr]).stdout) ?? "" }
        // The client talks to the VIP, so it has neighbour entries for it.
        try topo.lab.sh(topo.c, "ping -c1 -W2 192.168.0.21 && ping -c1 -W2 2001:db8::21")
        #expect(neigh("192.168.0.21").contains(macA) && neigh("2001:db8::21").contains(macA))
        #expect(a.logs.contains("(LVSha) Sending/queueing gratuitous ARPs on eth0 for 192.168.0.21"))
        #expect(a.logs.contains("(V6) Sending/queueing Unsolicited Neighbour Adverts on eth0 for 2001:db8::21"))
        let b = try Router(topo.b, [referenceSetup("192.168.0.15", priority: 200), v6("fe80::15", 200)])
        #expect(await wait(8) { let s = b.service.status(); return s.count == 2 && s.allSatisfy { $0.state == .master } })
        #expect(await wait(1) { neigh("192.168.0.21").contains(macB) }, "\(neigh("192.168.0.21"))")
        #expect(await wait(1) { neigh("2001:db8::21").contains(macB) }, "\(neigh("2001:db8::21"))")
        await a.stop()
        await b.stop()
    }
}
