import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// SIGHUP while `wrk` drives traffic through the VIP: no request fails, each reload reaches the
/// kernel, and a DOWN server stays DOWN across reloads until its checker passes.
@Suite(.serialized, .enabled(if: isRoot)) struct ReloadUnderLoadTests {
    static let service = "[\(DRLab.vip)]:tcp:80"

    static func config(_ lab: DRLab, servers: [String]) -> String {
        var text = """
            global_defs {
                router_id vgk
                default_interface eth0
            }
            virtual_server \(DRLab.vip) 80 {
                delay_loop 1
                lb_algo rr
                lb_kind DR
                protocol TCP

            """
        for name in servers {
            text += """
                    real_server \(lab.address(name)) 80 {
                        weight 1
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
        return text + "}\n"
    }

    @Test func tenReloadsUnderLoadFailNoRequest() throws {
        let lab = try DRLab(tag: "vgkrl", servers: ["a", "b", "c", "d"])
        defer { lab.teardown() }
        let a = "\(lab.address("a")):80", b = "\(lab.address("b")):80", c = "\(lab.address("c")):80", d = "\(lab.address("d")):80"
        // d serves a wrong page: it goes DOWN and must stay DOWN through every reload.
        try lab.setPage("d", "broken\n")
        let vigil = VigilUnderTest(lab: lab.lab, ns: lab.director, dir: lab.dir)
        try vigil.start(config: Self.config(lab, servers: ["a", "b", "d"]), arguments: ["-C", "--dataplane", "nftables", "--nft-table", "vigil"])
        #expect(waitUntil(timeout: 15) { vigil.pool(Self.service) == [a: 1, b: 1] }, "start: \(vigil.pool(Self.service) ?? [:])\n\(vigil.log)")

        let wrk = try lab.lab.spawn(lab.client, ["wrk", "-t2", "-c16", "-d16s", "--timeout", "5s", "http://\(DRLab.vip)/"], logPath: "\(lab.dir)/wrk.out")
        Thread.sleep(forTimeInterval: 1)
        var dSeen = false
        for i in 1...10 {
            let withC = i % 2 == 1
            try vigil.reload(config: Self.config(lab, servers: withC ? ["a", "b", "c", "d"] : ["a", "b", "d"]))
            let expected: [String: Int32] = withC ? [a: 1, b: 1, c: 1] : [a: 1, b: 1]
            let reached = waitUntil(timeout: 5) {
                let p = vigil.pool(Self.service)
                if p?[d] != nil { dSeen = true }
                return p == expected
            }
            #expect(reached, "reload \(i): kernel pool \(vigil.pool(Self.service) ?? [:]), expected \(expected)")
            #expect(wrk.isRunning, "wrk ended before reload \(i)")
        }
        #expect(!dSeen, "the DOWN server reached the kernel during a reload")
        #expect(waitUntil(timeout: 20) { !wrk.isRunning })
        let out = (try? String(contentsOfFile: "\(lab.dir)/wrk.out", encoding: .utf8)) ?? ""
        #expect(wrk.terminationStatus == 0, "wrk: \(out)")
        #expect(out.contains("requests in"), "wrk: \(out)")
        #expect(!out.contains("Non-2xx"), "failed requests during reloads:\n\(out)")
        #expect(!out.contains("Socket errors"), "socket errors during reloads:\n\(out)")
        let requests = out.split(separator: "\n").first { $0.contains("requests in") }.flatMap { Int($0.split(separator: " ").first ?? "") } ?? 0
        #expect(requests > 1000, "wrk: \(out)")
        #expect(vigil.log.components(separatedBy: "Reload complete").count - 1 == 10)
        #expect(!vigil.log.contains("Adding service [\(lab.address("d"))]:tcp:80"), "d re-added by a reload")

        // d's checker still runs after the reloads: fixed, it joins within one delay_loop.
        try lab.setPage("d", lab.page("d"))
        #expect(timeUntil(timeout: 1 + 2.5) { vigil.pool(Self.service) == [a: 1, b: 1, d: 1] } != nil, "d not back: \(vigil.pool(Self.service) ?? [:])")
        #expect(vigil.stop() == 0)
    }
}
