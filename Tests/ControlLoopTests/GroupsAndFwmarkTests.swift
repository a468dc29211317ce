import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// virtual_server_group (addresses and a fwmark) and a fwmark virtual server on the nftables
/// data plane through `vigil run`; a TUN service the engine refuses is named in the log and does
/// not keep the others out of the kernel.
@Suite(.serialized, .enabled(if: isRoot)) struct GroupsAndFwmarkTests {
    @Test func groupEntriesAndFwmarksFollowTheirServers() throws {
        let lab = try DRLab(tag: "vgkgf", servers: ["a", "b"])
        defer { lab.teardown() }
        let vip2 = "192.168.7.22"
        try lab.lab.sh(lab.director, "ip addr add \(vip2)/24 dev eth0")
        for n in ["a", "b"] { try lab.lab.sh(lab.servers[n]!.ns, "ip addr add \(vip2)/32 dev lo") }
        func rs(_ n: String, weight: Int = 1) -> String {
            """
                real_server \(lab.address(n)) 80 {
                    weight \(weight)
                    TCP_CHECK {
                        connect_timeout 2
                        retry 1
                        delay_before_retry 1
                    }
                }

            """
        }
        let config = """
            global_defs {
                router_id vgk
                default_interface eth0
            }
            virtual_server_group G1 {
                \(DRLab.vip) 80
                \(vip2) 80
                fwmark 5
            }
            virtual_server group G1 {
                delay_loop 1
                lb_algo rr
                lb_kind DR
                protocol TCP
            \(rs("a"))\(rs("b"))}
            virtual_server fwmark 6 {
                delay_loop 1
                lb_algo rr
                lb_kind DR
            \(rs("a", weight: 2))}
            virtual_server 192.168.7.23 80 {
                delay_loop 1
                protocol TCP
                lb_kind TUN
            \(rs("b"))}

            """
        let vigil = VigilUnderTest(lab: lab.lab, ns: lab.director, dir: lab.dir)
        try vigil.start(config: config, arguments: ["-C", "--dataplane", "nftables", "--nft-table", "vigil"])
        let a = lab.address("a"), b = lab.address("b")
        let g1 = "[\(DRLab.vip)]:tcp:80", g2 = "[\(vip2)]:tcp:80"
        func pools() -> [String: [String: Int32]] {
            var out: [String: [String: Int32]] = [:]
            for k in [g1, g2, "FWM 5", "FWM 6", "[192.168.7.23]:tcp:80"] { out[k] = vigil.pool(k) }
            return out
        }
        let healthy: [String: [String: Int32]] = [
            g1: ["\(a):80": 1, "\(b):80": 1], g2: ["\(a):80": 1, "\(b):80": 1],
            "FWM 5": ["\(a):0": 1, "\(b):0": 1], "FWM 6": ["\(a):0": 2],
        ]
        #expect(waitUntil(timeout: 15) { pools() == healthy }, "kernel: \(pools())\nlog:\n\(vigil.log)")
        #expect(vigil.log.contains("Virtual server [192.168.7.23]:tcp:80 cannot be programmed in the nftables data plane"), "log:\n\(vigil.log)")
        #expect(vigil.log.contains("TUN"))

        // Both group addresses forward to the real servers.
        for v in [DRLab.vip, vip2] {
            let page = try lab.lab.run(lab.client, ["curl", "-s", "-m", "3", "http://\(v)/"]).stdout
            #expect(page == lab.page("a") || page == lab.page("b"), "through \(v): '\(page)'")
        }

        // a refuses connections: it leaves every group entry and the fwmark service.
        try lab.lab.sh(lab.servers["a"]!.ns, "nft add table inet vgk && nft add chain inet vgk in '{ type filter hook input priority 0; }' && nft add rule inet vgk in tcp dport 80 reject with tcp reset")
        let withoutA: [String: [String: Int32]] = [
            g1: ["\(b):80": 1], g2: ["\(b):80": 1], "FWM 5": ["\(b):0": 1], "FWM 6": [:],
        ]
        #expect(timeUntil(timeout: 4 + 2.5) { pools() == withoutA } != nil, "kernel: \(pools())")
        try lab.lab.sh(lab.servers["a"]!.ns, "nft delete table inet vgk")
        #expect(timeUntil(timeout: 1 + 2.5) { pools() == healthy } != nil, "kernel: \(pools())")
        #expect(vigil.stop() == 0)
        let nft = try lab.lab.run(lab.director, ["nft", "list", "table", "netdev", "vigil"])
        #expect(!nft.stdout.contains("192.168.7.2"), "left in the kernel:\n\(nft.stdout)")
    }
}
