import DataPlane
import DataPlaneNFTables
import Foundation
import NetCore
import TestSupport
import Testing

func perServer(_ bodies: [String]) -> [Int] {
    ["rs1", "rs2", "rs3"].map { name in bodies.filter { $0 == name }.count }
}

/// End-to-end tests on a real namespace network (nft-dataplane.md §1). Root only.
@Suite(.serialized, .enabled(if: getuid() == 0))
struct NetworkTests {
    @Test func roundRobinRotatesExactlyAndCountersMatch() async throws {
        let lab = try DataPlaneLab("rr")
        defer { lab.teardown() }
        let be = lab.backend()
        let svc = service("rr")
        try await be.apply(diff(desired: DataPlaneState(services: [svc]), actual: try await be.currentState()))
        let bodies = (0..<30).map { _ in lab.get() ?? "fail" }
        #expect(bodies.filter { $0 == "rs1" }.count == 10)
        #expect(bodies.filter { $0 == "rs2" }.count == 10)
        #expect(bodies.filter { $0 == "rs3" }.count == 10)
        // In order: every window of three distinct, and the rotation repeats with period 3.
        for i in 3..<30 { #expect(bodies[i] == bodies[i - 3]) }
        #expect(Set(bodies.prefix(3)).count == 3)

        let state = try await be.currentState()
        #expect(state.isEquivalent(to: DataPlaneState(services: [svc])))
        let s = try #require(state.services.first)
        #expect(s.counters.connections == 30)
        // 6 client→server packets per HTTP/1.1 request over DR (nft-dataplane.md §6).
        #expect(s.counters.inPackets >= 30 * 5)
        for d in s.destinations {
            #expect(d.counters.connections == 10, "\(d.address)")
            #expect(d.counters.inPackets >= 50)
            #expect(d.activeConnections == 10, "conn-map entries per server")
        }
        let conns = try await be.connections()
        #expect(conns.count == 30)
        #expect(conns.allSatisfy { $0.client.address == IPAddress("10.77.0.10")! && $0.destination != nil && $0.expires > 800 })
    }

    @Test func weightedRoundRobinKeepsProportions() async throws {
        let lab = try DataPlaneLab("wrr")
        defer { lab.teardown() }
        let be = lab.backend()
        try await be.apply(diff(desired: DataPlaneState(services: [service("wrr", weights: [3, 2, 1])]), actual: DataPlaneState()))
        let bodies = (0..<36).map { _ in lab.get() ?? "fail" }
        #expect(perServer(bodies) == [18, 12, 6])
        // The kernel's interleaved order for 3,2,1: A A B A B C.
        #expect(Array(bodies.prefix(6)) == ["rs1", "rs1", "rs2", "rs1", "rs2", "rs3"])
    }

    @Test(arguments: ["sh", "mh"])
    func hashSchedulersAreSticky(sched: String) async throws {
        let lab = try DataPlaneLab(sched)
        defer { lab.teardown() }
        let be = lab.backend()
        try await be.apply(diff(desired: DataPlaneState(services: [service(sched)]), actual: DataPlaneState()))
        let bodies = (0..<12).map { _ in lab.get() ?? "fail" }
        #expect(Set(bodies).count == 1 && bodies[0].hasPrefix("rs"), "\(bodies)")
        // Same configuration → same table: a second backend (another director) picks the same.
        // A fresh director (empty kernel table, new process state) builds the identical ruleset.
        let spec1 = await be.lastProgrammed().netdev
        try lab.lab.sh(lab.dir, "nft delete table netdev vigil")
        let be2 = lab.backend()
        try await be2.apply(diff(desired: DataPlaneState(services: [service(sched)]), actual: DataPlaneState()))
        #expect(await be2.lastProgrammed().netdev == spec1)
        #expect(Set((0..<6).map { _ in lab.get() ?? "fail" }) == [bodies[0]])
    }

    @Test func persistenceKeepsAClientOnOneServer() async throws {
        let lab = try DataPlaneLab("pers")
        defer { lab.teardown() }
        let be = lab.backend()
        var svc = service("rr")
        svc.flags = .persistent
        svc.persistenceTimeout = 300
        svc.persistencePrefix = 24
        try await be.apply(diff(desired: DataPlaneState(services: [svc]), actual: DataPlaneState()))
        let bodies = (0..<10).map { _ in lab.get() ?? "fail" }
        #expect(Set(bodies).count == 1 && bodies[0].hasPrefix("rs"), "\(bodies)")
        #expect(try await be.currentState().isEquivalent(to: DataPlaneState(services: [svc])))
    }

    /// Starts `n` 3 MiB downloads at 1 MiB/s; returns a closure that waits and reports successes.
    func downloads(_ lab: DataPlaneLab, _ n: Int) throws -> [Process] {
        try (0..<n).map { k in
            let p = try lab.lab.spawn(lab.cli, ["sh", "-c", "curl -s -o /dev/null -m 20 -w '%{size_download}' http://\(lab.vip)/slow/mid.bin > \(lab.dirTemp)/dl.\(k)"])
            usleep(100_000)
            return p
        }
    }

    func completed(_ lab: DataPlaneLab, _ procs: [Process]) -> Int {
        for p in procs { p.waitUntilExit() }
        return (0..<procs.count).filter { (try? String(contentsOfFile: "\(lab.dirTemp)/dl.\($0)", encoding: .utf8)) == "3145728" }.count
    }

    @Test func quiescedAndRemovedServersDrainTheirFlows() async throws {
        let lab = try DataPlaneLab("drain")
        defer { lab.teardown() }
        var settings = NFTEngineSettings(interface: "eth0")
        settings.timeouts = Timeouts(tcp: 3, tcpFin: 0, udp: 3)
        let be = lab.backend(settings)
        let svc = service("rr")
        try await be.apply(diff(desired: DataPlaneState(services: [svc]), actual: DataPlaneState()))
        let dl = try downloads(lab, 3)  // rr: one long flow per server
        try await Task.sleep(for: .seconds(1))
        // Quiesce rs1 and remove rs2 from the configuration, in one transaction.
        var next = svc
        next.destinations[0].weight = 0
        next.destinations.remove(at: 1)
        try await be.apply(diff(desired: DataPlaneState(services: [next]), actual: try await be.currentState()))
        let after = (0..<6).map { _ in lab.get() ?? "fail" }
        #expect(after == Array(repeating: "rs3", count: 6), "new connections avoid quiesced/removed servers")
        #expect(completed(lab, dl) == 3, "all three long downloads finished intact")
        // The removed server's chain stays until its entries expire (3 s here), then is collected.
        let chainsBefore = try lab.lab.sh(lab.dir, "nft list table netdev vigil | grep -c 'chain rs_'")
        #expect(chainsBefore.trimmingCharacters(in: .whitespacesAndNewlines) == "3")
        try await Task.sleep(for: .seconds(4))
        #expect(try await be.collectGarbage() == 1)
        let chainsAfter = try lab.lab.sh(lab.dir, "nft list table netdev vigil | grep -c 'chain rs_'")
        #expect(chainsAfter.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        #expect(try await be.currentState().isEquivalent(to: DataPlaneState(services: [next])))
    }

    /// A client reusing a source port opens a new connection: its SYN must not follow the port's
    /// old map entry to a server that takes no new connections (IPVS reschedules such a SYN).
    @Test func aReusedClientPortNeverReachesAQuiescedOrRemovedServer() async throws {
        let lab = try DataPlaneLab("reuse")
        defer { lab.teardown() }
        let be = lab.backend()
        let svc = service("rr")
        try await be.apply(diff(desired: DataPlaneState(services: [svc]), actual: DataPlaneState()))
        let ports: [UInt16] = Array(42000..<42006)
        let first = ports.map { lab.get(localPort: $0) ?? "fail" }
        #expect(perServer(first) == [2, 2, 2], "\(first)")
        // The same ports again with nothing changed: the entries still hold (a retransmitted
        // SYN must stay where the first one went).
        #expect(ports.map { lab.get(localPort: $0) ?? "fail" } == first)

        var next = svc
        next.destinations[0].weight = 0
        next.destinations.remove(at: 1)
        try await be.apply(diff(desired: DataPlaneState(services: [next]), actual: try await be.currentState()))
        let again = ports.map { lab.get(localPort: $0) ?? "fail" }
        #expect(again == Array(repeating: "rs3", count: 6), "ports first answered by \(first), now by \(again)")
        // Their new entries point at rs3 now.
        let conns = try await be.connections().filter { ports.contains($0.client.port) }
        #expect(conns.count == 6 && conns.allSatisfy { $0.destination?.address == IPAddress("10.77.0.14")! }, "\(conns)")
    }

    /// A persistence template naming a quiesced server does not send new connections there.
    @Test func persistenceDoesNotFollowATemplateToAQuiescedServer() async throws {
        let lab = try DataPlaneLab("perq")
        defer { lab.teardown() }
        let be = lab.backend()
        var svc = service("rr")
        svc.flags = .persistent
        svc.persistenceTimeout = 300
        svc.persistencePrefix = 32
        try await be.apply(diff(desired: DataPlaneState(services: [svc]), actual: DataPlaneState()))
        let first = try #require(lab.get())
        var next = svc
        let i = try #require(["rs1", "rs2", "rs3"].firstIndex(of: first))
        next.destinations[i].weight = 0
        try await be.apply(diff(desired: DataPlaneState(services: [next]), actual: try await be.currentState()))
        let after = (0..<6).map { _ in lab.get() ?? "fail" }
        #expect(!after.contains(first) && Set(after).count == 1 && after[0].hasPrefix("rs"), "persistent on \(first) before, then \(after)")
    }

    @Test func updatesUnderLoadLoseNoRequest() async throws {
        let lab = try DataPlaneLab("wrk")
        defer { lab.teardown() }
        let be = lab.backend()
        let svc = service("wrr", weights: [1, 1, 1])
        try await be.apply(diff(desired: DataPlaneState(services: [svc]), actual: DataPlaneState()))
        let out = "\(lab.dirTemp)/wrk.txt"
        let wrk = try lab.lab.spawn(lab.cli, ["wrk", "-t2", "-c20", "-d4s", "http://\(lab.vip)/"], logPath: out)
        var cur = DataPlaneState(services: [svc])
        for step in 0..<6 {
            try await Task.sleep(for: .milliseconds(500))
            var n = svc
            switch step % 3 {
            case 0: n.destinations[0].weight = 3
            case 1: n.destinations[1].weight = 0
            default: n.destinations.remove(at: 2)
            }
            let want = DataPlaneState(services: [n])
            try await be.apply(diff(desired: want, actual: cur))
            cur = want
        }
        wrk.waitUntilExit()
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(text.contains("requests in"), "\(text)")
        #expect(!text.contains("Socket errors"), "\(text)")
        #expect(!text.contains("Non-2xx"), "\(text)")
    }

    @Test func natRoundRobinAndCounters() async throws {
        let lab = try DataPlaneLab("nat")
        defer { lab.teardown() }
        let be = lab.backend()
        let svc = service("rr", nat: true)
        try await be.apply(diff(desired: DataPlaneState(services: [svc]), actual: DataPlaneState()))
        let bodies = (0..<30).map { _ in lab.get() ?? "fail" }
        #expect(perServer(bodies) == [10, 10, 10], "\(bodies)")
        for i in 3..<30 { #expect(bodies[i] == bodies[i - 3]) }
        let s = try #require(try await be.currentState().services.first)
        #expect(s.counters.connections == 30)
        for d in s.destinations {
            #expect(d.counters.connections == 10)
            #expect(d.counters.outPackets > 0 && d.counters.inPackets > 0)
        }
        #expect(try await be.currentState().isEquivalent(to: DataPlaneState(services: [svc])))
        // A weight change keeps the conntrack bindings: a running download survives it.
        let dl = try downloads(lab, 1)
        try await Task.sleep(for: .seconds(1))
        var n = svc
        n.destinations = n.destinations.map { var d = $0; d.weight = 0; return d }
        n.destinations[2].weight = 1
        try await be.apply(diff(desired: DataPlaneState(services: [n]), actual: DataPlaneState(services: [svc])))
        #expect((0..<3).map { _ in lab.get() ?? "fail" } == ["rs3", "rs3", "rs3"])
        #expect(completed(lab, dl) == 1)
    }
}

@Suite(.enabled(if: getuid() == 0)) struct KernelAcceptsGoldenTests {
    @Test func goldenCreationScriptLoads() throws {
        let lab = NetnsLab(prefix: "vgd")
        defer { lab.teardown() }
        let ns = try lab.addNamespace("gold")
        try lab.sh(ns, "ip link add eth0 type veth peer name eth1 && ip link set eth0 up")
        let create = try String(contentsOfFile: goldenPath("create.nft"), encoding: .utf8)
        let r = try lab.run(ns, ["nft", "-f", "-"], input: create)
        #expect(r.status == 0, "\(r.stderr)")
        let create6 = try String(contentsOfFile: goldenPath("create6.nft"), encoding: .utf8)
        let r6 = try lab.run(ns, ["nft", "-f", "-"], input: create6.replacingOccurrences(of: "netdev vigil", with: "netdev vigil6"))
        #expect(r6.status == 0, "\(r6.stderr)")
        // Incremental scripts are exercised against the kernel by NetworkTests (drain, wrk updates).
    }
}

@Suite struct TunnelTests {
    @Test func tunnelForwardingFailsClearly() async throws {
        var svc = service("rr")
        svc.destinations[0].forwarding = .tunnel
        let be = NFTablesBackend(settings: NFTEngineSettings(interface: "vgd-none"), commandPrefix: ["false"])
        // This kernel has no ipip module; on one that has, the engine says TUN is not implemented.
        let expected: NFTEngineError.Code = NFTablesBackend.kernelHasIPIP() ? .unsupported : .tunnelUnsupported
        await #expect {
            try await be.apply([.addService(svc)])
        } throws: { e in
            (e as? NFTEngineError)?.code == expected
                && (expected == .unsupported || "\(e)".contains("TUN forwarding needs the ipip kernel module, which this kernel lacks"))
        }
    }
}
