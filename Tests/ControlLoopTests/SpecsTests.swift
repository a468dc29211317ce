import DataPlane
import HealthCheck
import HealthCheckCore
import KeepalivedConfig
import NetCore
import Testing
import VirtualServerCore
@testable import Daemon

/// Config → control-loop specs for what the end-to-end tests rely on (no privileges).
@Suite struct SpecsTests {
    static let text = """
        virtual_server_group G {
            192.168.7.21 80
            fwmark 5
        }
        virtual_server group G {
            lb_kind DR
            protocol TCP
            ha_suspend
            real_server 192.168.7.12 8080 {
                TCP_CHECK {
                }
            }
        }
        virtual_server fwmark 6 {
            lb_kind DR
            real_server 192.168.7.13 80 {
                TCP_CHECK {
                }
            }
        }
        """

    @Test func fwmarkRealServersAreCheckedOnTheirConfiguredPort() {
        let config = ConfigLoader.load(text: Self.text, fileName: "k.conf").config
        let plan = HealthSpecs.plan(from: config)
        let byService = Dictionary(plan.servers.map { ($0.id.virtualService.description, $0) }, uniquingKeysWith: { a, _ in a })
        // The kernel gets port 0 for a fwmark DR destination; the check still targets port 80.
        #expect(byService["FWM 6"]?.id.server.port == 0)
        #expect(byService["FWM 6"]?.checkers.first?.connectTo.description == "192.168.7.13:80")
        // DR on an address service: kernel port = the service's, checked port = the configured one.
        #expect(byService["[192.168.7.21]:tcp:80"]?.id.server.port == 80)
        #expect(byService["[192.168.7.21]:tcp:80"]?.checkers.first?.connectTo.description == "192.168.7.12:8080")
        #expect(byService["FWM 5"]?.checkers.first?.connectTo.description == "192.168.7.12:8080")
    }

    @Test func haSuspendOnlyOnAddressServices() {
        let config = ConfigLoader.load(text: Self.text, fileName: "k.conf").config
        let specs = PoolSpecs.virtualServers(from: config)
        let flags = Dictionary(specs.map { ($0.key.description, $0.haSuspend) }, uniquingKeysWith: { a, _ in a })
        #expect(flags == ["[192.168.7.21]:tcp:80": true, "FWM 5": false, "FWM 6": false])
    }
}
