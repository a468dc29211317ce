import DataPlane
import NetCore
import Testing
import VirtualServerCore

private func sa(_ s: String, _ port: UInt16 = 80) -> SocketAddress { SocketAddress(address: IPAddress(s)!, port: port) }

private func spec(_ vip: String, haSuspend: Bool = true) -> VirtualServerSpec {
    var s = VirtualServerSpec(
        key: .address(.tcp, sa(vip)),
        realServers: [RealServerSpec(address: sa("10.0.0.2")), RealServerSpec(address: sa("10.0.0.3"))])
    s.haSuspend = haSuspend
    return s
}

@Suite struct HASuspendTests {
    @Test func checkersRunOnlyWhileTheVIPIsLocal() {
        var h = HASuspend(specs: [spec("192.168.0.21"), spec("192.168.0.22", haSuspend: false)])
        #expect(h.isWatching)
        // Suspended until the first address dump shows the VIP.
        #expect(h.suspended == [.address(.tcp, sa("192.168.0.21"))])
        #expect(h.update(localAddresses: [IPAddress("10.0.0.1")!]).isEmpty)
        #expect(!h.suspended.isEmpty)

        let up = h.update(localAddresses: [IPAddress("10.0.0.1")!, IPAddress("192.168.0.21")!])
        #expect(up == [
            "Activating healthchecker for service [10.0.0.2]:tcp:80 for VS [192.168.0.21]:tcp:80",
            "Activating healthchecker for service [10.0.0.3]:tcp:80 for VS [192.168.0.21]:tcp:80",
        ])
        #expect(h.suspended.isEmpty)
        // Same addresses again: nothing to say.
        #expect(h.update(localAddresses: [IPAddress("192.168.0.21")!]).isEmpty)

        let down = h.update(localAddresses: [])
        #expect(down.first == "Suspending healthchecker for service [10.0.0.2]:tcp:80 for VS [192.168.0.21]:tcp:80")
        #expect(h.suspended == [.address(.tcp, sa("192.168.0.21"))])
    }

    @Test func servicesWithoutHASuspendOrFwmarkAreNeverSuspended() {
        var fwm = VirtualServerSpec(key: .fwmark(7, .inet), realServers: [RealServerSpec(address: sa("10.0.0.2", 0))])
        fwm.haSuspend = true
        var h = HASuspend(specs: [fwm, spec("192.168.0.22", haSuspend: false)])
        #expect(!h.isWatching)
        #expect(h.suspended.isEmpty)
        #expect(h.update(localAddresses: []).isEmpty)
    }

    @Test func reloadKeepsTheStateOfServicesThatStay() {
        var h = HASuspend(specs: [spec("192.168.0.21")])
        _ = h.update(localAddresses: [IPAddress("192.168.0.21")!])
        #expect(h.suspended.isEmpty)
        // An added service starts suspended; the running one stays active.
        let s = h.reload(specs: [spec("192.168.0.21"), spec("192.168.0.23")])
        #expect(s == [.address(.tcp, sa("192.168.0.23"))])
        // A removed service is forgotten.
        #expect(h.reload(specs: [spec("192.168.0.21")]).isEmpty)
    }
}
