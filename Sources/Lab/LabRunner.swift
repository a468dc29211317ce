import Foundation
import NetCore
import SysCore
import Netlink

#if canImport(Glibc)
import Glibc
#endif

/// Why a lab command failed; says which step and what the system answered.
public struct LabFailure: Error, CustomStringConvertible {
    public var step: String
    public var detail: String
    /// True when `lab up` refused before creating anything (bad options, or a lab with this
    /// prefix exists): nothing must be removed, the existing lab is not this run's to take down.
    public var nothingCreated = false
    public var description: String { "lab: \(step): \(detail)" }

    public init(step: String, detail: String, nothingCreated: Bool = false) {
        self.step = step
        self.detail = detail
        self.nothingCreated = nothingCreated
    }
}

/// How a lab differs from the reference scenario's defaults.
public struct LabOptions: Codable, Sendable, Equatable {
    /// The director (`V11` or `V15`) that runs keepalived for VRRP (`keepalived -P`), with
    /// `vigil run -C` beside it for the checkers and the data plane; nil: both run `vigil run`.
    public var keepalivedOn: String?
    /// The web server each real server runs, as argv; `{root}` is replaced by the directory
    /// holding the server's page and `{dir}` by the server's state directory. nil: nginx.
    public var webServer: [String]?
    /// The `vigil run --dataplane` engine (auto, ipvs, nftables); nil: auto.
    public var dataplane: String?
    /// The keepalived binary.
    public var keepalived: String

    public init(keepalivedOn: String? = nil, webServer: [String]? = nil, dataplane: String? = nil, keepalived: String = "keepalived") {
        self.keepalivedOn = keepalivedOn
        self.webServer = webServer
        self.dataplane = dataplane
        self.keepalived = keepalived
    }

    /// Checks the options against the topology; returns what is wrong, or nil.
    public func problem(in topology: LabTopology) -> String? {
        if let k = keepalivedOn, topology.host(named: k)?.role != .director {
            return "keepalived can run on V11 or V15, not '\(k)'"
        }
        if let w = webServer, w.isEmpty { return "the web server command is empty" }
        if let d = dataplane, !["auto", "ipvs", "nftables"].contains(d) {
            return "unknown data plane '\(d)': use auto, ipvs or nftables"
        }
        return nil
    }
}

/// What `lab up` started, written to the state directory so that `lab down` can remove it even
/// after a crash of the process that created it.
public struct LabState: Codable, Sendable {
    public struct Started: Codable, Sendable {
        public var pid: Int32
        /// The process's start time (field 22 of /proc/PID/stat), so a recycled PID is never killed.
        public var startTime: UInt64
        public var what: String
        public var namespace: String
    }
    public var prefix: String
    public var namespaces: [String] = []
    public var processes: [Started] = []
    /// The options the lab was created with (absent in state files of older versions).
    public var options: LabOptions?
}

/// Runs the lab's I/O: namespaces, links, servers and directors. Every step is an `ip`/program
/// invocation whose failure is reported with the command.
public final class LabRunner: @unchecked Sendable {
    public let topology: LabTopology
    public let stateDirectory: String
    /// The vigil binary used for the directors, `realserver` and `genhash` inside namespaces.
    public let vigil: String
    public let options: LabOptions
    public var log: (String) -> Void
    /// Set by `down()`: a command still running on another thread (the demo, when Ctrl-C
    /// arrives) must not start processes after the lab was removed.
    private let stopLock = NSLock()
    private var stopped = false

    public init(
        prefix: String, stateRoot: String = "/run/vigil-lab", vigil: String? = nil, options: LabOptions = LabOptions(),
        log: @escaping (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
    ) {
        topology = LabTopology(prefix: prefix)
        stateDirectory = "\(stateRoot)/\(prefix)"
        self.vigil = vigil ?? LabRunner.ownExecutable()
        self.options = options
        self.log = log
    }

    /// True when director `d` runs keepalived (VRRP) plus `vigil run -C`.
    public func runsKeepalived(_ d: LabTopology.Host) -> Bool {
        options.keepalivedOn.map { $0.lowercased() == d.name.lowercased() } ?? false
    }

    static func ownExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    var statePath: String { "\(stateDirectory)/state.json" }

    // MARK: state file

    public func loadState() -> LabState? {
        guard let data = FileManager.default.contents(atPath: statePath) else { return nil }
        return try? JSONDecoder().decode(LabState.self, from: data)
    }

    func save(_ state: LabState) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try enc.encode(state)
        guard FileManager.default.createFile(atPath: statePath, contents: data) else {
            throw LabFailure(step: "saving state", detail: "cannot write \(statePath)")
        }
    }

    // MARK: commands

    /// Runs a program; throws with its stderr when it fails.
    @discardableResult
    public func run(_ args: [String], in ns: String? = nil, step: String? = nil, input: String? = nil) throws -> String {
        let full = (ns.map { ["ip", "netns", "exec", $0] } ?? []) + args
        let r = try Self.capture(full, input: input)
        guard r.status == 0 else {
            throw LabFailure(step: step ?? full.joined(separator: " "), detail: r.stderr.isEmpty ? "exit status \(r.status)" : r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return r.stdout
    }

    static func capture(_ args: [String], input: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let r = try runProgram(args, input: input)
        return (r.status, r.stdout, r.stderr)
    }

    /// Starts a background program in `ns` with its output in `logFile`, recorded in `state`.
    func spawn(_ args: [String], in ns: String, what: String, logFile: String, state: inout LabState) throws -> Int32 {
        try stopLock.withLock {
            if stopped { throw LabFailure(step: "starting \(what)", detail: "the lab is being removed") }
        }
        var pid: pid_t = 0
        let argv = ["ip", "netns", "exec", ns] + args
        var fa: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fa, 1, logFile, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&fa, 1, 2)
        // Daemons must not inherit this process's other descriptors: a caller waiting for EOF
        // on a pipe it gave `lab up` would otherwise wait as long as the lab runs.
        Self.closeFrom3(&fa)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // Own process group: a Ctrl-C at the terminal reaches `lab`, which stops children by PID.
        // Signals as a fresh process has them: a thread of the Swift runtime blocks SIGINT and
        // SIGTERM, and a blocked SIGTERM would make `lab down` wait for SIGKILL.
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attr, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attr, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGUSR1, SIGUSR2] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        let rc = posix_spawnp(&pid, "ip", &fa, &attr, cargs, environ)
        guard rc == 0 else {
            throw LabFailure(step: "starting \(what)", detail: String(cString: strerror(rc)))
        }
        state.processes.append(.init(pid: pid, startTime: Self.startTime(of: pid) ?? 0, what: what, namespace: ns))
        try save(state)
        return pid
    }

    /// Adds "close every descriptor from 3 up" to `fa`: glibc's closefrom action where it has
    /// one (2.34+; not in Swift's Glibc module, hence dlsym), else one close per open descriptor.
    static func closeFrom3(_ fa: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            let closeFrom = unsafeBitCast(sym, to: CloseFrom.self)
            if closeFrom(&fa, 3) == 0 { return }
        }
        let open = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
        for fd in open where fd > 2 { posix_spawn_file_actions_addclose(&fa, fd) }
    }

    /// The start time of a live process; nil once it has ended (a zombie counts as ended: our
    /// own children are reaped here, others by their parent).
    static func startTime(of pid: Int32) -> UInt64? {
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.first == "Z" || fields.first == "X" { return nil }
        // Field 22 overall; after "pid (comm)" the list starts at field 3.
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    // MARK: up

    /// The names `ip netns list` shows.
    public func existingNamespaces() -> Set<String> {
        Set(((try? run(["ip", "netns", "list"])) ?? "").split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
    }

    /// Throws (with `nothingCreated`) when any of the lab's namespaces exists, or its state file
    /// records a live process: a lab with this prefix is up, or the remains of a crashed one.
    public func refuseIfExists() throws {
        let t = topology
        if let clash = t.namespaces.first(where: existingNamespaces().contains) {
            throw LabFailure(
                step: "creating namespaces",
                detail: "namespace \(clash) already exists: run `vigil lab down --prefix \(t.prefix)` first, or choose another --prefix",
                nothingCreated: true)
        }
        if let live = loadState()?.processes.first(where: { Self.startTime(of: $0.pid) == $0.startTime }) {
            throw LabFailure(
                step: "starting the lab",
                detail: "\(live.what) (PID \(live.pid)) of an earlier lab is still running: run `vigil lab down --prefix \(t.prefix)` first",
                nothingCreated: true)
        }
    }

    /// Creates the namespaces, the bridge and the links with the scenario's addresses.
    public func createNetwork(state: inout LabState) throws {
        let t = topology
        try refuseIfExists()
        for ns in [t.switchNamespace] + t.hosts.map(\.namespace) {
            try run(["ip", "netns", "add", ns], step: "creating namespace \(ns)")
            state.namespaces.append(ns)
            try save(state)
            try run(["ip", "-n", ns, "link", "set", "lo", "up"])
        }
        let sw = t.switchNamespace
        try run(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"], step: "creating the bridge")
        try run(["ip", "-n", sw, "link", "set", "br0", "up"])
        for h in t.hosts {
            try run(["ip", "-n", sw, "link", "add", h.port, "type", "veth", "peer", "name", LabTopology.interface, "netns", h.namespace], step: "linking \(h.name)")
            try run(["ip", "-n", sw, "link", "set", h.port, "master", "br0", "up"])
            try run(["ip", "-n", h.namespace, "link", "set", LabTopology.interface, "address", h.mac.description])
            try run(["ip", "-n", h.namespace, "addr", "add", "\(h.address)/\(LabTopology.prefixLength)", "dev", LabTopology.interface])
            try run(["ip", "-n", h.namespace, "link", "set", LabTopology.interface, "up"])
        }
        for d in t.hosts where d.role == .director {
            try run(["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.eth0.send_redirects=0"], in: d.namespace)
        }
    }

    /// Starts the web server (nginx unless `options.webServer`) on each real server with its own
    /// page, after `vigil realserver setup`.
    public func startRealServers(state: inout LabState) throws {
        for h in topology.realServers {
            try run([vigil, "realserver", "setup", "--vip", LabTopology.vip.description], in: h.namespace, step: "vigil realserver setup on \(h.name)")
            let dir = "\(stateDirectory)/\(h.name)"
            for sub in ["www", "tmp", "log"] {
                try FileManager.default.createDirectory(atPath: "\(dir)/\(sub)", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            }
            try topology.page(of: h).write(toFile: "\(dir)/www/index.html", atomically: true, encoding: .utf8)
            let conf = """
                worker_processes 1;
                pid \(dir)/nginx.pid;
                error_log \(dir)/log/error.log warn;
                events { worker_connections 4096; }
                http {
                  access_log off; sendfile on; keepalive_timeout 65;
                  client_body_temp_path \(dir)/tmp/cb; proxy_temp_path \(dir)/tmp/px; fastcgi_temp_path \(dir)/tmp/fc;
                  uwsgi_temp_path \(dir)/tmp/uw; scgi_temp_path \(dir)/tmp/sc;
                  default_type text/plain;
                  server { listen 80; root \(dir)/www;
                           location /slow/ { alias \(dir)/www/; limit_rate 1m; } }
                }

                """
            if let command = options.webServer {
                let argv = command.map { $0.replacingOccurrences(of: "{root}", with: "\(dir)/www").replacingOccurrences(of: "{dir}", with: dir) }
                _ = try spawn(argv, in: h.namespace, what: "web server \(h.name)", logFile: "\(dir)/log/web.out", state: &state)
                continue
            }
            try conf.write(toFile: "\(dir)/nginx.conf", atomically: true, encoding: .utf8)
            _ = try spawn(["nginx", "-c", "\(dir)/nginx.conf", "-e", "\(dir)/log/error.log", "-g", "daemon off;"], in: h.namespace, what: "nginx \(h.name)", logFile: "\(dir)/log/nginx.out", state: &state)
        }
    }

    // MARK: down

    /// Stops every recorded process (by PID, only if it is still the process we started), then
    /// any process left inside the lab's namespaces (started by a run that crashed before it
    /// could record it), and deletes the namespaces and the state directory. Works from the
    /// state file or, without one, from the names.
    public func down() {
        stopLock.withLock { stopped = true }
        let state = loadState()
        let recorded = (state?.processes ?? []).reversed().filter { Self.startTime(of: $0.pid) == $0.startTime }
        for p in recorded { kill(p.pid, SIGTERM) }
        for p in recorded {
            if !Self.waitForExit(p.pid, startTime: p.startTime, seconds: 3) { kill(p.pid, SIGKILL) }
        }
        for p in recorded { _ = Self.waitForExit(p.pid, startTime: p.startTime, seconds: 2) }

        let names = Set((state?.namespaces ?? []) + topology.namespaces)
        let existing = existingNamespaces()
        let present = (topology.namespaces.reversed() + names.subtracting(topology.namespaces).sorted()).filter(existing.contains)
        // Processes inside the lab's namespaces belong to the lab; this process never does
        // (a probe thread may sit in a namespace for a moment, but /proc/PID/ns is the main thread's).
        let strays = present.flatMap { ns in
            ((try? run(["ip", "netns", "pids", ns])) ?? "").split(separator: "\n").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
        }.filter { $0 != getpid() }.compactMap { pid in Self.startTime(of: pid).map { (pid, $0) } }
        for (pid, _) in strays { kill(pid, SIGTERM) }
        for (pid, st) in strays where !Self.waitForExit(pid, startTime: st, seconds: 3) { kill(pid, SIGKILL) }
        for (pid, st) in strays { _ = Self.waitForExit(pid, startTime: st, seconds: 2) }

        for ns in present {
            _ = try? run(["ip", "netns", "del", ns])
        }
        try? FileManager.default.removeItem(atPath: stateDirectory)
        // Removal is over: the same runner may bring the lab up again (tests clean up first).
        stopLock.withLock { stopped = false }
    }

    /// Waits until `pid` (started at `startTime`) has ended; false if it still runs after `seconds`.
    static func waitForExit(_ pid: Int32, startTime: UInt64, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Self.startTime(of: pid) == startTime {
            if Date() >= deadline { return false }
            usleep(10_000)
        }
        return true
    }
}

// MARK: - directors, digests, status

extension LabRunner {
    func configPath(_ director: LabTopology.Host) -> String { "\(stateDirectory)/\(director.name).conf" }
    func statusPath(_ director: LabTopology.Host) -> String { "\(stateDirectory)/\(director.name).status.json" }

    /// The digest of each real server's page, computed by `vigil genhash` from the client, as an
    /// administrator does by hand. Retries while nginx starts.
    public func computeDigests() throws -> [IPv4Address: String] {
        var out: [IPv4Address: String] = [:]
        for rs in topology.realServers {
            var lastError = ""
            for _ in 0..<50 {
                let r = try Self.capture(["ip", "netns", "exec", topology.client.namespace, vigil, "genhash", "-s", rs.address.description, "-p", "80", "-u", "/", "--quiet"])
                let hex = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                if r.status == 0, hex.count == 32 {
                    out[rs.address] = hex
                    break
                }
                lastError = r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
                usleep(100_000)
            }
            guard out[rs.address] != nil else {
                throw LabFailure(step: "vigil genhash for \(rs.name)", detail: lastError)
            }
        }
        return out
    }

    /// Writes the two directors' keepalived.conf files (the scenario's text, lab digests).
    public func writeConfigs(digests: [IPv4Address: String]) throws {
        try LabConfigs.master(digests: digests).write(toFile: configPath(topology.master), atomically: true, encoding: .utf8)
        try LabConfigs.backup(digests: digests).write(toFile: configPath(topology.backup), atomically: true, encoding: .utf8)
    }

    /// The arguments of `vigil run` for a director: the full stack, or with `-C` (checkers and
    /// data plane only) beside keepalived.
    func vigilRunArguments(_ d: LabTopology.Host) -> [String] {
        [vigil, "run"] + (runsKeepalived(d) ? ["-C"] : []) + ["-f", configPath(d), "--status-file", statusPath(d), "--nft-table", "vigil"]
            + (options.dataplane.map { ["--dataplane", $0] } ?? [])
    }

    /// Starts a director: `vigil run` with the lab's configuration for it; on the keepalived
    /// director, `keepalived -P` (VRRP only, its PID files in the state directory) and
    /// `vigil run -C` for the checkers and the data plane. Returns the PID of the process that
    /// runs VRRP.
    @discardableResult
    public func startDirector(_ d: LabTopology.Host, state: inout LabState) throws -> Int32 {
        state.processes.removeAll { $0.namespace == d.namespace && Self.startTime(of: $0.pid) != $0.startTime }
        guard runsKeepalived(d) else {
            return try spawn(vigilRunArguments(d), in: d.namespace, what: "vigil run \(d.name)", logFile: logPath(d), state: &state)
        }
        _ = try spawn(vigilRunArguments(d), in: d.namespace, what: "vigil run -C \(d.name)", logFile: lvsLogPath(d), state: &state)
        let pids = keepalivedPIDFiles(d)
        for f in [pids.parent, pids.vrrp, pids.checkers] { try? FileManager.default.removeItem(atPath: f) }
        let parent = try spawn(
            [options.keepalived, "-P", "-n", "-l", "-D", "-G", "-f", configPath(d), "-p", pids.parent, "-r", pids.vrrp, "-c", pids.checkers],
            in: d.namespace, what: "keepalived \(d.name)", logFile: logPath(d), state: &state)
        // keepalived forks its VRRP process; record it too, so `lab down` and a kill -9 of the
        // director reach it by PID.
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: pids.vrrp, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
               let st = Self.startTime(of: pid)
            {
                state.processes.append(.init(pid: pid, startTime: st, what: "keepalived VRRP \(d.name)", namespace: d.namespace))
                try save(state)
                return pid
            }
            guard Self.startTime(of: parent) != nil else { break }
            usleep(20_000)
        }
        throw LabFailure(step: "starting keepalived on \(d.name)", detail: "its VRRP process did not start; see \(logPath(d))")
    }

    /// keepalived's PID files for director `d`, in the lab's state directory.
    func keepalivedPIDFiles(_ d: LabTopology.Host) -> (parent: String, vrrp: String, checkers: String) {
        ("\(stateDirectory)/\(d.name).keepalived.pid", "\(stateDirectory)/\(d.name).vrrp.pid", "\(stateDirectory)/\(d.name).checkers.pid")
    }

    /// Sends `signal` to every process of a director (`vigil run`, or keepalived and its VRRP
    /// process plus `vigil run -C`) and waits up to 10 s for them to end.
    public func signalDirector(_ d: LabTopology.Host, _ sig: Int32) {
        guard let state = loadState() else { return }
        let live = state.processes.filter { $0.namespace == d.namespace && Self.startTime(of: $0.pid) == $0.startTime }
        for p in live { kill(p.pid, sig) }
        for p in live { _ = Self.waitForExit(p.pid, startTime: p.startTime, seconds: 10) }
    }

    /// Which directors hold the VIP on eth0 now.
    /// Asked over rtnetlink from inside each namespace (cheap enough to poll every few
    /// milliseconds, unlike starting `ip`), with `ip addr show` as the fallback.
    public func vipHolders() -> [LabTopology.Host] {
        topology.hosts.filter { $0.role == .director }.filter { d in
            if let addresses = try? withNetworkNamespace(d.namespace, { try RTNetlink() }).addresses(family: .inet) {
                return addresses.contains { $0.prefix.address == .v4(LabTopology.vip) }
            }
            let out = (try? run(["ip", "-4", "-o", "addr", "show", "dev", LabTopology.interface], in: d.namespace)) ?? ""
            return out.contains(" \(LabTopology.vip)/")
        }
    }

    /// Where the process running VRRP on `d` logs (`vigil run`, or keepalived).
    public func logPath(_ d: LabTopology.Host) -> String { "\(stateDirectory)/\(d.name).log" }

    /// Where the process running the checkers and the data plane on `d` logs: the same file as
    /// VRRP unless keepalived runs there (then `vigil run -C`'s own file).
    public func lvsLogPath(_ d: LabTopology.Host) -> String {
        runsKeepalived(d) ? "\(stateDirectory)/\(d.name).lvs.log" : logPath(d)
    }

    /// The lines a director's VRRP process logged so far (`Entering MASTER STATE` …).
    public func directorLog(_ d: LabTopology.Host) -> String {
        (try? String(contentsOfFile: logPath(d), encoding: .utf8)) ?? ""
    }

    /// The lines a director's checkers and data plane logged so far (`Removing service` …).
    public func lvsLog(_ d: LabTopology.Host) -> String {
        (try? String(contentsOfFile: lvsLogPath(d), encoding: .utf8)) ?? ""
    }

    /// A one-line description of what runs on director `d`.
    public func describe(_ d: LabTopology.Host) -> String {
        runsKeepalived(d)
            ? "keepalived -P -f \(configPath(d)) (VRRP) + vigil run -C -f \(configPath(d)) (checkers, data plane)"
            : "vigil run -f \(configPath(d))"
    }

    /// `lab up`: network, real servers, digests, configurations, directors; waits until the
    /// master holds the VIP.
    public func up() throws {
        if let problem = options.problem(in: topology) {
            throw LabFailure(step: "checking the options", detail: problem, nothingCreated: true)
        }
        try refuseIfExists()
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        chmod((stateDirectory as NSString).deletingLastPathComponent, 0o755)
        var state = LabState(prefix: topology.prefix, options: options)
        try save(state)
        log("creating namespaces \(topology.namespaces.joined(separator: " "))")
        try createNetwork(state: &state)
        let server = options.webServer.map { "'\($0.joined(separator: " "))'" } ?? "nginx"
        log("real servers: vigil realserver setup --vip \(LabTopology.vip), \(server) with each server's page")
        try startRealServers(state: &state)
        let digests = try computeDigests()
        for rs in topology.realServers { log("vigil genhash -s \(rs.address) -p 80 -u /  ->  \(digests[rs.address]!)") }
        try writeConfigs(digests: digests)
        for d in [topology.master, topology.backup] { log("\(d.name): \(describe(d))") }
        try startDirector(topology.master, state: &state)
        try startDirector(topology.backup, state: &state)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if vipHolders().map(\.name) == [topology.master.name] { break }
            usleep(100_000)
        }
        guard vipHolders().map(\.name) == [topology.master.name] else {
            throw LabFailure(step: "waiting for V11 to become master", detail: "the VIP is on \(vipHolders().map(\.name)); see \(logPath(topology.master))")
        }
        // The directors write their status once a second: a `lab status` right after `lab up`
        // should already show V11 as master.
        usleep(1_100_000)
        log("V11 is MASTER and holds \(LabTopology.vip); lab is up (state in \(stateDirectory))")
    }

    /// `lab status`: VRRP state, VIP location, each director's table and real-server health.
    public func status() -> String {
        var out = ""
        let holders = vipHolders().map(\.name)
        out += "VIP \(LabTopology.vip) is on: \(holders.isEmpty ? "no director" : holders.joined(separator: ", "))\n"
        for d in topology.hosts where d.role == .director {
            out += "\n== \(d.name) (\(d.namespace))\n"
            if runsKeepalived(d) {
                let last = directorLog(d).split(separator: "\n").last { $0.contains("Entering") && $0.contains("STATE") }
                out += "VRRP by keepalived -P; its last transition: \(last.map(String.init) ?? "none yet")\n"
                out += "checkers and data plane by vigil run -C:\n"
            }
            let r = try? Self.capture(["ip", "netns", "exec", d.namespace, vigil, "status", "--status-file", statusPath(d)])
            out += r.map { $0.status == 0 ? $0.stdout : $0.stderr } ?? "not running\n"
        }
        return out
    }
}
