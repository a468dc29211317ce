import NetCore
import Testing
import VRRPCore

@testable import VRRP

/// The pure parts of SIGHUP: which instances change, and how a running machine takes a new
/// configuration.
@Suite struct ReloadPlanTests {
    func setup(_ name: String = "LVSha", priority: UInt8 = 150, vrid: UInt8 = 51, iface: String = "eth0", vips: [String] = ["192.168.0.21"]) -> VRRPInstanceSetup {
        var c = VRRPInstanceConfig(
            name: name, interface: iface, vrid: vrid, priority: priority, primaryAddress: IPAddress("192.168.0.11")!,
            virtualAddresses: vips.map { IPAddress($0)! })
        c.authentication = .pass("1111")
        return VRRPInstanceSetup(config: c, vips: vips.map { VirtualIP(prefix: IPPrefix(address: IPAddress($0)!, length: 32), device: iface) })
    }

    @Test func classifiesEveryInstance() {
        let running = [setup(), setup("Same", vrid: 52), setup("Gone", vrid: 53), setup("Moved", vrid: 54)]
        let reloaded = [
            setup(priority: 200, vips: ["192.168.0.21", "192.168.0.22"]), setup("Same", vrid: 52),
            setup("Moved", vrid: 55), setup("New", vrid: 56),
        ]
        let plan = VRRPReloadPlan.compute(running: running, reloaded: reloaded)
        #expect(plan.changes.map(\.name) == ["LVSha", "Same", "Moved", "New", "Gone"])
        #expect(plan.change(of: "LVSha") == .updated(fields: ["priority 150 -> 200", "virtual_ipaddress"]))
        #expect(plan.change(of: "Same") == .unchanged)
        #expect(plan.change(of: "Moved") == .restarted(reason: "virtual_router_id 54 -> 55"))
        #expect(plan.change(of: "New") == .added)
        #expect(plan.change(of: "Gone") == .removed)
    }

    @Test func interfaceChangeRestartsAndOtherSettingsAreNamed() {
        let plan = VRRPReloadPlan.compute(running: [setup()], reloaded: [setup(iface: "eth1")])
        #expect(plan.change(of: "LVSha") == .restarted(reason: "interface eth0 -> eth1"))
        var n = setup()
        n.config.preempt = false
        n.config.advertInterval = .seconds(2)
        n.notify.master = ScriptCommand(argv: ["/bin/true"])
        n.config.downTimerAdverts = 5
        let p2 = VRRPReloadPlan.compute(running: [setup()], reloaded: [n])
        #expect(p2.change(of: "LVSha") == .updated(fields: ["advert_int", "preempt", "notify", "other settings"]))
    }

    @Test func vipDifferenceKeepsCommonAddresses() {
        let d = listDifference(from: [1, 2, 3], to: [3, 4, 1])
        #expect(d.added == [4])
        #expect(d.removed == [2])
    }
}

@Suite struct ReconfigureTests {
    func config(_ priority: UInt8) -> VRRPInstanceConfig {
        var c = VRRPInstanceConfig(
            name: "LVSha", interface: "eth0", vrid: 51, priority: priority, primaryAddress: IPAddress("192.168.0.11")!,
            virtualAddresses: [IPAddress("192.168.0.21")!])
        c.gratuitous.masterDelay = .zero
        return c
    }

    func ad(_ priority: UInt8, _ m: VRRPInstance) -> Advertisement { m.advertisement(priority: priority) }

    @Test func masterKeepsStateAndAdvertisesNewPriorityWithoutNotify() {
        var m = VRRPInstance(config: config(150))
        _ = m.handle(.start, now: .zero)
        _ = m.handle(.timer, now: Instant(nanoseconds: 4_000_000_000))
        #expect(m.state == .master)
        let actions = m.reconfigure(config(200), now: Instant(nanoseconds: 5_000_000_000))
        #expect(m.state == .master)
        #expect(m.effectivePriority == 200)
        let sent = actions.compactMap { if case .sendAdvertisement(let a) = $0 { a.priority } else { nil } }
        #expect(sent == [200])
        #expect(!actions.contains { if case .notify = $0 { true } else { false } })
        #expect(!actions.contains { if case .removeVIPs = $0 { true } else { false } })
        #expect(actions.contains { if case .log(.info, let t) = $0 { t == "(LVSha) Changing effective priority from 150 to 200" } else { false } })
    }

    @Test func unchangedConfigDoesNothing() {
        var m = VRRPInstance(config: config(150))
        _ = m.handle(.start, now: .zero)
        let actions = m.reconfigure(config(150), now: Instant(nanoseconds: 1_000_000))
        #expect(actions.isEmpty)
        #expect(m.state == .backup)
    }

    @Test func backupRaisedAbovePeerPreemptsAtNextAdvert() {
        // A backup at 100 hears a master at 120; reloaded at 200 it discards the master's
        // next advert and takes over when the master-down timer runs out.
        var m = VRRPInstance(config: config(100))
        _ = m.handle(.start, now: .zero)
        let peer = IPAddress("192.168.0.15")!
        _ = m.handle(.advertisement(ad(120, m), from: peer), now: Instant(nanoseconds: 500_000_000))
        #expect(m.state == .backup)
        _ = m.reconfigure(config(200), now: Instant(nanoseconds: 600_000_000))
        #expect(m.state == .backup)
        _ = m.handle(.advertisement(ad(120, m), from: peer), now: Instant(nanoseconds: 1_500_000_000))
        #expect(m.statistics.advertisementsReceived == 2)
        _ = m.handle(.timer, now: Instant(nanoseconds: 5_000_000_000))
        #expect(m.state == .master)
    }

    @Test func newFaultingTrackerTakesEffect() {
        var m = VRRPInstance(config: config(150))
        _ = m.handle(.start, now: .zero)
        _ = m.handle(.tracker("eth1", .down), now: .zero)
        #expect(m.state == .backup) // eth1 is not tracked yet: ignored
        var c = config(150)
        c.trackers = [Tracker(name: "eth1", kind: .interface, weight: 0)]
        _ = m.reconfigure(c, now: Instant(nanoseconds: 1_000_000))
        #expect(m.state == .fault)
    }
}

/// Graceful stop with a handover: the VIPs stay until the new master advertises.
@Suite struct HandoverTests {
    func master() -> VRRPInstance {
        var c = VRRPInstanceConfig(
            name: "LVSha", interface: "eth0", vrid: 51, priority: 150, primaryAddress: IPAddress("192.168.0.11")!,
            virtualAddresses: [IPAddress("192.168.0.21")!])
        c.gratuitous.masterDelay = .zero
        var m = VRRPInstance(config: c)
        _ = m.handle(.start, now: .zero)
        _ = m.handle(.timer, now: Instant(nanoseconds: 4_000_000_000))
        return m
    }

    func removes(_ a: [VRRPInstance.Action]) -> Bool { a.contains { if case .removeVIPs = $0 { true } else { false } } }
    func priorities(_ a: [VRRPInstance.Action]) -> [UInt8] { a.compactMap { if case .sendAdvertisement(let ad) = $0 { ad.priority } else { nil } } }

    @Test func vipsStayUntilTheNewMasterAdvertises() {
        var m = master()
        #expect(m.state == .master)
        let stop = m.handle(.handOver, now: Instant(nanoseconds: 5_000_000_000))
        #expect(priorities(stop) == [0])
        #expect(!removes(stop))
        #expect(m.state == .stopped && m.handoverPending)
        #expect(stop.contains { if case .notify(let n) = $0 { n.state == .stop } else { false } })
        // The backup (priority 100) is master now and advertises: the VIPs go.
        let ad = Advertisement(version: .v2, vrid: 51, priority: 100, intervalField: 1, addresses: [IPAddress("192.168.0.21")!])
        let after = m.handle(.advertisement(ad, from: IPAddress("192.168.0.15")!), now: Instant(nanoseconds: 5_700_000_000))
        // ... 20 ms later, once its gratuitous ARP reached the clients.
        #expect(!removes(after))
        #expect(after.contains { if case .armTimer(let at) = $0 { at == Instant(nanoseconds: 5_720_000_000) } else { false } })
        #expect(removes(m.handle(.timer, now: Instant(nanoseconds: 5_720_000_000))))
        #expect(!m.handoverPending)
    }

    @Test func withoutABackupTheVIPsGoAfterTwoIntervals() {
        var m = master()
        let stop = m.handle(.handOver, now: Instant(nanoseconds: 5_000_000_000))
        #expect(stop.contains { if case .armTimer(let at) = $0 { at == Instant(nanoseconds: 7_000_000_000) } else { false } })
        #expect(!removes(m.handle(.timer, now: Instant(nanoseconds: 6_500_000_000))))
        #expect(removes(m.handle(.timer, now: Instant(nanoseconds: 7_000_000_000))))
        #expect(!m.handoverPending)
    }

    @Test func aSecondStopDropsTheVIPsAtOnce() {
        var m = master()
        _ = m.handle(.handOver, now: Instant(nanoseconds: 5_000_000_000))
        #expect(removes(m.handle(.shutdown, now: Instant(nanoseconds: 5_100_000_000))))
        #expect(!m.handoverPending)
        // A backup has nothing to hand over.
        var b = VRRPInstance(config: m.config)
        _ = b.handle(.start, now: .zero)
        _ = b.handle(.handOver, now: .zero)
        #expect(b.state == .stopped && !b.handoverPending)
    }
}
