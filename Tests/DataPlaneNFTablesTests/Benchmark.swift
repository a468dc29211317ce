import DataPlane
import DataPlaneNFTables
import Foundation
import NetCore
import TestSupport
import Testing

/// Throughput and update-time benchmark (bench/dataplane/run.sh). Runs only with VIGIL_BENCH=1.
@Suite(.serialized, .enabled(if: getuid() == 0 && ProcessInfo.processInfo.environment["VIGIL_BENCH"] == "1"))
struct DataPlaneBenchmark {
    func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

    struct WrkRun {
        var rps: Double
        var p50: Double  // ms
        var p99: Double  // ms
        var errors: String
    }

    /// wrk's latency percentiles ("50%    0.63ms") in milliseconds.
    static func latency(_ text: String, _ pct: String) -> Double {
        guard let line = text.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(pct) }),
            let v = line.split(separator: " ", omittingEmptySubsequences: true).last
        else { return 0 }
        let units: [(String, Double)] = [("us", 0.001), ("ms", 1), ("s", 1000)]
        for (u, f) in units where v.hasSuffix(u) { return (Double(v.dropLast(u.count)) ?? 0) * f }
        return 0
    }

    func wrk(_ lab: DataPlaneLab, script: String?, seconds: Int) throws -> WrkRun {
        var args = ["wrk", "-t3", "-c63", "-d\(seconds)s", "--latency"]
        if let script { args += ["-s", script] }
        // wrk connects to the URL's host once before setup(); point (a) at rs1.
        args.append(script == nil ? "http://\(lab.vip)/" : "http://10.77.0.12/")
        let r = try lab.lab.run(lab.cli, args, timeout: Double(seconds + 30))
        let line = r.stdout.split(separator: "\n").first { $0.hasPrefix("Requests/sec:") } ?? ""
        let rps = Double(line.split(separator: " ").last ?? "0") ?? 0
        var errs = ""
        for l in r.stdout.split(separator: "\n") where l.contains("Socket errors") || l.contains("Non-2xx") { errs += " " + l.trimmingCharacters(in: .whitespaces) }
        if rps == 0 { errs += " wrk failed: \(r.stdout) \(r.stderr)" }
        return WrkRun(rps: rps, p50: Self.latency(r.stdout, "50%"), p99: Self.latency(r.stdout, "99%"), errors: errs)
    }

    static let reference = """
        table netdev ref {
          map conn { type ipv4_addr . inet_service : mark; flags dynamic,timeout; timeout 5m; size 262144; }
          chain rs1 { ether saddr set 02:77:00:00:00:11 ether daddr set 02:77:00:00:00:12 fwd to "eth0"; }
          chain rs2 { ether saddr set 02:77:00:00:00:11 ether daddr set 02:77:00:00:00:13 fwd to "eth0"; }
          chain rs3 { ether saddr set 02:77:00:00:00:11 ether daddr set 02:77:00:00:00:14 fwd to "eth0"; }
          chain vip {
            tcp flags & (syn|ack) == syn meta mark set numgen inc mod 3 offset 1 update @conn { ip saddr . tcp sport : meta mark }
            meta mark set ip saddr . tcp sport map @conn update @conn { ip saddr . tcp sport : meta mark }
            meta mark vmap { 1 : goto rs1, 2 : goto rs2, 3 : goto rs3 }
          }
          chain ingress { type filter hook ingress device "eth0" priority 0; policy accept;
            ip daddr 10.77.0.21 tcp dport 80 jump vip; }
        }

        """

    @Test func throughputAndUpdateTimes() async throws {
        let seconds = Int(ProcessInfo.processInfo.environment["VIGIL_BENCH_SECONDS"] ?? "8") ?? 8
        let rounds = Int(ProcessInfo.processInfo.environment["VIGIL_BENCH_ROUNDS"] ?? "5") ?? 5
        let lab = try DataPlaneLab("bench")
        defer { lab.teardown() }
        let lua = "\(lab.dirTemp)/three.lua"
        try """
            local addrs = { "10.77.0.12", "10.77.0.13", "10.77.0.14" }
            local i = 0
            function setup(thread) i = i + 1; thread.addr = wrk.lookup(addrs[i], "80")[1] end
            """.write(toFile: lua, atomically: true, encoding: .utf8)
        let hap = "\(lab.dirTemp)/haproxy.cfg"
        try """
            global
              maxconn 8000
            defaults
              mode tcp
              timeout connect 5s
              timeout client 60s
              timeout server 60s
            frontend fe
              bind \(lab.vip):80
              default_backend be
            backend be
              balance roundrobin
              server rs1 10.77.0.12:80
              server rs2 10.77.0.13:80
              server rs3 10.77.0.14:80

            """.write(toFile: hap, atomically: true, encoding: .utf8)
        try lab.lab.spawn(lab.dir, ["haproxy", "-f", hap, "-db"], logPath: "\(lab.dirTemp)/haproxy.log")
        func clear() { _ = try? lab.lab.sh(lab.dir, "nft delete table netdev vigil; nft delete table inet vigil; nft delete table netdev ref; true") }
        var results: [String: [Double]] = [:]
        var p50s: [String: [Double]] = [:], p99s: [String: [Double]] = [:]
        var notes: [String] = []
        for round in 0..<rounds {
            for mode in ["a", "b", "e", "c", "d"] {
                clear()
                var script: String? = nil
                switch mode {
                case "a": script = lua
                case "b":
                    try await lab.backend().apply([.addService(service("rr"))])
                case "c":
                    try await lab.backend().apply([.addService(service("rr", nat: true))])
                case "e":
                    // The reference's minimal hybrid DR ruleset (nft-dataplane.md §2(b) with the
                    // per-packet refresh, marks offset by 1, no counters): the floor for any nft DR.
                    _ = try lab.lab.run(lab.dir, ["nft", "-f", "-"], input: Self.reference)
                default: break
                }
                try await Task.sleep(for: .seconds(1))
                let run = try wrk(lab, script: script, seconds: seconds)
                results[mode, default: []].append(run.rps)
                p50s[mode, default: []].append(run.p50)
                p99s[mode, default: []].append(run.p99)
                if !run.errors.isEmpty { notes.append("round \(round + 1) mode \(mode):\(run.errors)") }
            }
        }
        clear()
        let a = rounds == 0 ? 1 : median(results["a"]!)
        var report = rounds == 0 ? "" : "| path | req/s median | runs | ratio to (a) | paired ratio (median of per-round) | p50 ms | p99 ms |\n|---|---|---|---|---|---|---|\n"
        let names = ["a": "(a) direct to 3 rs (wrk lua, no LB)", "b": "(b) vigil DR on nftables (rr)", "e": "(e) reference minimal DR ruleset (§2(b) + per-packet refresh), not Vigil", "c": "(c) vigil NAT on nftables (rr)", "d": "(d) HAProxy 2.6 TCP mode (roundrobin)"]
        for m in ["a", "b", "e", "c", "d"] where rounds > 0 {
            let med = median(results[m]!)
            // Each round's ratio to the same round's (a): drift of the shared machine between
            // rounds cancels out.
            let paired = median(zip(results[m]!, results["a"]!).map { $0 / max($1, 1) })
            report += "| \(names[m]!) | \(Int(med)) | \(results[m]!.map { String(Int($0)) }.joined(separator: ", ")) | \(String(format: "%.2f", med / a)) | \(String(format: "%.2f", paired)) | \(String(format: "%.2f", median(p50s[m]!))) | \(String(format: "%.2f", median(p99s[m]!))) |\n"
        }
        if results["d"]?.contains(0) ?? false { notes.append("haproxy log: " + ((try? String(contentsOfFile: "\(lab.dirTemp)/haproxy.log", encoding: .utf8)) ?? "")) }
        if !notes.isEmpty { report += "\nErrors reported by wrk: " + notes.joined(separator: "; ") + "\n" }

        // Update times: a 1,000-server rr service, and a 65,537-slot Maglev table (100 servers).
        func bigService(_ n: Int, sched: String) -> (VirtualService, [IPAddress: MACAddress]) {
            var ms: [IPAddress: MACAddress] = [:]
            let ds = (0..<n).map { i -> Destination in
                let a = IPAddress("10.90.\(i / 250).\(i % 250 + 1)")!
                ms[a] = MACAddress(bytes: [2, 0x90, 0, 0, UInt8(i >> 8), UInt8(i & 0xff)])!
                return Destination(address: SocketAddress(address: a, port: 80), weight: 1)
            }
            return (VirtualService(key: .address(.tcp, sock("10.77.0.30", 80)), scheduler: sched, destinations: ds), ms)
        }
        func timeUpdates(_ n: Int, sched: String, maglev: Int?) async throws -> (Double, [Double]) {
            clear()
            let (svc, ms) = bigService(n, sched: sched)
            let be = NFTablesBackend(
                settings: NFTEngineSettings(interface: "eth0", maglevSize: maglev), commandPrefix: ["ip", "netns", "exec", lab.dir],
                staticMACs: ms)
            let t0 = Date()
            try await be.apply([.addService(svc.withoutDestinations)] + svc.destinations.map { .addDestination(svc.key, $0) })
            let create = Date().timeIntervalSince(t0) * 1000
            var times: [Double] = []
            for k in 0..<5 {
                var d = svc.destinations[k * 7]
                d.weight = 0
                let t = Date()
                try await be.apply([.editDestination(svc.key, d)])
                times.append(Date().timeIntervalSince(t) * 1000)
            }
            return (create, times)
        }
        let (c1, u1) = try await timeUpdates(1000, sched: "rr", maglev: nil)
        let (c2, u2) = try await timeUpdates(100, sched: "mh", maglev: 65537)
        clear()
        report += "\n| update | first creation ms | update ms median | 5 runs |\n|---|---|---|---|\n"
        report += "| 1,000 real servers, rr (quiesce one; slot map + hybrid fallback Maglev 4,093 slots) | \(Int(c1)) | \(Int(median(u1))) | \(u1.map { String(Int($0)) }.joined(separator: ", ")) |\n"
        report += "| 65,537-slot Maglev, mh, 100 servers (quiesce one) | \(Int(c2)) | \(Int(median(u2))) | \(u2.map { String(Int($0)) }.joined(separator: ", ")) |\n"
        print(report)
        if let out = ProcessInfo.processInfo.environment["VIGIL_BENCH_OUT"] { try report.write(toFile: out, atomically: true, encoding: .utf8) }
        #expect(a > 0 && u1.count == 5 && u2.count == 5)
    }
}
