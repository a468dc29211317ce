import Foundation
import Testing
import DataPlane
import KeepalivedConfig
import Lab
import NetCore
import NetlinkCodec
import VRRP
import VRRPCore
@testable import Daemon

@Suite struct VRRPSetupTests {
    @Test func theReferenceInstanceMapsToAV2PassInstanceOnEth0() throws {
        let config = ConfigLoader.load(text: LabConfigs.originalMaster).config
        let plan = try VRRPSetups.plan(from: config) { iface, family in
            #expect(iface == "eth0" && family == .inet)
            return IPAddress("192.168.0.11")
        }
        try #require(plan.instances.count == 1)
        let c = plan.instances[0].config
        #expect(c.name == "LVSha" && c.interface == "eth0" && c.vrid == 51 && c.priority == 150)
        #expect(c.version == .v2 && c.advertInterval == .seconds(1))
        #expect(c.authentication == .password(Array("1111".utf8)))
        #expect(c.virtualAddresses == [IPAddress("192.168.0.21")!])
        #expect(c.primaryAddress == IPAddress("192.168.0.11")!)
        #expect(c.multicastGroup == IPAddress("224.0.0.18")!)
        #expect(c.skipCheckAdvertAddresses)  // vrrp_skip_check_adv_addr in global_defs
        #expect(plan.instances[0].vips.map(\.description) == ["192.168.0.21/32 dev eth0"])
    }

    @Test func anInterfaceWithoutAddressIsAClearError() {
        let config = ConfigLoader.load(text: LabConfigs.originalBackup).config
        #expect(throws: SetupError(instance: "LVSha", message: "interface eth0 has no IPv4 address to send adverts from")) {
            _ = try VRRPSetups.plan(from: config) { _, _ in nil }
        }
    }

    @Test func trackersNotifyScriptsAndVersion3AreMapped() throws {
        let text = """
            global_defs {
                vrrp_version 3
                script_user root
            }
            vrrp_script chk {
                script "/bin/true"
                weight -20
                interval 2
                fall 3
            }
            vrrp_instance VI {
                interface eth1
                virtual_router_id 7
                advert_int 0.1
                nopreempt
                unicast_peer {
                    10.0.0.2
                }
                track_interface {
                    eth2 weight -30
                }
                track_script {
                    chk
                }
                notify_master "/usr/local/bin/became master"
                notify /usr/local/bin/notify
                virtual_ipaddress {
                    10.0.0.100/24 dev eth1 label eth1:vip
                }
                virtual_routes {
                    10.9.0.0/16 via 10.0.0.254
                }
                virtual_rules {
                    from 10.0.0.100 table 100 priority 50
                }
            }
            """
        let config = ConfigLoader.load(text: text).config
        let plan = try VRRPSetups.plan(from: config) { _, _ in IPAddress("10.0.0.1") }
        let s = try #require(plan.instances.first)
        #expect(s.config.version == .v3 && s.config.advertInterval == .milliseconds(100))
        #expect(!s.config.preempt)
        #expect(s.config.unicastPeers == [IPAddress("10.0.0.2")!])
        #expect(s.config.trackers == [Tracker(name: "eth2", kind: .interface, weight: -30), Tracker(name: "chk", kind: .script, weight: -20)])
        #expect(plan.scripts.map(\.name) == ["chk"] && plan.scripts[0].fall == 3 && plan.scripts[0].interval == .seconds(2))
        #expect(s.notify.master?.argv == ["/usr/local/bin/became", "master"])
        #expect(s.notify.notify?.argv == ["/usr/local/bin/notify"])
        #expect(s.vips.first?.label == "eth1:vip" && s.vips.first?.prefix.length == 24)
        #expect(s.routes.first?.spec.gateway == IPAddress("10.0.0.254") && s.routes.first?.device == "eth1")
        #expect(s.rules.first?.table == 100 && s.rules.first?.priority == 50)
    }
}

@Suite struct RouteWordsTests {
    /// `to` before the destination, as `ip route` allows (it used to loop forever).
    @Test func toIntroducesTheDestination() throws {
        let (r, dev) = try RouteWords.route(["to", "192.168.7.0/24", "dev", "eth1"])
        #expect(r.destination == IPPrefix("192.168.7.0/24")!)
        #expect(dev == "eth1")
        #expect(!r.onLink)
        let (o, _) = try RouteWords.route(["10.20.0.0/16", "via", "10.9.0.254", "dev", "eth1", "onlink"])
        #expect(o.onLink)
    }

    @Test func routesInIprouteSyntax() throws {
        let (r, dev) = try RouteWords.route(["192.168.1.0/24", "via", "10.0.0.1", "dev", "eth0", "metric", "5", "table", "100"])
        #expect(r.destination.description == "192.168.1.0/24" && r.gateway == IPAddress("10.0.0.1") && r.metric == 5 && r.table == 100)
        #expect(dev == "eth0")
        let (b, _) = try RouteWords.route(["blackhole", "10.1.0.0/16"])
        #expect(b.type == .blackhole)
        let (d, _) = try RouteWords.route(["default", "via", "10.0.0.254"])
        #expect(d.destination.length == 0)
    }

    @Test(arguments: [["via"], ["10.0.0.0/8", "via", "nonsense"], ["10.0.0.0/8", "bogus"], ["metric", "x", "10.0.0.0/8"]])
    func badRoutesAreRejected(_ words: [String]) {
        #expect(throws: RouteWords.ParseError.self) { _ = try RouteWords.route(words) }
    }

    @Test func rules() throws {
        let r = try RouteWords.rule(["from", "10.0.0.0/24", "to", "all", "lookup", "main", "pref", "100", "fwmark", "0x10/0xff"])
        #expect(r.from?.description == "10.0.0.0/24" && r.to == nil && r.table == 254 && r.priority == 100)
        #expect(r.fwmark == 16 && r.fwmask == 255)
        #expect(throws: RouteWords.ParseError.self) { _ = try RouteWords.rule(["from", "x"]) }
    }
}

@Suite struct StatusSnapshotTests {
    @Test func writesAtomicallyAndReadsBack() throws {
        let dir = NSTemporaryDirectory() + "vigil-status-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var s = StatusSnapshot(version: "0.1.0", pid: 42, configFile: "/etc/keepalived/keepalived.conf", updated: Date(), dataPlane: "nftables")
        s.instances = [.init(name: "LVSha", interface: "eth0", vrid: 51, state: "MASTER", basePriority: 150, effectivePriority: 150, masterAddress: nil, advertsReceived: 0, advertsSent: 3, rejected: 0)]
        s.realServers = [.init(server: "[192.168.0.12]:tcp:80", service: "[192.168.0.21]:tcp:80", alive: false)]
        try s.write(to: dir + "/s.json")
        let back = try StatusSnapshot.read(from: dir + "/s.json")
        #expect(back.instances == s.instances && back.realServers == s.realServers)
        let text = back.render()
        #expect(text.contains("(LVSha) MASTER on eth0, VRID 51, priority 150"))
        #expect(text.contains("[192.168.0.12]:tcp:80 of VS [192.168.0.21]:tcp:80: DOWN"))
        #expect(throws: DaemonError.self) { _ = try StatusSnapshot.read(from: dir + "/missing.json") }
    }

    @Test func theDataPlaneInterfaceIsTheOneCarryingTheVirtualServersAddress() {
        let config = ConfigLoader.load(text: LabConfigs.originalMaster).config
        #expect(Daemon.dataPlaneInterface(config) == "eth0")
    }
}

@Suite struct TrackProcessMappingTests {
    @Test func vrrpTrackProcessBecomesATrackerAndAPoller() throws {
        let text = """
            vrrp_track_process web {
                process nginx
                weight -40
                quorum 2
            }
            vrrp_instance VI {
                interface eth0
                virtual_router_id 9
                priority 120
                track_process {
                    web
                }
                virtual_ipaddress {
                    10.0.0.100
                }
            }
            """
        let plan = try VRRPSetups.plan(from: ConfigLoader.load(text: text).config) { _, _ in IPAddress("10.0.0.1") }
        #expect(plan.instances[0].config.trackers == [Tracker(name: "web", kind: .process, weight: -40)])
        #expect(plan.trackProcesses.map(\.rule) == [ProcessTrackRule(name: "web", process: ["nginx"], quorum: 2)])
        #expect(!plan.unsupported.contains { $0.contains("track_process") })
    }

    @Test func thisHostsProcessesAreRead() {
        // The test runner itself is a process of this host.
        #expect(!TrackProcessConfig.processes().isEmpty)
    }
}

@Suite struct TrackProcessDelayMappingTests {
    func plan(_ body: String) throws -> TrackProcessConfig? {
        let text = """
            vrrp_track_process web {
                process nginx
            \(body)
            }
            vrrp_instance VI {
                interface eth0
                virtual_router_id 9
                track_process {
                    web
                }
                virtual_ipaddress {
                    10.0.0.100
                }
            }
            """
        let r = ConfigLoader.load(text: text)
        #expect(!r.diagnostics.contains { $0.code == .unsupportedKeyword }, "\(r.diagnostics)")
        return try VRRPSetups.plan(from: r.config) { _, _ in IPAddress("10.0.0.1") }.trackProcesses.first
    }

    @Test func delaysAreActedOnAndPollingStaysAtOneSecond() throws {
        let both = try #require(try plan("    delay 4"))
        #expect(both.forkDelay == .seconds(4) && both.terminateDelay == .seconds(4))
        #expect(both.interval == .seconds(1))
        let split = try #require(try plan("    fork_delay 1.5\n    terminate_delay 3"))
        #expect(split.forkDelay == .milliseconds(1500) && split.terminateDelay == .seconds(3))
        // keepalived: `delay` sets both, so the statement given last wins.
        let later = try #require(try plan("    delay 4\n    fork_delay 1"))
        #expect(later.forkDelay == .seconds(1) && later.terminateDelay == .seconds(4))
        let earlier = try #require(try plan("    fork_delay 1\n    delay 4"))
        #expect(earlier.forkDelay == .seconds(4))
        let none = try #require(try plan(""))
        #expect(none.forkDelay == .zero && none.terminateDelay == .zero)
    }
}
