import Daemon
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Every checker kind through `vigil run -C --dataplane none`: each server is broken and
/// restored while the daemon runs, and the status file must follow within keepalived's bounds.
@Suite(.serialized, .enabled(if: isRoot)) struct CheckerKindsTests {
    static let timing = """
            delay_loop 1
            connect_timeout 2
            retry 1
            delay_before_retry 1
        """

    static func config(dir: String, digest: String) -> String {
        func vs(_ port: Int, _ rs: String, _ body: String, proto: String = "TCP", extra: String = "") -> String {
            """
            virtual_server 10.99.0.1 \(port) {
                lb_algo rr
                lb_kind NAT
                protocol \(proto)
            \(timing)
            \(extra)
                real_server \(rs) {
                    \(body)
                }
            }

            """
        }
        return """
            global_defs {
                router_id vgk
                lvs_notify_fifo \(dir)/lvs.fifo
            }
            ! -C must keep VRRP from running: this instance would otherwise add the address.
            vrrp_instance VI_1 {
                state MASTER
                interface vd
                virtual_router_id 77
                priority 150
                advert_int 1
                virtual_ipaddress {
                    10.9.0.77/24
                }
            }

            """
            + vs(80, "10.9.0.2 8080", "HTTP_GET {\n url {\n path /\n digest \(digest)\n }\n }")
            + vs(81, "10.9.0.2 8080", "HTTP_GET {\n url {\n path /health\n status_code 200\n }\n }")
            + vs(82, "10.9.0.2 8084", "HTTP_GET { url { path /health } }")
            + vs(83, "10.9.0.2 8081", "HTTP_GET { url { path / } }")
            + vs(84, "10.9.0.2 8443", "SSL_GET {\n url {\n path /\n digest \(md5("tls ok\n"))\n }\n }")
            + vs(85, "10.9.0.2 80", "MISC_CHECK { misc_path \"/bin/sh \(dir)/misc.sh\"\n misc_timeout 2 }")
            + vs(86, "10.9.0.2 53", "DNS_CHECK { type A\n name vgk.test }", proto: "UDP")
            + vs(87, "10.9.0.2 25", "SMTP_CHECK { helo_name vgk.test }")
            + vs(88, "10.9.0.2 9000", "UDP_CHECK { payload 70696e67\n require_reply 706f6e67 }", proto: "UDP")
            + vs(89, "10.9.0.9 80", "PING_CHECK { }")
            + vs(90, "10.9.0.2 8080", "HTTP_GET {\n url {\n path /\n regex \"page (one|1)$\"\n regex_options multiline\n }\n }")
            + vs(91, "10.9.0.2 8080", "HTTP_GET {\n url {\n path /\n regex \"PAGE TWO\"\n regex_options caseless\n regex_no_match\n }\n }")
            + """
            virtual_server 10.98.0.1 80 {
                lb_algo rr
                lb_kind NAT
                protocol TCP
                ha_suspend
            \(timing)
                real_server 10.9.0.2 8080 {
                    HTTP_GET {
                        url {
                            path /
                            digest \(digest)
                        }
                    }
                }
            }

            """
    }

    /// Server key in the status file → what breaks it, and its down bound in seconds (keepalived:
    /// delay_loop × (retry + 1) + connect_timeout; attempts that wait for a timeout take
    /// (delay_loop + timeout) × (retry + 1)).
    static let cases: [(key: String, what: String, bound: Double)] = [
        ("[10.9.0.2]:tcp:8080 [10.99.0.1]:tcp:80", "digest", 4),
        ("[10.9.0.2]:tcp:8080 [10.99.0.1]:tcp:81", "status code", 4),
        ("[10.9.0.2]:tcp:8084 [10.99.0.1]:tcp:82", "connection refused", 4),
        ("[10.9.0.2]:tcp:8081 [10.99.0.1]:tcp:83", "no answer (timeout)", 6),
        ("[10.9.0.2]:tcp:8443 [10.99.0.1]:tcp:84", "TLS status", 4),
        ("[10.9.0.2]:tcp:80 [10.99.0.1]:tcp:85", "MISC_CHECK hang", 6),
        ("[10.9.0.2]:udp:53 [10.99.0.1]:udp:86", "DNS SERVFAIL", 4),
        ("[10.9.0.2]:tcp:25 [10.99.0.1]:tcp:87", "SMTP 554", 4),
        ("[10.9.0.2]:udp:9000 [10.99.0.1]:udp:88", "UDP silent", 6),
        ("[10.9.0.9]:tcp:80 [10.99.0.1]:tcp:89", "ping unanswered", 6),
        ("[10.9.0.2]:tcp:8080 [10.99.0.1]:tcp:90", "regex no longer matches", 4),
        ("[10.9.0.2]:tcp:8080 [10.99.0.1]:tcp:91", "regex_no_match now matches", 4),
    ]
    static let suspendedKey = "[10.9.0.2]:tcp:8080 [10.98.0.1]:tcp:80"
    /// The status file is written once a second and polled: allowance on top of each bound.
    static let slack = 2.5

    @Test func everyCheckerKindTakesItsServerOutAndBack() throws {
        let lab = NetnsLab(prefix: "vgkck")
        let dir = try makeScratchDirectory("kinds")
        defer {
            lab.teardown()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let d = try lab.addNamespace("d")
        let r = try lab.addNamespace("r")
        try lab.sh(nil, "ip -n \(d) link add vd type veth peer name vr netns \(r)")
        try lab.sh(nil, "ip -n \(d) addr add 10.9.0.1/24 dev vd && ip -n \(d) link set vd up")
        try lab.sh(nil, "ip -n \(r) addr add 10.9.0.2/24 dev vr && ip -n \(r) addr add 10.9.0.9/24 dev vr && ip -n \(r) link set vr up")

        let body = "vgk page one\n"
        try body.write(toFile: dir + "/body.txt", atomically: true, encoding: .utf8)
        try "if [ -e \(dir)/misc.hang ]; then sleep 100; fi\nexit 0\n".write(toFile: dir + "/misc.sh", atomically: true, encoding: .utf8)
        try protocolServersScript.write(toFile: dir + "/servers.py", atomically: true, encoding: .utf8)
        try lab.sh(nil, "openssl req -x509 -newkey rsa:2048 -nodes -keyout \(dir)/key.pem -out \(dir)/cert.pem -days 1 -subj /CN=vgk 2>/dev/null")
        try lab.spawn(r, ["python3", dir + "/servers.py", dir, "10.9.0.2"], logPath: dir + "/servers.log")
        #expect(waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: dir + "/ready") }, "servers: \((try? String(contentsOfFile: dir + "/servers.log", encoding: .utf8)) ?? "")")
        // Connection refused on demand: a reset from the server's namespace.
        try lab.sh(r, "nft add table inet vgk && nft add chain inet vgk in '{ type filter hook input priority 0; }'")

        let vigil = VigilUnderTest(lab: lab, ns: d, dir: dir)
        try vigil.start(config: Self.config(dir: dir, digest: md5(body)), arguments: ["-C", "--dataplane", "none"])
        #expect(vigil.waitForStatus(), "log:\n\(vigil.log)")
        // Give every checker two rounds, then all must pass.
        Thread.sleep(forTimeInterval: 3)
        var alive = vigil.alive()
        for c in Self.cases { #expect(alive[c.key] == true, "\(c.what) server not alive at start: \(alive)") }
        #expect(alive[Self.suspendedKey] == true)
        // -C: no VRRP instance, no VIP.
        #expect(vigil.status?.instances.isEmpty == true)
        #expect(try !lab.sh(d, "ip -4 addr show dev vd").contains("10.9.0.77"))

        // Break every server at once.
        try "vgk page two\n".write(toFile: dir + "/body.txt", atomically: true, encoding: .utf8)
        for f in ["status.fail", "hang", "tls.fail", "misc.hang", "dns.fail", "smtp.fail", "udp.fail"] {
            FileManager.default.createFile(atPath: dir + "/" + f, contents: nil)
        }
        try lab.sh(r, "nft add rule inet vgk in tcp dport 8084 reject with tcp reset")
        try lab.sh(r, "ip addr del 10.9.0.9/24 dev vr")
        var downAt: [String: Double] = [:]
        let broke = Date()
        _ = waitUntil(timeout: 12) {
            let a = vigil.alive()
            for c in Self.cases where downAt[c.key] == nil && a[c.key] == false { downAt[c.key] = elapsed(since: broke) }
            return downAt.count == Self.cases.count
        }
        for c in Self.cases {
            let t = try #require(downAt[c.key], "\(c.what): still alive after 12 s; log:\n\(vigil.log)")
            #expect(t <= c.bound + Self.slack, "\(c.what): down after \(t) s, bound \(c.bound) s")
        }
        // ha_suspend: 10.98.0.1 is not local, so its checker is paused and the server stays up
        // although it serves the same broken page.
        alive = vigil.alive()
        #expect(alive[Self.suspendedKey] == true, "ha_suspend server checked while its VIP is not local")
        // Taking the VIP activates the checker; the broken page then takes the server down.
        try lab.sh(d, "ip addr add 10.98.0.1/32 dev lo")
        #expect(timeUntil(timeout: 4 + 1 + Self.slack) { vigil.alive()[Self.suspendedKey] == false } != nil, "ha_suspend server not checked after its VIP became local")
        #expect(vigil.log.contains("Activating healthchecker for service [10.9.0.2]:tcp:8080 for VS [10.98.0.1]:tcp:80"))

        // Restore everything: each server is back within one delay_loop (a hung MISC script
        // first runs out its misc_timeout).
        try body.write(toFile: dir + "/body.txt", atomically: true, encoding: .utf8)
        for f in ["status.fail", "hang", "tls.fail", "misc.hang", "dns.fail", "smtp.fail", "udp.fail"] {
            unlink(dir + "/" + f)
        }
        try lab.sh(r, "nft flush chain inet vgk in")
        try lab.sh(r, "ip addr add 10.9.0.9/24 dev vr")
        var upAt: [String: Double] = [:]
        let fixed = Date()
        _ = waitUntil(timeout: 10) {
            let a = vigil.alive()
            for c in Self.cases + [(Self.suspendedKey, "ha_suspend", 0)] where upAt[c.key] == nil && a[c.key] == true {
                upAt[c.key] = elapsed(since: fixed)
            }
            return upAt.count == Self.cases.count + 1
        }
        for c in Self.cases + [(Self.suspendedKey, "ha_suspend", 0)] {
            let t = try #require(upAt[c.key], "\(c.what): not back after 10 s; log:\n\(vigil.log)")
            let bound = 1 + (c.what.contains("MISC") || c.what.contains("timeout") ? 2.0 : 0) + Self.slack
            #expect(t <= bound, "\(c.what): back after \(t) s, bound \(bound) s")
        }
        try lab.sh(d, "ip addr del 10.98.0.1/32 dev lo")
        #expect(waitUntil(timeout: 5) { vigil.log.contains("Suspending healthchecker for service [10.9.0.2]:tcp:8080 for VS [10.98.0.1]:tcp:80") })

        // keepalived's wording for what a user greps.
        let log = vigil.log
        #expect(log.contains("HTTP_GET on service [10.9.0.2]:tcp:8080 failed after 1 retries."))
        #expect(log.contains("Removing service [10.9.0.2]:tcp:8080 from VS [10.99.0.1]:tcp:80"))
        #expect(log.contains("Adding service [10.9.0.2]:tcp:8080 to VS [10.99.0.1]:tcp:80"))
        #expect(log.contains("Remote Web server [10.9.0.2]:tcp:8443 succeed on service."))
        #expect(vigil.stop() == 0, "log:\n\(vigil.log)")
        #expect(!vigil.log.contains("VRRP_Instance(VI_1)"))
    }
}

@Suite(.serialized, .enabled(if: isRoot)) struct ReloadWithoutDataPlaneTests {
    /// A reload that adds the first virtual servers starts the data plane and the checkers.
    @Test func addingTheFirstVirtualServerByReloadStartsTheLVSSide() throws {
        let lab = NetnsLab(prefix: "vgkrw")
        let dir = try makeScratchDirectory("rw")
        defer {
            lab.teardown()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let d = try lab.addNamespace("d")
        let vigil = VigilUnderTest(lab: lab, ns: d, dir: dir)
        try vigil.start(config: "global_defs {\n router_id vgk\n}\n", arguments: ["-C", "--dataplane", "none"])
        #expect(waitUntil(timeout: 15) { vigil.log.contains("Startup complete") }, "log:\n\(vigil.log)")
        try vigil.reload(config: """
            virtual_server 10.99.0.1 80 {
                lb_algo rr
                lb_kind NAT
                protocol TCP
                real_server 10.9.0.2 80 {
                }
            }

            """)
        #expect(vigil.log.contains("Reload: starting the data plane and checkers for 1 new virtual service(s)"), "log:\n\(vigil.log)")
        #expect(vigil.log.contains("Data plane: none"), "log:\n\(vigil.log)")
        #expect(vigil.stop() == 0)
    }
}
