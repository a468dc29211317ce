import Foundation
import Logging
import NetCore
import Synchronization
import TestSupport
import VRRPCore

@testable @_spi(Testing) import VRRP

/// Collects log lines so tests can look for keepalived's wording.
final class LogRecorder: Sendable {
    let lines = Mutex<[String]>([])

    func logger(_ label: String) -> Logger {
        Logger(label: label) { _ in RecordingHandler(recorder: self) }
    }

    func contains(_ text: String) -> Bool { lines.withLock { $0.contains { $0.contains(text) } } }
    var all: [String] { lines.withLock { $0 } }
}

struct RecordingHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        recorder.lines.withLock { $0.append("\(message)") }
    }
}

/// Two (or three) namespaces on one bridge, as in the reference scenario.
struct Topology {
    let lab: NetnsLab
    let a: String
    let b: String
    let c: String
    let dir: String

    init() throws {
        lab = NetnsLab(prefix: "vgv")
        let br = try lab.addNamespace("br")
        try lab.addBridge("br0", in: br)
        _ = try? lab.run(br, ["ip", "link", "set", "br0", "type", "bridge", "mcast_snooping", "0"])
        a = try lab.addNamespace("a")
        b = try lab.addNamespace("b")
        c = try lab.addNamespace("c")
        for (ns, port, last) in [(a, "pa", 11), (b, "pb", 15), (c, "pc", 99)] {
            try lab.attach(ns, ifname: "eth0", bridge: "br0", in: br, port: port, addresses: ["192.168.0.\(last)/24"])
            try lab.sh(ns, "ip addr add fe80::\(last)/64 dev eth0 nodad")
        }
        dir = NSTemporaryDirectory() + "vgv-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func teardown() {
        lab.teardown()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func hasAddress(_ ns: String, _ addr: String) -> Bool {
        (try? lab.run(ns, ["ip", "addr", "show", "dev", "eth0"]).stdout.contains(" \(addr)/")) ?? false
    }

    /// Starts Debian's keepalived in `ns` with `config`; returns the process and its log path.
    func keepalived(_ ns: String, _ name: String, _ config: String) throws -> (Process, String) {
        let conf = "\(dir)/\(name).conf"
        try config.write(toFile: conf, atomically: true, encoding: .utf8)
        let log = "\(dir)/\(name).log"
        let p = try lab.spawn(ns, ["keepalived", "-n", "-l", "-D", "-G", "-P", "-R", "-f", conf, "-p", "\(dir)/\(name).pid", "-r", "\(dir)/\(name)-vrrp.pid"], logPath: log)
        return (p, log)
    }

    func logText(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
}

/// The reference scenario's instance on director `addr` with `priority`.
func referenceSetup(_ addr: String, priority: UInt8, tweak: (inout VRRPInstanceConfig) -> Void = { _ in }) -> VRRPInstanceSetup {
    var c = VRRPInstanceConfig(
        name: "LVSha", interface: "eth0", vrid: 51, version: .v2, priority: priority, advertInterval: .seconds(1),
        primaryAddress: IPAddress(addr)!, virtualAddresses: [IPAddress("192.168.0.21")!])
    c.authentication = .pass("1111")
    tweak(&c)
    let vips = c.virtualAddresses.map { VirtualIP(prefix: IPPrefix(address: $0, length: $0.bitWidth), device: "eth0") }
    return VRRPInstanceSetup(config: c, vips: vips)
}

/// A running service in a namespace, with its logs.
final class Router: Sendable {
    let service: VRRPService<ContinuousClock>
    let logs = LogRecorder()
    let task: Task<Void, any Error>

    init(
        _ ns: String, _ setups: [VRRPInstanceSetup], syncGroups: [SyncGroupSetup] = [],
        options: VRRPService<ContinuousClock>.Options = .init()
    ) throws {
        var o = options
        o.namespace = ns
        let recorder = logs
        let svc = VRRPService(instances: setups, syncGroups: syncGroups, vipManager: try NetlinkVIPManager(namespace: ns), clock: ContinuousClock(), logger: recorder.logger(ns), options: o)
        service = svc
        task = Task { try await svc.run() }
    }

    var state: VRRPState? { service.status().first?.state }

    func stop() async {
        service.shutdown()
        _ = try? await task.value
    }

    func crash() async {
        service.abandon()
        _ = try? await task.value
    }
}

func wait(_ timeout: Double, _ condition: () -> Bool) async -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

let keepalivedInstalled = FileManager.default.isExecutableFile(atPath: "/usr/sbin/keepalived")
