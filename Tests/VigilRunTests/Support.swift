import Foundation
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

let keepalivedInstalled = FileManager.default.isExecutableFile(atPath: "/usr/sbin/keepalived")
let socatInstalled = FileManager.default.isExecutableFile(atPath: "/usr/bin/socat")

/// Polls `condition` every 20 ms until it holds or `timeout` seconds pass, sleeping without
/// holding a thread of the shared executor (other suites' VRRP services run there).
func poll(timeout: Double, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

func pause(_ seconds: Double) async {
    try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
}

/// The reference scenario's files (`fixtures/seed`), as the users wrote them.
func seedConfig(_ file: String) throws -> String {
    guard let shared = sharedDirectory else { throw LabError("no shared directory with fixtures/seed") }
    return try String(contentsOfFile: "\(shared)/fixtures/seed/\(file)", encoding: .utf8)
}

/// Two directors and a client on one bridge: d1 = 192.168.0.11 / fe80::11, d2 = .15 / fe80::15,
/// client = .10 / 2001:db8::10. Each director runs a TCP service on port 8080 that answers
/// with the director's name, so the client sees who holds the VIP.
final class RunLab: @unchecked Sendable {
    let lab: NetnsLab
    let d1: String
    let d2: String
    let client: String
    let dir: String
    private(set) var directors: [Director] = []
    private var services: [Process] = []

    init() throws {
        lab = NetnsLab(prefix: "vgr")
        let br = try lab.addNamespace("br")
        try lab.addBridge("br0", in: br)
        _ = try? lab.run(br, ["ip", "link", "set", "br0", "type", "bridge", "mcast_snooping", "0"])
        d1 = try lab.addNamespace("d1")
        d2 = try lab.addNamespace("d2")
        client = try lab.addNamespace("cl")
        for (ns, port, last, hex) in [(d1, "p1", 11, "11"), (d2, "p2", 15, "15"), (client, "pc", 10, "10")] {
            try lab.sh(ns, "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0")
            try lab.attach(ns, ifname: "eth0", bridge: "br0", in: br, port: port, addresses: ["192.168.0.\(last)/24"])
            try lab.sh(ns, "ip addr add fe80::\(hex)/64 dev eth0 nodad")
        }
        try lab.sh(client, "ip addr add 2001:db8::10/64 dev eth0 nodad")
        dir = NSTemporaryDirectory() + "vgr-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (ns, name) in [(d1, "d1"), (d2, "d2")] {
            services.append(try lab.spawn(ns, ["socat", "TCP6-LISTEN:8080,ipv6only=0,fork,reuseaddr", "SYSTEM:echo \(name)"]))
        }
    }

    func teardown() {
        for d in directors { d.killAll() }
        // SIGKILL: socat inherits the test runner's ignored SIGTERM.
        for p in services where p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        lab.teardown()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let path = "\(dir)/\(name)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func director(_ kind: Director.Kind, _ ns: String, _ name: String, config: String) throws -> Director {
        let d = Director(kind: kind, lab: self, ns: ns, name: name, configPath: try write("\(name).conf", config))
        directors.append(d)
        return d
    }

    func hasAddress(_ ns: String, _ addr: String) -> Bool {
        (try? lab.run(ns, ["ip", "addr", "show", "dev", "eth0"]).stdout.contains(" \(addr)/")) ?? false
    }

    /// The name the service on `addr`:8080 answers with, seen from the client (nil: no answer).
    func fetch(_ addr: String) -> String? {
        let target = addr.contains(":") ? "[\(addr)]" : addr
        guard let r = try? lab.run(client, ["socat", "-T1", "-", "TCP:\(target):8080,connect-timeout=1"], timeout: 5),
            r.status == 0
        else { return nil }
        let s = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return s.isEmpty ? nil : s
    }

    /// Polls until the client gets `name` from the service on `addr` (ARP/ND may lag a GARP).
    func clientReaches(_ addr: String, _ name: String, within t: Double = 3) async -> Bool {
        await poll(timeout: t) { fetch(addr) == name }
    }

    /// Seconds until `condition` holds (polling every 20 ms), nil if not within `timeout`.
    func measure(timeout: Double, since start: Date = Date(), _ condition: () -> Bool) async -> Double? {
        await poll(timeout: timeout, condition) ? Date().timeIntervalSince(start) : nil
    }
}

/// A VRRP speaker in one namespace: `vigil run` or Debian's keepalived, each with its own pid
/// and log files in the lab's directory.
final class Director: @unchecked Sendable {
    enum Kind: String { case vigil, keepalived }
    let kind: Kind
    let lab: RunLab
    let ns: String
    let name: String
    let configPath: String
    var process: Process?
    var pidFile: String { "\(lab.dir)/\(name).pid" }
    var vrrpPidFile: String { "\(lab.dir)/\(name)-vrrp.pid" }
    var logFile: String { "\(lab.dir)/\(name).log" }
    var outFile: String { "\(lab.dir)/\(name).out" }
    var statusFile: String { "\(lab.dir)/\(name).status.json" }
    /// `vigil run`'s mode: VRRP only, by default.
    var modeArguments = ["-P", "--dataplane", "none"]
    private var starts = 0

    init(kind: Kind, lab: RunLab, ns: String, name: String, configPath: String) {
        self.kind = kind
        self.lab = lab
        self.ns = ns
        self.name = name
        self.configPath = configPath
    }

    func start() async throws {
        starts += 1
        switch kind {
        case .vigil:
            process = try lab.lab.spawn(
                ns,
                [vigilBinaryPath, "run", "-f", configPath] + modeArguments + ["--log-file", logFile, "-p", pidFile,
                 "--status-file", statusFile],
                logPath: "\(outFile).\(starts)")
        case .keepalived:
            process = try lab.lab.spawn(
                ns,
                ["keepalived", "-n", "-l", "-D", "-P", "-R", "-f", configPath, "-p", pidFile, "-r", vrrpPidFile, "-c",
                 "\(lab.dir)/\(name)-check.pid", "-i", name],
                logPath: "\(logFile).\(starts)")
        }
        // Wait for the pid file: the process is ready to be signalled.
        let ready = await poll(timeout: 10) { pid(kind == .vigil ? pidFile : vrrpPidFile) != nil }
        if !ready { throw LabError("\(kind) \(name) did not start: \(log)") }
    }

    private func pid(_ path: String) -> pid_t? {
        guard let t = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return pid_t(t.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// SIGKILL, as a crash: no priority-0 advert, VIPs left on the interface.
    func kill9() {
        if kind == .keepalived, let c = pid(vrrpPidFile) { kill(c, SIGKILL) }
        if let p = pid(pidFile) { kill(p, SIGKILL) }
        process?.waitUntilExit()
        unlink(vrrpPidFile)
    }

    /// SIGTERM: graceful stop; waits for the exit.
    func stop() async {
        terminate()
        await waitForExit()
    }

    /// Sends SIGTERM without waiting (keepalived takes about a second to exit after its
    /// priority-0 advert, which must not count in the takeover time).
    func terminate() {
        if let p = process { kill(p.processIdentifier, SIGTERM) }
    }

    func waitForExit() async {
        guard let p = process else { return }
        _ = await poll(timeout: 10) { !p.isRunning }
        unlink(vrrpPidFile)
    }

    func reload() {
        if let p = process { kill(p.processIdentifier, SIGHUP) }
    }

    func killAll() {
        if let p = process, p.isRunning { kill9() }
    }

    var isRunning: Bool { process?.isRunning ?? false }

    /// Everything logged so far (the log file and standard error of every start).
    var log: String {
        var s = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        for i in 0...starts {
            s += (try? String(contentsOfFile: "\(kind == .vigil ? outFile : logFile).\(i)", encoding: .utf8)) ?? ""
        }
        return s
    }

    func count(_ text: String) -> Int { log.components(separatedBy: text).count - 1 }
}
