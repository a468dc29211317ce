import Testing
import DataPlane
import KeepalivedConfig
import Lab
import NetCore
import VirtualServerCore
@testable import Daemon

@Suite struct PoolSpecsTests {
    @Test func theReferenceScenarioBecomesOneRoundRobinDRService() throws {
        let result = ConfigLoader.load(text: LabConfigs.originalMaster, fileName: "keepalived-V11-master.conf")
        let specs = PoolSpecs.virtualServers(from: result.config)
        try #require(specs.count == 1)
        let vs = specs[0]
        #expect(vs.key == .address(.tcp, SocketAddress(address: IPAddress("192.168.0.21")!, port: 80)))
        #expect(vs.scheduler == "rr")
        #expect(vs.realServers.map(\.address.description) == ["192.168.0.12:80", "192.168.0.13:80", "192.168.0.14:80"])
        #expect(vs.realServers.allSatisfy { $0.forwarding == .directRoute && $0.weight == 1 && !$0.inhibitOnFailure })
    }

    @Test func defaultsPortsFwmarkAndGroupsFollowKeepalived() throws {
        let text = """
            virtual_server_group G {
                10.0.0.1-3 80
                fwmark 7
            }
            virtual_server group G {
                lb_kind DR
                protocol TCP
                persistence_timeout 50
                persistence_granularity 255.255.255.0
                real_server 10.1.0.1 8080 {
                    weight 3
                }
            }
            virtual_server 10.0.0.9 53 {
                real_server 10.1.0.2 5353 {
                }
            }
            """
        let specs = PoolSpecs.virtualServers(from: ConfigLoader.load(text: text).config)
        #expect(specs.count == 5)
        #expect(specs[0].key.description == "[10.0.0.1]:tcp:80")
        #expect(specs[2].key.description == "[10.0.0.3]:tcp:80")
        #expect(specs[3].key == .fwmark(7, .inet))
        // DR forces the service port; fwmark DR clears it.
        #expect(specs[0].realServers[0].address.port == 80)
        #expect(specs[3].realServers[0].address.port == 0)
        #expect(specs[0].flags.contains(.persistent))
        #expect(specs[0].persistenceTimeout == 50 && specs[0].persistencePrefix == 24)
        #expect(specs[0].realServers[0].weight == 3)
        // keepalived's defaults: wlc, NAT, UDP; NAT keeps the real server's port.
        #expect(specs[4].scheduler == "wlc")
        #expect(specs[4].key.description == "[10.0.0.9]:udp:53")
        #expect(specs[4].realServers[0].forwarding == .masquerade)
        #expect(specs[4].realServers[0].address.port == 5353)
    }
}
