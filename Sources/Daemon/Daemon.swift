import ConnSync
import DataPlane
import DataPlaneIPVS
import DataPlaneNFTables
import Foundation
import KeepalivedConfig
import Logging
import NetCore
import VRRP
import VRRPCore
import VirtualServerCore
import Synchronization

/// Which kernel engine forwards packets (`--dataplane`).
public enum DataPlaneChoice: String, Sendable, CaseIterable {
    /// IPVS when the kernel has it, else nftables.
    case auto
    case ipvs
    case nftables
    /// No data plane: VRRP and checkers only.
    case none
}

/// `vigil run`'s settings (keepalived's command line where one exists).
public struct DaemonOptions: Sendable {
    public var configPath: String
    /// `-i`: the config-id for `@ID` lines.
    public var configID: String?
    /// `-P`/`--vrrp-only`: run VRRP only.
    public var vrrpOnly = false
    /// `-C`/`--check-only`: run the checkers and the data plane only.
    public var checkOnly = false
    public var dataPlane: DataPlaneChoice = .auto
    public var logFile: String?
    public var pidFile: String?
    /// `-D`: log details (VIP and GARP lines) as keepalived's `--log-detail`.
    public var logDetail = false
    /// The nftables table name (one per Vigil instance).
    public var nftTable = "vigil"
    /// Where the status snapshot is written every second (read by `vigil status`).
    public var statusFile: String? = "/run/vigil/vigil.status.json"

    public init(configPath: String) { self.configPath = configPath }
}

/// The composition root of `vigil run`: reads the configuration, starts VRRP, the checkers and
/// the data-plane control loop, and handles SIGTERM/SIGINT (graceful stop) and SIGHUP (reload).
public final class Daemon: Sendable {
    public let options: DaemonOptions
    let logger: Logger
    let statusStop = Mutex(false)
    /// Connection-map sync (nftables engine), once started.
    let connSync = Mutex<ConnSyncService?>(nil)
    /// The LVS side, once a virtual server has started it.
    let lvs = Mutex<LVSSide?>(nil)

    public init(options: DaemonOptions) throws {
        self.options = options
        let sink = try options.logFile.map { try LogSink(path: $0) } ?? .standardError
        var logger = Logger(label: "vigil") { _ in ConsoleLogHandler(sink: sink) }
        logger.logLevel = options.logDetail ? .debug : .info
        self.logger = logger
    }

    /// Diagnostics that keep a configuration from being used at all; everything else is logged
    /// and the offending line ignored, as keepalived does.
    static let fatalCodes: Set<DiagnosticCode> = [.fileUnreadable, .includeLoop, .nestingTooDeep]

    /// Loads and reports the configuration. Returns nil when it cannot be used.
    func loadConfiguration() -> KeepalivedConfiguration? {
        var lo = LoadOptions(hostChecks: false)
        lo.configID = options.configID
        let result = ConfigLoader.load(path: options.configPath, options: lo)
        for d in result.diagnostics.sorted(by: { $0.location < $1.location }) where d.severity != .note {
            let text = "\(d.location): \(d.severity.rawValue): \(d.message)"
            if d.severity == .error { logger.error("\(text)") } else { logger.warning("\(text)") }
        }
        if let fatal = result.errors.first(where: { Self.fatalCodes.contains($0.code) }) {
            logger.error("Configuration \(options.configPath) cannot be used: \(fatal.message)")
            return nil
        }
        return result.config
    }

    /// Runs until SIGTERM/SIGINT. Returns the process exit status.
    public func run() async -> Int32 {
        logger.info("Starting Vigil v\(VigilVersionInfo.string)")
        guard let config = loadConfiguration() else { return 1 }
        var pid: PidFile?
        if let path = options.pidFile {
            do { pid = try PidFile(path: path) } catch {
                logger.error("\(error)")
                return 1
            }
        }
        defer { pid?.release() }

        let vrrp: VRRPService<ContinuousClock>?
        do {
            vrrp = options.checkOnly ? nil : try makeVRRP(config)
        } catch {
            logger.error("\(error)")
            return 1
        }
        if vrrp == nil && !options.checkOnly && options.vrrpOnly {
            logger.warning("No VRRP instance configured")
        }

        if !options.vrrpOnly {
            let specs = PoolSpecs.virtualServers(from: config)
            if !specs.isEmpty {
                do {
                    guard let side = try await startLVS(config, specs: specs, vrrp: vrrp) else { return 1 }
                    lvs.withLock { $0 = side }
                } catch {
                    logger.error("\(error)")
                    vrrp?.shutdown()
                    return 1
                }
            }
        }

        let signals = DaemonSignal.stream()
        let status: Int32 = await withTaskGroup(of: Int32.self) { group in
            if let vrrp {
                group.addTask { [logger] in
                    do {
                        try await vrrp.run()
                        return 0
                    } catch {
                        logger.error("VRRP: \(error)")
                        return 1
                    }
                }
            }
            if let path = options.statusFile {
                group.addTask { [self] in
                    await self.writeStatus(to: path, vrrp: vrrp)
                    return 0
                }
            }
            logger.info("Startup complete")
            var exit: Int32 = 0
            for await s in signals {
                switch s {
                case .stop:
                    logger.info("Stopping")
                    vrrp?.shutdown()
                    statusStop.withLock { $0 = true }
                case .reload:
                    logger.info("Reloading ...")
                    if let next = loadConfiguration() {
                        await reloadVRRP(vrrp, config: next)
                        await reloadVirtualServers(next, vrrp: vrrp)
                    } else {
                        logger.error("Reload failed: keeping the running configuration")
                    }
                    logger.info("Reload complete")
                    continue
                }
                break
            }
            let side = lvs.withLock { $0 }
            await side?.haSuspend.stop()
            await side?.checkers.stop()
            for await s in group { exit = max(exit, s) }
            connSync.withLock { $0 }?.stop()
            side?.ipvsSync?.cancel()
            await side?.ipvsSync?.value
            side?.maintenance?.cancel()
            await side?.maintenance?.value
            await side?.pool.stop(release: true)
            return exit
        }
        logger.info("Stopped Vigil v\(VigilVersionInfo.string)")
        return status
    }

    /// Starts the LVS side: the data plane (logging which engine and why), the pool, ha_suspend,
    /// the checkers and connection sync. Nil when the engine cannot be used at all.
    func startLVS(_ config: KeepalivedConfiguration, specs: [VirtualServerSpec], vrrp: VRRPService<ContinuousClock>?) async throws -> LVSSide? {
        guard let backend = try makeBackend(config) else { return nil }
        let runtime = PoolRuntime(
            specs: specs, backend: backend, logger: logger,
            fifoPath: (config.global.lvsNotifyFifo ?? config.global.notifyFifo)?.path,
            scriptUser: config.global.scriptUser.flatMap { VRRP.ScriptUser(name: $0.user, group: $0.group) })
        try await runtime.start()
        let checkers = CheckerRuntime(pool: runtime, logger: logger)
        let ha = HASuspendRuntime(specs: specs, checkers: checkers, logger: logger)
        await ha.start()
        await checkers.start(HealthSpecs.plan(from: config))
        _ = await startConnectionSync(config, backend: backend, vrrp: vrrp, pool: runtime)
        let ipvsSync = runIPVSSyncDaemon(config, backend: backend, vrrp: vrrp)
        let maintenance = (backend as? NFTablesBackend).map { runNFTMaintenance($0, pool: runtime) }
        return LVSSide(pool: runtime, checkers: checkers, haSuspend: ha, ipvsSync: ipvsSync, maintenance: maintenance)
    }

    /// SIGHUP for the LVS side: the pool keeps the state of servers that stay (and their
    /// connections); the checkers restart, failed servers' checkers starting down. A reload that
    /// brings the first virtual servers starts the LVS side, as keepalived starts its checker
    /// process then.
    func reloadVirtualServers(_ config: KeepalivedConfiguration, vrrp: VRRPService<ContinuousClock>?) async {
        guard !options.vrrpOnly else { return }
        let specs = PoolSpecs.virtualServers(from: config)
        guard let side = lvs.withLock({ $0 }) else {
            guard !specs.isEmpty else { return }
            logger.info("Reload: starting the data plane and checkers for \(specs.count) new virtual service(s)")
            do {
                if let side = try await startLVS(config, specs: specs, vrrp: vrrp) {
                    lvs.withLock { $0 = side }
                } else {
                    logger.error("Reload: no data plane could be started; the new virtual services are not programmed")
                }
            } catch {
                logger.error("Reload: \(error); the new virtual services are not programmed")
            }
            return
        }
        await side.pool.reload(specs: specs)
        await syncFollowsReload(pool: side.pool)
        await side.haSuspend.reload(specs: specs)
        let down = Set(await side.pool.healthReportIDs().filter { !$0.alive }.map(\.id))
        await side.checkers.start(HealthSpecs.plan(from: config, down: down))
    }

    /// Writes the status snapshot every second until stopped, then removes the file.
    func writeStatus(to path: String, vrrp: VRRPService<ContinuousClock>?) async {
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var warned = false
        while !statusStop.withLock({ $0 }) {
            let pool = lvs.withLock { $0 }?.pool
            var s = StatusSnapshot(version: VigilVersionInfo.string, pid: getpid(), configFile: options.configPath, updated: Date(), dataPlane: pool?.engineName)
            s.instances = (vrrp?.status() ?? []).map {
                .init(name: $0.name, interface: $0.interface, vrid: Int($0.vrid), state: $0.state.rawValue,
                      basePriority: Int($0.basePriority), effectivePriority: Int($0.effectivePriority),
                      masterAddress: $0.masterAddress?.description, advertsReceived: $0.statistics.advertisementsReceived,
                      advertsSent: $0.statistics.advertisementsSent, rejected: $0.statistics.totalRejected)
            }
            if let pool {
                s.realServers = await pool.healthReport()
                s.services = await pool.readBack()
            }
            s.connectionSync = connSync.withLock { $0 }?.status()
            do { try s.write(to: path) } catch {
                if !warned { logger.warning("\(error)") }
                warned = true
            }
            for _ in 0..<10 where !statusStop.withLock({ $0 }) {
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        unlink(path)
    }

    /// Chooses the kernel engine (`--dataplane`) and logs which and why.
    func makeBackend(_ config: KeepalivedConfiguration) throws -> (any LoadBalancerBackend)? {
        let (engine, reason) = try EngineSelection.resolve(options.dataPlane)
        if let reason { logger.info("\(reason)") }
        switch engine {
        case .none:
            logger.info("Data plane: none (--dataplane none): virtual servers are checked but not programmed")
            return NoDataPlane()
        case .ipvs(let ipvs):
            if let t = config.global.lvsTimeouts {
                try ipvs.writeTimeouts(Timeouts(tcp: UInt32(clamping: t.tcp ?? 0), tcpFin: UInt32(clamping: t.tcpFin ?? 0), udp: UInt32(clamping: t.udp ?? 0)))
            }
            return ipvs
        case .nftables:
            guard let iface = Self.dataPlaneInterface(config) else {
                throw DaemonError(code: .dataPlane, message: "nftables data plane: no interface for the virtual servers (set 'interface' in a vrrp_instance carrying their addresses, or global_defs 'default_interface')")
            }
            var timeouts = Timeouts()
            if let t = config.global.lvsTimeouts {
                if let v = t.tcp { timeouts.tcp = UInt32(clamping: v) }
                if let v = t.tcpFin { timeouts.tcpFin = UInt32(clamping: v) }
                if let v = t.udp { timeouts.udp = UInt32(clamping: v) }
            }
            return NFTablesBackend(settings: Self.benchOverrides(NFTEngineSettings(tableName: options.nftTable, interface: iface, timeouts: timeouts)))
        }
    }

    /// The interface that receives the virtual servers' traffic: that of the VRRP instance whose
    /// VIPs include a virtual server's address, else the first instance's, else `default_interface`.
    static func dataPlaneInterface(_ config: KeepalivedConfiguration) -> String? {
        let vsAddresses = Set(config.virtualServers.compactMap { vs -> IPAddress? in
            if case .address(let a, _) = vs.key { return a }
            return nil
        })
        for inst in config.instances {
            for v in inst.virtualAddresses + inst.excludedAddresses where vsAddresses.contains(v.address) {
                if let dev = v.device ?? inst.interface { return dev }
            }
        }
        return config.instances.first?.interface ?? config.global.defaultInterface
    }

    func makeVRRP(_ config: KeepalivedConfiguration) throws -> VRRPService<ContinuousClock>? {
        let plan = try vrrpPlan(config, strict: false)
        guard !plan.instances.isEmpty else { return nil }
        for u in plan.unsupported { logger.warning("\(u)") }
        return VRRPService(
            instances: plan.instances, syncGroups: plan.syncGroups, vipManager: try NetlinkVIPManager(),
            clock: ContinuousClock(), logger: logger, options: Self.serviceOptions(plan))
    }
}

/// The version string the daemon logs (`Starting Vigil v0.1.0`).
public enum VigilVersionInfo {
    public static let string = "0.1.0"
}

/// `--dataplane none`: keeps what the pool wants in memory so checks and logs work without
/// touching the kernel.
actor NoDataPlane: LoadBalancerBackend {
    nonisolated let name = "none"
    var state = DataPlaneState()
    func currentState() async throws -> DataPlaneState { state }
    func apply(_ changes: [DataPlaneChange]) async throws { state = try DataPlane.apply(changes, to: state) }
}

/// The LVS side of `vigil run`: data plane and pool, checkers, ha_suspend, IPVS sync daemon.
struct LVSSide: Sendable {
    var pool: PoolRuntime
    var checkers: CheckerRuntime
    var haSuspend: HASuspendRuntime
    var ipvsSync: Task<Void, Never>?
    /// nftables engine: count-based re-planning and draining-chain collection.
    var maintenance: Task<Void, Never>?
}
