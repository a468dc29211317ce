import NetCore

/// Why a list of changes cannot be applied to a state (by the pure `apply` or by a backend).
public struct DataPlaneModelError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case serviceExists, serviceNotFound, destinationExists, destinationNotFound
    }
    public var code: Code
    public var service: ServiceKey
    public var destination: SocketAddress?

    public init(_ code: Code, service: ServiceKey, destination: SocketAddress? = nil) {
        self.code = code
        self.service = service
        self.destination = destination
    }

    public var description: String {
        let d = destination.map { " destination \($0)" } ?? ""
        switch code {
        case .serviceExists: return "virtual server \(service) already exists"
        case .serviceNotFound: return "virtual server \(service) does not exist"
        case .destinationExists: return "virtual server \(service):\(d) already exists"
        case .destinationNotFound: return "virtual server \(service):\(d) does not exist"
        }
    }
}

extension VirtualService {
    /// The service with its destinations removed (the payload of add/edit service changes).
    public var withoutDestinations: VirtualService {
        var s = self
        s.destinations = []
        return s
    }
}

extension DataPlaneState {
    /// True when both states configure the same services and destinations, in any order,
    /// ignoring read-back fields (counters, connection counts, `.hashed`).
    public func isEquivalent(to other: DataPlaneState) -> Bool {
        guard services.count == other.services.count else { return false }
        let mine = Dictionary(services.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        guard mine.count == services.count else { return false }
        for o in other.services {
            guard let s = mine[o.key], s.sameSettings(as: o), s.destinations.count == o.destinations.count else {
                return false
            }
            let dests = Dictionary(s.destinations.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
            guard dests.count == s.destinations.count else { return false }
            for od in o.destinations {
                guard let d = dests[od.address], d.sameSettings(as: od) else { return false }
            }
        }
        return true
    }
}

/// The changes that turn `actual` into `desired` (R9 in style.md).
///
/// - A service whose settings differ becomes `.editService` (payload without destinations).
/// - A new service becomes `.addService` (payload without destinations) followed by one
///   `.addDestination` per destination, so every backend can add destinations one by one.
/// - A service that is no longer desired becomes one `.deleteService`; its destinations go with it.
/// - Destinations are matched by address: changed settings give `.editDestination`, never delete+add.
/// - Read-back fields (counters, connection counts, `.hashed`) never cause a change.
///
/// Order: service deletes, then per kept service (edit, destination deletes, edits, adds),
/// then new services. When `desired` lists a key twice, the first one counts.
public func diff(desired: DataPlaneState, actual: DataPlaneState) -> [DataPlaneChange] {
    var changes: [DataPlaneChange] = []
    var actualByKey: [ServiceKey: VirtualService] = [:]
    for s in actual.services where actualByKey[s.key] == nil { actualByKey[s.key] = s }
    var desiredKeys = Set<ServiceKey>()
    var wanted: [VirtualService] = []
    for s in desired.services where desiredKeys.insert(s.key).inserted { wanted.append(s) }

    var deleted = Set<ServiceKey>()
    for s in actual.services where !desiredKeys.contains(s.key) && deleted.insert(s.key).inserted {
        changes.append(.deleteService(s.key))
    }
    var added: [VirtualService] = []
    for want in wanted {
        guard let have = actualByKey[want.key] else {
            added.append(want)
            continue
        }
        if !want.sameSettings(as: have) { changes.append(.editService(want.withoutDestinations)) }
        var wantDests: [SocketAddress: Destination] = [:]
        var wantOrder: [Destination] = []
        for d in want.destinations where wantDests[d.address] == nil {
            wantDests[d.address] = d
            wantOrder.append(d)
        }
        var haveDests: [SocketAddress: Destination] = [:]
        for d in have.destinations where haveDests[d.address] == nil { haveDests[d.address] = d }
        var gone = Set<SocketAddress>()
        for d in have.destinations where wantDests[d.address] == nil && gone.insert(d.address).inserted {
            changes.append(.deleteDestination(want.key, d.address))
        }
        for d in wantOrder {
            if let h = haveDests[d.address], !h.sameSettings(as: d) {
                changes.append(.editDestination(want.key, d))
            }
        }
        for d in wantOrder where haveDests[d.address] == nil {
            changes.append(.addDestination(want.key, d))
        }
    }
    for want in added {
        changes.append(.addService(want.withoutDestinations))
        var seen = Set<SocketAddress>()
        for d in want.destinations where seen.insert(d.address).inserted {
            changes.append(.addDestination(want.key, d))
        }
    }
    return changes
}

/// Applies changes to a state the way a kernel would (pure; the reference semantics for backends).
///
/// `.addService` also adds any destinations it carries; `.editService` changes settings only.
/// New services and destinations are appended.
public func apply(_ changes: [DataPlaneChange], to state: DataPlaneState) throws(DataPlaneModelError) -> DataPlaneState {
    var s = state
    func index(_ key: ServiceKey) throws(DataPlaneModelError) -> Int {
        guard let i = s.services.firstIndex(where: { $0.key == key }) else {
            throw DataPlaneModelError(.serviceNotFound, service: key)
        }
        return i
    }
    for change in changes {
        switch change {
        case .addService(let svc):
            if s.services.contains(where: { $0.key == svc.key }) { throw DataPlaneModelError(.serviceExists, service: svc.key) }
            s.services.append(svc)
        case .editService(let svc):
            let i = try index(svc.key)
            let dests = s.services[i].destinations
            let counters = s.services[i].counters
            s.services[i] = svc
            s.services[i].destinations = dests
            s.services[i].counters = counters
        case .deleteService(let key):
            s.services.remove(at: try index(key))
        case .addDestination(let key, let d):
            let i = try index(key)
            if s.services[i].destinations.contains(where: { $0.address == d.address }) {
                throw DataPlaneModelError(.destinationExists, service: key, destination: d.address)
            }
            s.services[i].destinations.append(d)
        case .editDestination(let key, let d):
            let i = try index(key)
            guard let j = s.services[i].destinations.firstIndex(where: { $0.address == d.address }) else {
                throw DataPlaneModelError(.destinationNotFound, service: key, destination: d.address)
            }
            var nd = d
            let old = s.services[i].destinations[j]
            nd.activeConnections = old.activeConnections
            nd.inactiveConnections = old.inactiveConnections
            nd.persistentConnections = old.persistentConnections
            nd.counters = old.counters
            s.services[i].destinations[j] = nd
        case .deleteDestination(let key, let addr):
            let i = try index(key)
            guard let j = s.services[i].destinations.firstIndex(where: { $0.address == addr }) else {
                throw DataPlaneModelError(.destinationNotFound, service: key, destination: addr)
            }
            s.services[i].destinations.remove(at: j)
        }
    }
    return s
}
