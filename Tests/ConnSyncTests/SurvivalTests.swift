import Foundation
import Lab
import NetCore
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 7 through `vigil run` on the lab's topology (nftables engine): 20 downloads of 10 s
/// each keep going, complete and byte-exact, across a master kill, a drain, a reload and a
/// weight change.
@Suite(.serialized, .enabled(if: getuid() == 0, "needs root for namespaces and nftables"))
struct SurvivalTests {
    static let flows = 20

    func withLab(_ name: String, env: [String: String] = [:], edit: @escaping (String) -> String = { $0 }, _ body: (SurvivalLab) throws -> Void) throws {
        let lab = SurvivalLab(prefix: "vgx\(name)\(getpid() % 1000)")
        defer { lab.down() }
        try lab.up(env: env, edit: edit)
        try body(lab)
    }

    func expectAllCompleted(_ lab: SurvivalLab, _ p: Process, _ what: String) {
        let r = lab.finish(p)
        #expect(r.lines.count == Self.flows, "\(what): \(r.lines)")
        #expect(r.ok == Self.flows, "\(what): \(r.ok)/\(Self.flows) complete and byte-exact; curl/cmp status per flow: \(r.lines)\nmaster log:\n\(lab.runner.directorLog(lab.topology.master).suffix(1500))\nbackup log:\n\(lab.runner.directorLog(lab.topology.backup).suffix(1500))")
    }

    /// rr (the reference scenario): the backup learns the flows from the master's sync.
    @Test func roundRobinFlowsSurviveAMasterKill() throws {
        try withLab("rr") { lab in
            let t0 = Date()
            let p = try lab.startDownloads(Self.flows)
            // Flows are established and older than the sync lag before the master dies.
            #expect(waitUntil(timeout: 5) { lab.mapEntries(lab.topology.backup) >= Self.flows }, "backup map has \(lab.mapEntries(lab.topology.backup)) entries")
            // Upper bound of the sync lag: from starting 20 curls to all 20 entries on the backup.
            print("sync lag: 20 new flows on the backup within \(Int(Date().timeIntervalSince(t0) * 1000)) ms of starting the clients")
            // Forged and garbage datagrams at the backup's sync port are rejected and counted. Sent
            // once the backup has shown it receives sync (earlier, its socket may not be bound yet).
            let forged = "VGCS\\x01\\x33\\x00\\x00" + String(repeating: "\\x00", count: 52)
            _ = try lab.runner.run(["bash", "-c", "printf '\(forged)' > /dev/udp/192.168.0.15/8848; printf 'hello' > /dev/udp/192.168.0.15/8848"], in: lab.topology.client.namespace)
            var rejected: [String: Int]?
            let counted = waitUntil(timeout: 3) {
                rejected = ((lab.status(lab.topology.backup)["connectionSync"] as? [String: Any])?["receiver"] as? [String: Any])?["rejected"] as? [String: Int]
                return rejected?["unauthenticated"] == 1 && rejected?["malformed"] == 1
            }
            #expect(counted, "rejected: \(String(describing: rejected))")
            lab.killMaster()
            #expect(waitUntil(timeout: 10) { lab.runner.vipHolders().map(\.name) == ["V15"] })
            expectAllCompleted(lab, p, "rr, master killed")
            let sync = lab.status(lab.topology.backup)["connectionSync"] as? [String: Any]
            let recv = sync?["receiver"] as? [String: Any]
            #expect((recv?["entriesAccepted"] as? Int ?? 0) >= Self.flows)
        }
    }

    /// mh: no state is exchanged at all (sync off); both directors hash a flow the same way.
    @Test func maglevFlowsSurviveAMasterKillWithoutSync() throws {
        try withLab("mh", env: ["VIGIL_CONN_SYNC": "off"], edit: { $0.replacingOccurrences(of: "lb_algo rr", with: "lb_algo mh") }) { lab in
            let p = try lab.startDownloads(Self.flows)
            usleep(2_000_000)
            #expect(lab.mapEntries(lab.topology.backup) == 0, "no sync: the backup's map stays empty")
            lab.killMaster()
            #expect(waitUntil(timeout: 10) { lab.runner.vipHolders().map(\.name) == ["V15"] })
            expectAllCompleted(lab, p, "mh, master killed, no sync")
        }
    }

    /// Weight 0 (SIGHUP): V12's flows finish, V12 gets no new connection.
    @Test func drainingAServerKeepsItsFlows() throws {
        try withLab("dr") { lab in
            let p = try lab.startDownloads(Self.flows)
            usleep(1_500_000)
            let v12 = lab.topology.realServers[0]
            #expect(lab.established(v12) > 0, "V12 carries some of the downloads before the drain")
            try lab.reload { drainV12($0) }
            usleep(1_000_000)
            let pages = lab.pages(9)
            #expect(pages["web1"] == nil && pages.values.reduce(0, +) == 9, "after the drain: \(pages)")
            expectAllCompleted(lab, p, "drain V12 (weight 0)")
        }
    }

    /// SIGHUP with a configuration that removes V12 and adds V14.
    @Test func reloadThatAddsAndRemovesServersKeepsFlows() throws {
        try withLab("rl", edit: { removeServer($0, "192.168.0.14") }) { lab in
            let p = try lab.startDownloads(Self.flows)
            usleep(1_500_000)
            #expect(lab.established(lab.topology.realServers[0]) > 0)
            #expect(lab.established(lab.topology.realServers[2]) == 0)
            try lab.reload { removeServer($0, "192.168.0.12") }
            usleep(1_000_000)
            let pages = lab.pages(10)
            #expect(pages["web1"] == nil && (pages["web3"] ?? 0) > 0, "after the reload: \(pages)")
            expectAllCompleted(lab, p, "reload: -V12 +V14")
        }
    }

    /// SIGHUP with weights 1,1,1 → 3,2,1 (the rr slot list changes under the flows).
    @Test func weightChangeKeepsFlows() throws {
        try withLab("wt", edit: { $0.replacingOccurrences(of: "lb_algo rr", with: "lb_algo wrr") }) { lab in
            let p = try lab.startDownloads(Self.flows)
            usleep(1_500_000)
            try lab.reload { setWeights($0.replacingOccurrences(of: "lb_algo rr", with: "lb_algo wrr"), [3, 2, 1]) }
            usleep(1_000_000)
            let pages = lab.pages(12)
            #expect(pages["web1"] == 6 && pages["web2"] == 4 && pages["web3"] == 2, "wrr 3:2:1 after the reload: \(pages)")
            expectAllCompleted(lab, p, "weights 1,1,1 -> 3,2,1")
        }
    }
}

/// Sets V12's weight to 0.
func drainV12(_ text: String) -> String { setWeights(text, [0, 1, 1]) }

/// Replaces the `weight` lines of the three real servers in order.
func setWeights(_ text: String, _ w: [Int]) -> String {
    var i = 0
    return text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
        let t = line.trimmingCharacters(in: .whitespaces)
        guard t.hasPrefix("weight "), i < w.count else { return String(line) }
        defer { i += 1 }
        return "        weight \(w[i])"
    }.joined(separator: "\n")
}

/// Removes the `real_server ADDR 80 { … }` block.
func removeServer(_ text: String, _ addr: String) -> String {
    var out: [Substring] = []
    var depth = 0
    var skipping = false
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if !skipping, words.first == "real_server", words.count > 1, words[1] == addr {
            skipping = true
            depth = 0
        }
        if skipping {
            depth += line.filter { $0 == "{" }.count - line.filter { $0 == "}" }.count
            if depth <= 0 && line.contains("}") { skipping = false }
            continue
        }
        out.append(line)
    }
    return out.joined(separator: "\n")
}
