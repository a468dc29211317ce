import Foundation
import IPVSAdm
import Testing

/// Finds ipvs-vm: ../shared/tools beside the repository (CI), or /work/shared/tools.
private let ipvsVM: String? = {
    let repo = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let candidates = [repo.deletingLastPathComponent().appendingPathComponent("shared/tools/ipvs-vm").path, "/work/shared/tools/ipvs-vm"]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

private let hasQemu: Bool = {
    (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").contains {
        FileManager.default.isExecutableFile(atPath: "\($0)/qemu-system-x86_64")
    }
}()

/// Runs a script of ipvsadm commands in the ipvs-vm guest (real ipvsadm + kernel IPVS) and
/// against MemoryBackend, and compares every output byte for byte. One guest boot.
@Suite(.enabled(if: ipvsVM != nil && hasQemu, "needs ipvs-vm and qemu"))
struct DifferentialTests {
    @Test(.timeLimit(.minutes(10))) func realIPVSAgreesWithVigil() async throws {
        let dir = Fixtures.directory.path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ipvsVM!)
        p.arguments = ["--timeout", "500", "--add", dir, "--", "bash \(dir)/run-cases.sh \(dir)/differential.txt"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let expected = parseTranscript(String(decoding: data, as: UTF8.self))
        let cases = parseCases(try Fixtures.text("differential.txt"))
        #expect(expected.count == cases.count, "guest transcript incomplete: \(expected.count) of \(cases.count) cases")
        let actual = await replay(cases, backend: guestLikeBackend())
        let diffs = differences(expected: expected, actual: actual)
        #expect(diffs.isEmpty, "\(diffs.count) differences:\n\(diffs.prefix(8).joined(separator: "\n\n"))")
        // The listings really were compared (not an empty run).
        #expect(expected.contains { $0.line == "-Ln --tun-info" && $0.outcome.stdout.contains { $0.contains("gue:5555:+c") } })
    }
}
