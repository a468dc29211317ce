import DataPlane
import DataPlaneNFTables
import Foundation
import IPVSAdm
import NetCore
import NetlinkCodec
import TestSupport
import Testing

/// NAT services' connections come from conntrack: matching entries to services (pure) and the
/// whole path on a namespace network (`currentState()`, `connections()`, `vigil ipvsadm -Lnc`).
@Suite struct NATConnectionMatchTests {
    static func entry(
        client: String = "10.77.0.10", cport: UInt16 = 40000, vip: String = "10.77.0.21", vport: UInt16 = 80,
        server: String = "10.78.0.12", sport: UInt16 = 8080, proto: UInt8 = 6, state: TCPConntrackState? = .established,
        timeout: UInt32 = 431_000, mark: UInt32? = nil
    ) -> ConntrackEntry {
        ConntrackEntry(
            family: .inet,
            original: ConntrackTuple(source: IPAddress(client)!, destination: IPAddress(vip)!, protocolNumber: proto, sourcePort: cport, destinationPort: vport),
            reply: ConntrackTuple(source: IPAddress(server)!, destination: IPAddress(client)!, protocolNumber: proto, sourcePort: sport, destinationPort: cport),
            status: [.confirmed, .destinationNAT, .seenReply], timeout: timeout, mark: mark, tcpState: state)
    }

    @Test func matchesVIPPortAndServer() {
        let svc = service("rr", nat: true)
        let entries = [
            Self.entry(),
            Self.entry(cport: 40001, server: "10.78.0.13", state: .timeWait, timeout: 110),
            Self.entry(cport: 40002, vport: 81),  // another port: not this service
            Self.entry(cport: 40003, server: "10.78.0.99"),  // not one of its servers
            Self.entry(cport: 40004, sport: 9090),  // the server, but another port
            Self.entry(cport: 40005, proto: 17, state: nil),  // UDP to a TCP service
            Self.entry(cport: 40006, vip: "10.77.0.22"),
        ]
        let m = NATConnections.match(entries, services: [svc])
        #expect(m.map(\.client.port) == [40000, 40001])
        #expect(m[0].destination == sock("10.78.0.12", 8080) && m[0].state == "ESTABLISHED" && m[0].isActive && m[0].expires == 431_000)
        #expect(m[1].destination == sock("10.78.0.13", 8080) && m[1].state == "TIME_WAIT" && !m[1].isActive && m[1].expires == 110)
        #expect(m.allSatisfy { $0.virtual == sock("10.77.0.21", 80) && $0.protocolName == "TCP" })
        // DR services are not read from conntrack.
        #expect(NATConnections.match(entries, services: [service("rr")]).isEmpty)
    }

    @Test func fwmarkServicesMatchByConntrackMark() {
        var svc = service("rr", nat: true)
        svc.key = .fwmark(7, .inet)
        let m = NATConnections.match(
            [Self.entry(mark: 7), Self.entry(cport: 2, mark: nil), Self.entry(cport: 3, mark: 8)], services: [svc])
        #expect(m.map(\.client.port) == [40000])
        #expect(m[0].virtual == sock("10.77.0.21", 80))
    }

    @Test func udpIsInactiveAndStatesUseIPVSNames() {
        var svc = service("rr", nat: true)
        svc.key = .address(.udp, sock("10.77.0.21", 53))
        svc.destinations = svc.destinations.map { var d = $0; d.address.port = 53; return d }
        let m = NATConnections.match([Self.entry(vport: 53, sport: 53, proto: 17, state: nil, timeout: 29)], services: [svc])
        #expect(m.count == 1 && m[0].state == "UDP" && !m[0].isActive)
        let names = TCPConntrackState.allCases.map { NATConnections.stateName(Self.entry(state: $0)) }
        #expect(names == ["NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT"])
    }
}

@Suite(.serialized, .enabled(if: getuid() == 0))
struct NATConnectionNetworkTests {
    /// Three 3 MiB downloads at 1 MiB/s through a NAT rr service (one per real server).
    func downloads(_ lab: DataPlaneLab, _ n: Int) throws -> [Process] {
        try (0..<n).map { k in
            let p = try lab.lab.spawn(
                lab.cli, ["sh", "-c", "curl -s -o /dev/null -m 20 -w '%{size_download}' http://\(lab.vip)/slow/mid.bin > \(lab.dirTemp)/dl.\(k)"])
            usleep(100_000)
            return p
        }
    }

    func poll(_ seconds: Double, _ body: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await body() { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return try await body()
    }

    @Test func natConnectionsAreCountedAndListed() async throws {
        let lab = try DataPlaneLab("ctnat")
        defer { lab.teardown() }
        let be = lab.backend()
        let svc = service("rr", nat: true)
        try await be.apply(diff(desired: DataPlaneState(services: [svc]), actual: DataPlaneState()))
        let dl = try downloads(lab, 3)
        defer { for p in dl where p.isRunning { p.terminate() } }

        // While they run: each server has one ActiveConn, as `ipvsadm -Ln` shows for IPVS NAT.
        let running = try await poll(5) {
            let s = try await be.currentState()
            return s.services.first?.destinations.map(\.activeConnections) == [1, 1, 1]
        }
        let s = try #require(try await be.currentState().services.first)
        #expect(running, "\(s.destinations.map { ($0.address, $0.activeConnections, $0.inactiveConnections) })")
        #expect(s.destinations.map(\.inactiveConnections) == [0, 0, 0])

        let conns = try await be.connections()
        #expect(conns.count == 3, "\(conns)")
        #expect(conns.allSatisfy { $0.state == "ESTABLISHED" && $0.client.address == IPAddress("10.77.0.10") && $0.service == svc.key })
        #expect(Set(conns.compactMap(\.destination)) == Set(svc.destinations.map(\.address)))
        #expect(conns.allSatisfy { $0.expires > 60 })

        // `vigil ipvsadm -Lnc`: the same three, in ipvsadm's line format.
        let out = await IPVSAdm.run(arguments: ["-L", "-n", "-c"], backend: NFTablesIPVSAdmBackend(engine: be))
        let lines = out.stdout.split(separator: "\n").map(String.init)
        #expect(lines.prefix(2) == ["IPVS connection entries", "pro expire state       source             virtual            destination"])
        let body = lines.dropFirst(2)
        #expect(body.count == 3, "\(out.stdout)")
        for (c, line) in zip(conns, body) {
            let f = line.split(separator: " ").map(String.init)
            #expect(f.count == 6, "\(line)")
            #expect(f[0] == "TCP" && f[2] == "ESTABLISHED" && f[3] == "10.77.0.10:\(c.client.port)" && f[4] == "10.77.0.21:80", "\(line)")
            #expect(f[5] == "\(c.destination!.address):8080", "\(line)")
            // mm:ss, minutes unbounded as ipvsadm prints them; conntrack's remaining timeout.
            let mmss = f[1].split(separator: ":").compactMap { Int($0) }
            #expect(mmss.count == 2 && mmss[1] < 60 && mmss[0] * 60 + mmss[1] <= c.expires && mmss[0] * 60 + mmss[1] + 5 >= c.expires, "\(line)")
        }
        let ln = await IPVSAdm.run(arguments: ["-L", "-n"], backend: NFTablesIPVSAdmBackend(engine: be))
        for a in DataPlaneLab.back {
            #expect(ln.stdout.contains("  -> \(a):8080"), "\(ln.stdout)")
            let row = ln.stdout.split(separator: "\n").first { $0.contains("\(a):8080") }.map { $0.split(separator: " ").suffix(2) }
            #expect(row.map(Array.init) == ["1", "0"], "\(ln.stdout)")
        }

        // After they finish, the entries remain (TIME_WAIT) but are no longer active.
        for p in dl { p.waitUntilExit() }
        let done = (0..<3).filter { (try? String(contentsOfFile: "\(lab.dirTemp)/dl.\($0)", encoding: .utf8)) == "3145728" }.count
        #expect(done == 3)
        let settled = try await poll(5) {
            try await be.currentState().services.first?.destinations.map(\.activeConnections) == [0, 0, 0]
        }
        #expect(settled)
        let after = try await be.connections()
        #expect(after.count == 3 && after.allSatisfy { $0.state != "ESTABLISHED" && !$0.isActive }, "\(after)")
        let s2 = try #require(try await be.currentState().services.first)
        #expect(s2.destinations.map(\.inactiveConnections) == [1, 1, 1])
    }

    /// lc with upper threshold 1: the refresh reads the NAT counts from conntrack, so the server
    /// busy with a download gets no new connection until it finishes.
    @Test func leastConnectionPlansFromConntrackCounts() async throws {
        let lab = try DataPlaneLab("ctnatlc")
        defer { lab.teardown() }
        let be = lab.backend()
        var svc = service("lc", nat: true)
        svc.destinations = svc.destinations.map { var d = $0; d.upperThreshold = 1; return d }
        try await be.apply(diff(desired: DataPlaneState(services: [svc]), actual: DataPlaneState()))
        let dl = try downloads(lab, 1)
        defer { for p in dl where p.isRunning { p.terminate() } }
        var busy: SocketAddress?
        _ = try await poll(5) {
            busy = try await be.connections().first { $0.isActive }?.destination
            return busy != nil
        }
        let server = try #require(busy)
        let name = "rs\(DataPlaneLab.back.firstIndex(of: "\(server.address)")! + 1)"
        try await be.refreshConnectionSchedulers()
        let bodies = (0..<9).map { _ in lab.get() ?? "fail" }
        #expect(!bodies.contains(name) && !bodies.contains("fail"), "busy \(name): \(bodies)")
        for p in dl { p.waitUntilExit() }
        try await be.refreshConnectionSchedulers()
        let later = (0..<9).map { _ in lab.get() ?? "fail" }
        #expect(later.contains(name), "\(later)")
    }
}
