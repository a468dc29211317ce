/// The result of one check attempt, produced by the I/O layer.
public struct CheckOutcome: Sendable, Hashable {
    public var success: Bool
    /// A dynamic weight reported by the check (MISC_CHECK `misc_dynamic` exit 2–255 gives
    /// exit − 2; FILE_CHECK gives value × weight), nil when the check does not set one.
    public var weight: Int?
    /// Why it failed (or a detail of the success), logged with keepalived's wording.
    public var detail: String?

    public init(success: Bool, weight: Int? = nil, detail: String? = nil) {
        self.success = success
        self.weight = weight
        self.detail = detail
    }

    public static func ok(weight: Int? = nil, _ detail: String? = nil) -> CheckOutcome {
        CheckOutcome(success: true, weight: weight, detail: detail)
    }

    public static func failed(_ detail: String) -> CheckOutcome {
        CheckOutcome(success: false, detail: detail)
    }
}

/// The up/down decision of one checker, keepalived's way (keepalived.md §4.1).
///
/// A value type driven by events: `start` gives the time of the first check, `record` takes each
/// check result and returns the time of the next check, any state change and the log lines.
/// Time is an offset from an arbitrary epoch (the service's start); the scheduler never reads a
/// clock.
///
/// - First check at 1 s + random(0…`warmup`).
/// - While up, a failure is retried `retry` times, `delay_before_retry` apart; the
///   `retry`+1-th consecutive failure takes the checker down.
/// - Non-alpha checkers start up, and their first failure takes them down at once (no retries on
///   the first round). Alpha checkers start down.
/// - While down, checks run every `delay_loop` and one success brings the checker up.
/// - HTTP_GET/SSL_GET (keepalived 2.0.17+): after a failure that leaves the checker down, the next
///   try waits max(`delay_before_retry`, `delay_loop`).
/// - With several `url` blocks, one URL is checked per `delay_loop`, in order; a failed URL is
///   checked again first.
public struct CheckerScheduler: Sendable, Hashable {
    /// A change of the checker's state.
    public enum Transition: Sendable, Hashable {
        case up
        case down
    }

    /// What the I/O layer must do after a result.
    public struct Step: Sendable, Hashable {
        /// When to run the next check.
        public var nextCheck: Duration
        /// The URL index (HTTP_GET/SSL_GET) the next check must use.
        public var nextURL: Int
        public var transition: Transition?
        /// Log lines with keepalived's wording.
        public var logs: [String]
    }

    public let kind: CheckerKind
    public let policy: CheckerPolicy
    /// How the checker names its target in logs: `[192.168.0.12]:tcp:80` (or the script for MISC).
    public let target: String
    public let urlCount: Int

    public private(set) var isUp: Bool
    public private(set) var hasRun = false
    /// Failures since the last success while up (the retry counter).
    public private(set) var consecutiveFailures = 0
    public private(set) var urlIndex = 0
    public private(set) var lastWeight: Int?

    public init(kind: CheckerKind, policy: CheckerPolicy, target: String, urlCount: Int = 1) {
        self.kind = kind
        self.policy = policy
        self.target = target
        self.urlCount = max(1, urlCount)
        self.isUp = !policy.alpha
    }

    /// The first check time: `now` + 1 s + random(0…warmup).
    public mutating func start(now: Duration, using rng: inout some RandomNumberGenerator) -> Duration {
        let warm = policy.warmup
        var offset = Duration.zero
        if warm > .zero {
            let ns = warm.components.seconds * 1_000_000_000 + warm.components.attoseconds / 1_000_000_000
            offset = .nanoseconds(Int64.random(in: 0...ns, using: &rng))
        }
        return now + .seconds(1) + offset
    }

    /// Feeds the result of the check that ran at `now` (its end time) and returns what to do next.
    public mutating func record(_ outcome: CheckOutcome, now: Duration) -> Step {
        let firstRound = !hasRun
        hasRun = true
        var logs: [String] = []
        var transition: Transition?
        var delay = policy.delayLoop
        if outcome.weight != nil || outcome.success { lastWeight = outcome.weight }

        if outcome.success {
            if !isUp {
                isUp = true
                transition = .up
                logs.append(successLine(outcome))
            }
            consecutiveFailures = 0
            if urlCount > 1 { urlIndex = (urlIndex + 1) % urlCount }
        } else if isUp && !firstRound && consecutiveFailures < policy.retry {
            consecutiveFailures += 1
            delay = policy.delayBeforeRetry
            if policy.logAllFailures, let d = outcome.detail { logs.append(d) }
        } else {
            if let d = outcome.detail, isUp || policy.logAllFailures { logs.append(d) }
            if isUp {
                isUp = false
                transition = .down
                // MISC/FILE already logged their own failure line (the detail).
                if kind != .misc && kind != .file || outcome.detail == nil { logs.append(downLine) }
            }
            consecutiveFailures = 0
            if kind.isHTTP { delay = max(policy.delayBeforeRetry, policy.delayLoop) }
        }
        return Step(nextCheck: now + delay, nextURL: urlIndex, transition: transition, logs: logs)
    }

    /// `HTTP_GET on service [192.168.0.12]:tcp:80 failed after 1 retries.`
    public var downLine: String {
        switch kind {
        case .misc: "Misc check for \(target) failed after \(policy.retry) retries."
        case .file: "FILE_CHECK for \(target) failed."
        default: "\(kind.rawValue) on service \(target) failed after \(policy.retry) retries."
        }
    }

    func successLine(_ outcome: CheckOutcome) -> String {
        switch kind {
        case .httpGet, .sslGet: "Remote Web server \(target) succeed on service."
        case .tcp: "TCP connection to \(target) success."
        case .smtp: "Remote SMTP server \(target) succeed on service."
        case .dns: "DNS_CHECK to \(target) succeed on service."
        case .udp: "UDP connection to \(target) success."
        case .ping: "ICMP connection to \(target) success."
        case .misc: outcome.detail ?? "Misc check for \(target) succeeded."
        case .file: "FILE_CHECK for \(target) succeeded."
        }
    }
}
