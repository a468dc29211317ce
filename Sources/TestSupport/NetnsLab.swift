import Foundation
import SysCore

#if canImport(Glibc)
import Glibc
#endif

/// Result of a finished command.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Errors from the test helpers; they name the command that failed.
public struct LabError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a program to completion and captures its output (SysCore's `runProgram`, with the
/// test helpers' error type).
@discardableResult
public func runCommand(_ args: [String], input: String? = nil, timeout: Double = 60) throws -> CommandResult {
    do {
        let r = try runProgram(args, input: input, timeout: timeout)
        return CommandResult(status: r.status, stdout: r.stdout, stderr: r.stderr)
    } catch let e as ProgramError {
        throw LabError(e.description)
    }
}

/// True when the tests run as root (network namespace tests need it).
public var isRoot: Bool { getuid() == 0 }

/// A set of network namespaces created for one test, removed by `teardown()` (and on deinit),
/// together with every process started through `spawn`.
///
/// Names are `<prefix><pid%10000>-<n>-<name>` so concurrent test runs never collide.
public final class NetnsLab: @unchecked Sendable {
    public let prefix: String
    private var namespaces: [String] = []
    private var processes: [Process] = []
    private let lock = NSLock()

    public init(prefix: String) {
        self.prefix = "\(prefix)\(getpid() % 10000)\(UInt16.random(in: 0...0xfff))-"
    }

    deinit { teardown() }

    /// Creates a namespace with `lo` up and returns its full name.
    @discardableResult
    public func addNamespace(_ name: String) throws -> String {
        let full = prefix + name
        try check(["ip", "netns", "add", full])
        lock.withLock { namespaces.append(full) }
        try check(["ip", "-n", full, "link", "set", "lo", "up"])
        return full
    }

    /// Creates a bridge `name` inside namespace `ns` (full name) and brings it up.
    public func addBridge(_ name: String, in ns: String) throws {
        try check(["ip", "-n", ns, "link", "add", name, "type", "bridge"])
        try check(["ip", "-n", ns, "link", "set", name, "up"])
        _ = try? runCommand(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0"])
    }

    /// Connects namespace `ns` to `bridge` in `bridgeNS` with a veth pair: `ifname` inside `ns`,
    /// `port` on the bridge side. Optional MAC and addresses (CIDR) are set on `ifname`.
    public func attach(
        _ ns: String, ifname: String, bridge: String, in bridgeNS: String, port: String,
        mac: String? = nil, addresses: [String] = []
    ) throws {
        try check(["ip", "-n", bridgeNS, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns])
        try check(["ip", "-n", bridgeNS, "link", "set", port, "master", bridge, "up"])
        if let mac { try check(["ip", "-n", ns, "link", "set", ifname, "address", mac]) }
        for a in addresses { try check(["ip", "-n", ns, "addr", "add", a, "dev", ifname]) }
        try check(["ip", "-n", ns, "link", "set", ifname, "up"])
    }

    /// Runs a command inside `ns` (nil = host) and returns its result.
    @discardableResult
    public func run(_ ns: String?, _ args: [String], input: String? = nil, timeout: Double = 60) throws -> CommandResult {
        try runCommand((ns.map { ["ip", "netns", "exec", $0] } ?? []) + args, input: input, timeout: timeout)
    }

    /// Runs a shell script inside `ns`; throws when it exits non-zero.
    @discardableResult
    public func sh(_ ns: String?, _ script: String, timeout: Double = 60) throws -> String {
        let r = try run(ns, ["/bin/sh", "-c", script], timeout: timeout)
        guard r.status == 0 else {
            throw LabError("'\(script)' in \(ns ?? "host") exited \(r.status): \(r.stderr)\(r.stdout)")
        }
        return r.stdout
    }

    /// Starts a long-running process inside `ns`; it is killed (by PID) at teardown.
    /// Output goes to `logPath` when given, else is discarded.
    @discardableResult
    public func spawn(_ ns: String?, _ args: [String], logPath: String? = nil) throws -> Process {
        let p = Process()
        let full = (ns.map { ["ip", "netns", "exec", $0] } ?? []) + args
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = full
        if let logPath {
            FileManager.default.createFile(atPath: logPath, contents: nil)
            let h = FileHandle(forWritingAtPath: logPath)
            p.standardOutput = h
            p.standardError = h
        } else {
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
        }
        p.standardInput = FileHandle.nullDevice
        try p.run()
        lock.withLock { processes.append(p) }
        return p
    }

    /// Sends `signal` to a process started with `spawn` and, for SIGKILL/SIGTERM, waits for it.
    public func signal(_ p: Process, _ sig: Int32, wait: Bool = true) {
        guard p.isRunning else { return }
        kill(p.processIdentifier, sig)
        if wait {
            let deadline = Date().addingTimeInterval(10)
            while p.isRunning && Date() < deadline { usleep(10_000) }
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
            }
        }
    }

    /// Kills every spawned process (by PID) and deletes every namespace. Safe to call twice.
    public func teardown() {
        let (procs, nss) = lock.withLock {
            let r = (processes, namespaces)
            processes = []
            namespaces = []
            return r
        }
        for p in procs where p.isRunning {
            kill(p.processIdentifier, SIGTERM)
        }
        for p in procs {
            let deadline = Date().addingTimeInterval(5)
            while p.isRunning && Date() < deadline { usleep(10_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
        for ns in nss.reversed() {
            _ = try? runCommand(["ip", "netns", "del", ns])
        }
    }

    private func check(_ args: [String]) throws {
        let r = try runCommand(args)
        guard r.status == 0 else {
            throw LabError("\(args.joined(separator: " ")) exited \(r.status): \(r.stderr)")
        }
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` seconds pass.
public func waitUntil(timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

/// The built `vigil` binary next to the test bundle (`.build/debug/vigil`).
public var vigilBinaryPath: String {
    let bundle = Bundle.main.bundleURL
    let candidates = [
        bundle.deletingLastPathComponent().appendingPathComponent("vigil").path,
        bundle.appendingPathComponent("vigil").path,
        FileManager.default.currentDirectoryPath + "/.build/debug/vigil",
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[2]
}

/// Where the shared material (reference fixtures, ipvs-vm) is: `../shared` beside the checkout.
public var sharedDirectory: String? {
    var dir = URL(fileURLWithPath: #filePath)
    for _ in 0..<6 {
        dir = dir.deletingLastPathComponent()
        let cand = dir.appendingPathComponent("shared")
        if FileManager.default.fileExists(atPath: cand.appendingPathComponent("DESIGN.md").path) { return cand.path }
    }
    return FileManager.default.fileExists(atPath: "/work/shared/DESIGN.md") ? "/work/shared" : nil
}

/// `tools/ipvs-vm` of the shared material, when it is there and executable.
public var ipvsVMPath: String? {
    guard let dir = sharedDirectory else { return nil }
    let p = dir + "/tools/ipvs-vm"
    return FileManager.default.isExecutableFile(atPath: p) ? p : nil
}

/// True when a test can boot the IPVS guest: root, qemu and `ipvs-vm` present.
public var ipvsVMAvailable: Bool {
    ipvsVMPath != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64") && isRoot
}
