/// A `vrrp_sync_group`: its member instances change state together (keepalived.conf(5)).
///
/// Pure: the caller reports each member transition and delivers the returned
/// `.syncGroup(state)` events to the named members; forced members then report their own
/// transitions, which are no-ops here because everyone already agrees.
public struct SyncGroup: Hashable, Sendable {
    public var name: String
    public var members: [String]
    /// The state the whole group last notified.
    public private(set) var state: VRRPState = .initialize

    public init(name: String, members: [String]) {
        self.name = name
        self.members = members
    }

    public struct Outcome: Hashable, Sendable {
        /// Members to send `.syncGroup(state)` to.
        public var forced: [String] = []
        public var target: VRRPState?
        public var logs: [String] = []
        /// Set when the group as a whole changed state: `GROUP "G1" MASTER 0`.
        public var notification: VRRPInstance.Notification?
    }

    /// `member` entered `newState` on its own; `states` are all members' current states.
    public mutating func memberTransitioned(_ member: String, to newState: VRRPState, states: [String: VRRPState]) -> Outcome {
        var out = Outcome()
        guard members.contains(member) else { return out }
        // A member reporting the state we forced on it is following, not leading.
        if forcedTo[member] == newState {
            forcedTo[member] = nil
            return out
        }
        forcedTo[member] = nil
        switch newState {
        case .master, .backup, .fault: break
        case .initialize, .stopped: return out
        }
        // A member in FAULT keeps the group in FAULT; nobody may become MASTER meanwhile.
        var target = newState
        if newState != .fault, members.contains(where: { $0 != member && states[$0] == .fault && !isForcedFault($0) }) {
            target = .fault
        }
        let others = members.filter { $0 != member && states[$0] != target && states[$0] != .stopped && states[$0] != .initialize }
        if !others.isEmpty {
            for o in others { forcedTo[o] = target }
            out.forced = others
            out.target = target
            out.logs.append("VRRP_Group(\(name)) Syncing instances to \(target.rawValue) state")
        }
        if target == .fault && newState == .fault { faultSources.insert(member) } else if newState != .fault { faultSources.remove(member) }
        if target != state {
            state = target
            let s: VRRPInstance.Notification.State = target == .master ? .master : target == .backup ? .backup : .fault
            out.notification = .init(kind: .group, name: name, state: s, priority: 0)
        }
        return out
    }

    /// Members that went FAULT by themselves (the others were only forced to follow).
    private var faultSources: Set<String> = []
    /// Members told to follow, and the state they were told to take.
    private var forcedTo: [String: VRRPState] = [:]

    private func isForcedFault(_ member: String) -> Bool { !faultSources.contains(member) }
}
