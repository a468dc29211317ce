import Foundation
import NetCore
import TestSupport
import Testing
import VRRPCore

@testable @_spi(Testing) import VRRP

func keepalivedConf(
    name: String = "LVSha", priority: Int, vrid: Int = 51, version: Int = 2, advert: String = "1", auth: Bool = true,
    vips: [String] = ["192.168.0.21"], extra: String = ""
) -> String {
    """
    global_defs {
      router_id vgv
      vrrp_garp_master_delay 0
    }
    vrrp_instance \(name) {
      state BACKUP
      interface eth0
      version \(version)
      virtual_router_id \(vrid)
      priority \(priority)
      advert_int \(advert)
    \(auth ? "  authentication {\n    auth_type PASS\n    auth_pass 1111\n  }" : "")
    \(extra)
      virtual_ipaddress {
    \(vips.map { "    \($0)" }.joined(separator: "\n"))
      }
    }

    """
}

/// SIGKILLs keepalived's VRRP child (by the PID in its pid file; we started it with -R so the
/// parent does not respawn it).
func killVRRPChild(_ topo: Topology, _ name: String) {
    if let text = try? String(contentsOfFile: "\(topo.dir)/\(name)-vrrp.pid", encoding: .utf8),
        let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    {
        kill(pid, SIGKILL)
    }
}

@Suite(.serialized, .enabled(if: isRoot && keepalivedInstalled))
struct KeepalivedInteropTests {
    @Test func v2PassBothWays() async throws {
        let topo = try Topology()
        defer { topo.teardown() }
        // Vigil (150) against keepalived (100).
        let (_, klog) = try topo.keepalived(topo.b, "kb", keepalivedConf(priority: 100))
        var a = try Router(topo.a, [referenceSetup("192.168.0.11", priority: 150)])
        #expect(await wait(8) { topo.hasAddress(topo.a, "192.168.0.21") })
        try await Task.sleep(for: .seconds(2))
        #expect(topo.logText(klog).contains("(LVSha) Entering BACKUP STATE"))
        #expect(!topo.hasAddress(topo.b, "192.168.0.21"))
        #expect(a.state == .master)
        // Graceful stop: keepalived sees priority 0 and takes over quickly.
        let t0 = Date()
        let stopping = Task { [a] in await a.stop() }
        #expect(await wait(3) { topo.hasAddress(topo.b, "192.168.0.21") })
        #expect(Date().timeIntervalSince(t0) < 0.61 + 0.5)
        await stopping.value
        #expect(topo.logText(klog).contains("(LVSha) Backup received priority 0 advertisement"))
        // Vigil comes back and preempts keepalived.
        a = try Router(topo.a, [referenceSetup("192.168.0.11", priority: 150)])
        #expect(await wait(8) { topo.hasAddress(topo.a, "192.168.0.21") })
        #expect(await wait(3) { !topo.hasAddress(topo.b, "192.168.0.21") })
        #expect(topo.logText(klog).contains("(LVSha) Master received advert from 192.168.0.11 with higher priority 150, ours 100"))
        #expect(a.logs.contains("(LVSha) received lower priority (100) advert from 192.168.0.15 - discarding"))
        await a.stop()
    }

    @Test func keepalivedMasterVigilBackup() async throws {
        let topo = try Topology()
        defer { topo.teardown() }
        let (_, klog) = try topo.keepalived(topo.a, "ka", keepalivedConf(priority: 150))
        #expect(await wait(8) { topo.hasAddress(topo.a, "192.168.0.21") })
        let b = try Router(topo.b, [referenceSetup("192.168.0.15", priority: 100)])
        try await Task.sleep(for: .seconds(3))
        #expect(b.state == .backup)
        let st = try #require(b.service.status().first)
        #expect(st.statistics.advertisementsReceived >= 2)
        #expect(st.statistics.totalRejected == 0)
        #expect(st.masterAddress == IPAddress("192.168.0.11"))
        #expect(!topo.hasAddress(topo.b, "192.168.0.21"))
        // Kill keepalived's VRRP process: Vigil takes over within master-down + 0.5 s.
        killVRRPChild(topo, "ka")
        let t0 = Date()
        #expect(await wait(6) { topo.hasAddress(topo.b, "192.168.0.21") })
        #expect(Date().timeIntervalSince(t0) < 3.609 + 0.5)
        _ = klog
        await b.stop()
    }

    @Test func v3FastAdvertsBothWays() async throws {
        let topo = try Topology()
        defer { topo.teardown() }
        func v3(_ addr: String, _ prio: UInt8, _ interval: Duration) -> VRRPInstanceSetup {
            referenceSetup(addr, priority: prio) {
                $0.version = .v3
                $0.vrid = 61
                $0.advertInterval = interval
                $0.authentication = .none
            }
        }
        // Vigil master at 100 ms; keepalived must stay BACKUP (it accepts our v3 checksum).
        var a = try Router(topo.a, [v3("192.168.0.11", 150, .milliseconds(100))])
        let (_, klog) = try topo.keepalived(topo.b, "kb", keepalivedConf(priority: 100, vrid: 61, version: 3, advert: "0.1", auth: false))
        #expect(await wait(5) { topo.hasAddress(topo.a, "192.168.0.21") })
        try await Task.sleep(for: .seconds(2))
        #expect(!topo.logText(klog).contains("Entering MASTER STATE"))
        #expect(!topo.logText(klog).contains("checksum"))
        #expect(!topo.hasAddress(topo.b, "192.168.0.21"))
        await a.stop()
        #expect(await wait(2) { topo.hasAddress(topo.b, "192.168.0.21") })
        // keepalived master at 100 ms, Vigil backup configured for 1 s adopts 100 ms.
        a = try Router(topo.a, [v3("192.168.0.11", 50, .seconds(1))])
        try await Task.sleep(for: .seconds(1))
        #expect(a.state == .backup)
        #expect(a.logs.contains("(LVSha) advertisement interval updated from 1000 ms to 100 ms by master"))
        killVRRPChild(topo, "kb")
        let t0 = Date()
        #expect(await wait(3) { topo.hasAddress(topo.a, "192.168.0.21") })
        // 3 × 100 ms + skew (206 × 10 cs / 256 → 8 cs) = 380 ms.
        #expect(Date().timeIntervalSince(t0) < 0.38 + 0.5)
        await a.stop()
    }

    @Test func ipv6() async throws {
        let topo = try Topology()
        defer { topo.teardown() }
        var c = VRRPInstanceConfig(
            name: "V6", interface: "eth0", vrid: 71, version: .v3, priority: 150, advertInterval: .seconds(1),
            primaryAddress: IPAddress("fe80::11")!, virtualAddresses: [IPAddress("2001:db8::21")!])
        c.version = .v3
        let setup = VRRPInstanceSetup(config: c, vips: [VirtualIP(prefix: IPPrefix("2001:db8::21/64")!, device: "eth0")])
        let (_, klog) = try topo.keepalived(topo.b, "kb", keepalivedConf(name: "V6", priority: 100, vrid: 71, version: 3, auth: false, vips: ["2001:db8::21/64"]))
        let a = try Router(topo.a, [setup])
        #expect(await wait(8) { topo.hasAddress(topo.a, "2001:db8::21") })
        try await Task.sleep(for: .seconds(2))
        #expect(topo.logText(klog).contains("(V6) Entering BACKUP STATE"))
        #expect(!topo.logText(klog).contains("(V6) Entering MASTER STATE"))
        #expect(!topo.hasAddress(topo.b, "2001:db8::21"))
        await a.stop()
        #expect(await wait(3) { topo.hasAddress(topo.b, "2001:db8::21") })
        #expect(topo.logText(klog).contains("(V6) Backup received priority 0 advertisement"))
        // And Vigil as backup of keepalived: it hears keepalived's adverts over IPv6.
        var c2 = c
        c2.priority = 50
        let a2 = try Router(topo.a, [VRRPInstanceSetup(config: c2, vips: setup.vips)])
        try await Task.sleep(for: .seconds(2))
        #expect(a2.state == .backup)
        #expect((a2.service.status().first?.statistics.advertisementsReceived ?? 0) >= 1)
        #expect(a2.service.status().first?.statistics.totalRejected == 0)
        await a2.stop()
    }

    @Test func unicast() async throws {
        let topo = try Topology()
        defer { topo.teardown() }
        let extra = "  unicast_src_ip 192.168.0.15\n  unicast_peer {\n    192.168.0.11\n  }"
        let (_, klog) = try topo.keepalived(topo.b, "kb", keepalivedConf(priority: 150, vrid: 81, version: 3, auth: false, extra: extra))
        #expect(await wait(8) { topo.hasAddress(topo.b, "192.168.0.21") })
        let a = try Router(topo.a, [referenceSetup("192.168.0.11", priority: 100) {
            $0.version = .v3
            $0.vrid = 81
            $0.authentication = .none
            $0.unicastPeers = [IPAddress("192.168.0.15")!]
            $0.checkUnicastSource = true
        }])
        try await Task.sleep(for: .seconds(2))
        #expect(a.state == .backup)
        #expect((a.service.status().first?.statistics.advertisementsReceived ?? 0) >= 1)
        #expect(!topo.hasAddress(topo.a, "192.168.0.21"))
        // Graceful stop of keepalived: its priority-0 advert reaches Vigil by unicast.
        try topo.lab.sh(topo.b, "kill -TERM $(cat \(topo.dir)/kb.pid)")
        #expect(await wait(4) { topo.hasAddress(topo.a, "192.168.0.21") })
        #expect(a.logs.contains("(LVSha) Backup received priority 0 advertisement"))
        // keepalived back as the higher priority: it preempts Vigil over unicast.
        let (_, klog2) = try topo.keepalived(topo.b, "kb2", keepalivedConf(priority: 150, vrid: 81, version: 3, auth: false, extra: extra))
        #expect(await wait(8) { topo.hasAddress(topo.b, "192.168.0.21") })
        #expect(await wait(3) { a.state == .backup })
        #expect(topo.logText(klog2).contains("(LVSha) received lower priority (100) advert from 192.168.0.11 - discarding"))
        _ = klog
        await a.stop()
    }
}

@Suite(.serialized, .enabled(if: isRoot))
struct WireValidationTests {
    /// Sends raw VRRP bytes from namespace `ns` with a chosen TTL (python3 raw socket).
    func inject(_ topo: Topology, _ bytes: [UInt8], ttl: Int) throws {
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let py = """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, \(ttl))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('192.168.0.99'))
            s.sendto(bytes.fromhex('\(hex)'), ('224.0.0.18', 0))
            """
        try topo.lab.sh(topo.c, "python3 -c \"\(py)\"")
    }

    @Test func badTrafficChangesNothingAndIsCounted() async throws {
        let topo = try Topology()
        defer { topo.teardown() }
        let a = try Router(topo.a, [referenceSetup("192.168.0.11", priority: 150)])
        #expect(await wait(8) { a.state == .master })
        let src = IPAddress("192.168.0.99")!
        let dst = IPAddress("224.0.0.18")!
        let ad = Advertisement(version: .v2, vrid: 51, priority: 254, intervalField: 1, addresses: [IPAddress("192.168.0.21")!], authentication: .pass("1111"))
        let good = ad.encoded(source: src, destination: dst)
        var badSum = good
        badSum[7] ^= 0x55
        var wrongPass = ad
        wrongPass.authentication = .pass("9999")
        var otherVRID = ad
        otherVRID.vrid = 52
        try inject(topo, good, ttl: 64)
        try inject(topo, badSum, ttl: 255)
        try inject(topo, wrongPass.encoded(source: src, destination: dst), ttl: 255)
        try inject(topo, otherVRID.encoded(source: src, destination: dst), ttl: 255)
        try inject(topo, Array(good.prefix(10)), ttl: 255)
        func stats() -> ReceiveStatistics { a.service.status().first!.statistics }
        #expect(await wait(3) { stats().totalRejected == 4 && a.service.interfaceStatistics()["eth0"]?[.vridMismatch] == 1 })
        #expect(stats()[.badTTL] == 1)
        #expect(stats()[.badChecksum] == 1)
        #expect(stats()[.authPasswordMismatch] == 1)
        #expect(stats()[.truncated] == 1)
        #expect(a.state == .master && topo.hasAddress(topo.a, "192.168.0.21"))
        // The same advert, well formed, does take mastership away: the injector really works.
        try inject(topo, good, ttl: 255)
        #expect(await wait(3) { a.state == .backup })
        #expect(a.logs.contains("(LVSha) Master received advert from 192.168.0.99 with higher priority 254, ours 150"))
        await a.crash()
    }
}
