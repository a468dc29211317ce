import DataPlane
import HealthCheckCore
import Logging
import NIOCore
import NIOPosix
import NetCore
import Synchronization
import SysCore

/// A real server to watch: its identity, configured weight and checkers.
public struct RealServerSpec: Sendable, Hashable {
    public var id: RealServerID
    /// The configured `weight` (the base of dynamic weights).
    public var weight: Int
    public var checkers: [CheckerSpec]

    public init(id: RealServerID, weight: Int = 1, checkers: [CheckerSpec]) {
        self.id = id
        self.weight = weight
        self.checkers = checkers
    }
}

/// A change the control loop applies to the data plane.
public struct HealthChange: Sendable, Hashable {
    public var server: RealServerID
    public var event: HealthEvent

    public init(server: RealServerID, event: HealthEvent) {
        self.server = server
        self.event = event
    }
}

/// Runs every checker of a set of real servers, one task per checker in one task group, and
/// reports real-server transitions (keepalived.md §3–4).
///
/// Non-alpha servers count as alive from the start (the control loop adds them at once); alpha
/// servers count as down until their checkers succeed. `events` yields only changes.
///
/// ```swift
/// let service = HealthCheckService(servers: specs, logger: logger)
/// async let _ = service.run()
/// for await change in service.events { apply(change) }
/// ```
public final class HealthCheckService<C: Clock>: Sendable where C.Duration == Duration {
    public let servers: [RealServerSpec]
    public let events: AsyncStream<HealthChange>
    private let continuation: AsyncStream<HealthChange>.Continuation
    private let clock: C
    private let logger: Logger
    private let runner: CheckRunner
    private let seed: UInt64?
    private let states: Mutex<[RealServerHealth]>
    private let checks = Atomic<Int>(0)
    private let suspendedServices = Mutex<Set<ServiceKey>>([])
    private let anySuspended = Atomic<Bool>(false)

    /// - Parameters:
    ///   - clock: drives scheduling (delay_loop, retries, warmup); I/O timeouts use real time.
    ///   - seed: makes warmup offsets reproducible (tests); nil = system randomness.
    public init(
        servers: [RealServerSpec], clock: C, logger: Logger = Logger(label: "vigil.healthcheck"),
        runner: CheckRunner = CheckRunner(), seed: UInt64? = nil
    ) {
        self.servers = servers
        self.clock = clock
        self.logger = logger
        self.runner = runner
        self.seed = seed
        (events, continuation) = AsyncStream.makeStream(of: HealthChange.self, bufferingPolicy: .unbounded)
        states = Mutex(servers.map { s in RealServerHealth(baseWeight: s.weight, initiallyUp: s.checkers.map { !$0.policy.alpha }) })
    }

    /// Whether each server is alive now and with which weight.
    public func snapshot() -> [RealServerID: (alive: Bool, weight: Int)] {
        states.withLock { st in
            var out: [RealServerID: (alive: Bool, weight: Int)] = [:]
            for (i, s) in servers.enumerated() { out[s.id] = (st[i].isAlive, st[i].effectiveWeight) }
            return out
        }
    }

    /// Check attempts completed so far (for benchmarks and status).
    public var checksCompleted: Int { checks.load(ordering: .relaxed) }

    /// `ha_suspend`: the checkers of these virtual services skip their checks (their servers keep
    /// their state) until a later call leaves them out; they then resume within one delay_loop.
    public func setSuspended(_ services: Set<ServiceKey>) {
        suspendedServices.withLock { $0 = services }
        anySuspended.store(!services.isEmpty, ordering: .relaxed)
    }

    /// Runs until the calling task is cancelled; then finishes `events`.
    ///
    /// With the real clock, every TCP_CHECK runs on one `TCPCheckLoop` thread (a heap of due times
    /// and one epoll set); other checkers run one task each.
    public func run() async {
        let start = clock.now
        let fast = clock is ContinuousClock
        var tcp: [TCPCheckLoop.Checker] = []
        var firsts: [Duration] = []
        let startNs = monotonicNs()
        await withDiscardingTaskGroup { group in
            for (si, server) in servers.enumerated() {
                for (ci, spec) in server.checkers.enumerated() {
                    if fast, case .tcp = spec.check {
                        var sched = CheckerScheduler(kind: spec.kind, policy: spec.policy, target: spec.target, urlCount: spec.urlCount)
                        var rng = rng(si, ci)
                        firsts.append(sched.start(now: .zero, using: &rng))
                        tcp.append(TCPCheckLoop.Checker(spec: spec, server: si, index: ci, scheduler: sched))
                        continue
                    }
                    group.addTask {
                        await self.runChecker(server: si, checker: ci, spec: spec, start: start)
                    }
                }
            }
            guard !tcp.isEmpty else { return }
            do {
                let loop = try TCPCheckLoop(
                    checkers: tcp, firstChecks: firsts, startNs: startNs,
                    suspended: { [self] c in isSuspended(servers[c.server].id) },
                    complete: { [self] c, outcome, now in
                        checks.add(1, ordering: .relaxed)
                        let step = c.scheduler.record(outcome, now: now)
                        for line in step.logs { logger.info("\(line)") }
                        let isUp = c.scheduler.isUp
                        let (si, ci) = (c.server, c.index)
                        if let event = states.withLock({ $0[si].update(checker: ci, isUp: isUp) }) {
                            continuation.yield(HealthChange(server: servers[si].id, event: event))
                        }
                        return step.nextCheck
                    })
                try loop.start()
                group.addTask { await loop.runUntilCancelled() }
            } catch {
                logger.error("TCP_CHECK loop: \(error); running those checkers one task each")
                for c in tcp {
                    group.addTask { await self.runChecker(server: c.server, checker: c.index, spec: c.spec, start: start) }
                }
            }
        }
        continuation.finish()
    }

    private func isSuspended(_ id: RealServerID) -> Bool {
        guard anySuspended.load(ordering: .relaxed) else { return false }
        return suspendedServices.withLock { $0.contains(id.virtualService) }
    }

    private func rng(_ si: Int, _ ci: Int) -> SplitMix64 {
        SplitMix64(state: seed.map { $0 &+ UInt64(si) &* 7919 &+ UInt64(ci) } ?? UInt64.random(in: 0...UInt64.max))
    }

    private func runChecker(server si: Int, checker ci: Int, spec: CheckerSpec, start: C.Instant) async {
        let id = servers[si].id
        var sched = CheckerScheduler(kind: spec.kind, policy: spec.policy, target: spec.target, urlCount: spec.urlCount)
        var rng = rng(si, ci)
        var next = sched.start(now: .zero, using: &rng)
        var url = 0
        var seq: UInt16 = 0
        while !Task.isCancelled {
            do { try await clock.sleep(until: start.advanced(by: next), tolerance: nil as C.Duration?) } catch { return }
            if isSuspended(id) {
                next = start.duration(to: clock.now) + spec.policy.delayLoop
                continue
            }
            seq &+= 1
            let outcome = await runner.perform(spec, urlIndex: url, sequence: seq, server: id)
            checks.add(1, ordering: .relaxed)
            let now = start.duration(to: clock.now)
            let step = sched.record(outcome, now: now)
            for line in step.logs { logger.info("\(line)") }
            url = step.nextURL
            next = max(step.nextCheck, now)
            let dyn: RealServerHealth.DynamicWeight?? =
                switch spec.check {
                case .misc(let m) where m.dynamic && outcome.success: outcome.weight.map { .replace($0) }
                case .file where outcome.success: outcome.weight.map { .add($0) }
                default: .none
                }
            let event = states.withLock { $0[si].update(checker: ci, isUp: sched.isUp, weight: dyn) }
            // The control loop logs `Adding service …`/`Removing service …` when it applies these.
            if let event { continuation.yield(HealthChange(server: id, event: event)) }
        }
    }
}

extension HealthCheckService where C == ContinuousClock {
    public convenience init(servers: [RealServerSpec], logger: Logger = Logger(label: "vigil.healthcheck"), runner: CheckRunner = CheckRunner()) {
        self.init(servers: servers, clock: ContinuousClock(), logger: logger, runner: runner)
    }
}

