import DataPlane
import HealthCheck
import HealthCheckCore
import Logging

/// Runs the health checkers of the current configuration and feeds their verdicts to the pool.
/// A reload replaces the checkers: the old set is cancelled and awaited before the new one runs.
actor CheckerRuntime {
    private let pool: PoolRuntime
    private let logger: Logger
    /// One task owns the running service; it is replaced as a whole on reload, which a task
    /// group cannot do for one of its children.
    private var current: Task<Void, Never>?
    private var service: HealthCheckService<ContinuousClock>?
    /// `ha_suspend`: virtual services whose checkers are paused (kept across reloads).
    private var suspended: Set<ServiceKey> = []

    init(pool: PoolRuntime, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    func start(_ plan: HealthSpecs.Plan) async {
        await stop()
        for p in plan.problems { logger.warning("\(p)") }
        guard !plan.servers.isEmpty else { return }
        let service = HealthCheckService(servers: plan.servers, clock: ContinuousClock(), logger: logger)
        service.setSuspended(suspended)
        self.service = service
        let pool = self.pool
        current = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await service.run() }
                group.addTask {
                    for await change in service.events {
                        await pool.apply(change)
                    }
                }
            }
        }
    }

    func setSuspended(_ services: Set<ServiceKey>) {
        suspended = services
        service?.setSuspended(services)
    }

    func stop() async {
        current?.cancel()
        await current?.value
        current = nil
        service = nil
    }
}

extension PoolRuntime {
    /// A checker verdict for one real server.
    func apply(_ change: HealthChange) async {
        let service = change.server.virtualService
        let server = change.server.server
        switch change.event {
        case .up(let weight):
            await setWeight(Int32(clamping: weight), server: server, of: service)
            await setAlive(true, server: server, of: service)
        case .down:
            await setAlive(false, server: server, of: service)
        case .weight(let weight):
            await setWeight(Int32(clamping: weight), server: server, of: service)
        }
    }
}
