#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NetCore
import SysCore

/// The real-server side of LVS direct routing: each VIP as a host route (/32 or /128) on a
/// non-ARP interface (lo by default), and for IPv4 the ARP sysctls that stop the server from
/// answering or announcing the VIP on its LAN (`arp_ignore=1`, `arp_announce=2`; ipvs.md §5.5).
/// IPv6 needs no such settings: neighbour discovery never answers for addresses on lo.
public struct RealServerConfig: Sendable, Hashable {
    public var vips: [IPAddress]
    public var device: String

    public init(vips: [IPAddress], device: String = "lo") {
        self.vips = vips
        self.device = device
    }

    /// The host prefixes to put on `device`.
    public var prefixes: [IPPrefix] { vips.map { IPPrefix(address: $0, length: $0.bitWidth) } }

    /// The sysctls this configuration needs (none when every VIP is IPv6).
    public var sysctls: [SysctlSetting] {
        guard vips.contains(where: { $0.family == .inet }) else { return [] }
        var out: [SysctlSetting] = []
        for dev in Set(["all", device]).sorted() {
            out.append(SysctlSetting(path: ["net", "ipv4", "conf", dev, "arp_ignore"], value: "1"))
            out.append(SysctlSetting(path: ["net", "ipv4", "conf", dev, "arp_announce"], value: "2"))
        }
        return out
    }
}

/// One sysctl: its path components under /proc/sys (device names may contain dots).
public struct SysctlSetting: Sendable, Hashable {
    public var path: [String]
    public var value: String

    public init(path: [String], value: String) {
        self.path = path
        self.value = value
    }

    /// The `sysctl.conf` spelling (`net.ipv4.conf.lo.arp_ignore`; a dot in a name becomes `/`).
    public var name: String { path.map { $0.replacingOccurrences(of: ".", with: "/") }.joined(separator: ".") }
}

/// Reads and writes /proc/sys (or a copy of it under another root, for tests).
public struct SysctlStore: Sendable {
    public var procSys: String

    public init(procSys: String = "/proc/sys") { self.procSys = procSys }

    public func file(_ s: SysctlSetting) -> String { ([procSys] + s.path).joined(separator: "/") }

    public func read(_ s: SysctlSetting) throws(SystemError) -> String {
        let path = file(s)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SystemError(call: "open", errno: access(path, R_OK) == 0 ? EIO : errno, context: path)
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func write(_ s: SysctlSetting, value: String? = nil) throws(SystemError) {
        let path = file(s)
        let fd = open(path, O_WRONLY | O_TRUNC)
        guard fd >= 0 else { throw SystemError.last("open", context: path) }
        defer { close(fd) }
        let bytes = Array(((value ?? s.value) + "\n").utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw SystemError.last("write", context: path) }
    }
}

/// Adds and removes interface addresses. The rtnetlink implementation is being written
/// elsewhere; `IPCommandAddressConfigurator` stands in until then.
public protocol AddressConfigurator: Sendable {
    func addresses(device: String) throws -> [IPPrefix]
    func add(_ prefix: IPPrefix, device: String) throws
    func remove(_ prefix: IPPrefix, device: String) throws
}

/// A failed `ip` run.
public struct IPCommandError: Error, CustomStringConvertible {
    public var command: String
    public var status: Int32
    public var output: String
    public var description: String { "`\(command)` failed (status \(status)): \(output)" }
}

/// TEMPORARY: configures addresses by running iproute2's `ip` (`ip -batch -`). This is the only
/// place Vigil shells out for addresses; it goes away when the rtnetlink client lands.
public struct IPCommandAddressConfigurator: AddressConfigurator {
    public var ipPath: String

    public init(ipPath: String = "/usr/sbin/ip") {
        self.ipPath = FileManager.default.isExecutableFile(atPath: ipPath) ? ipPath : "/sbin/ip"
    }

    private func run(_ args: [String], input: String? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ipPath)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let inPipe = Pipe()
        if input != nil { p.standardInput = inPipe }
        try p.run()
        if let input {
            inPipe.fileHandleForWriting.write(Data(input.utf8))
            try inPipe.fileHandleForWriting.close()
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else {
            throw IPCommandError(command: ([ipPath] + args).joined(separator: " ") + (input.map { " <<< \($0)" } ?? ""), status: p.terminationStatus, output: text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return text
    }

    public func addresses(device: String) throws -> [IPPrefix] {
        let text = try run(["-o", "addr", "show", "dev", device])
        var out: [IPPrefix] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            if let i = f.firstIndex(where: { $0 == "inet" || $0 == "inet6" }), i + 1 < f.count, let p = IPPrefix(f[i + 1]) {
                out.append(p)
            }
        }
        return out
    }

    public func add(_ prefix: IPPrefix, device: String) throws {
        _ = try run(["-batch", "-"], input: "addr replace \(prefix) dev \(device)\n")
    }

    public func remove(_ prefix: IPPrefix, device: String) throws {
        _ = try run(["-batch", "-"], input: "addr del \(prefix) dev \(device)\n")
    }
}

/// What `status` found.
public struct RealServerStatus: Sendable {
    public var lines: [String]
    public var problems: Int
    public var ok: Bool { problems == 0 }
}

/// setup / teardown / status of the real-server configuration.
public struct RealServerManager: Sendable {
    public var addresses: any AddressConfigurator
    public var sysctl: SysctlStore
    /// Root for persisted files (`/` normally; a temp dir in tests).
    public var root: String

    public static let sysctlConfPath = "etc/sysctl.d/90-vigil-realserver.conf"
    public static let interfacesPath = "etc/network/interfaces.d/vigil-realserver"

    public init(addresses: any AddressConfigurator = IPCommandAddressConfigurator(), sysctl: SysctlStore = SysctlStore(), root: String = "/") {
        self.addresses = addresses
        self.sysctl = sysctl
        self.root = root
    }

    private func path(_ rel: String) -> String { root.hasSuffix("/") ? root + rel : root + "/" + rel }

    /// Puts the VIPs on the device and sets the sysctls; with `persist`, also writes the files an
    /// administrator would otherwise write by hand. Returns what was done, one line per step.
    public func setup(_ config: RealServerConfig, persist: Bool) throws -> [String] {
        var log: [String] = []
        let present = Set(try addresses.addresses(device: config.device))
        for p in config.prefixes {
            if present.contains(p) {
                log.append("\(p) already on \(config.device)")
            } else {
                try addresses.add(p, device: config.device)
                log.append("added \(p) on \(config.device)")
            }
        }
        for s in config.sysctls {
            try sysctl.write(s)
            log.append("\(s.name) = \(s.value)")
        }
        if !config.vips.contains(where: { $0.family == .inet }) {
            log.append("IPv6 only: no ARP sysctls needed (neighbour discovery does not answer for addresses on \(config.device))")
        }
        if persist {
            try writeFile(Self.sysctlConfPath, Self.sysctlConf(config))
            try writeFile(Self.interfacesPath, Self.interfacesSnippet(config))
            log.append("wrote \(path(Self.sysctlConfPath))")
            log.append("wrote \(path(Self.interfacesPath))")
        }
        return log
    }

    /// Removes the VIPs, resets the ARP sysctls to the kernel defaults (0) and removes the
    /// persisted files.
    public func teardown(_ config: RealServerConfig) throws -> [String] {
        var log: [String] = []
        let present = Set(try addresses.addresses(device: config.device))
        for p in config.prefixes where present.contains(p) {
            try addresses.remove(p, device: config.device)
            log.append("removed \(p) from \(config.device)")
        }
        for s in config.sysctls {
            try sysctl.write(s, value: "0")
            log.append("\(s.name) = 0")
        }
        for rel in [Self.sysctlConfPath, Self.interfacesPath] where FileManager.default.fileExists(atPath: path(rel)) {
            try FileManager.default.removeItem(atPath: path(rel))
            log.append("removed \(path(rel))")
        }
        return log
    }

    /// Checks every VIP and sysctl; `ok` only when all are as `setup` leaves them.
    public func status(_ config: RealServerConfig) -> RealServerStatus {
        var lines: [String] = []
        var problems = 0
        let present: Set<IPPrefix>
        do {
            present = Set(try addresses.addresses(device: config.device))
        } catch {
            present = []
            lines.append("cannot list addresses of \(config.device): \(error)")
            problems += 1
        }
        for p in config.prefixes {
            if present.contains(p) {
                lines.append("vip \(p) on \(config.device): present")
            } else {
                lines.append("vip \(p) on \(config.device): MISSING")
                problems += 1
            }
        }
        for s in config.sysctls {
            do {
                let v = try sysctl.read(s)
                if v == s.value {
                    lines.append("\(s.name) = \(v): ok")
                } else {
                    lines.append("\(s.name) = \(v): WRONG (want \(s.value))")
                    problems += 1
                }
            } catch {
                lines.append("\(s.name): unreadable: \(error)")
                problems += 1
            }
        }
        if config.sysctls.isEmpty { lines.append("IPv6 only: no ARP sysctls needed") }
        for rel in [Self.sysctlConfPath, Self.interfacesPath] {
            lines.append("\(path(rel)): \(FileManager.default.fileExists(atPath: path(rel)) ? "present" : "absent (not persisted)")")
        }
        lines.append(problems == 0 ? "status: ok" : "status: NOT OK (\(problems) problem\(problems == 1 ? "" : "s"))")
        return RealServerStatus(lines: lines, problems: problems)
    }

    private func writeFile(_ rel: String, _ text: String) throws {
        let full = path(rel)
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: true, encoding: .utf8)
    }

    /// `/etc/sysctl.d/90-vigil-realserver.conf`.
    public static func sysctlConf(_ config: RealServerConfig) -> String {
        var text = "# Written by `vigil realserver setup --persist`: LVS direct-routing real server.\n"
        text += "# Do not answer ARP for the VIPs on \(config.device), and do not use them as ARP source.\n"
        if config.sysctls.isEmpty { text += "# Only IPv6 VIPs: no ARP settings are needed.\n" }
        for s in config.sysctls { text += "\(s.name) = \(s.value)\n" }
        return text
    }

    /// `/etc/network/interfaces.d/vigil-realserver` (ifupdown, Debian's default): one alias
    /// stanza per VIP, the classic LVS-DR real-server recipe; `source /etc/network/interfaces.d/*`
    /// in /etc/network/interfaces picks it up.
    public static func interfacesSnippet(_ config: RealServerConfig) -> String {
        var text = "# Written by `vigil realserver setup --persist`: the DR virtual IPs of this real server.\n"
        for (i, vip) in config.vips.enumerated() {
            let label = "\(config.device):\(i)"
            text += "\nauto \(label)\n"
            if vip.family == .inet {
                text += "iface \(label) inet static\n    address \(vip)/32\n"
            } else {
                text += "iface \(label) inet6 static\n    address \(vip)/128\n"
            }
        }
        return text
    }

    /// Where setup records the configuration so `teardown`/`status` work without arguments.
    public static let statePath = "run/vigil-realserver.conf"

    public func saveState(_ config: RealServerConfig) throws {
        try writeFile(Self.statePath, "device \(config.device)\n" + config.vips.map { "vip \($0)\n" }.joined())
    }

    public func loadState() -> RealServerConfig? {
        guard let text = try? String(contentsOfFile: path(Self.statePath), encoding: .utf8) else { return nil }
        var device = "lo"
        var vips: [IPAddress] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count == 2 else { continue }
            if f[0] == "device" { device = String(f[1]) }
            if f[0] == "vip", let a = IPAddress(f[1]) { vips.append(a) }
        }
        return vips.isEmpty ? nil : RealServerConfig(vips: vips, device: device)
    }

    public func clearState() {
        try? FileManager.default.removeItem(atPath: path(Self.statePath))
    }
}
