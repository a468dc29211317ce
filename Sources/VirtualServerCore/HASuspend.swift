import DataPlane
import NetCore

/// keepalived's `ha_suspend`: the checkers of a virtual server run only while its address is
/// configured on this director (it holds the VIP); elsewhere (a VRRP backup) they pause and the
/// real servers keep the state they had.
///
/// Pure: the set of local addresses in, the suspended services and keepalived's log lines out.
/// Services start suspended until the first `update` shows their address, as keepalived's
/// checkers start disabled until the initial address dump enables them.
public struct HASuspend: Sendable {
    /// Services with `ha_suspend`, with their address and real servers (for the log lines).
    private var watched: [VirtualServerSpec] = []
    public private(set) var suspended: Set<ServiceKey> = []

    public init(specs: [VirtualServerSpec]) {
        _ = reload(specs: specs)
    }

    /// Whether any service needs the local addresses watched.
    public var isWatching: Bool { !watched.isEmpty }

    /// A new configuration: services that stay keep their state, new ones start suspended.
    public mutating func reload(specs: [VirtualServerSpec]) -> Set<ServiceKey> {
        let next = specs.filter { spec in
            guard spec.haSuspend, case .address = spec.key else { return false }
            return true
        }
        let known = Set(watched.map(\.key))
        let keys = Set(next.map(\.key))
        suspended = suspended.intersection(keys).union(keys.subtracting(known))
        watched = next
        return suspended
    }

    /// The addresses configured on this director now. Returns the log lines of the services
    /// whose checkers start or stop.
    public mutating func update(localAddresses: Set<IPAddress>) -> [String] {
        var logs: [String] = []
        for spec in watched {
            guard case .address(_, let sa) = spec.key else { continue }
            let local = localAddresses.contains(sa.address)
            let wasSuspended = suspended.contains(spec.key)
            if local && wasSuspended {
                suspended.remove(spec.key)
                logs += spec.realServers.map { "Activating healthchecker for service \(fmt($0, spec)) for VS \(fmtVS(spec))" }
            } else if !local && !wasSuspended {
                suspended.insert(spec.key)
                logs += spec.realServers.map { "Suspending healthchecker for service \(fmt($0, spec)) for VS \(fmtVS(spec))" }
            }
        }
        return logs
    }
}
