import NetCore
import Testing

@testable import VRRPCore

/// The reference scenario's pair: V11 priority 150, V15 priority 100, VRID 51, PASS 1111.
func referencePair(_ tweakA: (inout VRRPInstanceConfig) -> Void = { _ in }, _ tweakB: (inout VRRPInstanceConfig) -> Void = { _ in }) -> Lab {
    Lab([
        config("LVSha", "192.168.0.11", priority: 150, tweakA),
        config("LVSha", "192.168.0.15", priority: 100, tweakB),
    ])
}

@Suite struct ElectionTests {
    @Test func higherPriorityBecomesMasterAfterItsDownTimer() {
        var lab = referencePair()
        lab.startAll()
        #expect(lab[0].logged("(LVSha) Entering BACKUP STATE (init)"))
        #expect(lab[0].logged("(LVSha) removing VIPs."))
        #expect(lab[0].notifications.first == .init(name: "LVSha", state: .backup, priority: 150))
        // Master down interval = 3 × 1 s + (256 − 150)/256 s = 3.4140625 s.
        #expect(lab[0].instance.masterDownInterval == .nanoseconds(3_414_062_500))
        #expect(lab[1].instance.masterDownInterval == .nanoseconds(3_609_375_000))
        lab.run(until: .s(3.4))
        #expect(lab.masters.isEmpty)
        lab.run(until: .s(10))
        #expect(lab.masters == ["LVSha"])
        #expect(lab[0].state == .master && lab[1].state == .backup)
        #expect(lab.vipHolders.count == 1 && lab[0].holdsVIPs)
        #expect(lab[0].firstLog("(LVSha) Receive advertisement timeout") == Instant(nanoseconds: 3_414_062_500))
        #expect(lab[0].firstLog("(LVSha) Entering MASTER STATE") == Instant(nanoseconds: 3_414_062_500))
        #expect(lab[0].notifications.last == .init(name: "LVSha", state: .master, priority: 150))
        // One advert per second while master.
        let sent = lab[0].sent.filter { $0.0 > .s(4) && $0.0 <= .s(9) }
        #expect(sent.count == 5)
        #expect(lab[1].instance.statistics.advertisementsReceived >= 6)
        #expect(lab[1].instance.masterAddress == IPAddress("192.168.0.11"))
    }

    @Test func crashedMasterIsReplacedWithinMasterDownInterval() {
        var lab = referencePair()
        lab.startAll()
        lab.run(until: .s(10))
        let lastAdvert = lab[0].sent.last!.0
        lab.crash(0)
        lab.run(until: .s(20))
        #expect(lab[1].state == .master && lab[1].holdsVIPs)
        let took = lab[1].firstLog("(LVSha) Entering MASTER STATE")!
        #expect(took - lastAdvert == .nanoseconds(3_609_375_000))
        #expect(lab[1].logged("(LVSha) Receive advertisement timeout"))
    }

    @Test func gracefulStopSendsPriorityZeroAndBackupTakesOverAfterSkew() {
        var lab = referencePair()
        lab.startAll()
        lab.run(until: .s(10.5))
        lab.event(0, .shutdown)
        #expect(lab[0].logged("(LVSha) sent 0 priority"))
        #expect(lab[0].sent.last!.1.priority == 0)
        #expect(!lab[0].holdsVIPs)
        #expect(lab[0].notifications.last == .init(name: "LVSha", state: .stop, priority: 150))
        #expect(lab[1].logged("(LVSha) Backup received priority 0 advertisement"))
        lab.crash(0)
        lab.run(until: .s(12))
        // Skew time for priority 100 is 156/256 s.
        #expect(lab[1].firstLog("(LVSha) Entering MASTER STATE") == .s(10.5) + .nanoseconds(609_375_000))
        #expect(lab.vipHolders == ["LVSha"] && lab[1].holdsVIPs)
        #expect(lab[1].instance.statistics.priorityZeroReceived == 1)
        #expect(lab[0].instance.statistics.priorityZeroSent == 1)
    }

    @Test func restartedHigherPriorityPreemptsBack() {
        var lab = referencePair()
        lab.startAll()
        lab.run(until: .s(10))
        lab.crash(0)
        lab.run(until: .s(20))
        #expect(lab[1].state == .master)
        lab.restart(0)
        lab.run(until: .s(21.5))
        #expect(lab[0].logged("(LVSha) received lower priority (100) advert from 192.168.0.15 - discarding"))
        #expect(lab[0].state == .backup)
        lab.run(until: .s(30))
        #expect(lab[0].state == .master && lab[1].state == .backup)
        #expect(lab[1].logged("(LVSha) Master received advert from 192.168.0.11 with higher priority 150, ours 100"))
        #expect(lab[1].logged("(LVSha) Entering BACKUP STATE"))
        #expect(lab.vipHolders.count == 1 && lab[0].holdsVIPs)
        #expect(lab[1].instance.statistics.releasedMaster == 1)
    }

    @Test func nopreemptKeepsLowerPriorityMaster() {
        var lab = referencePair({ $0.preempt = false })
        lab.startAll()
        lab.run(until: .s(10))
        lab.crash(0)
        lab.run(until: .s(20))
        lab.restart(0)
        lab.run(until: .s(60))
        #expect(lab[0].state == .backup && lab[1].state == .master)
        #expect(!lab[0].logs.contains { $0.1.contains("discarding") })
    }

    @Test func preemptDelayPostponesTakeover() {
        var lab = referencePair({ $0.preemptDelay = .seconds(10) })
        lab.startAll()
        lab.run(until: .s(30))
        #expect(lab[0].state == .master)
        lab.crash(0)
        lab.run(until: .s(40))
        lab.restart(0)  // at t = 40
        lab.run(until: .s(49.9))
        #expect(lab[0].state == .backup && lab[1].state == .master)
        lab.run(until: .s(60))
        #expect(lab[0].state == .master && lab[1].state == .backup)
        let took = lab[0].firstLog("(LVSha) Entering MASTER STATE")!
        #expect(took > .s(50) && took < .s(54))
    }

    @Test func equalPriorityHigherAddressWins() {
        var lab = Lab([
            config("VI_1", "10.9.9.1", priority: 100),
            config("VI_1", "10.9.9.2", priority: 100),
        ])
        // Whoever times out first is master; a backup accepts an equal-priority master (RFC 5798 §6.4.2).
        lab.startAll()
        lab.run(until: .s(10))
        #expect(lab.masters.count == 1)
        // The address decides only between two masters: split them, then heal the link.
        lab[0].connected = false
        lab[1].connected = false
        lab.run(until: .s(20))
        #expect(lab.masters.count == 2)
        lab[0].connected = true
        lab[1].connected = true
        lab.run(until: .s(25))
        #expect(lab[1].state == .master && lab[0].state == .backup)
        #expect(lab[0].logged("(VI_1) Master received advert from 10.9.9.2 with same priority 100 but higher IP address than ours"))
        #expect(lab.vipHolders.count == 1)
    }

    @Test func threeRoutersElectInPriorityOrder() {
        var lab = Lab([
            config("VI_1", "10.0.0.1", priority: 50),
            config("VI_1", "10.0.0.2", priority: 150),
            config("VI_1", "10.0.0.3", priority: 100),
        ])
        lab.startAll()
        lab.run(until: .s(10))
        #expect(lab.masters.count == 1 && lab[1].state == .master)
        lab.crash(1)
        lab.run(until: .s(20))
        #expect(lab[2].state == .master && lab[0].state == .backup)
        lab.crash(2)
        lab.run(until: .s(30))
        #expect(lab[0].state == .master)
        #expect(lab.nodes.filter { $0.alive && $0.holdsVIPs }.count == 1)
    }

    @Test func lostAdvertsMakeBothMasterThenHealedLinkElectsOne() {
        var lab = referencePair()
        lab.startAll()
        lab.run(until: .s(10))
        lab[0].connected = false
        lab[1].connected = false
        lab.run(until: .s(20))
        #expect(lab.masters.count == 2)
        lab[0].connected = true
        lab[1].connected = true
        lab.run(until: .s(25))
        #expect(lab[0].state == .master && lab[1].state == .backup)
        #expect(lab[0].logged("(LVSha) Received advert from 192.168.0.15 with lower priority 100, ours 150, forcing new election")
            || lab[1].logged("(LVSha) Master received advert from 192.168.0.11 with higher priority 150, ours 100"))
    }

    @Test func splitBrainKnobs() {
        // Default: the higher master answers a lower-priority advert with an advert, GARPs and MASTER_RX_LOWER_PRI.
        var lab = referencePair()
        lab.startAll()
        lab.run(until: .s(10))
        var a = lab[0].instance
        let lower = a.advertisement(priority: 100)
        let acts = a.handle(.advertisement(lower, from: IPAddress("192.168.0.15")!), now: .s(10))
        #expect(acts.contains(.sendAdvertisement(a.advertisement(priority: 150))))
        #expect(acts.contains(.sendGratuitous(count: 5)))
        #expect(acts.contains(.notify(.init(name: "LVSha", state: .masterRxLowerPriority, priority: 150))))
        // lower_prio_no_advert: ignore it silently.
        var quiet = referencePair({ $0.lowerPriorityNoAdvert = true })
        quiet.startAll()
        quiet.run(until: .s(10))
        var q = quiet[0].instance
        #expect(q.handle(.advertisement(lower, from: IPAddress("192.168.0.15")!), now: .s(10)).isEmpty)
        // higher_prio_send_advert: the losing master sends one advert before going BACKUP.
        var loud = referencePair({ $0.higherPrioritySendAdvert = true })
        loud.startAll()
        loud.run(until: .s(10))
        var l = loud[0].instance
        let higher = l.advertisement(priority: 200)
        let acts2 = l.handle(.advertisement(higher, from: IPAddress("192.168.0.99")!), now: .s(10))
        #expect(acts2.first == .log(.info, "(LVSha) Master received advert from 192.168.0.99 with higher priority 200, ours 150"))
        #expect(acts2.dropFirst().first == .sendAdvertisement(l.advertisement(priority: 150)))
        #expect(acts2.contains(.removeVIPs) && l.state == .backup)
    }

    @Test func masterAnswersPriorityZeroAtOnce() {
        var lab = referencePair()
        lab.startAll()
        lab.run(until: .s(10.2))
        var a = lab[0].instance
        let acts = a.handle(.advertisement(a.advertisement(priority: 0), from: IPAddress("192.168.0.15")!), now: .s(10.2))
        #expect(acts.first == .sendAdvertisement(a.advertisement(priority: 150)))
        #expect(acts.contains(.armTimer(at: .s(11.2))))
        #expect(a.state == .master)
    }

    @Test func ownerIsMasterAtOnce() {
        var lab = Lab([config("VI_1", "10.0.0.1", priority: 255), config("VI_1", "10.0.0.2", priority: 254)])
        lab.startAll()
        #expect(lab[0].state == .master && lab[0].holdsVIPs)
        #expect(!lab[0].logged("(VI_1) Entering BACKUP STATE (init)"))
        #expect(lab[0].logs.first?.1 == "(VI_1) Entering MASTER STATE")
        lab.run(until: .s(10))
        #expect(lab.masters == ["VI_1"] && lab[1].state == .backup)
    }

    @Test func strictOwnerIgnoresAdverts() {
        var owner = VRRPInstance(config: config("VI_1", "10.0.0.1", priority: 255) { $0.strict = true; $0.authentication = .none })
        _ = owner.handle(.start, now: .zero)
        let ad = Advertisement(version: .v2, vrid: 51, priority: 255, intervalField: 1, addresses: [IPAddress("192.168.0.21")!])
        #expect(owner.handle(.advertisement(ad, from: IPAddress("10.0.0.9")!), now: .s(1)).isEmpty)
        #expect(owner.state == .master)
        // Strict mode also forbids GARP repeats.
        var s = VRRPInstance(config: config("VI_1", "10.0.0.1", priority: 255) { $0.strict = true })
        let acts = s.handle(.start, now: .zero)
        #expect(acts.contains(.sendGratuitous(count: 5)))
        #expect(s.nextDeadline == .s(1))
    }

    @Test func garpScheduleOnEnteringMaster() {
        var lab = Lab([config("VI_1", "10.0.0.1", priority: 100) { $0.gratuitous.masterRefresh = .seconds(60); $0.gratuitous.masterRefreshRepeat = 2 }])
        lab.startAll()
        lab.run(until: .s(200))
        let t0 = lab[0].firstLog("(VI_1) Entering MASTER STATE")!
        let bursts = lab[0].gratuitous
        #expect(bursts.count >= 5)
        #expect(bursts[0] == (t0, 5))
        #expect(bursts[1] == (t0 + .seconds(5), 5))
        #expect(bursts[2] == (t0 + .seconds(60), 2))
        #expect(bursts[3] == (t0 + .seconds(120), 2))
    }
}
