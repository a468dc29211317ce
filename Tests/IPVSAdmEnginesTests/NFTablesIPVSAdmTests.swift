#if canImport(Glibc)
import Glibc
#endif
import DataPlane
import Foundation
import IPVSAdm
import NetCore
import Testing
import TestSupport

/// `vigil ipvsadm` (the built binary) on the nftables engine in the director namespace of the
/// reference network, with three nginx real servers behind a DR virtual server. Every listing is
/// compared byte for byte with what the same commands print on `MemoryBackend` (whose output
/// is ipvsadm 1.31's, checked against the real one in IPVSAdmTests and in the IPVS guest);
/// where the engine differs by design (counters, connection counts) the values are checked.
@Suite(.serialized, .enabled(if: isRoot && FileManager.default.isExecutableFile(atPath: vigilBinaryPath)))
struct NFTablesIPVSAdmTests {
    static let vip = DirectRoutingLab.vip
    static let rs = DirectRoutingLab.front

    /// Runs `vigil ipvsadm ARGS` in the director namespace, nftables forced.
    static func vigil(_ lab: DirectRoutingLab, _ args: [String], env: [String] = ["VIGIL_NFT_INTERFACE=eth0"]) throws -> IPVSAdmResult {
        let r = try lab.lab.run(
            lab.director, ["env", "-u", "VIGIL_IPVSADM_STATE", "VIGIL_DATAPLANE=nftables"] + env + [vigilBinaryPath, "ipvsadm"] + args,
            timeout: 30)
        return IPVSAdmResult(stdout: r.stdout, stderr: r.stderr, exitCode: r.status)
    }

    /// The reference: the same command on an in-memory table whose size is the conn-map size.
    final class Reference: @unchecked Sendable {
        let backend: MemoryBackend
        init() {
            var s = MemoryBackend.State()
            s.info = IPVSInfo(connectionTableSize: 262_144)
            backend = MemoryBackend(state: s)
        }
        func run(_ args: [String]) async -> IPVSAdmResult { await IPVSAdm.run(arguments: args, backend: backend) }
    }

    /// Runs `args` on both and expects identical output and status.
    static func same(_ lab: DirectRoutingLab, _ ref: Reference, _ args: [String], _ comment: Comment? = nil) async throws {
        let got = try vigil(lab, args)
        let want = await ref.run(args)
        #expect(got == want, "ipvsadm \(args.joined(separator: " ")) \(comment?.description ?? "")")
    }

    @Test func ipvsadmDrivesTheNFTablesEngineLikeIPVS() async throws {
        let lab = try DirectRoutingLab(prefix: "vge", name: "adm")
        defer { lab.teardown() }
        let ref = Reference()
        let svc = ["-t", "\(Self.vip):80"]

        // No table yet: the empty listing (size = the conn-map size).
        try await Self.same(lab, ref, ["-Ln"])
        try await Self.same(lab, ref, ["-A"] + svc + ["-s", "rr"])
        try await Self.same(lab, ref, ["-A"] + svc + ["-s", "rr"], "existing service")
        for a in Self.rs { try await Self.same(lab, ref, ["-a"] + svc + ["-r", "\(a):80", "-g"]) }
        try await Self.same(lab, ref, ["-a"] + svc + ["-r", "\(Self.rs[0]):80", "-g"], "existing destination")
        try await Self.same(lab, ref, ["-A", "-t", "\(Self.vip):81", "-s", "nosuch"], "unknown scheduler")
        for f in [["-Ln"], ["-S", "-n"], ["-Ln", "--stats"], ["-Ln", "--rate"], ["-Ln", "--thresholds"], ["-Ln", "--persistent-conn"],
                  ["-Ln", "--exact"], ["-Ln", "--tun-info"], ["-L", "-n", "-t", "\(Self.vip):80"], ["-Lnc"], ["-L", "--timeout"], ["-L", "--daemon"]] {
            try await Self.same(lab, ref, f)
        }
        // The table knows its interface: later commands need no environment.
        #expect(try Self.vigil(lab, ["-Ln"], env: []) == (await ref.run(["-Ln"])))

        // Traffic: exact rr rotation through the rules `vigil ipvsadm` made.
        let bodies = (0..<30).map { _ in lab.get() ?? "fail" }
        #expect(DirectRoutingLab.perServer(bodies) == [10, 10, 10], "\(bodies)")
        for i in 3..<30 { #expect(bodies[i] == bodies[i - 3]) }

        // --stats: the counters match the requests (IPVS DR sees no replies: Out 0).
        let stats = try Self.vigil(lab, ["-Ln", "--stats"])
        let rows = stats.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let svcRow = try #require(rows.first { $0.first == "TCP" }, "\(stats.stdout)")
        #expect(svcRow[1] == "\(Self.vip):80" && svcRow[2] == "30" && Int(svcRow[3])! >= 150 && svcRow[4] == "0", "\(svcRow)")
        let destRows = rows.filter { $0.first == "->" && $0[1] != "RemoteAddress:Port" }
        #expect(destRows.count == 3)
        for r in destRows { #expect(r[2] == "10" && Int(r[3])! >= 50 && r[4] == "0", "\(r)") }
        // -Ln: the engine counts conn-map entries as active connections (docs/ipvsadm.md).
        let list = try Self.vigil(lab, ["-Ln"]).stdout
        let words: [[String]] = list.split(separator: "\n").map { line in line.split(separator: " ").map(String.init) }
        let listed: [[String]] = words.filter { w in w.count == 6 && w[0] == "->" && w[2] == "Route" }
        let expected: [[String]] = Array(repeating: ["1", "10", "0"], count: 3)
        #expect(listed.map { w in Array(w.dropFirst(3)) } == expected, "\(list)")

        // -Lnc: one ESTABLISHED entry per request, client → VIP → real server, about 15 minutes left.
        let conns = try Self.vigil(lab, ["-Lnc"]).stdout.split(separator: "\n").map(String.init)
        #expect(conns.prefix(2) == ["IPVS connection entries", "pro expire state       source             virtual            destination"])
        var perDest: [String: Int] = [:]
        for line in conns.dropFirst(2) {
            let f = line.split(separator: " ").map(String.init)
            #expect(f.count == 6 && f[0] == "TCP" && f[2] == "ESTABLISHED" && f[3].hasPrefix("10.77.0.10:") && f[4] == "\(Self.vip):80", "\(line)")
            #expect(f.count > 1 && f[1] >= "14:00" && f[1] <= "15:00", "\(line)")
            if f.count == 6 { perDest[f[5], default: 0] += 1 }
            // Same columns as ipvsadm: expire at 4, state at 11, source at 23, virtual at 42, destination at 61.
            #expect(line.count > 61 && line.dropFirst(61).hasPrefix("10.77.0.1"), "\(line)")
        }
        #expect(perDest == Dictionary(uniqueKeysWithValues: Self.rs.map { ("\($0):80", 10) }))

        // -Z: every counter back to 0, which is what the reference prints.
        try await Self.same(lab, ref, ["-Z"])
        try await Self.same(lab, ref, ["-Ln", "--stats"], "after -Z")
        try await Self.same(lab, ref, ["-Z", "-t", "\(Self.vip):99"], "zeroing an unknown service")

        // Timeouts: kept in the table, applied to the conn-map rules, read back by a new process.
        try await Self.same(lab, ref, ["--set", "100", "20", "50"])
        try await Self.same(lab, ref, ["--set", "0", "30", "0"], "0 keeps a value")
        try await Self.same(lab, ref, ["-L", "--timeout"])
        let ruleset = try lab.lab.sh(lab.director, "nft list table netdev vigil")
        #expect(ruleset.contains("timeout 1m40s : meta mark") && ruleset.contains("vigil settings if eth0 tcp 100 tcpfin 30 udp 50"), "\(ruleset)")

        // Weight 0 quiesces: no new connections to rs1.
        try await Self.same(lab, ref, ["-e"] + svc + ["-r", "\(Self.rs[0]):80", "-g", "-w", "0"])
        try await Self.same(lab, ref, ["-S", "-n"], "after -e")
        let quiesced = (0..<20).map { _ in lab.get() ?? "fail" }
        #expect(DirectRoutingLab.perServer(quiesced) == [0, 10, 10], "\(quiesced)")

        // -d: rs2 gone, only rs3 takes new connections.
        try await Self.same(lab, ref, ["-d"] + svc + ["-r", "\(Self.rs[1]):80"])
        try await Self.same(lab, ref, ["-d"] + svc + ["-r", "\(Self.rs[1]):80"], "deleting twice")
        try await Self.same(lab, ref, ["-S", "-n"], "after -d")
        let after = (0..<6).map { _ in lab.get() ?? "fail" }
        #expect(DirectRoutingLab.perServer(after) == [0, 0, 6], "\(after)")

        // Sync daemons: none on nftables.
        try await Self.same(lab, ref, ["-L", "--daemon"])
        try await Self.same(lab, ref, ["--stop-daemon", "master"])
        let start = try Self.vigil(lab, ["--start-daemon", "master", "--mcast-interface", "eth0"])
        #expect(start.exitCode == 255 && start.stderr.hasPrefix("Function not implemented (the nftables engine has no connection-sync daemon"), "\(start)")

        // -C: everything goes, the table (and its record) stays; traffic is no longer forwarded.
        try await Self.same(lab, ref, ["-C"])
        try await Self.same(lab, ref, ["-Ln"], "after -C")
        try await Self.same(lab, ref, ["-L", "--timeout"], "after -C")
        let flushed = try lab.lab.sh(lab.director, "nft list table netdev vigil")
        #expect(!flushed.contains("conn_") && !flushed.contains("chain ingress") && flushed.contains("vigil settings if eth0"), "\(flushed)")
        #expect(lab.get() == nil)
        // A new service after -C takes the interface from the record.
        #expect(try Self.vigil(lab, ["-A"] + svc, env: []).exitCode == 0)
        #expect(try Self.vigil(lab, ["-a"] + svc + ["-r", "\(Self.rs[2]):80"], env: []).exitCode == 0)
        #expect(lab.get() == "rs3")

        // Another table with no interface anywhere: a clear error naming both sources.
        let none = try Self.vigil(lab, ["-A"] + svc, env: ["VIGIL_NFT_TABLE=vgeother"])
        #expect(none.exitCode == 255, "\(none)")
        #expect(none.stderr.contains("table netdev vgeother has no ingress chain") && none.stderr.contains("VIGIL_NFT_INTERFACE"), "\(none.stderr)")
        try await Self.same(lab, ref, ["-C"])
    }
}
