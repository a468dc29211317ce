import Testing
import DataPlane
import NetCore
import VirtualServerCore

private func sa(_ s: String, _ port: UInt16 = 80) -> SocketAddress { SocketAddress(address: IPAddress(s)!, port: port) }
private let vip = ServiceKey.address(.tcp, sa("192.168.0.21"))

private func scenario(quorum: Int = 1, hysteresis: Int = 0, sorry: Bool = false, inhibit: Bool = false, alpha: Bool = false) -> VirtualServerSpec {
    VirtualServerSpec(
        key: vip, scheduler: "rr",
        realServers: ["192.168.0.12", "192.168.0.13", "192.168.0.14"].map {
            RealServerSpec(address: sa($0), forwarding: .directRoute, inhibitOnFailure: inhibit, alpha: alpha, notifyDown: "/bin/down \($0)")
        },
        quorum: quorum, hysteresis: hysteresis,
        sorryServer: sorry ? RealServerSpec(address: sa("192.168.0.99"), forwarding: .directRoute) : nil,
        quorumUp: "/bin/qup", quorumDown: "/bin/qdown")
}

private func weights(_ p: PoolController) -> [String: Int32] {
    Dictionary(uniqueKeysWithValues: p.desiredState.services[0].destinations.map { ($0.address.address.description, $0.weight) })
}

@Suite struct PoolControllerTests {
    @Test func startsWithEveryServerAliveAndRemovesAFailedOne() {
        var p = PoolController(specs: [scenario()])
        #expect(weights(p) == ["192.168.0.12": 1, "192.168.0.13": 1, "192.168.0.14": 1])
        #expect(p.startupEffects.isEmpty)
        let fx = p.setAlive(false, server: sa("192.168.0.13"), of: vip)
        #expect(fx.first == .log("Removing service [192.168.0.13]:tcp:80 from VS [192.168.0.21]:tcp:80"))
        #expect(fx.contains(.runScript("/bin/down 192.168.0.13")))
        #expect(fx.contains(.fifo("RS [192.168.0.13]:tcp:80 [192.168.0.21]:tcp:80 DOWN")))
        #expect(weights(p) == ["192.168.0.12": 1, "192.168.0.14": 1])
        let back = p.setAlive(true, server: sa("192.168.0.13"), of: vip)
        #expect(back.first == .log("Adding service [192.168.0.13]:tcp:80 to VS [192.168.0.21]:tcp:80"))
        #expect(weights(p).count == 3)
        // A repeated verdict changes nothing.
        #expect(p.setAlive(true, server: sa("192.168.0.13"), of: vip).isEmpty)
    }

    @Test func inhibitOnFailureKeepsTheServerAtWeightZero() {
        var p = PoolController(specs: [scenario(inhibit: true)])
        let fx = p.setAlive(false, server: sa("192.168.0.12"), of: vip)
        #expect(fx.first == .log("Disabling service [192.168.0.12]:tcp:80 of VS [192.168.0.21]:tcp:80"))
        #expect(weights(p) == ["192.168.0.12": 0, "192.168.0.13": 1, "192.168.0.14": 1])
        #expect(p.setAlive(true, server: sa("192.168.0.12"), of: vip).first == .log("Enabling service [192.168.0.12]:tcp:80 of VS [192.168.0.21]:tcp:80"))
    }

    @Test func losingQuorumSwapsInTheSorryServerAndGainingItSwapsBack() {
        var p = PoolController(specs: [scenario(quorum: 2, sorry: true)])
        _ = p.setAlive(false, server: sa("192.168.0.12"), of: vip)
        #expect(p.hasQuorum(vip) == true)
        let lost = p.setAlive(false, server: sa("192.168.0.13"), of: vip)
        #expect(lost.contains(.log("Lost quorum 2-0=2 > 1 for VS [192.168.0.21]:tcp:80")))
        #expect(lost.contains(.log("Adding sorry server [192.168.0.99]:tcp:80 to VS [192.168.0.21]:tcp:80")))
        #expect(lost.contains(.runScript("/bin/qdown")))
        #expect(lost.contains(.fifo("VS [192.168.0.21]:tcp:80 DOWN")))
        #expect(weights(p) == ["192.168.0.99": 1])
        let gained = p.setAlive(true, server: sa("192.168.0.12"), of: vip)
        #expect(gained.contains(.log("Gained quorum 2+0=2 <= 2 for VS [192.168.0.21]:tcp:80")))
        #expect(gained.contains(.runScript("/bin/qup")))
        #expect(weights(p) == ["192.168.0.12": 1, "192.168.0.14": 1])
    }

    @Test func hysteresisDelaysBothTransitions() {
        var p = PoolController(specs: [scenario(quorum: 2, hysteresis: 1)])
        // Up at start (3 >= 2+1). Losing one leaves 2 >= 2-1: still up.
        _ = p.setAlive(false, server: sa("192.168.0.12"), of: vip)
        #expect(p.hasQuorum(vip) == true)
        // 1 >= 1: still up; 0 loses it.
        _ = p.setAlive(false, server: sa("192.168.0.13"), of: vip)
        #expect(p.hasQuorum(vip) == true)
        _ = p.setAlive(false, server: sa("192.168.0.14"), of: vip)
        #expect(p.hasQuorum(vip) == false)
        // Regaining needs 2+1 = 3.
        _ = p.setAlive(true, server: sa("192.168.0.12"), of: vip)
        _ = p.setAlive(true, server: sa("192.168.0.13"), of: vip)
        #expect(p.hasQuorum(vip) == false)
        _ = p.setAlive(true, server: sa("192.168.0.14"), of: vip)
        #expect(p.hasQuorum(vip) == true)
    }

    @Test func alphaServersStartDownAndTheSorryServerIsUsedAtStartup() {
        let p = PoolController(specs: [scenario(sorry: true, alpha: true)])
        #expect(weights(p) == ["192.168.0.99": 1])
        #expect(p.startupEffects.contains(.log("Starting with quorum down 1-0=1 > 0 for VS [192.168.0.21]:tcp:80")))
    }

    @Test func reloadKeepsStateOfServersThatStayAndAddsNewOnes() {
        var p = PoolController(specs: [scenario()])
        _ = p.setAlive(false, server: sa("192.168.0.13"), of: vip)
        var next = scenario()
        next.realServers.removeFirst()  // .12 removed
        next.realServers.append(RealServerSpec(address: sa("192.168.0.15"), forwarding: .directRoute))
        let fx = p.reload(specs: [next])
        #expect(fx.contains(.log("service [192.168.0.12]:tcp:80 no longer exist")))
        #expect(p.isAlive(sa("192.168.0.13"), of: vip) == false)
        #expect(weights(p) == ["192.168.0.14": 1, "192.168.0.15": 1])
    }

    @Test func dynamicWeightIsLoggedAndApplied() {
        var p = PoolController(specs: [scenario()])
        let fx = p.setWeight(5, server: sa("192.168.0.14"), of: vip)
        #expect(fx.first == .log("Changing weight from 1 to 5 for active service [192.168.0.14]:tcp:80 of VS [192.168.0.21]:tcp:80"))
        #expect(weights(p)["192.168.0.14"] == 5)
    }
}
