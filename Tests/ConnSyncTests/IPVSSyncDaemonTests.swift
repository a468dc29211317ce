import DataPlane
import IPVSAdm
import KeepalivedConfig
import NetCore
import Testing
@testable import Daemon

@Suite struct IPVSSyncDaemonSwitchTests {
    let text = """
        global_defs {
            lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 8849 ttl 2 group 224.0.0.99
        }
        vrrp_instance VI_1 {
            interface eth0
            virtual_router_id 51
            priority 100
            virtual_ipaddress { 10.0.0.1 }
        }
        """

    @Test func followsVRRPTransitionsLikeKeepalived() throws {
        var sw = try #require(IPVSSyncDaemonSwitch(ConfigLoader.load(text: text, fileName: "k.conf").config))
        let backup = SyncDaemon(role: .backup, interface: "eth1", syncID: 7, maxLength: 1400, group: IPAddress("224.0.0.99"), port: 8849, ttl: 2)
        var master = backup
        master.role = .master
        #expect(sw.instance == "VI_1")
        // Start-up as BACKUP: the backup daemon.
        #expect(sw.update(isMaster: false) == [.start(backup)])
        #expect(sw.update(isMaster: false).isEmpty)
        // Becoming MASTER: stop the backup daemon, start the master daemon.
        #expect(sw.update(isMaster: true) == [.stop(.backup), .start(master)])
        #expect(sw.update(isMaster: true).isEmpty)
        // Back to BACKUP (or FAULT).
        #expect(sw.update(isMaster: false) == [.stop(.master), .start(backup)])
        #expect(sw.stopAll() == [.stop(.backup)])
        #expect(sw.stopAll().isEmpty)
    }

    @Test func syncIDDefaultsToTheVRIDAndNothingRunsWithoutTheKeyword() throws {
        let plain = text.replacingOccurrences(of: "id 7 maxlen 1400 port 8849 ttl 2 group 224.0.0.99", with: "")
        let sw = try #require(IPVSSyncDaemonSwitch(ConfigLoader.load(text: plain, fileName: "k.conf").config))
        #expect(sw.master.syncID == 51 && sw.master.port == 0 && sw.master.group == nil && sw.master.interface == "eth1")
        let none = text.replacingOccurrences(of: "lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 8849 ttl 2 group 224.0.0.99", with: "")
        #expect(IPVSSyncDaemonSwitch(ConfigLoader.load(text: none, fileName: "k.conf").config) == nil)
    }
}
