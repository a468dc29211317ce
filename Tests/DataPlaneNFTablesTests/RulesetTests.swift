import DataPlane
import DataPlaneNFTables
import Foundation
import NetCore
import Testing

let macs: [IPAddress: MACAddress] = [
    IPAddress("10.77.0.12")!: MACAddress("02:77:00:00:00:12")!, IPAddress("10.77.0.13")!: MACAddress("02:77:00:00:00:13")!,
    IPAddress("10.77.0.14")!: MACAddress("02:77:00:00:00:14")!,
]
let facts = NFTFacts(directorMAC: MACAddress("02:77:00:00:00:11")!, macs: macs)
let small = NFTEngineSettings(interface: "eth0", seed: 1, maglevSize: 7)

func goldenPath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(name)").path
}

/// Compares with a golden file; `VIGIL_UPDATE_GOLDEN=1` rewrites it (review the diff!).
func expectGolden(_ text: String, _ name: String) throws {
    let path = goldenPath(name)
    if ProcessInfo.processInfo.environment["VIGIL_UPDATE_GOLDEN"] == "1" {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
    let want = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text == want, "golden \(name) differs")
}

@Suite struct RulesetTests {
    func persistentWRR() -> VirtualService {
        var svc = service("wrr", weights: [2, 1])
        svc.flags = .persistent
        svc.persistenceTimeout = 300
        svc.persistencePrefix = 24
        return svc
    }

    func udpNAT() -> VirtualService {
        VirtualService(
            key: .address(.udp, sock("10.77.0.22", 53)), scheduler: "mh",
            destinations: [Destination(address: sock("10.78.0.12", 5353), forwarding: .masquerade, weight: 1)])
    }

    @Test func firstCreationGolden() throws {
        let rs = try NFTRuleset(state: DataPlaneState(services: [persistentWRR(), udpNAT()]), draining: [], facts: facts, settings: small)
        try expectGolden(NFTTransaction.script(from: .absent, to: rs.netdev) + NFTTransaction.script(from: .absent, to: rs.inet), "create.nft")
    }

    @Test func ipv6AndFwmarkGolden() throws {
        let v6 = VirtualService(
            key: .address(.udp, SocketAddress(address: IPAddress("2001:db8::21")!, port: 53)), scheduler: "sh",
            flags: [.persistent, .sched2], persistenceTimeout: 60, persistencePrefix: 64,
            destinations: [Destination(address: SocketAddress(address: IPAddress("2001:db8::12")!, port: 53), weight: 1)])
        let fwm = VirtualService(key: .fwmark(7, .inet), scheduler: "wlc", destinations: [Destination(address: sock("10.77.0.13", 0), weight: 2)])
        var f = facts
        f.macs[IPAddress("2001:db8::12")!] = MACAddress("02:77:00:00:00:12")!
        let rs = try NFTRuleset(state: DataPlaneState(services: [v6, fwm]), draining: [], facts: f, settings: small)
        let text = NFTTransaction.script(from: .absent, to: rs.netdev)
        try expectGolden(text, "create6.nft")
        #expect(text.contains("udp sport . ip6 saddr"), "port-first key avoids the nft 1.0.6 IPv6 concat crash")
        #expect(text.contains("ip6 saddr & ffff:ffff:ffff:ffff::"))
        #expect(text.contains("meta protocol ip meta mark 7 jump"))
    }

    @Test func quiesceTouchesOnlySlotMaps() throws {
        let svc = service("wrr", weights: [3, 2, 1])
        let before = try NFTRuleset(state: DataPlaneState(services: [svc]), draining: [], facts: facts, settings: small)
        var q = svc
        q.destinations[2].weight = 0
        let f2 = NFTFacts(directorMAC: facts.directorMAC, macs: macs, marks: before.marks, lastWeights: before.lastWeights)
        let after = try NFTRuleset(state: DataPlaneState(services: [q]), draining: [], facts: f2, settings: small)
        let script = NFTTransaction.script(from: .known(before.netdev), to: after.netdev)
        try expectGolden(script, "quiesce.nft")
        #expect(!script.contains("conn_"), "the connection map is never touched")
        #expect(!script.contains("delete chain"), "real-server chains stay (only the comment rule records the new weight)")
        #expect(!script.contains("disp_"), "dispatch entries stay, so established flows keep their server")
        #expect(!script.contains("table"), "never deletes or re-adds the table")
        // The quiesced server keeps its Maglev turns (last weight), so only its slots move.
        #expect(after.lastWeights[svc.key]?[svc.destinations[2].address] == 1)
    }

    @Test func removedServerDrainsThenIsCollected() throws {
        let svc = service("rr")
        let before = try NFTRuleset(state: DataPlaneState(services: [svc]), draining: [], facts: facts, settings: small)
        var r = svc
        let gone = r.destinations.removeLast()
        let mark = before.marks[svc.key]![gone.address]!
        let f2 = NFTFacts(directorMAC: facts.directorMAC, macs: macs, marks: before.marks, lastWeights: before.lastWeights)
        let drain = DrainingServer(service: svc.key, destination: gone, mark: mark, mac: macs[gone.address.address])
        let draining = try NFTRuleset(state: DataPlaneState(services: [r]), draining: [drain], facts: f2, settings: small)
        let s1 = NFTTransaction.script(from: .known(before.netdev), to: draining.netdev)
        #expect(!s1.contains("delete chain"))
        #expect(s1.contains("vigil drain 10.77.0.14 80 dr 1"), "the chain's comment marks it draining")
        let collected = try NFTRuleset(state: DataPlaneState(services: [r]), draining: [], facts: f2, settings: small)
        let s2 = NFTTransaction.script(from: .known(draining.netdev), to: collected.netdev)
        let hex = String(mark, radix: 16)
        #expect(s2.contains("delete element netdev vigil disp_"))
        #expect(s2.contains("delete chain netdev vigil rs_") && s2.contains(hex))
        // Elements referencing the chain go before the chain itself.
        #expect(s2.range(of: "delete element")!.lowerBound < s2.range(of: "delete chain")!.lowerBound)
    }

    @Test func unchangedStateGivesAnEmptyTransaction() throws {
        let rs = try NFTRuleset(state: DataPlaneState(services: [persistentWRR()]), draining: [], facts: facts, settings: small)
        #expect(NFTTransaction.script(from: .known(rs.netdev), to: rs.netdev).isEmpty)
    }

    @Test func afterARestartEverythingIsRewrittenButTheConnectionMap() throws {
        let rs = try NFTRuleset(state: DataPlaneState(services: [service("rr")]), draining: [], facts: facts, settings: small)
        let names = NFTPrevious.names(
            counters: Set(rs.netdev.counters), maps: Set(rs.netdev.maps.map(\.name)), chains: Set(rs.netdev.chains.map(\.name)).union(["rs_stale"]))
        let s = NFTTransaction.script(from: names, to: rs.netdev)
        #expect(s.hasPrefix("add table netdev vigil\n"))
        #expect(!s.contains("add map") && !s.contains("flush map netdev vigil conn_"))
        #expect(s.contains("flush chain netdev vigil svc_") && s.contains("delete chain netdev vigil rs_stale"))
    }

    @Test func marksAreStableAndNeverZero() {
        let a = [sock("10.0.0.1", 80), sock("10.0.0.2", 80)]
        let m1 = assignMarks(a, existing: [:])
        #expect(m1.values.allSatisfy { $0 != 0 })
        #expect(assignMarks(a, existing: [:]) == m1)
        let m2 = assignMarks(a + [sock("10.0.0.3", 80)], existing: m1)
        #expect(m2[a[0]] == m1[a[0]] && m2[a[1]] == m1[a[1]])
        // An existing assignment wins over the hash.
        #expect(assignMarks(a, existing: [a[0]: 7])[a[0]] == 7)
    }

    @Test(arguments: [
        ("lblc", NFTEngineError.Code.unsupported), ("twos", .unsupported),
    ])
    func unsupportedSchedulersAreRefused(sched: String, code: NFTEngineError.Code) {
        #expect { try NFTRuleset(state: DataPlaneState(services: [service(sched)]), draining: [], facts: facts, settings: small) } throws: {
            ($0 as? NFTEngineError)?.code == code && "\($0)".contains(sched)
        }
    }

    @Test func refusals() {
        var mixed = service("rr")
        mixed.destinations[0].forwarding = .masquerade
        #expect { try NFTRuleset(state: DataPlaneState(services: [mixed]), draining: [], facts: facts, settings: small) } throws: {
            "\($0)".contains("mixing DR and NAT")
        }
        var natPers = service("rr", nat: true)
        natPers.flags = .persistent
        #expect { try NFTRuleset(state: DataPlaneState(services: [natPers]), draining: [], facts: facts, settings: small) } throws: {
            "\($0)".contains("persistence with NAT")
        }
        let noMAC = NFTFacts(directorMAC: facts.directorMAC)
        #expect { try NFTRuleset(state: DataPlaneState(services: [service("rr")]), draining: [], facts: noMAC, settings: small) } throws: {
            ($0 as? NFTEngineError)?.code == .macUnresolved && "\($0)".contains("10.77.0.12") && "\($0)".contains("eth0")
        }
        var tun = service("rr")
        tun.destinations[1].forwarding = .tunnel
        #expect(throws: NFTEngineError.tunnel) {
            try NFTRuleset(state: DataPlaneState(services: [tun]), draining: [], facts: facts, settings: small, ipipAvailable: false)
        }
    }

    @Test func dynamicSchedulersPlanFromConnectionCounts() throws {
        let svc = service("lc")
        let base = try NFTRuleset(state: DataPlaneState(services: [svc]), draining: [], facts: facts, settings: small)
        let m = base.marks[svc.key]!
        let busy = [m[svc.destinations[0].address]!: UInt32(40), m[svc.destinations[1].address]!: 40]
        let f = NFTFacts(directorMAC: facts.directorMAC, macs: macs, activeCounts: [svc.key: busy], marks: base.marks)
        let rs = try NFTRuleset(state: DataPlaneState(services: [svc]), draining: [], facts: f, settings: small)
        let slots = rs.netdev.maps.first { $0.name.hasPrefix("slots_") }!.elements!
        // 64 planned picks: the idle server takes the first 40, then they alternate.
        let third = "0x" + String(format: "%08x", m[svc.destinations[2].address]!)
        #expect(slots.values.filter { $0 == third }.count == 40 + 8)
        #expect(slots["0"] == third)
    }
}

/// Issue 7: directors running with the same keepalived.conf must hash a flow without state to
/// the same real server, whatever their nft table name, so `sh`/`mh` flows (and the hybrid
/// fallback of the other schedulers) survive a failover with no state exchanged.
@Suite struct SeedDerivationTests {
    func hashMap(_ table: String, _ svc: VirtualService) throws -> (rule: String, elements: [String: String]) {
        let rs = try NFTRuleset(
            state: DataPlaneState(services: [svc]), draining: [], facts: facts,
            settings: NFTEngineSettings(tableName: table, interface: "eth0"))
        let sid = serviceID(svc.key)
        let pick = rs.netdev.chains.first { $0.name == "pick_\(sid)" }!.rules.first { $0.contains("jhash") }!
        return (pick, rs.netdev.maps.first { $0.name == "hash_\(sid)" }!.elements!)
    }

    @Test(arguments: ["mh", "sh", "rr"])
    func sameSeedAndTableOnEveryDirectorWhateverTheTableName(_ scheduler: String) throws {
        let svc = service(scheduler, weights: [1, 1, 1])
        let a = try hashMap("vigil", svc), b = try hashMap("vigil_backup", svc)
        #expect(a.rule == b.rule)
        #expect(a.elements == b.elements)
        #expect(!a.elements.isEmpty)
    }

    @Test func differentVirtualServersGetDifferentSeeds() throws {
        var other = service("mh", weights: [1, 1, 1])
        other.key = .address(.tcp, sock("10.77.0.21", 443))
        let a = try hashMap("vigil", service("mh", weights: [1, 1, 1])).rule, b = try hashMap("vigil", other).rule
        let seed = { (r: String) in r.split(separator: " ").drop { $0 != "seed" }.dropFirst().first.map(String.init) }
        #expect(seed(a) != nil && seed(a) != seed(b))
    }

    @Test func theSeedDoesNotChangeWithTheRealServerSet() throws {
        let three = try hashMap("vigil", service("mh", weights: [1, 1, 1])).rule
        let two = try hashMap("vigil", service("mh", weights: [1, 1])).rule
        let seed = { (r: String) in r.split(separator: " ").drop { $0 != "seed" }.dropFirst().first.map(String.init) }
        #expect(seed(three) == seed(two))
    }
}

/// Issue 4's update target: with rr, a server leaving hands its slot to the last slot's server,
/// so the transaction rewrites one slot element and deletes one, not half the map.
@Suite struct StableRoundRobinSlotTests {
    func big(_ n: Int) -> (VirtualService, NFTFacts) {
        var f = facts
        let ds = (0..<n).map { i -> Destination in
            let a = IPAddress("10.90.\(i / 250).\(i % 250 + 1)")!
            f.macs[a] = MACAddress(bytes: [2, 0x90, 0, 0, UInt8(i >> 8), UInt8(i & 0xff)])!
            return Destination(address: SocketAddress(address: a, port: 80), weight: 1)
        }
        return (VirtualService(key: .address(.tcp, sock("10.77.0.30", 80)), scheduler: "rr", destinations: ds), f)
    }

    func slotLines(_ script: String, _ sid: String) -> [String] {
        script.split(separator: "\n").map(String.init).filter { $0.contains("slots_\(sid)") && !$0.contains("numgen") }
    }

    @Test func quiescingOneOfAThousandRewritesTwoSlotElements() throws {
        var (svc, f) = big(1000)
        let settings = NFTEngineSettings(interface: "eth0")
        let first = try NFTRuleset(state: DataPlaneState(services: [svc]), draining: [], facts: f, settings: settings)
        f.marks = first.marks
        f.lastWeights = first.lastWeights
        f.slotOrders = first.slotOrders
        svc.destinations[7].weight = 0
        let second = try NFTRuleset(state: DataPlaneState(services: [svc]), draining: [], facts: f, settings: settings)
        let script = NFTTransaction.script(from: .known(first.netdev), to: second.netdev)
        let sid = serviceID(svc.key)
        let lines = slotLines(script, sid)
        #expect(lines == ["delete element netdev vigil slots_\(sid) { 7, 999 }", "add element netdev vigil slots_\(sid) { 7 : \(second.netdev.maps.first { $0.name == "slots_\(sid)" }!.elements!["7"]!) }"], "\(lines)")
        // The rotation still covers every available server exactly once.
        let slots = second.netdev.maps.first { $0.name == "slots_\(sid)" }!.elements!
        #expect(slots.count == 999 && Set(slots.values).count == 999)
        #expect(!slots.values.contains("0x" + String(first.marks[svc.key]![svc.destinations[7].address]!, radix: 16).leftPadded(8)))
        #expect(script.contains("numgen inc mod 999"))
        // Bringing it back appends it at the end (one element).
        f.slotOrders = second.slotOrders
        f.lastWeights = second.lastWeights
        svc.destinations[7].weight = 1
        let third = try NFTRuleset(state: DataPlaneState(services: [svc]), draining: [], facts: f, settings: settings)
        #expect(slotLines(NFTTransaction.script(from: .known(second.netdev), to: third.netdev), sid) == ["add element netdev vigil slots_\(sid) { 999 : \(third.netdev.maps.first { $0.name == "slots_\(sid)" }!.elements!["999"]!) }"])
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
