/// A tracked object of an instance (track_interface, track_script, track_file,
/// track_process) and how its state moves the priority (keepalived.conf(5), "tracking").
public struct Tracker: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable { case interface, script, file, process }

    public var name: String
    public var kind: Kind
    /// 0 = failure means FAULT. +W adds W while OK; −W subtracts W while failing.
    /// For files: the file's value × weight is added (weight 0: non-zero value means FAULT).
    public var weight: Int
    /// Swaps OK and failing (files: negates the value).
    public var reverse: Bool

    public init(name: String, kind: Kind, weight: Int = 0, reverse: Bool = false) {
        self.name = name
        self.kind = kind
        self.weight = weight
        self.reverse = reverse
    }

    /// What the tracker contributes for `status`: a priority delta, or fault.
    public func contribution(_ status: TrackerStatus) -> TrackerContribution {
        switch status {
        case .value(let v):
            if weight == 0 { return v != 0 ? .fault : .delta(0) }
            let d = (reverse ? -v : v) * weight
            // keepalived: a file value that would take priority below -253 means fault.
            return d < -253 ? .fault : .delta(d)
        case .up, .down:
            let ok = (status == .up) != reverse
            if weight == 0 { return ok ? .delta(0) : .fault }
            if weight > 0 { return .delta(ok ? weight : 0) }
            return .delta(ok ? 0 : weight)
        }
    }
}

/// The reported state of a tracker.
public enum TrackerStatus: Hashable, Sendable {
    case up
    case down
    /// A track_file value.
    case value(Int)
}

public enum TrackerContribution: Hashable, Sendable {
    case delta(Int)
    case fault
}

/// keepalived's effective priority: base + Σ tracker deltas, clamped to 1...254; an address
/// owner (255) is never adjusted. Returns nil when some tracker means FAULT.
public func computeEffectivePriority(base: UInt8, trackers: [Tracker], status: [String: TrackerStatus]) -> (priority: UInt8, faultedBy: Tracker?) {
    var total = Int(base)
    for t in trackers {
        // Unreported trackers count as up (scripts are assumed OK until they fail, unless
        // init_fail, which the caller reports as `.down` before start).
        switch t.contribution(status[t.name] ?? (t.kind == .file ? .value(0) : .up)) {
        case .fault: return (base, t)
        case .delta(let d): total += d
        }
    }
    if base == 255 { return (255, nil) }
    return (UInt8(max(1, min(254, total))), nil)
}

/// Rise/fall hysteresis of a vrrp_script (pure): `rise` consecutive successes turn a failed
/// script OK, `fall` consecutive failures turn an OK script failed. A timeout is a failure.
public struct ScriptHysteresis: Hashable, Sendable {
    public var rise: Int
    public var fall: Int
    public private(set) var isUp: Bool
    private var streak = 0

    public init(rise: Int = 1, fall: Int = 1, initiallyUp: Bool = true) {
        self.rise = max(1, rise)
        self.fall = max(1, fall)
        self.isUp = initiallyUp
    }

    /// Records one run's result; returns the new status when it changed.
    public mutating func record(success: Bool) -> TrackerStatus? {
        if success == isUp {
            streak = 0
            return nil
        }
        streak += 1
        if streak >= (success ? rise : fall) {
            isUp = success
            streak = 0
            return success ? .up : .down
        }
        return nil
    }
}
