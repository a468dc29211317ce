/// `vrrp_track_process`: whether the tracked process is running, decided from a process list
/// (keepalived.conf(5): `process NAME [ARGS]`, `param_match initial|partial`, `quorum`,
/// `quorum_max`, `full_command`). Pure: the I/O layer reads /proc and feeds the list in.
public struct ProcessTrackRule: Hashable, Sendable {
    public enum ParamMatch: String, Hashable, Sendable {
        /// The arguments must equal the configured ones exactly (keepalived's default).
        case exact
        /// The configured arguments are a prefix of the process's.
        case initial
        /// The configured arguments appear somewhere in the process's, in order, contiguous.
        case partial
    }

    public var name: String
    /// The process name (`comm`, or argv[0] with `full_command`), then its arguments if given.
    public var process: [String]
    public var paramMatch: ParamMatch
    public var fullCommand: Bool
    /// Running instances needed for "up" (default 1), and at most (`quorum_max`, default none).
    public var quorum: Int
    public var quorumMax: Int?

    public init(name: String, process: [String], paramMatch: ParamMatch = .exact, fullCommand: Bool = false, quorum: Int = 1, quorumMax: Int? = nil) {
        self.name = name
        self.process = process
        self.paramMatch = paramMatch
        self.fullCommand = fullCommand
        self.quorum = quorum
        self.quorumMax = quorumMax
    }

    /// One process as /proc shows it.
    public struct Process: Hashable, Sendable {
        /// `/proc/PID/comm` (at most 15 characters, as the kernel truncates it).
        public var comm: String
        /// `/proc/PID/cmdline` split at NULs.
        public var argv: [String]

        public init(comm: String, argv: [String]) {
            self.comm = comm
            self.argv = argv
        }
    }

    func matches(_ p: Process) -> Bool {
        guard let wanted = process.first else { return false }
        if fullCommand {
            guard p.argv.first == wanted else { return false }
        } else {
            // The kernel keeps 15 characters of the name in comm.
            guard p.comm == String(wanted.prefix(15)) else { return false }
        }
        let want = Array(process.dropFirst())
        guard !want.isEmpty else { return true }
        let have = Array(p.argv.dropFirst())
        switch paramMatch {
        case .exact: return have == want
        case .initial: return have.count >= want.count && Array(have.prefix(want.count)) == want
        case .partial:
            guard have.count >= want.count else { return false }
            return (0...(have.count - want.count)).contains { Array(have[$0..<($0 + want.count)]) == want }
        }
    }

    /// How many processes match.
    public func count(in processes: [Process]) -> Int { processes.filter(matches).count }

    /// Up when the count is within quorum...quorum_max.
    public func status(in processes: [Process]) -> TrackerStatus {
        let n = count(in: processes)
        return n >= quorum && n <= (quorumMax ?? Int.max) ? .up : .down
    }
}

/// keepalived's `fork_delay` / `terminate_delay` (`delay` sets both) for one `vrrp_track_process`:
/// turns process counts observed over time into quorum changes. keepalived starts the delay by the
/// direction of the change, so a count that rises across a bound (reaching `quorum`, or passing
/// `quorum_max`) waits `forkDelay`, and one that falls across a bound waits `terminateDelay`. A
/// change back before the delay ends cancels it and nothing is reported. The first observation is
/// reported at once, as keepalived's start-up scan of /proc is.
///
/// Pure: the caller observes the count (from /proc) with the current time and acts on the result.
public struct ProcessQuorumTracker: Hashable, Sendable {
    public var rule: ProcessTrackRule
    public var forkDelay: Duration
    public var terminateDelay: Duration
    /// The last reported state; nil before the first observation.
    public private(set) var status: TrackerStatus?
    /// When a change waiting for its delay is due; the caller should observe again by then.
    public var deadline: Instant? { pendingAt }
    private var pending: (status: TrackerStatus, at: Instant)? {
        get { pendingStatus.map { ($0, pendingAt!) } }
        set { pendingStatus = newValue?.status; pendingAt = newValue?.at }
    }
    private var pendingStatus: TrackerStatus?
    private var pendingAt: Instant?
    private var lastCount: Int?

    public init(rule: ProcessTrackRule, forkDelay: Duration = .zero, terminateDelay: Duration = .zero) {
        self.rule = rule
        self.forkDelay = forkDelay
        self.terminateDelay = terminateDelay
    }

    /// Whether `count` matching processes make a quorum.
    public func inQuorum(_ count: Int) -> Bool { count >= rule.quorum && count <= (rule.quorumMax ?? Int.max) }

    /// Feeds one observation; returns the new state when the reported state changes.
    public mutating func observe(count: Int, now: Instant) -> TrackerStatus? {
        let wanted: TrackerStatus = inQuorum(count) ? .up : .down
        defer { lastCount = count }
        guard let current = status else {
            status = wanted
            return wanted
        }
        if wanted == current {
            // Back before the delay ran out: keepalived cancels the timer and reports nothing.
            pending = nil
            return nil
        }
        if pending == nil {
            let rising = count > (lastCount ?? count) || (count == lastCount && wanted == .up)
            let delay = rising ? forkDelay : terminateDelay
            if delay <= .zero {
                status = wanted
                return wanted
            }
            pending = (wanted, now + delay)
        }
        return fire(now: now)
    }

    /// Reports a pending change whose delay has run out (the count did not come back).
    private mutating func fire(now: Instant) -> TrackerStatus? {
        guard let p = pending, now >= p.at else { return nil }
        pending = nil
        status = p.status
        return p.status
    }
}
