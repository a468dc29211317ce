import Foundation
import Testing

private let vigilBinary: String = {
    let repo = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return repo.appendingPathComponent(".build/debug/vigil").path
}()

private struct Run {
    var stdout: String
    var stderr: String
    var status: Int32
}

private func runBinary(_ path: String, _ args: [String], state: String?, stdin: String = "", extraEnvironment: [String: String] = [:]) throws -> Run {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    var env = ProcessInfo.processInfo.environment
    env["VIGIL_IPVSADM_STATE"] = state
    env.merge(extraEnvironment) { _, new in new }
    p.environment = env
    let out = Pipe(), err = Pipe(), inp = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = inp
    try p.run()
    inp.fileHandleForWriting.write(Data(stdin.utf8))
    try inp.fileHandleForWriting.close()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Run(stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self), status: p.terminationStatus)
}

private func tempDir() throws -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("vgi-cli-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// End to end through the built `vigil` binary with a file-backed table.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: vigilBinary), "build vigil first"))
struct CLITests {
    @Test func vigilIpvsadmKeepsStateAcrossProcesses() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let state = dir + "/state.json"
        #expect(try runBinary(vigilBinary, ["ipvsadm", "-A", "-t", "192.168.0.21:80", "-s", "rr"], state: state).status == 0)
        #expect(try runBinary(vigilBinary, ["ipvsadm", "-a", "-t", "192.168.0.21:80", "-r", "192.168.0.12", "-g"], state: state).status == 0)
        let list = try runBinary(vigilBinary, ["ipvsadm", "-Ln"], state: state)
        #expect(list.stdout == """
            IP Virtual Server version 1.2.1 (size=4096)
            Prot LocalAddress:Port Scheduler Flags
              -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
            TCP  192.168.0.21:80 rr
              -> 192.168.0.12:80              Route   1      0          0         

            """)
        let dup = try runBinary(vigilBinary, ["ipvsadm", "-A", "-t", "192.168.0.21:80"], state: state)
        #expect(dup.stderr == "Service already exists\n" && dup.status == 255)
        // ipvsadm's own -h/-v/--help reach ipvsadm, not swift-argument-parser.
        let v = try runBinary(vigilBinary, ["ipvsadm", "-v"], state: state)
        #expect(v.stdout == "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n")
        let bad = try runBinary(vigilBinary, ["ipvsadm", "--bogus"], state: state)
        #expect(bad.stderr == "Try `vigil ipvsadm -h' or 'vigil ipvsadm --help' for more information.\n" && bad.status == 255)
    }

    @Test func invokedAsIpvsadmThroughSymlink() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let state = dir + "/state.json"
        for name in ["ipvsadm", "ipvsadm-save", "ipvsadm-restore"] {
            try FileManager.default.createSymbolicLink(atPath: "\(dir)/\(name)", withDestinationPath: vigilBinary)
        }
        let restore = try runBinary("\(dir)/ipvsadm-restore", [], state: state, stdin: "# saved\n-A -u 10.0.0.1:53 -s sh\n-a -u 10.0.0.1:53 -r 10.0.0.2 -m -w 2\n")
        #expect(restore.status == 0, "\(restore.stderr)")
        let save = try runBinary("\(dir)/ipvsadm-save", ["-n"], state: state)
        #expect(save.stdout == "-A -u 10.0.0.1:53 -s sh\n-a -u 10.0.0.1:53 -r 10.0.0.2:53 -m -w 2\n")
        let viaR = try runBinary("\(dir)/ipvsadm", ["-R"], state: state, stdin: "-D -u 10.0.0.1:53\n")
        #expect(viaR.status == 0)
        #expect(try runBinary("\(dir)/ipvsadm", ["-S", "-n"], state: state).stdout == "")
        let bad = try runBinary("\(dir)/ipvsadm", ["-x"], state: state)
        #expect(bad.stderr == "Try `\(dir)/ipvsadm -h' or '\(dir)/ipvsadm --help' for more information.\n")
        #expect(bad.status == 255)
        let help = try runBinary("\(dir)/ipvsadm-save", ["-x"], state: state)
        #expect(help.status == 1 && help.stderr.contains("Script to save the IPVS table"))
    }

    // Without a state file the kernel engines are used (IPVSAdmEnginesTests); a bad engine name is refused.
    @Test func unknownEngineFailsClearly() throws {
        let r = try runBinary(vigilBinary, ["ipvsadm", "-Ln"], state: nil, extraEnvironment: ["VIGIL_DATAPLANE": "bogus"])
        #expect(r.status == 2)
        #expect(r.stderr == "vigil ipvsadm: VIGIL_DATAPLANE=bogus: expected auto, ipvs or nftables\n")
        #expect(r.stdout.isEmpty)
    }

    @Test func corruptStateFileIsReported() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "not json".write(toFile: dir + "/s.json", atomically: true, encoding: .utf8)
        let r = try runBinary(vigilBinary, ["ipvsadm", "-Ln"], state: dir + "/s.json")
        #expect(r.status == 2)
        #expect(r.stderr.contains("\(dir)/s.json: unreadable ipvsadm state file"))
    }
}
