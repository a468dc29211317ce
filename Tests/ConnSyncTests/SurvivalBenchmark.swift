import Foundation
import Lab
import NetCore
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// bench/survival: the share of established flows that survive a master kill, a graceful
/// failover, a drain and a reload, for Vigil and for keepalived-style operation (same engine,
/// connection map without the hash fallback and without sync); plus the sync lag and cost.
/// Runs only with VIGIL_BENCH=1 (bench/survival/run.sh).
@Suite(.serialized, .enabled(if: getuid() == 0 && ProcessInfo.processInfo.environment["VIGIL_BENCH"] == "1"))
struct SurvivalBenchmark {
    static let flows = 20
    enum Mode: String, CaseIterable { case vigil = "Vigil", keepalived = "keepalived-style" }
    enum Event: String, CaseIterable {
        case masterKill = "master kill (SIGKILL, link down)"
        case graceful = "graceful failover (SIGTERM on the master)"
        case drain = "drain (weight 0, SIGHUP)"
        case reload = "reload removing one server and adding another (SIGHUP)"
    }

    func run(_ mode: Mode, _ event: Event) throws -> (ok: Int, seconds: Double) {
        let lab = SurvivalLab(prefix: "vgxb\(getpid() % 1000)")
        defer { lab.down() }
        let env = mode == .keepalived ? ["VIGIL_CONN_SYNC": "off", "VIGIL_NFT_MISS": "keepalived"] : [:]
        try lab.up(env: env, edit: event == .reload ? { removeServer($0, "192.168.0.14") } : { $0 })
        let t0 = Date()
        let p = try lab.startDownloads(Self.flows, timeout: 40)
        usleep(2_000_000)
        switch event {
        case .masterKill: lab.killMaster()
        case .graceful: lab.runner.signalDirector(lab.topology.master, SIGTERM)
        case .drain: try lab.reload { drainV12($0) }
        case .reload: try lab.reload { removeServer($0, "192.168.0.12") }
        }
        let r = lab.finish(p)
        return (r.ok, Date().timeIntervalSince(t0))
    }

    /// Sync lag: time from an entry appearing in the master's map to it appearing in the backup's.
    func lag(_ lab: SurvivalLab) throws -> [Double] {
        var lags: [Double] = []
        for _ in 0..<10 {
            let m0 = lab.mapEntries(lab.topology.master), b0 = lab.mapEntries(lab.topology.backup)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["ip", "netns", "exec", lab.topology.client.namespace, "curl", "-s", "-o", "/dev/null", "-m", "2", "http://\(LabTopology.vip)/slow/big.bin"]
            try p.run()
            var tm: Date?, tb: Date?
            let deadline = Date().addingTimeInterval(3)
            while Date() < deadline && tb == nil {
                if tm == nil && lab.mapEntries(lab.topology.master) > m0 { tm = Date() }
                if lab.mapEntries(lab.topology.backup) > b0 { tb = Date() }
            }
            p.waitUntilExit()
            if let tm, let tb { lags.append(max(0, tb.timeIntervalSince(tm)) * 1000) }
        }
        return lags.sorted()
    }

    /// Cost with a large map: N synthetic entries on the master; time until the backup holds them,
    /// and the master's poll time (read map + delta + send) as the status reports it.
    func bulk(_ lab: SurvivalLab, _ n: Int) throws -> (seconds: Double, pollMs: Double) {
        let sid = try lab.runner.run(["nft", "-j", "list", "maps", "netdev"], in: lab.topology.master.namespace)
            .components(separatedBy: "\"name\": \"conn_").dropFirst().first.map { String($0.prefix(8)) } ?? ""
        // The backup's count right before, so earlier entries (and their expiry) do not matter.
        _ = waitUntil(timeout: 12) { lab.mapEntries(lab.topology.backup) == lab.mapEntries(lab.topology.master) }
        let base = lab.mapEntries(lab.topology.backup)
        var els: [String] = []
        // Distinct client addresses per run (10.<100 + n % 97>.x.y), so no key exists already.
        for i in 0..<n { els.append("\(1024 + i % 60000) . 10.\(100 + n % 97 + i / 60000).\(i / 250 % 250).\(i % 250 + 1) timeout 300s : 0x00000001") }
        let t0 = Date()
        _ = try lab.runner.run(["nft", "-f", "-"], in: lab.topology.master.namespace, input: "add element netdev vigil conn_\(sid) { \(els.joined(separator: ", ")) }\n")
        let reached = waitUntil(timeout: 40) { lab.mapEntries(lab.topology.backup) >= base + n }
        let secs = reached ? Date().timeIntervalSince(t0) : .infinity
        usleep(1_500_000)
        let poll = (lab.status(lab.topology.master)["connectionSync"] as? [String: Any])?["lastFullPollMilliseconds"] as? Double ?? -1
        return (secs, poll)
    }

    @Test func survivalMatrix() throws {
        var md = "Flows: \(Self.flows) parallel downloads of a 10 MiB file at 1 MiB/s (nginx limit_rate), client tcp_rmem max 128 KiB; the event at t = 2 s. A flow survives when curl exits 0 and every byte matches.\n\n"
        md += "| event | " + Mode.allCases.map(\.rawValue).joined(separator: " | ") + " |\n|---|---|---|\n"
        for e in Event.allCases {
            var cells: [String] = []
            for m in Mode.allCases {
                let r = try run(m, e)
                cells.append("\(r.ok)/\(Self.flows) (\(Int((Double(r.ok) / Double(Self.flows) * 100).rounded())) %)")
                print("survival: \(e.rawValue) / \(m.rawValue): \(r.ok)/\(Self.flows) in \(String(format: "%.1f", r.seconds)) s")
            }
            md += "| \(e.rawValue) | " + cells.joined(separator: " | ") + " |\n"
        }
        print(md)
        if let out = ProcessInfo.processInfo.environment["VIGIL_BENCH_OUT"] { try md.write(toFile: out, atomically: true, encoding: .utf8) }
    }

    @Test func syncLagAndCost() throws {
        var md = ""
        let lab = SurvivalLab(prefix: "vgxl\(getpid() % 1000)")
        defer { lab.down() }
        try lab.up()
        let lags = try lag(lab)
        md += "\nSync lag (entry in the master's map → entry in the backup's map, 10 new flows, each map polled with `nft -j list maps` every ~10 ms, so ±10 ms): "
        md += lags.isEmpty ? "not measured\n" : "median \(Int(lags[lags.count / 2])) ms, max \(Int(lags.last!)) ms (poll interval 100 ms).\n"
        for n in [1_000, 10_000] {
            let b = try bulk(lab, n)
            let when = b.seconds.isFinite ? "\(Int(b.seconds * 1000)) ms" : "not within 40 s"
            md += "\n\(n) entries written straight into the master's conn map (not through the data path, so only the 10 s whole-map read sees them): all on the backup after \(when); last whole-map read on the master \(String(format: "%.0f", b.pollMs)) ms with \(lab.mapEntries(lab.topology.master)) entries."
        }
        md += "\n"
        print(md)
        if let out = ProcessInfo.processInfo.environment["VIGIL_BENCH_OUT"] { try md.write(toFile: out + ".sync.md", atomically: true, encoding: .utf8) }
    }
}
