import Foundation
import Testing
@testable import KeepalivedConfig

@Suite struct FixtureTests {
    init() { setenv("VGC_TEST_ROUTER_ID", "r-env", 1) }

    @Test func enoughFixtures() {
        #expect(Fixtures.valid.count + Fixtures.invalid.count >= 60)
    }

    @Test(arguments: Fixtures.valid)
    func validFixtureHasNoErrors(_ path: String) {
        let r = ConfigLoader.load(path: path, options: Fixtures.options())
        #expect(r.errors.isEmpty, "\(r.errors.map(\.description).joined(separator: "\n"))")
    }

    /// `--dump` output is accepted again and gives an identical model.
    @Test(arguments: Fixtures.valid)
    func dumpRoundTrip(_ path: String) {
        let r = ConfigLoader.load(path: path, options: Fixtures.options(hostChecks: false, keepSyntax: true))
        let text = r.dump()
        let again = ConfigLoader.load(text: text, fileName: "dump.conf", options: Fixtures.options(hostChecks: false, keepSyntax: true))
        #expect(again.errors.isEmpty, "\(again.errors.map(\.description))\n\(text)")
        #expect(again.config == r.config, "\(text)")
        #expect(again.dump() == text)
    }

    @Test(arguments: Fixtures.invalid)
    func invalidFixtureReportsItsCode(_ path: String) throws {
        let code = try #require(Fixtures.expectedCode(path))
        let r = ConfigLoader.load(path: path, options: Fixtures.options())
        #expect(r.diagnostics.contains { $0.code.rawValue == code }, "\(r.diagnostics.map(\.description))")
        for d in r.diagnostics {
            #expect(d.location.line >= 1 && d.location.column >= 1 && !d.location.file.isEmpty)
        }
    }

    @Test func offlineSkipsHostChecks() throws {
        let path = Fixtures.root + "/invalid/no_such_interface.conf"
        #expect(ConfigLoader.load(path: path, options: Fixtures.options()).hasErrors)
        #expect(!ConfigLoader.load(path: path, options: Fixtures.options(hostChecks: false)).hasErrors)
    }

    @Test func scriptSecurityFindsWritableDirectory() throws {
        let dir = "/tmp/vgc-sec-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = dir + "/check.sh"
        try "#!/bin/sh\nexit 0\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        chmod(dir, 0o777)
        let text = "global_defs {\n enable_script_security\n script_user root\n}\nvrrp_script s {\n script \(script)\n}\n"
        let r = ConfigLoader.load(text: text, options: LoadOptions(hostChecks: true, interfaces: []))
        #expect(r.errors.map(\.code) == [.scriptSecurity])
        chmod(dir, 0o755)
        let ok = ConfigLoader.load(text: text, options: LoadOptions(hostChecks: true, interfaces: []))
        #expect(getuid() != 0 || ok.errors.isEmpty)
    }
}

/// `keepalived -t` (Debian 2.2.7) and Vigil must agree on "has errors" for every sample, seed
/// and fixture, except for the differences listed (with their reasons) in
/// docs/config-differences.md.
@Suite struct DifferentialTests {
    /// file name → (keepalived has errors, Vigil has errors, reason).
    static let expectedDifferences: [String: (keepalived: Bool, vigil: Bool, reason: String)] = [
        "seed_fixed.conf": (true, false, "nb_get_retry inside HTTP_GET: keepalived -t exits 5 for its deprecation message; Vigil warns"),
        "ssl_get.conf": (true, false, "nb_get_retry inside SSL_GET: keepalived -t exits 5 for its deprecation message; Vigil warns"),
        "no_protocol_defaults.conf": (true, false, "missing protocol/scheduler/method: keepalived -t exits 5 although it applies defaults; Vigil warns"),
        "keepalived.conf.fwmark": (true, false, "protocol on a fwmark virtual server: keepalived -t exits 5 although it only ignores it; Vigil warns"),
        "strict_unicast.conf": (false, true, "keepalived 2.2.7 accepts unicast_peer under vrrp_strict; Vigil follows RFC 5798 strictness (keepalived.md §2.11)"),
        "vs_undefined_group.conf": (false, true, "keepalived 2.2.7 accepts a virtual_server naming an undefined group (the service never exists); Vigil errors"),
        "env_var.conf": (true, false, "${_ENV} is newer than keepalived 2.2.7, which splits the line at '{'"),
    ]

    static var keepalived: String? {
        ["/usr/sbin/keepalived", "/usr/local/sbin/keepalived"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static var canRun: Bool { keepalived != nil && getuid() == 0 }

    static func samples() -> [String] {
        let dir = "/usr/share/doc/keepalived/samples"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasPrefix("keepalived.conf") }.sorted().map { dir + "/" + $0 }
    }

    func run(_ args: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: args[0])
        p.arguments = Array(args.dropFirst())
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    @Test(.enabled(if: DifferentialTests.canRun, "needs root and Debian's keepalived (apt-get install keepalived)"))
    func agreesWithKeepalivedT() throws {
        setenv("VGC_TEST_ROUTER_ID", "r-env", 1)
        let ns = "vgc-diff-\(getpid())"
        let ip = "/usr/sbin/ip"
        #expect(run([ip, "netns", "add", ns]) == 0)
        defer { _ = run([ip, "netns", "del", ns]) }
        // keepalived refuses lo for VRRP and checks interfaces: give it eth0/eth1 (a veth pair).
        #expect(run([ip, "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"]) == 0)
        for dev in ["lo", "eth0", "eth1"] { _ = run([ip, "-n", ns, "link", "set", dev, "up"]) }

        let files = Self.samples() + Fixtures.seeds + Fixtures.valid + Fixtures.invalid
        #expect(files.count >= 80)
        var mismatches: [String] = []
        var seenDifferences: Set<String> = []
        for file in files {
            let status = run([ip, "netns", "exec", ns, Self.keepalived!, "-t", "-f", file, "-l", "-n", "--config-id", "vgctest"])
            let keepalivedErrors = status != 0
            let vigilErrors = ConfigLoader.load(path: file, options: Fixtures.options()).hasErrors
            let name = String(file.split(separator: "/").last!)
            if let diff = Self.expectedDifferences[name] {
                seenDifferences.insert(name)
                if diff.keepalived != keepalivedErrors || diff.vigil != vigilErrors {
                    mismatches.append("\(name): expected difference no longer holds (keepalived \(status), vigil errors \(vigilErrors))")
                }
            } else if keepalivedErrors != vigilErrors {
                mismatches.append("\(name): keepalived -t exit \(status), vigil hasErrors \(vigilErrors)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
        #expect(seenDifferences == Set(Self.expectedDifferences.keys))
    }
}
