import Foundation
import NetCore
import RealServer
import Testing

/// An address table in memory, to test the manager without privileges.
private final class FakeAddresses: AddressConfigurator, @unchecked Sendable {
    private let lock = NSLock()
    private var table: [String: [IPPrefix]] = [:]
    func addresses(device: String) throws -> [IPPrefix] { lock.withLock { table[device] ?? [] } }
    func add(_ prefix: IPPrefix, device: String) throws { lock.withLock { table[device, default: []].append(prefix) } }
    func remove(_ prefix: IPPrefix, device: String) throws { lock.withLock { table[device]?.removeAll { $0 == prefix } } }
}

private func tempDir() throws -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("vgi-rs-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// A fake /proc/sys with the four ARP files at their kernel defaults.
private func fakeProcSys(_ root: String, devices: [String]) throws -> String {
    let proc = root + "/proc/sys"
    for dev in devices {
        let d = "\(proc)/net/ipv4/conf/\(dev)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        try "0\n".write(toFile: d + "/arp_ignore", atomically: false, encoding: .utf8)
        try "0\n".write(toFile: d + "/arp_announce", atomically: false, encoding: .utf8)
    }
    return proc
}

@Suite struct RealServerPlanTests {
    @Test func ipv4NeedsArpSysctlsOnAllAndDevice() {
        let c = RealServerConfig(vips: [IPAddress("192.168.0.21")!])
        #expect(c.sysctls.map { "\($0.name)=\($0.value)" } == [
            "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
            "net.ipv4.conf.lo.arp_ignore=1", "net.ipv4.conf.lo.arp_announce=2",
        ])
        #expect(c.prefixes.map(\.description) == ["192.168.0.21/32"])
    }

    @Test func ipv6OnlyNeedsNoSysctls() {
        let c = RealServerConfig(vips: [IPAddress("2001:db8::21")!], device: "dummy0")
        #expect(c.sysctls.isEmpty)
        #expect(c.prefixes.map(\.description) == ["2001:db8::21/128"])
        #expect(RealServerManager.sysctlConf(c).contains("Only IPv6 VIPs"))
    }

    @Test func vlanDeviceNameUsesSlashInSysctlConf() {
        let c = RealServerConfig(vips: [IPAddress("10.0.0.1")!], device: "eth0.100")
        #expect(c.sysctls.contains { $0.name == "net.ipv4.conf.eth0/100.arp_ignore" && $0.path[3] == "eth0.100" })
    }

    @Test func persistedFiles() {
        let c = RealServerConfig(vips: [IPAddress("192.168.0.21")!, IPAddress("2001:db8::21")!])
        let conf = RealServerManager.sysctlConf(c)
        #expect(conf.hasSuffix("net.ipv4.conf.all.arp_ignore = 1\nnet.ipv4.conf.all.arp_announce = 2\nnet.ipv4.conf.lo.arp_ignore = 1\nnet.ipv4.conf.lo.arp_announce = 2\n"))
        let ifaces = RealServerManager.interfacesSnippet(c)
        #expect(ifaces.contains("\nauto lo:0\niface lo:0 inet static\n    address 192.168.0.21/32\n"))
        #expect(ifaces.contains("\nauto lo:1\niface lo:1 inet6 static\n    address 2001:db8::21/128\n"))
    }

    @Test func setupStatusTeardownWithFakes() throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let m = RealServerManager(addresses: FakeAddresses(), sysctl: SysctlStore(procSys: try fakeProcSys(root, devices: ["all", "lo"])), root: root)
        let c = RealServerConfig(vips: [IPAddress("192.168.0.21")!])
        #expect(!m.status(c).ok)
        _ = try m.setup(c, persist: true)
        let s = m.status(c)
        #expect(s.ok, "\(s.lines)")
        #expect(FileManager.default.fileExists(atPath: root + "/etc/sysctl.d/90-vigil-realserver.conf"))
        #expect(try String(contentsOfFile: root + "/proc/sys/net/ipv4/conf/all/arp_announce", encoding: .utf8) == "2\n")
        // Setup twice is harmless.
        #expect(try m.setup(c, persist: false).contains("192.168.0.21/32 already on lo"))
        _ = try m.teardown(c)
        let after = m.status(c)
        #expect(after.problems == 5)
        #expect(!FileManager.default.fileExists(atPath: root + "/etc/network/interfaces.d/vigil-realserver"))
    }

    @Test func missingSysctlFileIsAnErrorNamingThePath() throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let m = RealServerManager(addresses: FakeAddresses(), sysctl: SysctlStore(procSys: root + "/nope"), root: root)
        #expect(throws: (any Error).self) { try m.setup(RealServerConfig(vips: [IPAddress("10.0.0.1")!], device: "eth9"), persist: false) }
        let s = m.status(RealServerConfig(vips: [IPAddress("10.0.0.1")!], device: "eth9"))
        #expect(s.lines.contains { $0.contains(root + "/nope/net/ipv4/conf/all/arp_ignore") })
    }
}

// MARK: - In a network namespace, through the built binary

private let vigilBinary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".build/debug/vigil").path

@discardableResult
private func sh(_ args: [String]) throws -> (out: String, status: Int32) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let d = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (String(decoding: d, as: UTF8.self), p.terminationStatus)
}

@Suite(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: vigilBinary), "needs root and a built vigil"))
struct RealServerNamespaceTests {
    @Test func setupStatusTeardownInNamespace() throws {
        let ns = "vgirs\(getpid() % 100000)"
        let root = try tempDir()
        try sh(["ip", "netns", "add", ns])
        defer {
            _ = try? sh(["ip", "netns", "del", ns])
            try? FileManager.default.removeItem(atPath: root)
        }
        func inNS(_ args: [String]) throws -> (out: String, status: Int32) { try sh(["ip", "netns", "exec", ns] + args) }
        func sysctl(_ name: String) throws -> String {
            try inNS(["cat", "/proc/sys/net/ipv4/conf/\(name)"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        let before = try inNS([vigilBinary, "realserver", "status", "--vip", "192.168.0.21", "--root", root])
        #expect(before.status == 1)
        #expect(before.out.contains("vip 192.168.0.21/32 on lo: MISSING"))

        let setup = try inNS([vigilBinary, "realserver", "setup", "--vip", "192.168.0.21", "--vip", "2001:db8::21", "--persist", "--root", root])
        #expect(setup.status == 0, "\(setup.out)")
        #expect(try sysctl("all/arp_ignore") == "1")
        #expect(try sysctl("all/arp_announce") == "2")
        #expect(try sysctl("lo/arp_ignore") == "1")
        #expect(try sysctl("lo/arp_announce") == "2")
        let addrs = try sh(["ip", "-n", ns, "-o", "addr", "show", "dev", "lo"]).out
        #expect(addrs.contains("inet 192.168.0.21/32"))
        #expect(addrs.contains("inet6 2001:db8::21/128"))
        // The host's own namespace is untouched.
        #expect(try sh(["ip", "-o", "addr", "show", "dev", "lo"]).out.contains("192.168.0.21") == false)

        let ok = try inNS([vigilBinary, "realserver", "status", "--root", root])  // VIPs from the recorded setup
        #expect(ok.status == 0, "\(ok.out)")
        #expect(ok.out.hasSuffix("status: ok\n"))

        try inNS(["sh", "-c", "echo 0 > /proc/sys/net/ipv4/conf/all/arp_announce"])
        let wrong = try inNS([vigilBinary, "realserver", "status", "--root", root])
        #expect(wrong.status == 1)
        #expect(wrong.out.contains("net.ipv4.conf.all.arp_announce = 0: WRONG (want 2)"))

        let down = try inNS([vigilBinary, "realserver", "teardown", "--root", root])
        #expect(down.status == 0, "\(down.out)")
        #expect(try sysctl("all/arp_ignore") == "0")
        #expect(!(try sh(["ip", "-n", ns, "-o", "addr", "show", "dev", "lo"]).out.contains("192.168.0.21")))
        #expect(!FileManager.default.fileExists(atPath: root + "/etc/sysctl.d/90-vigil-realserver.conf"))
    }
}
