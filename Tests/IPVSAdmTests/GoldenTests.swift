import Foundation
import IPVSAdm
import Testing

/// Replays the case file captured from the real ipvsadm 1.31 + kernel IPVS (ipvs-vm) and
/// requires byte-identical stdout, stderr and exit status for every invocation.
@Suite struct GoldenTranscriptTests {
    @Test func everyCaptureMatchesByteForByte() async throws {
        let cases = parseCases(try Fixtures.text("cases.txt"))
        let expected = parseTranscript(try Fixtures.text("ipvsadm-1.31.transcript"))
        #expect(expected.count == cases.filter { $0.createsInterfaces.isEmpty }.count, "transcript is stale: re-run the capture (Fixtures/README.md)")
        let actual = await replay(cases, backend: guestLikeBackend())
        let diffs = differences(expected: expected, actual: actual)
        #expect(diffs.isEmpty, "\(diffs.count) differences:\n\(diffs.prefix(8).joined(separator: "\n\n"))")
    }
}

/// `-Lnc` against real ipvsadm: connections made in ipvs-vm (TCP, UDP, IPv6, persistence
/// templates, a fwmark template), captured together with /proc/net/ip_vs_conn.
@Suite struct ConnectionTranscriptTests {
    @Test func connectionListingMatchesRealIpvsadm() async throws {
        let t = parseTranscript(try Fixtures.text("connections.transcript"))
        let proc = try #require(t.first { $0.line == "proc" }).outcome.stdout.joined(separator: "\n")
        let entries = ConnectionEntry.parseProcFile(proc)
        #expect(entries.count == 7)
        #expect(entries.contains { $0.protocolName == "IP" && $0.virtual.description.hasPrefix("0.0.0.7") })
        let backend = MemoryBackend()
        await backend.setConnections(entries)
        for args in [["-Lnc"], ["-Lnc", "--persistent-conn"]] {
            let expected = try #require(t.first { $0.line == args.joined(separator: " ") }).outcome
            let r = await IPVSAdm.run(arguments: args, backend: backend)
            #expect(lines(r.stdout) == expected.stdout)
            #expect(r.exitCode == 0)
        }
    }
}
