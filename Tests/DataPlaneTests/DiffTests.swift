import DataPlane
import NetCore
import SysCore
import Testing

func sa(_ s: String, _ port: UInt16) -> SocketAddress { SocketAddress(address: IPAddress(s)!, port: port) }
func tcpKey(_ s: String, _ port: UInt16 = 80) -> ServiceKey { .address(.tcp, sa(s, port)) }
func dest(_ s: String, _ w: Int32 = 1, port: UInt16 = 80) -> Destination { Destination(address: sa(s, port), weight: w) }

@Suite struct DiffTableTests {
    let base = DataPlaneState(services: [
        VirtualService(key: tcpKey("10.1.0.1"), scheduler: "rr", destinations: [dest("10.2.0.1"), dest("10.2.0.2")])
    ])

    @Test func identicalStatesGiveNoChanges() {
        #expect(diff(desired: base, actual: base).isEmpty)
        #expect(diff(desired: DataPlaneState(), actual: DataPlaneState()).isEmpty)
    }

    @Test func readBackFieldsAreIgnored() {
        var actual = base
        actual.services[0].flags.insert(.hashed)
        actual.services[0].counters.inPackets = 99
        actual.services[0].destinations[0].activeConnections = 5
        actual.services[0].destinations[1].counters.connections = 7
        #expect(diff(desired: base, actual: actual).isEmpty)
    }

    @Test func newServiceIsAddedThenItsDestinations() {
        let changes = diff(desired: base, actual: DataPlaneState())
        #expect(changes == [
            .addService(base.services[0].withoutDestinations),
            .addDestination(base.services[0].key, dest("10.2.0.1")),
            .addDestination(base.services[0].key, dest("10.2.0.2")),
        ])
    }

    @Test func removedServiceIsOneDeleteWithoutDestinationDeletes() {
        #expect(diff(desired: DataPlaneState(), actual: base) == [.deleteService(tcpKey("10.1.0.1"))])
    }

    @Test func schedulerChangeIsAnEdit() {
        var want = base
        want.services[0].scheduler = "wrr"
        #expect(diff(desired: want, actual: base) == [.editService(want.services[0].withoutDestinations)])
    }

    @Test func persistenceChangeIsAnEdit() {
        var want = base
        want.services[0].flags = .persistent
        want.services[0].persistenceTimeout = 360
        want.services[0].persistencePrefix = 24
        #expect(diff(desired: want, actual: base) == [.editService(want.services[0].withoutDestinations)])
    }

    @Test func keyChangeIsDeletePlusAdd() {
        var want = base
        want.services[0].key = tcpKey("10.1.0.1", 443)
        let changes = diff(desired: want, actual: base)
        #expect(changes.first == .deleteService(tcpKey("10.1.0.1")))
        #expect(changes.dropFirst().first == .addService(want.services[0].withoutDestinations))
        #expect(changes.count == 4)
    }

    @Test(arguments: [
        (Int32(0), UInt32(0), UInt32(0), ForwardingMethod.directRoute),
        (Int32(5), UInt32(0), UInt32(0), ForwardingMethod.directRoute),
        (Int32(1), UInt32(100), UInt32(50), ForwardingMethod.directRoute),
        (Int32(1), UInt32(0), UInt32(0), ForwardingMethod.masquerade),
    ])
    func destinationSettingChangeIsAnEdit(w: Int32, u: UInt32, l: UInt32, fwd: ForwardingMethod) {
        var want = base
        want.services[0].destinations[1].weight = w
        want.services[0].destinations[1].upperThreshold = u
        want.services[0].destinations[1].lowerThreshold = l
        want.services[0].destinations[1].forwarding = fwd
        let changes = diff(desired: want, actual: base)
        if want == base {
            #expect(changes.isEmpty)
        } else {
            #expect(changes == [.editDestination(want.services[0].key, want.services[0].destinations[1])])
        }
    }

    @Test func destinationPortChangeIsDeletePlusAdd() {
        var want = base
        want.services[0].destinations[0] = dest("10.2.0.1", port: 8080)
        let k = base.services[0].key
        #expect(diff(desired: want, actual: base) == [
            .deleteDestination(k, sa("10.2.0.1", 80)), .addDestination(k, dest("10.2.0.1", port: 8080)),
        ])
    }

    @Test func orderOfDestinationsDoesNotMatter() {
        var want = base
        want.services[0].destinations.reverse()
        #expect(diff(desired: want, actual: base).isEmpty)
    }

    @Test func applyRejectsImpossibleChanges() {
        let k = tcpKey("10.9.9.9")
        #expect(throws: DataPlaneModelError(.serviceNotFound, service: k)) {
            try apply([.deleteService(k)], to: base)
        }
        #expect(throws: DataPlaneModelError(.serviceExists, service: base.services[0].key)) {
            try apply([.addService(base.services[0])], to: base)
        }
        #expect(throws: DataPlaneModelError(.destinationNotFound, service: base.services[0].key, destination: sa("10.3.0.1", 80))) {
            try apply([.editDestination(base.services[0].key, dest("10.3.0.1"))], to: base)
        }
        #expect(throws: DataPlaneModelError(.destinationExists, service: base.services[0].key, destination: sa("10.2.0.1", 80))) {
            try apply([.addDestination(base.services[0].key, dest("10.2.0.1"))], to: base)
        }
    }
}

@Suite struct DiffPropertyTests {
    static func randomState(_ rng: inout SplitMix64) -> DataPlaneState {
        var services: [VirtualService] = []
        let scheds = ["rr", "wrr", "wlc", "sh", "mh"]
        for _ in 0..<Int.random(in: 0...5, using: &rng) {
            let key: ServiceKey = Bool.random(using: &rng)
                ? .address(Bool.random(using: &rng) ? .tcp : .udp, sa("10.1.0.\(Int.random(in: 1...4, using: &rng))", UInt16.random(in: 80...82, using: &rng)))
                : .fwmark(UInt32.random(in: 1...3, using: &rng), .inet)
            if services.contains(where: { $0.key == key }) { continue }
            var s = VirtualService(key: key, scheduler: scheds.randomElement(using: &rng)!)
            if Bool.random(using: &rng) {
                s.flags = .persistent
                s.persistenceTimeout = [300, 360][Int.random(in: 0...1, using: &rng)]
            }
            for _ in 0..<Int.random(in: 0...6, using: &rng) {
                var d = dest("10.2.0.\(Int.random(in: 1...8, using: &rng))", Int32.random(in: 0...3, using: &rng))
                d.forwarding = Bool.random(using: &rng) ? .directRoute : .masquerade
                d.upperThreshold = [0, 100][Int.random(in: 0...1, using: &rng)]
                d.activeConnections = UInt32.random(in: 0...9, using: &rng)  // read-back noise
                if !s.destinations.contains(where: { $0.address == d.address }) { s.destinations.append(d) }
            }
            if Bool.random(using: &rng) { s.flags.insert(.hashed) }
            s.counters.inBytes = UInt64.random(in: 0...1000, using: &rng)
            services.append(s)
        }
        return DataPlaneState(services: services)
    }

    @Test func applyingTheDiffGivesTheDesiredState() throws {
        var rng = SplitMix64(state: 20261126)
        for round in 0..<2000 {
            let desired = Self.randomState(&rng)
            let actual = Self.randomState(&rng)
            let changes = diff(desired: desired, actual: actual)
            let result = try apply(changes, to: actual)
            #expect(result.isEquivalent(to: desired), "round \(round): \(changes)")
            #expect(diff(desired: desired, actual: result).isEmpty, "round \(round)")
            #expect(diff(desired: desired, actual: desired).isEmpty)
            // Minimality: never delete and re-add a destination whose key stays.
            var deleted = Set<String>()
            for c in changes {
                if case .deleteDestination(let k, let a) = c { deleted.insert("\(k)\(a)") }
                if case .addDestination(let k, let d) = c { #expect(!deleted.contains("\(k)\(d.address)")) }
                if case .deleteDestination(let k, _) = c { #expect(desired[k] != nil, "no dest deletes inside a deleted service") }
            }
        }
    }
}
