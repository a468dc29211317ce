import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The whole control loop on the nftables data plane: checkers decide, the pool the kernel
/// holds (read back by the daemon into its status file) follows, scripts and the FIFO report.
@Suite(.serialized, .enabled(if: isRoot)) struct KernelPoolTests {
    static let service = "[\(DRLab.vip)]:tcp:80"
    static let slack = 2.5

    static func realServer(_ lab: DRLab, _ name: String, extra: String = "") -> String {
        """
            real_server \(lab.address(name)) 80 {
                weight 1
                \(extra)
                notify_up "/bin/sh \(lab.dir)/notify.sh up \(name)"
                notify_down "/bin/sh \(lab.dir)/notify.sh down \(name)"
                HTTP_GET {
                    url {
                        path /
                        digest \(md5(lab.page(name)))
                    }
                    connect_timeout 2
                    retry 1
                    delay_before_retry 1
                }
            }

        """
    }

    static func config(_ lab: DRLab) -> String {
        """
        global_defs {
            router_id vgk
            default_interface eth0
            lvs_notify_fifo \(lab.dir)/lvs.fifo
        }
        virtual_server \(DRLab.vip) 80 {
            delay_loop 1
            lb_algo rr
            lb_kind DR
            protocol TCP
            quorum 2
            omega
            quorum_up "/bin/sh \(lab.dir)/notify.sh quorum up"
            quorum_down "/bin/sh \(lab.dir)/notify.sh quorum down"
            sorry_server \(lab.address("s")) 80
            sorry_server_inhibit

        """ + realServer(lab, "a") + realServer(lab, "b") + realServer(lab, "c", extra: "inhibit_on_failure")
            + realServer(lab, "e", extra: "alpha") + "}\n"
    }

    /// Waits until the kernel pool is `expected`; every pool read on the way must be the
    /// previous one or one of `allowed`. Returns the time taken, or records why not.
    static func expectPool(
        _ vigil: VigilUnderTest, _ expected: [String: Int32], from previous: [String: Int32], allowed: [[String: Int32]] = [],
        within bound: Double, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var unexpected: [String: Int32]?
        let t = timeUntil(timeout: bound + slack + 3) {
            guard let p = vigil.pool(service) else { return false }
            if p == expected { return true }
            if p != previous && !allowed.contains(p) && unexpected == nil { unexpected = p }
            return false
        }
        #expect(unexpected == nil, "\(what): the kernel held \(unexpected ?? [:]) on the way to \(expected)", sourceLocation: sourceLocation)
        guard let t else {
            Issue.record("\(what): the kernel pool is \(vigil.pool(service) ?? [:]), expected \(expected)\nlog:\n\(vigil.log)", sourceLocation: sourceLocation)
            return
        }
        #expect(t <= bound + slack, "\(what): took \(t) s, bound \(bound) s; log:\n\(vigil.log.split(separator: "\n").suffix(12).joined(separator: "\n"))", sourceLocation: sourceLocation)
    }

    @Test func theKernelPoolIsTheHealthySetAtEveryStep() throws {
        let lab = try DRLab(tag: "vgkkp", servers: ["a", "b", "c", "e", "s"])
        defer { lab.teardown() }
        try "echo \"$1 $2\" >> \(lab.dir)/notify.log\n".write(toFile: "\(lab.dir)/notify.sh", atomically: true, encoding: .utf8)
        // e starts broken and is alpha: it must never reach the kernel until its check passes.
        try lab.setPage("e", "broken\n")
        mkfifo("\(lab.dir)/lvs.fifo", 0o600)
        let fifo = open("\(lab.dir)/lvs.fifo", O_RDONLY | O_NONBLOCK)
        defer { close(fifo) }

        let vigil = VigilUnderTest(lab: lab.lab, ns: lab.director, dir: lab.dir)
        try vigil.start(config: Self.config(lab), arguments: ["-C", "--dataplane", "nftables", "--nft-table", "vigil"])
        let a = "\(lab.address("a")):80", b = "\(lab.address("b")):80", c = "\(lab.address("c")):80"
        let e = "\(lab.address("e")):80", s = "\(lab.address("s")):80"
        let all: [String: Int32] = [a: 1, b: 1, c: 1, s: 0]
        #expect(waitUntil(timeout: 15) { vigil.pool(Self.service) == all }, "start: \(vigil.pool(Self.service) ?? [:])\n\(vigil.log)")

        // A long download (3 MB, rate-limited to 300 kB/s by nginx) through the VIP to whichever server rr picks.
        let download = try lab.lab.spawn(lab.client, ["curl", "-s", "-S", "-o", "\(lab.dir)/dl.bin", "-w", "%{size_download}", "http://\(DRLab.vip)/slow/big.bin"], logPath: "\(lab.dir)/dl.out")
        var holder: String?
        _ = waitUntil(timeout: 8) { holder = lab.serverWithClientConnection(); return holder != nil }
        let x = try #require(holder, "no real server carries the download: curl \(download.isRunning ? "running" : "exited \(download.terminationStatus)") \((try? String(contentsOfFile: "\(lab.dir)/dl.out", encoding: .utf8)) ?? "")\nlog:\n\(vigil.log)")
        let y = x == "a" ? "b" : "a"
        let ya = "\(lab.address(y)):80"

        // y fails its digest: it leaves the kernel pool within delay_loop × (retry + 1) + connect_timeout.
        try lab.setPage(y, "changed\n")
        var without = all
        without[ya] = nil
        Self.expectPool(vigil, without, from: all, within: 1 * 2 + 2, "digest failure of \(y)")
        lab.expectNotes(["down \(y)"])
        // Restored: back within one delay_loop.
        try lab.setPage(y, lab.page(y))
        Self.expectPool(vigil, all, from: without, within: 1, "\(y) restored")
        lab.expectNotes(["up \(y)"])
        #expect(download.isRunning, "the download ended before the pool changes it must survive")
        // The download on x was never cut.
        let finished = waitUntil(timeout: 20) { !download.isRunning }
        #expect(finished && download.terminationStatus == 0, "download through \(x): \(String(describing: try? String(contentsOfFile: "\(lab.dir)/dl.out", encoding: .utf8)))")
        let size = (try? FileManager.default.attributesOfItem(atPath: "\(lab.dir)/dl.bin")[.size] as? Int) ?? 0
        #expect(size == 3_000_000)

        // inhibit_on_failure: c stays in the kernel at weight 0.
        try lab.setPage("c", "changed\n")
        let cInhibited: [String: Int32] = [a: 1, b: 1, c: 0, s: 0]
        Self.expectPool(vigil, cInhibited, from: all, within: 4, "inhibited failure of c")
        lab.expectNotes(["down c"])
        // a fails too: weight 1 < quorum 2, so the sorry server takes over (c stays at 0).
        try lab.setPage("a", "changed\n")
        let sorry: [String: Int32] = [c: 0, s: 1]
        Self.expectPool(vigil, sorry, from: cInhibited, within: 4, "quorum lost")
        lab.expectNotes(["down a", "quorum down"])
        // a and c return: quorum regained, the sorry server back to weight 0.
        try lab.setPage("a", lab.page("a"))
        try lab.setPage("c", lab.page("c"))
        Self.expectPool(vigil, all, from: sorry, allowed: [cInhibited, [b: 1, c: 1, s: 0]], within: 1, "quorum regained")
        lab.expectNotes(["up a", "up c", "quorum up"])
        // The alpha server joins once its check passes.
        try lab.setPage("e", lab.page("e"))
        var withE = all
        withE[e] = 1
        Self.expectPool(vigil, withE, from: all, within: 1, "alpha server passing")
        lab.expectNotes(["up e"])

        // omega: shutdown runs notify_down for every live server and quorum_down, and empties the pool.
        #expect(vigil.stop() == 0, "log:\n\(vigil.log)")
        let nft = try lab.lab.run(lab.director, ["nft", "list", "table", "netdev", "vigil"])
        #expect(!nft.stdout.contains(DRLab.vip), "services left in the kernel:\n\(nft.stdout)\nlog:\n\(vigil.log)")

        let lines = lab.notes()
        #expect(lines.filter { $0 == "quorum down" }.count == 2 && lines.filter { $0 == "quorum up" }.count == 1, "quorum scripts: \(lines)")
        // omega: one notify_down per server alive at shutdown.
        for n in ["a", "b", "c", "e"] {
            #expect(lines.suffix(5).contains("down \(n)"), "omega: no notify_down for \(n) at shutdown: \(lines)")
        }

        // lvs_notify_fifo, keepalived's lines.
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = read(fifo, &buf, buf.count)
        let fifoText = n > 0 ? String(decoding: buf[..<n], as: UTF8.self) : ""
        let yRS = "[\(lab.address(y))]:tcp:80"
        for line in [
            "RS \(yRS) \(Self.service) DOWN", "RS \(yRS) \(Self.service) UP",
            "RS [\(lab.address("c"))]:tcp:80 \(Self.service) DOWN",
            "VS \(Self.service) DOWN", "VS \(Self.service) UP",
            "RS [\(lab.address("e"))]:tcp:80 \(Self.service) UP",
        ] {
            #expect(fifoText.contains(line + "\n"), "FIFO has no '\(line)':\n\(fifoText)")
        }
        let log = vigil.log
        #expect(log.contains("Disabling service [\(lab.address("c"))]:tcp:80 of VS \(Self.service)"))
        #expect(log.contains("Lost quorum 2-0=2 > 1 for VS \(Self.service)"))
        #expect(log.contains("Shutting down service [\(lab.address("a"))]:tcp:80 from VS \(Self.service)"))
    }

    /// lc with upper thresholds on the nftables engine: `vigil run` re-plans from the live
    /// connection counts, so a server holding its threshold's worth of connections gets no new
    /// one (without the periodic re-plan the first plan, from zero counts, would stay forever).
    @Test func leastConnectionFollowsLiveCountsUnderVigilRun() throws {
        let lab = try DRLab(tag: "vgklc", servers: ["a", "b"])
        defer { lab.teardown() }
        let config = """
            global_defs {
                router_id vgk
                default_interface eth0
                lvs_timeouts tcp 2 tcpfin 2 udp 2
            }
            virtual_server \(DRLab.vip) 80 {
                lb_algo lc
                lb_kind DR
                protocol TCP
                real_server \(lab.address("a")) 80 {
                    uthreshold 1
                }
                real_server \(lab.address("b")) 80 {
                    uthreshold 1
                }
            }

            """
        let vigil = VigilUnderTest(lab: lab.lab, ns: lab.director, dir: lab.dir)
        try vigil.start(config: config, arguments: ["-C", "--dataplane", "nftables", "--nft-table", "vigil"])
        let a = "\(lab.address("a")):80", b = "\(lab.address("b")):80"
        #expect(waitUntil(timeout: 15) { vigil.pool(Self.service) == [a: 1, b: 1] }, "start: \(vigil.pool(Self.service) ?? [:])\n\(vigil.log)")
        // 6 MB at nginx's 300 kB/s: about 20 s, longer than the requests below take.
        for n in ["a", "b"] { try lab.lab.sh(nil, "head -c 6000000 /dev/zero > \(lab.dir)/\(n)/www/huge.bin && chmod 644 \(lab.dir)/\(n)/www/huge.bin") }
        let download = try lab.lab.spawn(lab.client, ["curl", "-s", "-o", "/dev/null", "http://\(DRLab.vip)/slow/huge.bin"], logPath: "\(lab.dir)/lc-dl.out")
        defer { if download.isRunning { kill(download.processIdentifier, SIGKILL) } }
        var holder: String?
        _ = waitUntil(timeout: 8) { holder = lab.serverWithClientConnection(); return holder != nil }
        let x = try #require(holder, "no real server carries the download")
        let other = x == "a" ? "b" : "a"
        var answers: [String] = []
        for _ in 0..<3 {
            // Past one re-plan (2 s) and the short timeout of the previous request's entry (2 s).
            Thread.sleep(forTimeInterval: 4.5)
            let r = try lab.lab.run(lab.client, ["curl", "-s", "-m", "3", "http://\(DRLab.vip)/"])
            answers.append(r.stdout)
        }
        #expect(download.isRunning, "the download must still hold \(x)")
        #expect(answers.allSatisfy { $0 == lab.page(other) }, "\(x) holds the download (1 connection = its uthreshold); new requests went to \(answers)")
        #expect(vigil.stop() == 0, "log:\n\(vigil.log)")
    }
}
