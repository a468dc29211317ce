import Foundation
import IPVSAdm
import Testing

/// Replays the case file captured from the real ipvsadm 1.31 + kernel IPVS (ipvs-vm) and
/// requires byte-identical stdout, stderr and exit status for every invocation.
@Suite struct GoldenTranscriptTests {
    @Test func everyCaptureMatchesByteForByte() async throws {
        let cases = parseCases(try Fixtures.text("cases.txt"))
        let expected = parseTranscript(try Fixtures.text("ipvsadm-1.31.transcript"))
        #expect(expected.count == cases.count, "transcript is stale: re-run the capture (Fixtures/README.md)")
        let actual = await replay(cases, backend: guestLikeBackend())
        let diffs = differences(expected: expected, actual: actual)
        #expect(diffs.isEmpty, "\(diffs.count) differences:\n\(diffs.prefix(8).joined(separator: "\n\n"))")
    }
}
