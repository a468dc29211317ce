import ConnSync
import ConnSyncCore
import Foundation
import KeepalivedConfig
import Lab
import NetCore
import Testing
@testable import Daemon

@Suite struct ConnSyncPlanTests {
    @Test func bothLabDirectorsDeriveTheSamePlanFromTheirConfigs() throws {
        let m = ConfigLoader.load(text: LabConfigs.originalMaster, fileName: "m.conf").config
        let b = ConfigLoader.load(text: LabConfigs.originalBackup, fileName: "b.conf").config
        let pm = try #require(Daemon.connSyncPlan(m))
        #expect(pm == Daemon.connSyncPlan(b))
        #expect(pm.instance == "LVSha" && pm.vrid == 51 && pm.password == "1111" && pm.interface == "eth0")
        #expect(pm.port == 8848 && pm.group == IPv4Address(224, 0, 0, 81) && pm.peers.isEmpty && pm.syncID == 51)
    }

    @Test func lvsSyncDaemonSettingsAndUnicastPeersAreUsed() throws {
        let text = """
            global_defs {
                lvs_sync_daemon eth1 VI_2 id 9 port 9000 group 239.1.2.3
            }
            vrrp_instance VI_1 {
                interface eth0
                virtual_router_id 1
                priority 100
                virtual_ipaddress { 10.0.0.1 }
            }
            vrrp_instance VI_2 {
                interface eth0
                virtual_router_id 2
                priority 100
                authentication { auth_type PASS
                                 auth_pass secret }
                unicast_peer { 10.0.0.15 }
                virtual_ipaddress { 10.0.0.2 }
            }
            """
        let c = ConfigLoader.load(text: text, fileName: "k.conf").config
        let p = try #require(Daemon.connSyncPlan(c))
        #expect(p.instance == "VI_2" && p.interface == "eth1" && p.port == 9000 && p.syncID == 9)
        #expect(p.group == IPv4Address(239, 1, 2, 3) && p.peers.isEmpty)
        // Without lvs_sync_daemon: the instance carrying the virtual server, unicast to its peers.
        var c2 = c
        c2.global.lvsSyncDaemon = nil
        c2.virtualServers = ConfigLoader.load(text: "virtual_server 10.0.0.2 80 {\n lb_kind DR\n real_server 10.0.1.1 80 {\n }\n}\n", fileName: "v.conf").config.virtualServers
        let p2 = try #require(Daemon.connSyncPlan(c2))
        #expect(p2.instance == "VI_2" && p2.interface == "eth0" && p2.peers == [IPv4Address(10, 0, 0, 15)] && p2.syncID == 2)
    }

    @Test func theShortFormNamesTheInstance() throws {
        let r = ConfigLoader.load(text: "global_defs {\n lvs_sync_daemon eth0 VI_2\n}\n", fileName: "k.conf")
        #expect(r.diagnostics.filter { $0.severity == .error }.isEmpty, "\(r.diagnostics)")
        #expect(r.config.global.lvsSyncDaemon?.instance == "VI_2")
    }
}

@Suite struct ConnSyncStatusRenderTests {
    @Test func vigilStatusShowsSyncRoleCountsAndRejections() throws {
        var s = StatusSnapshot(version: "0.1.0", pid: 1, configFile: "/etc/k.conf", updated: Date(), dataPlane: "nftables")
        var c = ConnSyncStatus(role: "receiving", destination: "224.0.0.81:8848 on eth0")
        var r = ConnSyncReceiver(syncID: 0)
        let key = ConnSyncKeyMaterial(instance: "LVSha", vrid: 51, password: "1111")
        _ = r.accept(key.encode([ConnSyncEntry(service: 1, clientPort: 1, client: .v4(IPv4Address(10, 0, 0, 1)), mark: 1, timeout: 9)], syncID: 0, epoch: 1, firstSequence: 1)[0], key: key, isMaster: false)
        _ = r.accept([1, 2, 3], key: key, isMaster: false)
        _ = r.accept(ConnSyncKeyMaterial(instance: "x", vrid: 1, password: nil).encode([], syncID: 0, epoch: 2, firstSequence: 1)[0], key: key, isMaster: false)
        c.receiver = r.counters
        s.connectionSync = c
        let text = s.render()
        #expect(text.contains("Connection sync: receiving (224.0.0.81:8848 on eth0); sent 0 entries in 0 datagrams; received 1 entries in 1 datagrams; rejected 2 (malformed 1, unauthenticated 1)"), "\(text)")
        // The snapshot round-trips through its JSON file.
        let path = NSTemporaryDirectory() + "vgx-status-\(getpid()).json"
        defer { unlink(path) }
        try s.write(to: path)
        #expect(try StatusSnapshot.read(from: path).connectionSync == c)
    }
}
