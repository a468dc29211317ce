import Foundation
import NetCore
import Netlink
import SysCore
import Testing
import TestSupport

/// rtnetlink against the real kernel, inside namespaces the tests create (prefix `vgl`).
/// Results are checked with `ip -j` in the namespace, the tool an administrator would use.
@Suite(.serialized, .enabled(if: isRoot)) struct RTNetlinkNamespaceTests {
    /// A namespace with a veth pair `va`/`vb` (both up) and 10.9.0.1/24 on `va`.
    func makeLab() throws -> (NetnsLab, String) {
        let lab = NetnsLab(prefix: "vgl")
        let ns = try lab.addNamespace("rt")
        try lab.sh(ns, "ip link add va type veth peer name vb && ip link set va up && ip link set vb up && ip addr add 10.9.0.1/24 dev va")
        return (lab, ns)
    }

    func json(_ lab: NetnsLab, _ ns: String, _ cmd: String) throws -> [[String: Any]] {
        let out = try lab.sh(ns, cmd)
        return (try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]]) ?? []
    }

    @Test func withNetworkNamespaceSwitchesOnlyForTheBody() throws {
        let (lab, ns) = try makeLab()
        defer { lab.teardown() }
        let inside = try withNetworkNamespace(ns) { try RTNetlink() }
        let names = try inside.interfaces().map(\.name)
        #expect(Set(names) == ["lo", "va", "vb"])
        // The thread is back in the host namespace, which does not have this veth pair.
        let vaMAC = try #require(try inside.interface(named: "va")?.mac)
        let host = try RTNetlink()
        #expect(!(try host.interfaces()).contains { $0.mac == vaMAC })
        #expect(throws: SystemError.self) { try withNetworkNamespace("vgl-no-such-ns") { 1 } }
    }

    @Test func withNetworkNamespaceRestoresTheThreadAfterAThrow() throws {
        let (lab, ns) = try makeLab()
        defer { lab.teardown() }
        func current() throws -> String { try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self/ns/net") }
        let before = try current()
        struct Boom: Error {}
        var inside = ""
        #expect(throws: Boom.self) {
            try withNetworkNamespace(ns) {
                inside = try current()
                throw Boom()
            }
        }
        #expect(inside != before && !inside.isEmpty)
        #expect(try current() == before)
    }

    @Test func interfacesReportStateMTUMacAndKind() throws {
        let (lab, ns) = try makeLab()
        defer { lab.teardown() }
        try lab.sh(ns, "ip link set va mtu 1400 address 02:77:00:00:00:0a && ip link set vb down")
        let rt = try withNetworkNamespace(ns) { try RTNetlink() }
        let va = try #require(try rt.interface(named: "va"))
        #expect(va.mtu == 1400)
        #expect(va.mac == MACAddress("02:77:00:00:00:0a"))
        #expect(va.kind == "veth")
        #expect(va.isUp)
        #expect(!va.isRunning)  // the peer is down: no carrier
        let vb = try #require(try rt.interface(named: "vb"))
        #expect(!vb.isUp)
        #expect(try rt.interface(named: "nothere") == nil)
        let lo = try #require(try rt.interface(index: 1))
        #expect(lo.name == "lo" && lo.isUp && lo.kind == nil)
    }

    @Test func addAndDeleteAddressesWithLabelScopeBroadcastFlags() throws {
        let (lab, ns) = try makeLab()
        defer { lab.teardown() }
        let rt = try withNetworkNamespace(ns) { try RTNetlink() }
        let va = try #require(try rt.interface(named: "va"))
        let vip = InterfaceAddress(
            interfaceIndex: va.index, prefix: IPPrefix("192.168.0.21/24")!, label: "va:vip", scope: .site,
            broadcast: IPv4Address("192.168.0.255"), flags: .noPrefixRoute)
        try rt.addAddress(vip)
        let v6 = InterfaceAddress(interfaceIndex: va.index, prefix: IPPrefix("2001:db8::21/64")!, flags: [.noDAD],
                                  preferredLifetime: 500, validLifetime: 1000)
        try rt.addAddress(v6)
        let host = InterfaceAddress(interfaceIndex: va.index, prefix: IPPrefix("10.1.1.1/32")!, scope: .host, peer: IPAddress("10.1.1.2"))
        try rt.addAddress(host)

        let info = try json(lab, ns, "ip -j addr show dev va")[0]["addr_info"] as! [[String: Any]]
        let a4 = try #require(info.first { $0["local"] as? String == "192.168.0.21" })
        #expect(a4["prefixlen"] as? Int == 24)
        #expect(a4["label"] as? String == "va:vip")
        #expect(a4["scope"] as? String == "site")
        #expect(a4["broadcast"] as? String == "192.168.0.255")
        #expect(a4["noprefixroute"] as? Bool == true)
        let a6 = try #require(info.first { $0["local"] as? String == "2001:db8::21" })
        #expect(a6["nodad"] as? Bool == true)
        #expect((a6["valid_life_time"] as? Int ?? 0) <= 1000 && (a6["valid_life_time"] as? Int ?? 0) > 900)
        let p = try #require(info.first { $0["local"] as? String == "10.1.1.1" })
        #expect(p["address"] as? String == "10.1.1.2" && p["scope"] as? String == "host")
        // noprefixroute: no 192.168.0.0/24 route appeared.
        #expect(!(try lab.sh(ns, "ip route show")).contains("192.168.0.0/24"))

        // Read back through netlink.
        let mine = try rt.addresses(interfaceIndex: va.index, family: .inet)
        let back = try #require(mine.first { $0.prefix == vip.prefix })
        #expect(back.label == "va:vip" && back.scope == .site && back.broadcast == vip.broadcast)
        #expect(back.flags.contains(.noPrefixRoute))
        #expect(try rt.addresses(interfaceIndex: va.index, family: .inet6).contains { $0.prefix == v6.prefix && $0.flags.contains(.noDAD) })
        #expect(try rt.addresses(family: .inet6).allSatisfy { $0.family == .inet6 })

        // Adding again fails with a typed code naming the request and the device.
        do {
            try rt.addAddress(vip)
            Issue.record("second add succeeded")
        } catch let e as NetlinkError {
            #expect(e.code == .exists)
            #expect(e.request == "RTM_NEWADDR 192.168.0.21/24 dev va")
        }

        try rt.deleteAddress(vip)
        try rt.deleteAddress(v6)
        try rt.deleteAddress(host)
        let left = try lab.sh(ns, "ip addr show dev va")
        #expect(!left.contains("192.168.0.21") && !left.contains("2001:db8::21") && !left.contains("10.1.1.1"))
        do {
            try rt.deleteAddress(vip)
            Issue.record("deleting a missing address succeeded")
        } catch let e as NetlinkError {
            #expect(e.code == .addressNotAvailable)
        }
    }

    @Test func addAndDeleteRoutes() throws {
        let (lab, ns) = try makeLab()
        defer { lab.teardown() }
        let rt = try withNetworkNamespace(ns) { try RTNetlink() }
        let va = try #require(try rt.interface(named: "va"))
        let r1 = RouteSpec(destination: IPPrefix("10.20.0.0/16")!, gateway: IPAddress("10.9.0.254"), interfaceIndex: va.index,
                           source: IPAddress("10.9.0.1"), table: 100, metric: 50)
        let r2 = RouteSpec(destination: IPPrefix("10.30.0.0/16")!, table: 1000, type: .blackhole)
        let r3 = RouteSpec(destination: IPPrefix("10.31.0.0/16")!, type: .unreachable)
        let r4 = RouteSpec(destination: IPPrefix("10.32.0.0/16")!, type: .prohibit)
        let r5 = RouteSpec(destination: IPPrefix("10.33.0.0/16")!, interfaceIndex: va.index)
        for r in [r1, r2, r3, r4, r5] { try rt.addRoute(r) }

        // Read back through netlink as well.
        let mine = try rt.routes(table: 100)
        #expect(mine.count == 1 && mine[0].gateway == r1.gateway && mine[0].source == r1.source && mine[0].metric == 50
            && mine[0].interfaceIndex == va.index && mine[0].destination == r1.destination)
        #expect(try rt.routes(table: 1000).map(\.type) == [.blackhole])
        #expect(try rt.routes(family: .inet).contains { $0.destination == r5.destination && $0.scope == .link && $0.table == RouteTable.main })
        let t100 = try json(lab, ns, "ip -j route show table 100")
        #expect(t100.count == 1)
        #expect(t100[0]["dst"] as? String == "10.20.0.0/16" && t100[0]["gateway"] as? String == "10.9.0.254")
        #expect(t100[0]["dev"] as? String == "va" && t100[0]["prefsrc"] as? String == "10.9.0.1" && t100[0]["metric"] as? Int == 50)
        let t1000 = try json(lab, ns, "ip -j route show table 1000")
        #expect(t1000.count == 1 && t1000[0]["type"] as? String == "blackhole" && t1000[0]["dst"] as? String == "10.30.0.0/16")
        let main = try json(lab, ns, "ip -j route show table main")
        #expect(main.contains { $0["dst"] as? String == "10.31.0.0/16" && $0["type"] as? String == "unreachable" })
        #expect(main.contains { $0["dst"] as? String == "10.32.0.0/16" && $0["type"] as? String == "prohibit" })
        #expect(main.contains { $0["dst"] as? String == "10.33.0.0/16" && $0["scope"] as? String == "link" && $0["dev"] as? String == "va" })

        do {
            try rt.addRoute(r1)
            Issue.record("duplicate route accepted")
        } catch let e as NetlinkError {
            #expect(e.code == .exists)
            #expect(e.request == "RTM_NEWROUTE 10.20.0.0/16 via 10.9.0.254 src 10.9.0.1 table 100 metric 50 dev va")
        }
        // The kernel's extended ACK text comes through.
        do {
            try rt.addRoute(RouteSpec(destination: IPPrefix("10.5.0.0/16")!, gateway: IPAddress("10.99.99.1"), interfaceIndex: va.index))
            Issue.record("route via an off-link gateway accepted")
        } catch let e as NetlinkError {
            #expect(e.code == .networkUnreachable)
            #expect(e.kernelMessage == "Nexthop has invalid gateway")
            #expect(e.description == "RTM_NEWROUTE 10.5.0.0/16 via 10.99.99.1 dev va: Network is unreachable (errno 101); kernel: Nexthop has invalid gateway")
        }
        for r in [r1, r2, r3, r4, r5] { try rt.deleteRoute(r) }
        #expect(try json(lab, ns, "ip -j route show table 100").isEmpty)
        #expect(try json(lab, ns, "ip -j route show table 1000").isEmpty)
        #expect(!(try lab.sh(ns, "ip route show")).contains("10.3"))
        #expect(throws: NetlinkError.self) { try rt.deleteRoute(r1) }
    }

    @Test func addAndDeleteRules() throws {
        let (lab, ns) = try makeLab()
        defer { lab.teardown() }
        let rt = try withNetworkNamespace(ns) { try RTNetlink() }
        let rule = RuleSpec(from: IPPrefix("192.168.0.0/24"), to: IPPrefix("10.0.0.0/8"), table: 100, priority: 1000, fwmark: 7,
                            fwmask: 0xff, inputInterface: "va", outputInterface: "vb")
        let big = RuleSpec(table: 1000, priority: 1001)
        let v6 = RuleSpec(from: IPPrefix("2001:db8::/32"), table: 200, priority: 1002)
        try rt.addRule(rule)
        try rt.addRule(big)
        try rt.addRule(v6)
        #expect(try rt.rules(family: .inet).contains(rule))
        #expect(try rt.rules(family: .inet6).contains(v6))
        #expect(try rt.rules().contains { $0.table == RouteTable.local && $0.priority == 0 })
        let rules = try json(lab, ns, "ip -j rule show")
        let r = try #require(rules.first { $0["priority"] as? Int == 1000 })
        #expect(r["src"] as? String == "192.168.0.0" && r["srclen"] as? Int == 24)
        #expect(r["dst"] as? String == "10.0.0.0" && r["dstlen"] as? Int == 8)
        #expect(r["table"] as? String == "100" && r["fwmark"] as? String == "0x7" && r["fwmask"] as? String == "0xff")
        #expect(r["iif"] as? String == "va" && r["oif"] as? String == "vb")
        #expect(rules.contains { $0["priority"] as? Int == 1001 && $0["table"] as? String == "1000" && $0["src"] as? String == "all" })
        let r6 = try json(lab, ns, "ip -6 -j rule show")
        #expect(r6.contains { $0["priority"] as? Int == 1002 && $0["src"] as? String == "2001:db8::" && $0["table"] as? String == "200" })
        do {
            try rt.addRule(rule)
            Issue.record("duplicate rule accepted")
        } catch let e as NetlinkError {
            #expect(e.code == .exists)
        }
        try rt.deleteRule(rule)
        try rt.deleteRule(big)
        try rt.deleteRule(v6)
        let after = try json(lab, ns, "ip -j rule show")
        #expect(!after.contains { [1000, 1001].contains($0["priority"] as? Int ?? 0) })
        #expect(!(try json(lab, ns, "ip -6 -j rule show")).contains { $0["priority"] as? Int == 1002 })
        #expect(throws: NetlinkError.self) { try rt.deleteRule(rule) }
    }
}

@Suite(.enabled(if: isRoot)) struct LinkMonitorTests {
    @Test func seesLinkDownUpAndAddressChanges() async throws {
        let lab = NetnsLab(prefix: "vgl")
        defer { lab.teardown() }
        let ns = try lab.addNamespace("mon")
        try lab.sh(ns, "ip link add mona type veth peer name monb && ip link set mona up && ip link set monb up")
        let monitor = try withNetworkNamespace(ns) { try LinkMonitor() }
        defer { monitor.stop() }
        try lab.sh(ns, "ip link set mona down")
        try lab.sh(ns, "ip link set mona up")
        try lab.sh(ns, "ip addr add 10.77.0.1/24 dev mona label mona:x")
        try lab.sh(ns, "ip addr del 10.77.0.1/24 dev mona")

        // Wanted, in order: mona down, mona up, address added, address removed.
        var stage = 0
        let deadline = ContinuousClock.now + .seconds(10)
        let timeout = Task {
            try await Task.sleep(until: deadline)
            monitor.stop()
        }
        defer { timeout.cancel() }
        for await e in monitor.events {
            switch (stage, e) {
            case (0, .linkChanged(let i)) where i.name == "mona" && !i.isUp: stage = 1
            case (1, .linkChanged(let i)) where i.name == "mona" && i.isUp: stage = 2
            case (2, .addressAdded(let a)) where a.prefix == IPPrefix("10.77.0.1/24"):
                #expect(a.label == "mona:x")
                stage = 3
            case (3, .addressRemoved(let a)) where a.prefix == IPPrefix("10.77.0.1/24"): stage = 4
            default: break
            }
            if stage == 4 { break }
        }
        #expect(stage == 4)
    }

    @Test func stopFinishesTheStream() async throws {
        let monitor = try LinkMonitor(addresses: false)
        monitor.stop()
        var count = 0
        for await _ in monitor.events { count += 1 }
        #expect(count == 0)
    }
}

@Suite(.enabled(if: isRoot)) struct LinkMonitorLifetimeTests {
    @Test func cancellingTheConsumerEndsTheStream() async throws {
        let monitor = try LinkMonitor()
        let consumer = Task { () -> Int in
            var n = 0
            for await _ in monitor.events { n += 1 }
            return n
        }
        try await Task.sleep(for: .milliseconds(50))
        consumer.cancel()
        // The for-await loop ends: the stream finished after the reader thread stopped.
        _ = await consumer.value
        monitor.stop()
    }

    @Test func releasingMonitorsClosesTheirDescriptors() throws {
        func openFDs() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0 }
        let before = openFDs()
        // Each monitor holds 3 descriptors (netlink socket, two pipe ends); 200 leaked monitors
        // would add 600. Other suites running in parallel open far fewer than the margin.
        for _ in 0..<200 { _ = try LinkMonitor(addresses: false) }
        #expect(waitUntil(timeout: 5) { openFDs() < before + 100 }, "fds before \(before), after \(openFDs())")
    }
}
