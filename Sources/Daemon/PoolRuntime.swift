import DataPlane
import HealthCheckCore
import Logging
import NetCore
import VRRP
import VirtualServerCore

/// Owns the pool controller and the data-plane backend: every health verdict or reload becomes
/// the pool's effects (logs, scripts, FIFO lines) and one transaction of the smallest diff
/// between what the kernel has and what the pool wants.
public actor PoolRuntime {
    private var pool: PoolController
    private let backend: any LoadBalancerBackend
    private let logger: Logger
    private let fifo: NotifyFIFO?
    private let scriptUser: VRRP.ScriptUser?
    /// Services this runtime has programmed: a reload that drops one must delete it, while
    /// services someone else added are never touched.
    private var managed: Set<ServiceKey> = []
    /// Scripts run in their own tasks so a slow notify never holds the pool.
    private var scriptTasks: [Task<Void, Never>] = []

    public init(
        specs: [VirtualServerSpec], backend: any LoadBalancerBackend, logger: Logger, fifoPath: String? = nil,
        scriptUser: VRRP.ScriptUser? = nil
    ) {
        pool = PoolController(specs: specs)
        self.backend = backend
        self.logger = logger
        self.scriptUser = scriptUser
        if let fifoPath {
            do { fifo = try NotifyFIFO(path: fifoPath) } catch {
                logger.error("lvs_notify_fifo \(fifoPath): \(error)")
                fifo = nil
            }
        } else {
            fifo = nil
        }
    }

    /// What the pool wants the kernel to hold now.
    public var desiredState: DataPlaneState { pool.desiredState }

    public func isAlive(_ server: SocketAddress, of service: ServiceKey) -> Bool? { pool.isAlive(server, of: service) }

    /// Real-server health for the status file, in keepalived's spelling.
    public func healthReport() -> [StatusSnapshot.RealServerHealth] {
        pool.health.map { .init(server: fmt($0.server, $0.service), service: fmtVS($0.service), alive: $0.alive) }
    }

    /// Each real server's identity for the checkers, with whether it is alive.
    func healthReportIDs() -> [(id: RealServerID, alive: Bool)] {
        pool.health.map { (RealServerID(virtualService: $0.service.key, server: $0.server.address), $0.alive) }
    }

    /// The data plane as read back, restricted to our services (empty if reading fails).
    public func readBack() async -> [VirtualService] {
        let ours = managed
        return ((try? await backend.currentState())?.services ?? []).filter { ours.contains($0.key) }
    }

    public nonisolated var engineName: String { backend.name }

    /// Programs the start-up state.
    public func start() async throws {
        perform(pool.startupEffects)
        try await reconcile()
    }

    public func setAlive(_ alive: Bool, server: SocketAddress, of service: ServiceKey) async {
        let fx = pool.setAlive(alive, server: server, of: service)
        guard !fx.isEmpty else { return }
        perform(fx)
        await reconcileLogging()
    }

    public func setWeight(_ weight: Int32, server: SocketAddress, of service: ServiceKey) async {
        let fx = pool.setWeight(weight, server: server, of: service)
        guard !fx.isEmpty else { return }
        perform(fx)
        await reconcileLogging()
    }

    /// SIGHUP: new specs; servers that stay keep their state and connections.
    public func reload(specs: [VirtualServerSpec]) async {
        perform(pool.reload(specs: specs))
        await reconcileLogging()
    }

    /// Stop: removes the services this pool programmed (keepalived's shutdown), unless `release`
    /// is false (keepalived's `--dont-release-ipvs`).
    public func stop(release: Bool) async {
        perform(pool.shutdownEffects())
        if release {
            do {
                let actual = try await backend.currentState()
                let ours = managed.union(pool.desiredState.services.map(\.key))
                let deletes = actual.services.filter { ours.contains($0.key) }.map { DataPlaneChange.deleteService($0.key) }
                if !deletes.isEmpty { try await backend.apply(deletes) }
            } catch {
                logger.error("Removing virtual servers from the \(backend.name) data plane failed: \(error)")
            }
        }
        for t in scriptTasks { await t.value }
        fifo?.close()
    }

    /// Applies the difference between the kernel and the pool as one transaction.
    public func reconcile() async throws {
        let actual = try await backend.currentState()
        // Only services the configuration names are ours to change; others (added by an
        // administrator with ipvsadm) are left alone, as keepalived does.
        let desired = pool.desiredState
        let ours = managed.union(desired.services.map(\.key))
        let relevant = DataPlaneState(services: actual.services.filter { ours.contains($0.key) })
        let changes = diff(desired: desired, actual: relevant)
        if !changes.isEmpty {
            logger.debug("Applying \(changes.count) change(s) to the \(backend.name) data plane")
            do {
                try await backend.apply(changes)
                refused = [:]
            } catch {
                // One service the engine refuses (e.g. TUN on nftables) must not keep the others
                // out of the kernel: retry service by service and name the one that fails.
                await applyPerService(changes, firstError: error)
            }
        }
        managed = Set(desired.services.map(\.key))
    }

    /// Services the engine refused, with the reason last logged (logged again only if it changes).
    private var refused: [ServiceKey: String] = [:]

    private func applyPerService(_ changes: [DataPlaneChange], firstError: any Error) async {
        var groups: [ServiceKey: [DataPlaneChange]] = [:]
        var order: [ServiceKey] = []
        for c in changes {
            let key = c.serviceKey
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(c)
        }
        if order.count == 1 {
            logRefusal(order[0], firstError)
            return
        }
        for key in order {
            do {
                try await backend.apply(groups[key]!)
                refused[key] = nil
            } catch {
                logRefusal(key, error)
            }
        }
    }

    private func logRefusal(_ key: ServiceKey, _ error: any Error) {
        let text = "\(error)"
        guard refused[key] != text else { return }
        refused[key] = text
        logger.error("Virtual server \(key) cannot be programmed in the \(backend.name) data plane: \(text)")
    }

    private func reconcileLogging() async {
        do { try await reconcile() } catch {
            logger.error("Updating the \(backend.name) data plane failed: \(error)")
        }
    }

    private func perform(_ effects: [PoolEffect]) {
        scriptTasks.removeAll { $0.isCancelled }
        for e in effects {
            switch e {
            case .log(let line):
                logger.info("\(line)")
            case .fifo(let line):
                do { try fifo?.write(line) } catch { logger.warning("lvs_notify_fifo: \(error)") }
            case .runScript(let command):
                let cmd = VRRP.ScriptCommand(command)
                let user = scriptUser
                let logger = self.logger
                scriptTasks.append(Task {
                    let outcome = await ScriptRunner.run(cmd, user: user, timeout: .seconds(10))
                    if !outcome.succeeded { logger.warning("Script \(cmd) \(outcome)") }
                })
            }
        }
    }
}

extension DataPlaneChange {
    /// The virtual service a change belongs to.
    var serviceKey: ServiceKey {
        switch self {
        case .addService(let s), .editService(let s): s.key
        case .deleteService(let k), .deleteDestination(let k, _): k
        case .addDestination(let k, _), .editDestination(let k, _): k
        }
    }
}
