import ConnSync
import ConnSyncCore
import NetCore
import Testing

private let key = ConnSyncKeyMaterial(instance: "LVSha", vrid: 51, password: "1111")

private func entry(_ i: Int, v6: Bool = false, mark: UInt32 = 0x1234_5678, timeout: UInt32 = 899) -> ConnSyncEntry {
    let a: IPAddress = v6 ? IPAddress("2001:db8::\(i + 1)")! : .v4(IPv4Address(192, 168, 0, UInt8(10 + i % 200)))
    return ConnSyncEntry(service: 0xdead_beef, clientPort: UInt16(40_000 + i), client: a, mark: mark, timeout: timeout)
}

@Suite struct ConnSyncCodecTests {
    @Test func roundTripIPv4AndIPv6() throws {
        let es = (0..<10).map { entry($0, v6: $0 % 3 == 0) }
        let packets = key.encode(es, syncID: 7, epoch: 99, firstSequence: 5)
        #expect(packets.count == 1)
        var r = ConnSyncReceiver(syncID: 7)
        let got = r.accept(packets[0], key: key, isMaster: false)
        #expect(got.rejection == nil)
        #expect(got.entries == es)
        #expect(r.counters.packetsAccepted == 1 && r.counters.entriesAccepted == 10)
    }

    @Test func largeDeltaIsSplitBelowOneMTU() {
        let es = (0..<150).map { entry($0) }
        let packets = key.encode(es, syncID: 0, epoch: 1, firstSequence: 1)
        #expect(packets.count == 3)
        #expect(packets.allSatisfy { $0.count <= 1_400 })
        var r = ConnSyncReceiver(syncID: 0)
        let all = packets.flatMap { r.accept($0, key: key, isMaster: false).entries ?? [] }
        #expect(all == es)
    }

    @Test func tamperedOrWrongKeyIsUnauthenticatedAndCounted() {
        var p = key.encode([entry(1)], syncID: 0, epoch: 1, firstSequence: 1)[0]
        p[30] ^= 0x01  // flip a bit in the entry: the mark would change
        var r = ConnSyncReceiver(syncID: 0)
        #expect(r.accept(p, key: key, isMaster: false).rejection == .unauthenticated)
        let other = ConnSyncKeyMaterial(instance: "LVSha", vrid: 51, password: "2222")
        let q = other.encode([entry(1)], syncID: 0, epoch: 1, firstSequence: 1)[0]
        #expect(r.accept(q, key: key, isMaster: false).rejection == .unauthenticated)
        let vrid = ConnSyncKeyMaterial(instance: "LVSha", vrid: 52, password: "1111")
        #expect(r.accept(vrid.encode([entry(1)], syncID: 0, epoch: 1, firstSequence: 1)[0], key: key, isMaster: false).rejection == .unauthenticated)
        #expect(r.counters.rejected["unauthenticated"] == 3)
        #expect(r.counters.entriesAccepted == 0)
    }

    @Test func malformedDatagramsAreRejectedWithoutCrashing() {
        var r = ConnSyncReceiver(syncID: 0)
        let good = key.encode([entry(1)], syncID: 0, epoch: 1, firstSequence: 1)[0]
        let bad: [[UInt8]] = [[], [1, 2, 3], Array(good.prefix(20)), Array("XXXX".utf8) + good.dropFirst(4), [UInt8](repeating: 0, count: 2000)]
        for b in bad { #expect(r.accept(b, key: key, isMaster: false).rejection == .malformed) }
        #expect(r.counters.rejected["malformed"] == bad.count)
    }

    @Test func replayedAndForeignSyncIDAreRejected() {
        var r = ConnSyncReceiver(syncID: 3)
        let p1 = key.encode([entry(1)], syncID: 3, epoch: 10, firstSequence: 1)[0]
        let p2 = key.encode([entry(2)], syncID: 3, epoch: 10, firstSequence: 2)[0]
        #expect(r.accept(p1, key: key, isMaster: false).rejection == nil)
        #expect(r.accept(p2, key: key, isMaster: false).rejection == nil)
        #expect(r.accept(p1, key: key, isMaster: false).rejection == .replayed)
        // A restarted sender (new epoch) starts again at 1.
        #expect(r.accept(key.encode([entry(3)], syncID: 3, epoch: 11, firstSequence: 1)[0], key: key, isMaster: false).rejection == nil)
        #expect(r.accept(key.encode([entry(3)], syncID: 4, epoch: 12, firstSequence: 1)[0], key: key, isMaster: false).rejection == .foreignSyncID)
        #expect(r.counters.rejected == ["replayed": 1, "foreignSyncID": 1])
        #expect(r.counters.entriesAccepted == 3)
    }

    @Test func aMasterDoesNotInstallWhatItReceives() {
        var r = ConnSyncReceiver(syncID: 0)
        let got = r.accept(key.encode([entry(1)], syncID: 0, epoch: 1, firstSequence: 1)[0], key: key, isMaster: true)
        #expect(got.entries == nil && got.rejection == nil)
        #expect(r.counters.ignoredWhileMaster == 1 && r.counters.entriesAccepted == 0)
    }
}

@Suite struct ConnSyncSenderTests {
    @Test func sendsNewEntriesOnceThenOnlyChangesAndRefreshes() {
        var s = ConnSyncSender(refreshAfter: 60, fullResyncInterval: 1_000)
        let a = entry(1, timeout: 900), b = entry(2, timeout: 900)
        #expect(s.delta(snapshot: [a, b], now: 0) == [a, b])
        // Per-packet refreshes on the master move the expiry a little: nothing to send.
        #expect(s.delta(snapshot: [entry(1, timeout: 900), b], now: 10).isEmpty)
        // A new flow is sent alone.
        let c = entry(3)
        #expect(s.delta(snapshot: [a, b, c], now: 11) == [c])
        // A changed mark (source port reused for another server) is sent at once.
        let a2 = entry(1, mark: 7, timeout: 900)
        #expect(s.delta(snapshot: [a2, b, c], now: 12) == [a2])
        // An active flow whose expiry moved 60 s past what the peers were told is refreshed;
        // idle flows (their time left shrinking) are not.
        let bIdle = entry(2, timeout: 820), cIdle = entry(3, timeout: 830)
        #expect(s.delta(snapshot: [entry(1, mark: 7, timeout: 900), bIdle, cIdle], now: 80) == [entry(1, mark: 7, timeout: 900)])
        #expect(s.toldCount == 3)
        // Expired entries are forgotten (and would be sent again if they came back).
        #expect(s.delta(snapshot: [entry(3, timeout: 829)], now: 81).isEmpty)
        #expect(s.toldCount == 1)
        #expect(s.delta(snapshot: [b, entry(3, timeout: 828)], now: 82) == [b])
    }

    @Test func recentFlowsAreSentOnceUnlessTheirMarkChanges() {
        var s = ConnSyncSender()
        let a = entry(1), b = entry(2)
        #expect(s.newEntries([a, b], now: 0) == [a, b])
        #expect(s.newEntries([a, b], now: 0.1).isEmpty)
        let a2 = entry(1, mark: 3)
        #expect(s.newEntries([a2, b], now: 0.2) == [a2])
        // A later full read that still has them sends nothing new.
        #expect(s.delta(snapshot: [a2, b], now: 0.3).isEmpty)
    }

    @Test func fullResyncResendsEverything() {
        var s = ConnSyncSender(refreshAfter: 600, fullResyncInterval: 30)
        let es = (0..<5).map { entry($0) }
        #expect(s.delta(snapshot: es, now: 0).count == 5)
        #expect(s.delta(snapshot: es, now: 29).isEmpty)
        #expect(s.delta(snapshot: es, now: 30).count == 5)
    }
}

@Suite struct ConnSyncInstallTests {
    @Test func scriptAddsDeletesAndAddsWithTheSendersTimeout() {
        let es = [entry(2, timeout: 500), entry(1, timeout: 0)]
        let s = ConnSyncInstall.script(table: "vigil", entries: es)
        #expect(s == """
            add element netdev vigil conn_deadbeef { 40001 . 192.168.0.11 timeout 1s : 0x12345678, 40002 . 192.168.0.12 timeout 1s : 0x12345678 }
            delete element netdev vigil conn_deadbeef { 40001 . 192.168.0.11, 40002 . 192.168.0.12 }
            add element netdev vigil conn_deadbeef { 40001 . 192.168.0.11 timeout 1s : 0x12345678, 40002 . 192.168.0.12 timeout 500s : 0x12345678 }

            """)
    }

    @Test func keysPresentWithAnotherMarkSkipTheLeadingAdd() {
        let e = entry(1, mark: 9, timeout: 100)
        let s = ConnSyncInstall.script(table: "t", entries: [e], existing: [e.key: 5])
        #expect(!s.hasPrefix("add"))
        #expect(s.contains("delete element netdev t conn_deadbeef { 40001 . 192.168.0.11 }"))
        #expect(s.contains("add element netdev t conn_deadbeef { 40001 . 192.168.0.11 timeout 100s : 0x00000009 }"))
    }

    @Test func theLastEntryForAKeyWins() {
        let s = ConnSyncInstall.script(table: "t", entries: [entry(1, mark: 1), entry(1, mark: 2)])
        #expect(s.contains(": 0x00000002") && !s.contains(": 0x00000001"))
    }

    @Test func parsesNftJSONWithAndWithoutPerElementExpiry() {
        let json = #"{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"map": {"family": "netdev", "name": "conn_deadbeef", "table": "vigil", "type": ["inet_service", "ipv4_addr"], "map": "mark", "timeout": 900, "elem": [[{"elem": {"val": {"concat": [40001, "192.168.0.10"]}, "timeout": 900, "expires": 897}}, 305419896], [{"concat": [40002, "192.168.0.10"]}, 7]]}}]}"#
        let es = ConnSyncService.parseMap(json, service: 0xdead_beef)
        #expect(es == [
            ConnSyncEntry(service: 0xdead_beef, clientPort: 40001, client: IPAddress("192.168.0.10")!, mark: 0x1234_5678, timeout: 897),
            ConnSyncEntry(service: 0xdead_beef, clientPort: 40002, client: IPAddress("192.168.0.10")!, mark: 7, timeout: 900),
        ])
        #expect(ConnSyncService.parseMap("not json", service: 1).isEmpty)
        let v6 = #"{"nftables": [{"map": {"family": "netdev", "name": "conn_1", "table": "vigil", "type": ["inet_service", "ipv6_addr"], "map": "mark", "flags": ["timeout"], "timeout": 300, "elem": [[{"elem": {"val": {"concat": [53, "2001:db8::10"]}, "timeout": 300, "expires": 12}}, 1], [{"concat": [54, "2001:db8::11"]}, 2]]}}]}"#
        #expect(ConnSyncService.parseMap(v6, service: 1) == [
            ConnSyncEntry(service: 1, clientPort: 53, client: IPAddress("2001:db8::10")!, mark: 1, timeout: 12),
            ConnSyncEntry(service: 1, clientPort: 54, client: IPAddress("2001:db8::11")!, mark: 2, timeout: 300),
        ])
        let empty = #"{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"map": {"family": "netdev", "name": "new_1", "table": "vigil", "type": ["inet_service", "ipv4_addr"], "map": "mark", "timeout": 3}}]}"#
        #expect(ConnSyncService.parseMap(empty, service: 1).isEmpty)
    }
}
