import Foundation
import Lab
import NetCore
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The reference scenario in namespaces (vigil lab's topology) with two `vigil run` directors,
/// plus what the survival tests need: a large file on every real server, served at 1 MiB/s by
/// nginx's `/slow/` location, N parallel downloads from the client, and config rewrites + SIGHUP.
final class SurvivalLab: @unchecked Sendable {
    static let fileSize = 10 * 1024 * 1024  // 10 s at nginx's limit_rate 1m
    let runner: LabRunner
    var state: LabState
    var digests: [IPv4Address: String] = [:]
    var topology: LabTopology { runner.topology }
    var log: [String] = []

    init(prefix: String) {
        runner = LabRunner(prefix: prefix, stateRoot: "/tmp/vigil-lab-tests", vigil: vigilBinaryPath, log: { _ in })
        // LabState has no public initializer; an empty one decodes from its JSON form.
        state = try! JSONDecoder().decode(LabState.self, from: Data(#"{"prefix":"\#(prefix)","namespaces":[],"processes":[]}"#.utf8))
    }

    var bigFile: String { "\(runner.stateDirectory)/V12/www/big.bin" }
    func configPath(_ h: LabTopology.Host) -> String { "\(runner.stateDirectory)/\(h.name).conf" }
    func statusPath(_ h: LabTopology.Host) -> String { "\(runner.stateDirectory)/\(h.name).status.json" }

    /// Network, real servers with the big file, configs (`edit` rewrites the scenario's text),
    /// both directors; waits until V11 holds the VIP and V15 is BACKUP.
    func up(env: [String: String] = [:], edit: (String) -> String = { $0 }) throws {
        runner.down()
        try FileManager.default.createDirectory(atPath: runner.stateDirectory, withIntermediateDirectories: true)
        chmod((runner.stateDirectory as NSString).deletingLastPathComponent, 0o755)
        chmod(runner.stateDirectory, 0o755)
        try runner.createNetwork(state: &state)
        try runner.startRealServers(state: &state)
        // Same bytes on every server, so size and content can be checked whoever served a flow.
        var bytes = [UInt8](repeating: 0, count: Self.fileSize)
        var x: UInt32 = 2_463_534_242
        for i in bytes.indices {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5
            bytes[i] = UInt8(truncatingIfNeeded: x)
        }
        for rs in topology.realServers {
            _ = FileManager.default.createFile(atPath: "\(runner.stateDirectory)/\(rs.name)/www/big.bin", contents: Data(bytes))
        }
        // The pages' MD5s, as HTTP_GET checks them (vigil genhash would compute the same).
        for rs in topology.realServers { digests[rs.address] = LabPages.digest(of: topology.page(of: rs)) }
        try writeConfigs(edit)
        for (k, v) in env { setenv(k, v, 1) }
        defer { for k in env.keys { unsetenv(k) } }
        try runner.startDirector(topology.master, state: &state)
        try runner.startDirector(topology.backup, state: &state)
        guard waitUntil(timeout: 20, { runner.vipHolders().map(\.name) == ["V11"] && vrrpState(topology.backup) == "BACKUP" }) else {
            throw LabError("V11 did not become master: VIP on \(runner.vipHolders().map(\.name)); log:\n\(runner.directorLog(topology.master).suffix(2000))")
        }
    }

    func writeConfigs(_ edit: (String) -> String) throws {
        try edit(LabConfigs.master(digests: digests)).write(toFile: configPath(topology.master), atomically: true, encoding: .utf8)
        try edit(LabConfigs.backup(digests: digests)).write(toFile: configPath(topology.backup), atomically: true, encoding: .utf8)
    }

    /// Rewrites both configurations and sends SIGHUP to both directors.
    func reload(_ edit: @escaping (String) -> String) throws {
        try writeConfigs(edit)
        for d in [topology.master, topology.backup] {
            for p in state.processes where p.what == "vigil run \(d.name)" { kill(p.pid, SIGHUP) }
        }
    }

    func vrrpState(_ d: LabTopology.Host) -> String? {
        guard let data = FileManager.default.contents(atPath: statusPath(d)),
            let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let inst = (obj["instances"] as? [[String: Any]])?.first
        else { return nil }
        return inst["state"] as? String
    }

    /// The director's status snapshot as JSON.
    func status(_ d: LabTopology.Host) -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: statusPath(d)),
            let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [:] }
        return obj
    }

    /// Entries in the director's connection map of the lab's service.
    func mapEntries(_ d: LabTopology.Host) -> Int {
        let out = (try? runner.run(["nft", "-j", "list", "maps", "netdev"], in: d.namespace)) ?? ""
        guard let obj = try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any],
            let items = obj["nftables"] as? [[String: Any]]
        else { return 0 }
        return items.compactMap { $0["map"] as? [String: Any] }.filter { ($0["name"] as? String)?.hasPrefix("conn_") ?? false }
            .reduce(0) { $0 + (($1["elem"] as? [Any])?.count ?? 0) }
    }

    /// Established connections to port 80 on a real server.
    func established(_ rs: LabTopology.Host) -> Int {
        let out = (try? runner.run(["ss", "-Htn", "state", "established", "( sport = :80 )"], in: rs.namespace)) ?? ""
        return out.split(separator: "\n").count
    }

    /// Starts `n` downloads of the big file through the VIP. The client's receive buffer is kept
    /// small (nft-dataplane.md §4.3) so the server cannot push the file into it early: the flow
    /// stays active, with the ACK stream through the director, for the whole download.
    func startDownloads(_ n: Int, timeout: Int = 60) throws -> Process {
        let script = """
            sysctl -qw net.ipv4.tcp_rmem="4096 65536 131072"
            for i in $(seq \(n)); do
              ( curl -sS -m \(timeout) http://\(LabTopology.vip)/slow/big.bin 2>/dev/null | cmp -s - \(bigFile); echo "$i ${PIPESTATUS[0]} ${PIPESTATUS[1]}" ) &
            done
            wait
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ip", "netns", "exec", topology.client.namespace, "bash", "-c", script]
        let out = "\(runner.stateDirectory)/downloads.out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: out)
        p.standardError = FileHandle.nullDevice
        try p.run()
        downloads = p
        return p
    }

    /// The running download batch (ended by `down()` if a test stops early).
    var downloads: Process?

    /// Waits for the downloads; returns how many completed with every byte right, and the lines.
    func finish(_ p: Process) -> (ok: Int, lines: [String]) {
        p.waitUntilExit()
        let text = (try? String(contentsOfFile: "\(runner.stateDirectory)/downloads.out", encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n").map(String.init)
        let ok = lines.filter { $0.split(separator: " ").dropFirst().allSatisfy { $0 == "0" } }.count
        return (ok, lines)
    }

    /// Which real server's page answers `n` fresh requests (short connections through the VIP).
    func pages(_ n: Int) -> [String: Int] {
        var out: [String: Int] = [:]
        for _ in 0..<n {
            let r = (try? runner.run(["curl", "-sS", "-m", "5", "http://\(LabTopology.vip)/"], in: topology.client.namespace)) ?? "error"
            out[String(r.split(separator: " ").first ?? "error"), default: 0] += 1
        }
        return out
    }

    /// The master "dies": SIGKILL, its link down, its VIP and rules gone.
    func killMaster() {
        runner.signalDirector(topology.master, SIGKILL)
        let ns = topology.master.namespace
        _ = try? runner.run(["ip", "link", "set", "eth0", "down"], in: ns)
        _ = try? runner.run(["ip", "addr", "del", "\(LabTopology.vip)/32", "dev", "eth0"], in: ns)
        _ = try? runner.run(["nft", "delete", "table", "netdev", "vigil"], in: ns)
    }

    func down() {
        if let p = downloads, p.isRunning {
            // Its own process group is not set; end the bash (by PID) and let curl's -m end the rest.
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        runner.down()
    }
}
