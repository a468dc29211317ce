import NetCore
import VRRPCore


/// What a configuration reload (SIGHUP) does to each VRRP instance, matched by name as
/// keepalived matches them. Pure: computed from the running and the new setups.
///
/// - `unchanged`: same settings; the instance keeps its state and VIPs, and nothing is logged
///   or notified (keepalived runs no notify on reload when the state does not change).
/// - `updated`: the same instance (interface, VRID, family, advert source and group are the
///   same) with other settings changed. They apply in place and the machine keeps its state:
///   a new priority takes effect at once (a master advertises it immediately, so a backup
///   that now outranks it preempts); VIPs, routes and rules present in both keep existing,
///   added ones appear (with gratuitous ARP/NA) and removed ones disappear on a master.
/// - `restarted`: one of those identity settings changed, so it is a different router: the
///   old one stops (a master sends priority 0 and drops its VIPs) and the new one starts.
/// - `added` / `removed`: start in BACKUP (or MASTER for an address owner) / stop as above.
public struct VRRPReloadPlan: Sendable, Hashable {
    public enum Change: Sendable, Hashable {
        case unchanged
        case updated(fields: [String])
        case restarted(reason: String)
        case added
        case removed
    }

    public struct Entry: Sendable, Hashable {
        public var name: String
        public var change: Change
    }

    /// Per instance name, in the new configuration's order followed by removed instances.
    public var changes: [Entry] = []

    public init() {}

    public func change(of name: String) -> Change? { changes.first { $0.name == name }?.change }

    /// Compares the running setups with the reloaded ones.
    public static func compute(running: [VRRPInstanceSetup], reloaded: [VRRPInstanceSetup]) -> VRRPReloadPlan {
        var plan = VRRPReloadPlan()
        let old = Dictionary(running.map { ($0.config.name, $0) }, uniquingKeysWith: { a, _ in a })
        let newNames = Set(reloaded.map(\.config.name))
        for n in reloaded {
            let name = n.config.name
            guard let o = old[name] else {
                plan.changes.append(Entry(name: name, change: .added))
                continue
            }
            if o == n {
                plan.changes.append(Entry(name: name, change: .unchanged))
            } else if let reason = identityChange(o.config, n.config) {
                plan.changes.append(Entry(name: name, change: .restarted(reason: reason)))
            } else {
                plan.changes.append(Entry(name: name, change: .updated(fields: changedFields(o, n))))
            }
        }
        for o in running where !newNames.contains(o.config.name) {
            plan.changes.append(Entry(name: o.config.name, change: .removed))
        }
        return plan
    }

    /// The settings that make an instance a different router on the wire (and need other
    /// sockets): nil when none changed.
    static func identityChange(_ a: VRRPInstanceConfig, _ b: VRRPInstanceConfig) -> String? {
        if a.interface != b.interface { return "interface \(a.interface) -> \(b.interface)" }
        if a.vrid != b.vrid { return "virtual_router_id \(a.vrid) -> \(b.vrid)" }
        if a.family != b.family { return "address family changed" }
        if a.primaryAddress != b.primaryAddress { return "source address \(a.primaryAddress) -> \(b.primaryAddress)" }
        if a.multicastGroup != b.multicastGroup { return "multicast group \(a.multicastGroup) -> \(b.multicastGroup)" }
        return nil
    }

    /// Names of the settings that differ, for the log (keepalived.conf keywords where one fits).
    static func changedFields(_ a: VRRPInstanceSetup, _ b: VRRPInstanceSetup) -> [String] {
        var f: [String] = []
        let x = a.config, y = b.config
        if x.priority != y.priority { f.append("priority \(x.priority) -> \(y.priority)") }
        if x.version != y.version { f.append("version") }
        if x.advertInterval != y.advertInterval { f.append("advert_int") }
        if x.preempt != y.preempt || x.preemptDelay != y.preemptDelay { f.append("preempt") }
        if x.authentication != y.authentication { f.append("authentication") }
        if a.vips != b.vips || x.virtualAddresses != y.virtualAddresses { f.append("virtual_ipaddress") }
        if a.routes != b.routes { f.append("virtual_routes") }
        if a.rules != b.rules { f.append("virtual_rules") }
        if a.notify != b.notify { f.append("notify") }
        if x.trackers != y.trackers { f.append("track") }
        if x.unicastPeers != y.unicastPeers || x.checkUnicastSource != y.checkUnicastSource { f.append("unicast_peer") }
        if x.gratuitous != y.gratuitous { f.append("garp") }
        var xr = x, yr = y
        xr.priority = 0; yr.priority = 0
        xr.version = .v2; yr.version = .v2
        xr.advertInterval = .zero; yr.advertInterval = .zero
        xr.preempt = true; yr.preempt = true
        xr.preemptDelay = .zero; yr.preemptDelay = .zero
        xr.authentication = .none; yr.authentication = .none
        xr.virtualAddresses = []; yr.virtualAddresses = []
        xr.trackers = []; yr.trackers = []
        xr.unicastPeers = []; yr.unicastPeers = []
        xr.checkUnicastSource = false; yr.checkUnicastSource = false
        xr.gratuitous = .init(); yr.gratuitous = .init()
        if xr != yr { f.append("other settings") }
        return f
    }
}

/// Differences between two lists, keeping the new list's order (pure helper for VIPs, routes
/// and rules on reload).
func listDifference<T: Hashable>(from old: [T], to new: [T]) -> (added: [T], removed: [T]) {
    let o = Set(old), n = Set(new)
    return (new.filter { !o.contains($0) }, old.filter { !n.contains($0) })
}
