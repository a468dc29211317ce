import NetCore
import Testing

@testable import VRRPCore

@Suite struct V3Tests {
    @Test func backupAdoptsMasterIntervalAndUsesItForTheDownTimer() {
        var lab = Lab([
            config("VI_6", "10.0.0.1", priority: 150, vrid: 6, version: .v3, interval: .milliseconds(100)),
            config("VI_6", "10.0.0.2", priority: 100, vrid: 6, version: .v3, interval: .seconds(1)),
        ])
        lab.startAll()
        lab.run(until: .s(5))
        #expect(lab[0].state == .master && lab[1].state == .backup)
        #expect(lab[1].logged("(VI_6) advertisement interval updated from 1000 ms to 100 ms by master"))
        #expect(lab[1].instance.masterAdvertInterval == .milliseconds(100))
        // 3 × 100 ms + ((256 − 100) × 10 cs / 256 = 6 cs) = 360 ms.
        #expect(lab[1].instance.masterDownInterval == .milliseconds(360))
        let last = lab[0].sent.last!.0
        lab.crash(0)
        lab.run(until: .s(6))
        #expect(lab[1].firstLog("(VI_6) Entering MASTER STATE")! - last == .milliseconds(360))
    }

    @Test func ipv6Election() {
        var lab = Lab([
            config("V6", "fe80::1", priority: 100, vrid: 7, version: .v3, vips: ["2001:db8::21"]),
            config("V6", "fe80::2", priority: 200, vrid: 7, version: .v3, vips: ["2001:db8::21"]),
        ])
        lab.startAll()
        lab.run(until: .s(10))
        #expect(lab[1].state == .master && lab[0].state == .backup)
        #expect(lab[0].instance.config.version == .v3)
        #expect(lab[0].instance.statistics.totalRejected == 0)
    }

    @Test func checksumAsV2MustMatchOnBothSides() {
        var lab = Lab([
            config("VI", "10.0.0.1", priority: 150, vrid: 8, version: .v3) { $0.v3ChecksumAsV2 = true },
            config("VI", "10.0.0.2", priority: 100, vrid: 8, version: .v3),
        ])
        lab.startAll()
        lab.run(until: .s(10))
        #expect(lab.masters.count == 2)
        #expect(lab[1].instance.statistics[.badChecksum] > 0)
    }
}

@Suite struct FaultAndTrackingTests {
    @Test func interfaceDownIsFaultAndRecoveryPreempts() {
        var lab = referencePair()
        lab.startAll()
        lab.run(until: .s(10))
        lab[0].connected = false
        lab.event(0, .interfaceDown)
        #expect(lab[0].state == .fault && !lab[0].holdsVIPs)
        #expect(lab[0].logged("(LVSha): entering FAULT state (interface eth0 down)"))
        #expect(lab[0].logged("(LVSha) Entering FAULT STATE"))
        #expect(lab[0].notifications.last?.state == .fault)
        #expect(lab[0].timer == nil)
        lab.run(until: .s(15))
        #expect(lab[1].state == .master)
        lab[0].connected = true
        lab.event(0, .interfaceUp)
        #expect(lab[0].state == .backup)
        lab.run(until: .s(25))
        #expect(lab[0].state == .master && lab[1].state == .backup && lab.vipHolders.count == 1)
    }

    @Test func trackerWeightLowersPriorityAndBackupPreempts() {
        var lab = referencePair({ $0.trackers = [Tracker(name: "chk_nginx", kind: .script, weight: -60)] })
        lab.startAll()
        lab.run(until: .s(10))
        #expect(lab[0].state == .master)
        lab.event(0, .tracker("chk_nginx", .down))
        #expect(lab[0].logged("(LVSha) Changing effective priority from 150 to 90"))
        #expect(lab[0].instance.effectivePriority == 90)
        #expect(lab[0].sent.last!.1.priority == 90)
        #expect(lab[1].logged("(LVSha) received lower priority (90) advert from 192.168.0.11 - discarding"))
        lab.run(until: .s(20))
        #expect(lab[1].state == .master && lab[0].state == .backup)
        lab.event(0, .tracker("chk_nginx", .up))
        lab.run(until: .s(30))
        #expect(lab[0].state == .master && lab[0].instance.effectivePriority == 150)
    }

    @Test func zeroWeightTrackerFailureIsFault() {
        var lab = referencePair({ $0.trackers = [Tracker(name: "chk", kind: .script)] })
        lab.startAll()
        lab.run(until: .s(10))
        lab.event(0, .tracker("chk", .down))
        #expect(lab[0].state == .fault)
        #expect(lab[0].logged("(LVSha): entering FAULT state due to script chk"))
        // Link is fine, so the backup hears priority 0 and takes over after skew time.
        #expect(lab[0].sent.last!.1.priority == 0)
        lab.run(until: .s(10.7))
        #expect(lab[1].state == .master)
        lab.event(0, .tracker("chk", .up))
        #expect(lab[0].state == .backup)
    }

    @Test func effectivePriorityArithmetic() {
        let ts = [
            Tracker(name: "up", kind: .interface, weight: 10),
            Tracker(name: "neg", kind: .script, weight: -30),
            Tracker(name: "rev", kind: .script, weight: 5, reverse: true),
            Tracker(name: "f", kind: .file, weight: 3),
        ]
        #expect(computeEffectivePriority(base: 100, trackers: ts, status: [:]).priority == 110)
        #expect(computeEffectivePriority(base: 100, trackers: ts, status: ["neg": .down, "rev": .down, "f": .value(4)]).priority == 97)
        #expect(computeEffectivePriority(base: 250, trackers: ts, status: [:]).priority == 254)
        #expect(computeEffectivePriority(base: 20, trackers: ts, status: ["up": .down, "neg": .down]).priority == 1)
        #expect(computeEffectivePriority(base: 255, trackers: ts, status: ["neg": .down]).priority == 255)
        #expect(computeEffectivePriority(base: 100, trackers: [Tracker(name: "f", kind: .file)], status: ["f": .value(1)]).faultedBy?.name == "f")
        #expect(computeEffectivePriority(base: 100, trackers: [Tracker(name: "f", kind: .file, weight: 1)], status: ["f": .value(-300)]).faultedBy != nil)
    }

    @Test func scriptRiseAndFall() {
        var h = ScriptHysteresis(rise: 2, fall: 3)
        #expect(h.record(success: false) == nil)
        #expect(h.record(success: false) == nil)
        #expect(h.record(success: true) == nil)  // streak broken
        #expect(h.record(success: false) == nil)
        #expect(h.record(success: false) == nil)
        #expect(h.record(success: false) == .down)
        #expect(h.record(success: true) == nil)
        #expect(h.record(success: true) == .up)
        #expect(h.isUp)
    }
}

@Suite struct ReceiveValidationTests {
    /// A backup at t=10 whose master is 192.168.0.11; each bad packet must change nothing but a counter.
    func backup() -> VRRPInstance {
        var b = VRRPInstance(config: config("LVSha", "192.168.0.15", priority: 100))
        _ = b.handle(.start, now: .zero)
        return b
    }

    let src = IPAddress("192.168.0.11")!
    let group = IPAddress("224.0.0.18")!

    func good(_ tweak: (inout Advertisement) -> Void = { _ in }) -> Advertisement {
        var ad = Advertisement(
            version: .v2, vrid: 51, priority: 150, intervalField: 1, addresses: [IPAddress("192.168.0.21")!],
            authentication: .pass("1111"))
        tweak(&ad)
        return ad
    }

    func check(_ bytes: [UInt8], ttl: Int = 255, expect code: PacketError.Code) {
        var b = backup()
        let deadline = b.nextDeadline
        let acts = b.receive(packet: bytes, ttl: ttl, source: src, destination: group, now: .s(1))
        #expect(b.statistics[code] == 1, "\(code)")
        #expect(b.statistics.totalRejected == 1)
        #expect(b.statistics.advertisementsReceived == 0)
        #expect(b.nextDeadline == deadline)
        #expect(b.state == .backup)
        #expect(acts.allSatisfy { if case .log = $0 { true } else { false } })
    }

    @Test func goodAdvertResetsTheDownTimer() {
        var b = backup()
        _ = b.receive(packet: good().encoded(source: src, destination: group), ttl: 255, source: src, destination: group, now: .s(1))
        #expect(b.nextDeadline == .s(1) + b.masterDownInterval)
        #expect(b.statistics.totalRejected == 0)
    }

    @Test func badPacketsAreCountedAndIgnored() {
        let ok = good().encoded(source: src, destination: group)
        check(ok, ttl: 64, expect: .badTTL)
        var sum = ok
        sum[7] ^= 1
        check(sum, expect: .badChecksum)
        check(Array(ok.prefix(10)), expect: .truncated)
        check(ok + [1, 2, 3, 4], expect: .trailingBytes)
        check(good { $0.vrid = 52 }.encoded(source: src, destination: group), expect: .vridMismatch)
        check(good { $0.authentication = .pass("2222") }.encoded(source: src, destination: group), expect: .authPasswordMismatch)
        check(good { $0.authentication = .none }.encoded(source: src, destination: group), expect: .authTypeMismatch)
        check(good { $0.intervalField = 2 }.encoded(source: src, destination: group), expect: .intervalMismatch)
        check(good { $0.addresses = [IPAddress("192.168.0.99")!] }.encoded(source: src, destination: group), expect: .addressListMismatch)
        check(good { $0.addresses = [] }.encoded(source: src, destination: group), expect: .addressListMismatch)
        var v3 = good()
        v3.version = .v3
        v3.authentication = .none
        check(v3.encoded(source: src, destination: group), expect: .badVersion)
    }

    @Test func skipCheckAdvAddrAcceptsOtherVIPs() {
        var b = VRRPInstance(config: config("LVSha", "192.168.0.15", priority: 100) { $0.skipCheckAdvertAddresses = true })
        _ = b.handle(.start, now: .zero)
        let bytes = good { $0.addresses = [IPAddress("192.168.0.99")!] }.encoded(source: src, destination: group)
        _ = b.receive(packet: bytes, ttl: 255, source: src, destination: group, now: .s(1))
        #expect(b.statistics.totalRejected == 0 && b.statistics.advertisementsReceived == 1)
    }

    @Test func unicastSourceCheck() {
        var b = VRRPInstance(config: config("U", "192.168.0.15", priority: 100) {
            $0.unicastPeers = [IPAddress("192.168.0.11")!]
            $0.checkUnicastSource = true
        })
        _ = b.handle(.start, now: .zero)
        let stranger = IPAddress("192.168.0.66")!
        let me = IPAddress("192.168.0.15")!
        _ = b.receive(packet: good().encoded(source: stranger, destination: me), ttl: 64, source: stranger, destination: me, now: .s(1))
        #expect(b.statistics[.unknownSource] == 1)
        // Unicast peers may be routed: TTL is not forced to 255.
        _ = b.receive(packet: good().encoded(source: src, destination: me), ttl: 64, source: src, destination: me, now: .s(1))
        #expect(b.statistics.advertisementsReceived == 1)
    }
}

@Suite struct SyncGroupAndNotifyTests {
    @Test func membersFollowEachOther() {
        var g = SyncGroup(name: "G1", members: ["VI_1", "VI_2"])
        var one = VRRPInstance(config: config("VI_1", "10.0.0.1", priority: 100, vrid: 1))
        var two = VRRPInstance(config: config("VI_2", "10.0.1.1", priority: 100, vrid: 2, vips: ["10.0.1.21"]))
        _ = one.handle(.start, now: .zero)
        _ = two.handle(.start, now: .zero)
        _ = g.memberTransitioned("VI_1", to: .backup, states: ["VI_1": .backup, "VI_2": .backup])
        // VI_1's timer fires first; VI_2 is pulled along.
        _ = one.handle(.timer, now: .s(4))
        let o = g.memberTransitioned("VI_1", to: .master, states: ["VI_1": one.state, "VI_2": two.state])
        #expect(o.forced == ["VI_2"] && o.target == .master)
        #expect(o.logs == ["VRRP_Group(G1) Syncing instances to MASTER state"])
        #expect(o.notification?.fifoLine == "GROUP \"G1\" MASTER 0")
        let acts = two.handle(.syncGroup(.master), now: .s(4))
        #expect(two.state == .master && acts.contains(.addVIPs))
        // A fault in one member takes the other to FAULT, and back to BACKUP on recovery.
        _ = one.handle(.interfaceDown, now: .s(5))
        let f = g.memberTransitioned("VI_1", to: .fault, states: ["VI_1": one.state, "VI_2": two.state])
        #expect(f.forced == ["VI_2"] && f.target == .fault)
        let facts = two.handle(.syncGroup(.fault), now: .s(5))
        #expect(two.state == .fault && facts.contains(.removeVIPs))
        #expect(g.memberTransitioned("VI_2", to: .fault, states: ["VI_1": .fault, "VI_2": .fault]).forced.isEmpty)
        _ = one.handle(.interfaceUp, now: .s(6))
        let r = g.memberTransitioned("VI_1", to: .backup, states: ["VI_1": one.state, "VI_2": two.state])
        #expect(r.forced == ["VI_2"] && r.target == .backup)
        _ = two.handle(.syncGroup(.backup), now: .s(6))
        #expect(two.state == .backup)
    }

    @Test func notificationFormats() {
        let n = VRRPInstance.Notification(name: "VI_1", state: .master, priority: 100)
        #expect(n.scriptArguments == ["INSTANCE", "VI_1", "MASTER", "100"])
        #expect(n.fifoLine == "INSTANCE \"VI_1\" MASTER 100")
    }
}
