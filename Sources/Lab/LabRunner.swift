import Foundation
import NetCore
import SysCore

#if canImport(Glibc)
import Glibc
#endif

/// Why a lab command failed; says which step and what the system answered.
public struct LabFailure: Error, CustomStringConvertible {
    public var step: String
    public var detail: String
    public var description: String { "lab: \(step): \(detail)" }
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
}

/// Runs the lab's I/O: namespaces, links, servers and directors. Every step is an `ip`/program
/// invocation whose failure is reported with the command.
public final class LabRunner: @unchecked Sendable {
    public let topology: LabTopology
    public let stateDirectory: String
    /// The vigil binary used for the directors, `realserver` and `genhash` inside namespaces.
    public let vigil: String
    public var log: (String) -> Void

    public init(prefix: String, stateRoot: String = "/run/vigil-lab", vigil: String? = nil, log: @escaping (String) -> Void = { print($0) }) {
        topology = LabTopology(prefix: prefix)
        stateDirectory = "\(stateRoot)/\(prefix)"
        self.vigil = vigil ?? LabRunner.ownExecutable()
        self.log = log
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
        var pid: pid_t = 0
        let argv = ["ip", "netns", "exec", ns] + args
        var fa: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fa, 1, logFile, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&fa, 1, 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // Own process group: a Ctrl-C at the terminal reaches `lab`, which stops children by PID.
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attr, 0)
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

    static func startTime(of pid: Int32) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // Field 22 overall; after "pid (comm)" the list starts at field 3.
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    // MARK: up

    /// Creates the namespaces, the bridge and the links with the scenario's addresses.
    public func createNetwork(state: inout LabState) throws {
        let t = topology
        let existing = Set(try run(["ip", "netns", "list"]).split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        if let clash = t.namespaces.first(where: existing.contains) {
            throw LabFailure(step: "creating namespaces", detail: "namespace \(clash) already exists: run `vigil lab down --prefix \(t.prefix)` first, or choose another --prefix")
        }
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

    /// Starts nginx on each real server with its own page, after `vigil realserver setup`.
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
            try conf.write(toFile: "\(dir)/nginx.conf", atomically: true, encoding: .utf8)
            _ = try spawn(["nginx", "-c", "\(dir)/nginx.conf", "-e", "\(dir)/log/error.log", "-g", "daemon off;"], in: h.namespace, what: "nginx \(h.name)", logFile: "\(dir)/log/nginx.out", state: &state)
        }
    }

    // MARK: down

    /// Stops every recorded process (by PID, only if it is still the process we started) and
    /// deletes the lab's namespaces. Works from the state file or, without one, from the names.
    public func down() {
        let state = loadState()
        for p in (state?.processes ?? []).reversed() {
            guard let st = Self.startTime(of: p.pid), st == p.startTime else { continue }
            kill(p.pid, SIGTERM)
        }
        for p in (state?.processes ?? []).reversed() {
            var waited = 0
            while let st = Self.startTime(of: p.pid), st == p.startTime, waited < 300 {
                var status: Int32 = 0
                _ = waitpid(p.pid, &status, WNOHANG)
                usleep(10_000)
                waited += 1
            }
            if let st = Self.startTime(of: p.pid), st == p.startTime { kill(p.pid, SIGKILL) }
        }
        let names = Set((state?.namespaces ?? []) + topology.namespaces)
        let existing = Set(((try? run(["ip", "netns", "list"])) ?? "").split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        for ns in topology.namespaces.reversed() + names.subtracting(topology.namespaces).sorted() where existing.contains(ns) {
            _ = try? run(["ip", "netns", "del", ns])
        }
        try? FileManager.default.removeItem(atPath: stateDirectory)
    }
}

// MARK: - directors, digests, status

extension LabRunner {
    func configPath(_ director: LabTopology.Host) -> String { "\(stateDirectory)/\(director.name).conf" }
    func logPath(_ director: LabTopology.Host) -> String { "\(stateDirectory)/\(director.name).log" }
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

    /// Starts `vigil run` on a director with the lab's configuration for it.
    @discardableResult
    public func startDirector(_ d: LabTopology.Host, state: inout LabState) throws -> Int32 {
        state.processes.removeAll { $0.what == "vigil run \(d.name)" && Self.startTime(of: $0.pid) != $0.startTime }
        return try spawn(
            [vigil, "run", "-f", configPath(d), "--status-file", statusPath(d), "--nft-table", "vigil"],
            in: d.namespace, what: "vigil run \(d.name)", logFile: logPath(d), state: &state)
    }

    /// Sends `signal` to a director's `vigil run` and waits up to 10 s for it to end.
    public func signalDirector(_ d: LabTopology.Host, _ sig: Int32) {
        guard let state = loadState() else { return }
        for p in state.processes where p.what == "vigil run \(d.name)" {
            guard let st = Self.startTime(of: p.pid), st == p.startTime else { continue }
            kill(p.pid, sig)
            for _ in 0..<1000 {
                var status: Int32 = 0
                if waitpid(p.pid, &status, WNOHANG) == p.pid { break }
                guard let st2 = Self.startTime(of: p.pid), st2 == p.startTime else { break }
                usleep(10_000)
            }
        }
    }

    /// Which directors hold the VIP on eth0 now.
    public func vipHolders() -> [LabTopology.Host] {
        topology.hosts.filter { $0.role == .director }.filter { d in
            let out = (try? run(["ip", "-4", "-o", "addr", "show", "dev", LabTopology.interface], in: d.namespace)) ?? ""
            return out.contains(" \(LabTopology.vip)/")
        }
    }

    /// The lines a director logged so far.
    public func directorLog(_ d: LabTopology.Host) -> String {
        (try? String(contentsOfFile: logPath(d), encoding: .utf8)) ?? ""
    }

    /// `lab up`: network, real servers, digests, configurations, directors; waits until the
    /// master holds the VIP.
    public func up() throws {
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        chmod((stateDirectory as NSString).deletingLastPathComponent, 0o755)
        var state = loadState() ?? LabState(prefix: topology.prefix)
        try save(state)
        log("creating namespaces \(topology.namespaces.joined(separator: " "))")
        try createNetwork(state: &state)
        log("real servers: vigil realserver setup --vip \(LabTopology.vip), nginx with each server's page")
        try startRealServers(state: &state)
        let digests = try computeDigests()
        for rs in topology.realServers { log("vigil genhash -s \(rs.address) -p 80 -u /  ->  \(digests[rs.address]!)") }
        try writeConfigs(digests: digests)
        log("directors: vigil run -f \(configPath(topology.master)) (V11), \(configPath(topology.backup)) (V15)")
        try startDirector(topology.master, state: &state)
        try startDirector(topology.backup, state: &state)
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if vipHolders().map(\.name) == [topology.master.name] { break }
            usleep(100_000)
        }
        guard vipHolders().map(\.name) == [topology.master.name] else {
            throw LabFailure(step: "waiting for V11 to become master", detail: "the VIP is on \(vipHolders().map(\.name)); see \(logPath(topology.master))")
        }
        log("V11 is MASTER and holds \(LabTopology.vip); lab is up (state in \(stateDirectory))")
    }

    /// `lab status`: VRRP state, VIP location, each director's table and real-server health.
    public func status() -> String {
        var out = ""
        let holders = vipHolders().map(\.name)
        out += "VIP \(LabTopology.vip) is on: \(holders.isEmpty ? "no director" : holders.joined(separator: ", "))\n"
        for d in topology.hosts where d.role == .director {
            out += "\n== \(d.name) (\(d.namespace))\n"
            let r = try? Self.capture(["ip", "netns", "exec", d.namespace, vigil, "status", "--status-file", statusPath(d)])
            out += r.map { $0.status == 0 ? $0.stdout : $0.stderr } ?? "not running\n"
        }
        return out
    }
}
