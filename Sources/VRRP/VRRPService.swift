import Foundation
import Logging
import NetCore
import Netlink
import NetlinkCodec
import Synchronization
import SysCore
import VRRPCore

public typealias VRRPNotification = VRRPInstance.Notification

/// Everything the runner needs for one `vrrp_instance`.
public struct VRRPInstanceSetup: Sendable, Hashable {
    public var config: VRRPInstanceConfig
    /// The addresses to add in MASTER and remove otherwise (`virtual_ipaddress` and
    /// `virtual_ipaddress_excluded`), each with its device.
    public var vips: [VirtualIP]
    /// `virtual_routes` and `virtual_rules`: present only while MASTER.
    public var routes: [VirtualRoute] = []
    public var rules: [RuleSpec] = []
    public var notify = NotifyConfig()

    public init(
        config: VRRPInstanceConfig, vips: [VirtualIP], routes: [VirtualRoute] = [], rules: [RuleSpec] = [],
        notify: NotifyConfig = NotifyConfig()
    ) {
        self.config = config
        self.vips = vips
        self.routes = routes
        self.rules = rules
        self.notify = notify
    }
}

/// A sync group with its own notify scripts.
public struct SyncGroupSetup: Sendable, Hashable {
    public var group: SyncGroup
    public var notify = NotifyConfig()

    public init(group: SyncGroup, notify: NotifyConfig = NotifyConfig()) {
        self.group = group
        self.notify = notify
    }
}

/// What `VRRPService.status()` reports per instance.
public struct VRRPInstanceStatus: Sendable, Hashable {
    public var name: String
    public var interface: String
    public var vrid: UInt8
    public var state: VRRPState
    public var basePriority: UInt8
    public var effectivePriority: UInt8
    public var masterAddress: IPAddress?
    public var statistics: ReceiveStatistics
}

/// Runs VRRP instances against the real network: owns the raw sockets (one receive socket
/// per interface and family, demultiplexed by VRID), executes the machines' actions with real
/// timers on an injected clock, adds/removes VIPs through a `VIPManager`, sends GARP/NA, and
/// runs notify scripts and trackers in child tasks so the protocol never waits for them.
///
/// Lifecycle: `run()` until `shutdown()` or task cancellation; both stop gracefully (a
/// master sends priority 0 and removes its VIPs, RFC 5798 §6.4.3).
public final class VRRPService<C: Clock>: Sendable where C.Duration == Duration {
    public struct Options: Sendable {
        /// Network namespace to open sockets in (nil = the current one).
        public var namespace: String?
        public var scriptUser: ScriptUser?
        public var notifyFIFO: String?
        public var scriptTimeout: Duration = .seconds(10)
        public var scripts: [VRRPScriptConfig] = []
        public var trackFiles: [TrackFileConfig] = []
        public var trackProcesses: [TrackProcessConfig] = []
        public init() {}
    }

    enum Input: Sendable {
        case packet(socket: Int, ReceivedPacket)
        /// Timer generations are unique across instances, so a timer finds its machine even
        /// after a reload reordered them.
        case timer(generation: Int)
        case event(instance: String?, VRRPInstance.Event)
        case link(name: String, up: Bool)
        case reload(ReloadRequest, id: Int)
        case shutdown
        case abandon
    }

    struct ReloadRequest: Sendable {
        var instances: [VRRPInstanceSetup]
        var groups: [SyncGroupSetup]
        var options: Options?
    }

    private let setups: [VRRPInstanceSetup]
    private let groups: [SyncGroupSetup]
    private let vipManager: any VIPManager
    private let clock: C
    private let logger: Logger
    private let options: Options
    private let inputs: AsyncStream<Input>
    private let continuation: AsyncStream<Input>.Continuation
    private let snapshot = Mutex<[VRRPInstanceStatus]>([])
    private let interfaceStats = Mutex<[String: ReceiveStatistics]>([:])
    private let runningScripts = Mutex<Int>(0)
    /// Callers of `reload` waiting for the run loop; nil once the loop has ended.
    private let reloadWaiters = Mutex<[Int: CheckedContinuation<VRRPReloadPlan?, Never>]?>([:])
    private let nextReloadID = Atomic<Int>(0)
    /// Per tracker ("script:NAME" / "file:NAME") the generation of the task that may report
    /// it; a reload that changes or removes a tracker bumps it and the old task ends.
    private let trackerGenerations = Mutex<[String: Int]>([:])

    public init(
        instances: [VRRPInstanceSetup], syncGroups: [SyncGroupSetup] = [], vipManager: any VIPManager, clock: C,
        logger: Logger, options: Options = Options()
    ) {
        self.setups = instances
        self.groups = syncGroups
        self.vipManager = vipManager
        self.clock = clock
        self.logger = logger
        self.options = options
        (inputs, continuation) = AsyncStream.makeStream(of: Input.self)
    }

    /// Applies a reloaded configuration (SIGHUP) to the running instances as
    /// `VRRPReloadPlan` describes: unchanged instances keep their state and VIPs, updated
    /// ones change in place, removed ones stop (priority 0, VIPs dropped), new ones start.
    /// `options` replaces the trackers (`vrrp_script`, `track_file`), script user, timeout and
    /// notify FIFO; the namespace cannot change. Returns the plan once applied, or nil when
    /// the service is not running or the new instances' sockets cannot be opened (then
    /// nothing changed).
    @discardableResult
    public func reload(instances: [VRRPInstanceSetup], syncGroups: [SyncGroupSetup] = [], options: Options? = nil) async -> VRRPReloadPlan? {
        let id = nextReloadID.wrappingAdd(1, ordering: .relaxed).newValue
        let request = ReloadRequest(instances: instances, groups: syncGroups, options: options)
        return await withCheckedContinuation { c in
            let queued = reloadWaiters.withLock { w -> Bool in
                guard w != nil else { return false }
                w![id] = c
                return true
            }
            if queued { continuation.yield(.reload(request, id: id)) } else { c.resume(returning: nil) }
        }
    }

    private func finishReload(_ id: Int, _ plan: VRRPReloadPlan?) {
        reloadWaiters.withLock { $0?.removeValue(forKey: id) }?.resume(returning: plan)
    }

    /// Stops gracefully: masters send priority 0 and drop their VIPs, then `run()` returns.
    public func shutdown() { continuation.yield(.shutdown) }

    /// Test hook: stops at once without a goodbye, leaving VIPs in place, as if the process
    /// were killed with SIGKILL.
    @_spi(Testing) public func abandon() { continuation.yield(.abandon) }

    /// Delivers an event (tracker change, interface state) to one instance, or all with nil.
    public func post(_ event: VRRPInstance.Event, to instance: String? = nil) {
        continuation.yield(.event(instance: instance, event))
    }

    /// The instances' current state and counters.
    public func status() -> [VRRPInstanceStatus] { snapshot.withLock { $0 } }

    /// Per-interface counters for packets no instance could take (VRID mismatch, short packets).
    public func interfaceStatistics() -> [String: ReceiveStatistics] { interfaceStats.withLock { $0 } }

    private struct SocketKey: Hashable {
        var interface: String
        var family: AddressFamily
    }

    /// Opens the sockets `setups` need that `existing` lacks (in the configured namespace),
    /// joins their groups and prepares their senders. Throws without side effects on the
    /// returned list; sockets opened before the failure are closed.
    private func openSockets(
        for setups: [VRRPInstanceSetup], existing: [SocketKey: InterfaceSockets]
    ) throws -> [(SocketKey, InterfaceSockets)] {
        try inNetworkNamespace(options.namespace) {
            var out: [(SocketKey, InterfaceSockets)] = []
            do {
                var groups: [SocketKey: [IPAddress]] = [:]
                var order: [SocketKey] = []
                for s in setups {
                    let k = SocketKey(interface: s.config.interface, family: s.config.family)
                    if groups[k] == nil { order.append(k) }
                    groups[k, default: []].append(s.config.multicastGroup)
                }
                for k in order {
                    let sock: InterfaceSockets
                    if let e = existing[k] {
                        sock = e
                        for g in groups[k]! { try sock.join(g) }
                    } else {
                        let info = try LinkFacts.read(k.interface)
                        sock = try InterfaceSockets(interface: info, family: k.family, groups: Array(Set(groups[k]!)))
                        out.append((k, sock))
                        try sock.prepareGratuitous()
                    }
                    for s in setups where s.config.interface == k.interface && s.config.family == k.family {
                        try sock.prepareSender(source: s.config.primaryAddress)
                    }
                }
                return out
            } catch {
                for (_, s) in out { s.closeAll() }
                throw error
            }
        }
    }

    /// Runs until shutdown. Throws if a socket cannot be opened.
    public func run() async throws {
        // A daemon must survive writes to closed pipes (notify FIFO readers going away, and
        // LinkMonitor's wake pipe after its reader thread closed it); errors come back as EPIPE.
        signal(SIGPIPE, SIG_IGN)
        defer {
            let waiting = reloadWaiters.withLock { w in
                let r = w
                w = nil
                return r ?? [:]
            }
            for (_, c) in waiting { c.resume(returning: nil) }
        }
        var setups = self.setups
        // Sockets are opened up front (and on reload for new interfaces) and never closed
        // before the end, so socket indexes stay valid for the receiver threads.
        let opened = try openSockets(for: setups, existing: [:])
        var sockets = opened.map(\.1)
        var socketKeys = opened.map(\.0)
        let linkMonitor: LinkMonitor? = try inNetworkNamespace(options.namespace) { try LinkMonitor(addresses: false) }
        defer { linkMonitor?.stop() }
        defer { for s in sockets { s.closeAll() } }
        var socketOf: [Int] = []
        var byVRID: [Int: [UInt8: Int]] = [:]
        func index() {
            socketOf = setups.map { s in socketKeys.firstIndex(of: SocketKey(interface: s.config.interface, family: s.config.family))! }
            byVRID = [:]
            for (i, s) in setups.enumerated() { byVRID[socketOf[i], default: [:]][s.config.vrid] = i }
        }
        index()

        let stop = Atomic<Bool>(false)
        var receivers: [Thread] = []
        func startReceiver(_ idx: Int, _ sock: InterfaceSockets) {
            let cont = continuation
            let log = logger
            let t = Thread {
                while !stop.load(ordering: .relaxed) {
                    do {
                        if let p = try sock.receive(timeoutMs: 100) { cont.yield(.packet(socket: idx, p)) }
                    } catch {
                        log.error("VRRP receive on \(sock.interface.name): \(error)")
                        usleep(100_000)
                    }
                }
            }
            t.name = "vrrp-rx-\(sock.interface.name)"
            receivers.append(t)
            t.start()
        }
        for (idx, sock) in sockets.enumerated() { startReceiver(idx, sock) }
        defer { stop.store(true, ordering: .relaxed) }

        let origin = clock.now
        let clock = self.clock
        let cont = continuation
        func now() -> VRRPCore.Instant { Instant(nanoseconds: origin.duration(to: clock.now).nanoseconds) }

        var machines = setups.map { VRRPInstance(config: $0.config) }
        var generations = [Int](repeating: 0, count: machines.count)
        var nextGeneration = 0
        var groupSetups = self.groups
        var groupStates = groupSetups.map(\.group)
        var indexByName: [String: Int] = [:]
        var options = self.options
        /// The last status each script/file tracker reported, for machines added by a reload.
        var trackerStatus: [String: TrackerStatus] = [:]
        func reindexNames() {
            indexByName = Dictionary(setups.enumerated().map { ($0.element.config.name, $0.offset) }, uniquingKeysWith: { a, _ in a })
        }
        reindexNames()
        func openFIFO(_ path: String?) -> NotifyFIFO? {
            path.flatMap { path in
                do { return try NotifyFIFO(path: path) } catch {
                    logger.error("notify_fifo \(path): \(error)")
                    return nil
                }
            }
        }
        var fifo: NotifyFIFO? = openFIFO(options.notifyFIFO)

        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                func runScripts(_ commands: [ScriptCommand]) {
                    guard !commands.isEmpty else { return }
                    runningScripts.withLock { $0 += 1 }
                    let scriptUser = options.scriptUser
                    let scriptTimeout = options.scriptTimeout
                    group.addTask { [logger, self] in
                        for c in commands {
                            let r = await ScriptRunner.run(c, user: scriptUser, timeout: scriptTimeout)
                            if !r.succeeded { logger.info("Script \(c) \(r)") }
                        }
                        self.runningScripts.withLock { $0 -= 1 }
                    }
                }

                func notify(_ n: VRRPNotification, _ cfg: NotifyConfig) {
                    if let f = fifo {
                        do { try f.write(n.fifoLine) } catch {
                            logger.warning("notify_fifo: \(error)")
                        }
                    }
                    runScripts(cfg.commands(for: n))
                }

                func sendGratuitous(_ i: Int, _ vips: [VirtualIP], count: Int) {
                    let setup = setups[i]
                    let sock = sockets[socketOf[i]]
                    let kind = setup.config.family == .inet ? "gratuitous ARPs" : "Unsolicited Neighbour Adverts"
                    for v in vips where v.device == setup.config.interface && v.address.family == setup.config.family {
                        logger.debug("(\(setup.config.name)) Sending/queueing \(kind) on \(v.device) for \(v.address)")
                        for _ in 0..<count {
                            do { try sock.sendGratuitous(for: v.address) } catch {
                                logger.warning("(\(setup.config.name)) \(error)")
                            }
                        }
                    }
                }

                func addVIPs(_ name: String, _ vips: [VirtualIP], _ routes: [VirtualRoute], _ rules: [RuleSpec]) async {
                    do { try await vipManager.add(vips) } catch {
                        logger.error("(\(name)) setting VIPs failed: \(error)")
                    }
                    do {
                        try await vipManager.addRoutes(routes)
                        try await vipManager.addRules(rules)
                    } catch {
                        logger.error("(\(name)) setting virtual routes/rules failed: \(error)")
                    }
                }

                func removeVIPs(_ name: String, _ vips: [VirtualIP], _ routes: [VirtualRoute], _ rules: [RuleSpec]) async {
                    do {
                        try await vipManager.removeRules(rules)
                        try await vipManager.removeRoutes(routes)
                    } catch {
                        logger.error("(\(name)) removing virtual routes/rules failed: \(error)")
                    }
                    do { try await vipManager.remove(vips) } catch {
                        logger.error("(\(name)) removing VIPs failed: \(error)")
                    }
                }

                func execute(_ i: Int, _ actions: [VRRPInstance.Action]) async {
                    let setup = setups[i]
                    let sock = sockets[socketOf[i]]
                    for a in actions {
                        switch a {
                        case .sendAdvertisement(let ad):
                            for dst in setup.config.destinations {
                                let bytes = ad.encoded(source: setup.config.primaryAddress, destination: dst, checksumAsV2: setup.config.v3ChecksumAsV2)
                                do { try sock.send(bytes, from: setup.config.primaryAddress, to: dst) } catch {
                                    logger.warning("(\(setup.config.name)) sending advert to \(dst) failed: \(error)")
                                }
                            }
                        case .addVIPs:
                            await addVIPs(setup.config.name, setup.vips, setup.routes, setup.rules)
                        case .removeVIPs:
                            await removeVIPs(setup.config.name, setup.vips, setup.routes, setup.rules)
                        case .sendGratuitous(let count):
                            sendGratuitous(i, setup.vips, count: count)
                        case .armTimer(let at):
                            nextGeneration += 1
                            generations[i] = nextGeneration
                            let gen = nextGeneration
                            let deadline = origin.advanced(by: .nanoseconds(at.nanoseconds))
                            group.addTask {
                                do { try await clock.sleep(until: deadline, tolerance: .zero) } catch { return }
                                cont.yield(.timer(generation: gen))
                            }
                        case .cancelTimer:
                            nextGeneration += 1
                            generations[i] = nextGeneration
                        case .notify(let n):
                            notify(n, setup.notify)
                        case .log(let level, let text):
                            switch level {
                            case .debug: logger.debug("\(text)")
                            case .info: logger.info("\(text)")
                            case .warning: logger.warning("\(text)")
                            }
                        }
                    }
                }

                func process(_ i: Int, _ body: (inout VRRPInstance) -> [VRRPInstance.Action]) async {
                    let before = machines[i].state
                    let actions = body(&machines[i])
                    await execute(i, actions)
                    let after = machines[i].state
                    if before != after { await followSyncGroups(i, after) }
                }

                func followSyncGroups(_ i: Int, _ state: VRRPState) async {
                    let name = setups[i].config.name
                    for g in groupStates.indices where groupStates[g].members.contains(name) {
                        var states: [String: VRRPState] = [:]
                        for m in groupStates[g].members { if let j = indexByName[m] { states[m] = machines[j].state } }
                        let outcome = groupStates[g].memberTransitioned(name, to: state, states: states)
                        for l in outcome.logs { logger.info("\(l)") }
                        if let n = outcome.notification { notify(n, groupSetups[g].notify) }
                        if let target = outcome.target {
                            for m in outcome.forced {
                                guard let j = indexByName[m] else { continue }
                                let t = now()
                                await process(j) { $0.handle(.syncGroup(target), now: t) }
                            }
                        }
                    }
                }

                func publish() {
                    let st = machines.map { m in
                        VRRPInstanceStatus(
                            name: m.config.name, interface: m.config.interface, vrid: m.config.vrid, state: m.state,
                            basePriority: m.config.priority, effectivePriority: m.effectivePriority, masterAddress: m.masterAddress,
                            statistics: m.statistics)
                    }
                    snapshot.withLock { $0 = st }
                }

                // Trackers: scripts and files, each in its own child task that ends when a
                // reload replaces or removes it.
                func startScript(_ s: VRRPScriptConfig, announce: Bool) {
                    let key = "script:\(s.name)"
                    let gen = trackerGenerations.withLock { g -> Int in
                        g[key, default: 0] += 1
                        return g[key]!
                    }
                    let user = s.user ?? options.scriptUser
                    group.addTask { [logger, self] in
                        func current() -> Bool { self.trackerGenerations.withLock { $0[key] } == gen }
                        var h = ScriptHysteresis(rise: s.rise, fall: s.fall, initiallyUp: !s.initFail)
                        if s.initFail || announce { cont.yield(.event(instance: nil, .tracker(s.name, s.initFail ? .down : .up))) }
                        while !Task.isCancelled && current() {
                            let r = await ScriptRunner.run(s.command, user: user, timeout: s.timeout ?? s.interval)
                            guard current() else { return }
                            if r == .timedOut { logger.info("VRRP_Script(\(s.name)) timed_out") }
                            if let change = h.record(success: r.succeeded) {
                                logger.info("VRRP_Script(\(s.name)) \(change == .up ? "succeeded" : "failed")")
                                cont.yield(.event(instance: nil, .tracker(s.name, change)))
                            }
                            do { try await clock.sleep(for: s.interval) } catch { return }
                        }
                    }
                }
                func startTrackFile(_ f: TrackFileConfig) {
                    let key = "file:\(f.name)"
                    let gen = trackerGenerations.withLock { g -> Int in
                        g[key, default: 0] += 1
                        return g[key]!
                    }
                    group.addTask { [self] in
                        var last: Int?
                        while !Task.isCancelled && self.trackerGenerations.withLock({ $0[key] }) == gen {
                            let v = TrackFileConfig.value(of: f.path)
                            if v != last {
                                last = v
                                cont.yield(.event(instance: nil, .tracker(f.name, .value(v))))
                            }
                            do { try await clock.sleep(for: f.interval) } catch { return }
                        }
                    }
                }
                func startTrackProcess(_ t: TrackProcessConfig) {
                    let key = "process:\(t.rule.name)"
                    let gen = trackerGenerations.withLock { g -> Int in
                        g[key, default: 0] += 1
                        return g[key]!
                    }
                    group.addTask { [logger, self] in
                        var tracker = t.tracker()
                        var first = true
                        while !Task.isCancelled && self.trackerGenerations.withLock({ $0[key] }) == gen {
                            let count = t.rule.count(in: TrackProcessConfig.processes())
                            if let s = tracker.observe(count: count, now: now()) {
                                // keepalived's wording; the start-up state is not logged, as there.
                                if !first { logger.info("Quorum \(s == .up ? "gained" : "lost") for tracked process \(t.rule.name)") }
                                cont.yield(.event(instance: nil, .tracker(t.rule.name, s)))
                            }
                            first = false
                            // /proc is polled every interval; a running delay adds one look when it ends.
                            var wait = t.interval
                            if let due = tracker.deadline { wait = min(wait, max(.zero, due - now())) }
                            do { try await clock.sleep(for: wait) } catch { return }
                        }
                    }
                }
                func stopTracker(_ key: String) { trackerGenerations.withLock { $0[key, default: 0] += 1 } }
                for s in options.scripts { startScript(s, announce: false) }
                for f in options.trackFiles { startTrackFile(f) }
                for t in options.trackProcesses { startTrackProcess(t) }

                // Interface state (instance interface → FAULT, track_interface → tracker) from
                // rtnetlink link events; the initial state comes from SIOCGIFFLAGS.
                func watchedLinks(_ i: Int) -> [(name: String, primary: Bool)] {
                    let s = setups[i]
                    return [(s.config.interface, true)] + s.config.trackers.filter { $0.kind == .interface }.map { ($0.name, false) }
                }
                func linkEvent(_ primary: Bool, _ name: String, _ up: Bool) -> VRRPInstance.Event {
                    primary ? (up ? .interfaceUp : .interfaceDown) : .tracker(name, up ? .up : .down)
                }
                func postInitialLinks(_ i: Int, only: Set<String>? = nil) {
                    for (name, primary) in watchedLinks(i) where only?.contains(name) ?? true {
                        let up = sockets[socketOf[i]].linkIsUp(name) ?? false
                        if !up || !primary { cont.yield(.event(instance: setups[i].config.name, linkEvent(primary, name, up))) }
                    }
                }
                for i in setups.indices { postInitialLinks(i) }
                if let monitor = linkMonitor {
                    group.addTask { [logger] in
                        var last: [String: Bool] = [:]
                        for await e in monitor.events {
                            guard case .linkChanged(let info) = e else { continue }
                            let up = info.isUp && info.isRunning
                            guard last[info.name] != up else { continue }
                            let known = last[info.name] != nil
                            last[info.name] = up
                            if !known && up { continue }
                            logger.info("Netlink reports \(info.name) \(up ? "up" : "down")")
                            cont.yield(.link(name: info.name, up: up))
                        }
                    }
                }

                /// A machine new to a script or file tracker learns its last reported status
                /// (trackers report changes only).
                func replayTrackers(_ i: Int, except: Set<String>) async {
                    for tr in setups[i].config.trackers where tr.kind != .interface && !except.contains(tr.name) {
                        guard let st = trackerStatus[tr.name] else { continue }
                        let t = now()
                        await process(i) { $0.handle(.tracker(tr.name, st), now: t) }
                    }
                }

                /// SIGHUP: see `VRRPReloadPlan`.
                func applyReload(_ req: ReloadRequest) async -> VRRPReloadPlan? {
                    let plan = VRRPReloadPlan.compute(running: setups, reloaded: req.instances)
                    // Sockets first: if a new interface cannot be used, nothing changes.
                    do {
                        var existing: [SocketKey: InterfaceSockets] = [:]
                        for (k, s) in zip(socketKeys, sockets) { existing[k] = s }
                        let fresh = try openSockets(for: req.instances, existing: existing)
                        for (k, s) in fresh {
                            socketKeys.append(k)
                            sockets.append(s)
                            startReceiver(sockets.count - 1, s)
                        }
                    } catch {
                        logger.error("Reload: \(error); keeping the running VRRP configuration")
                        return nil
                    }
                    // Stop removed instances and those that became different routers.
                    for e in plan.changes {
                        guard let i = indexByName[e.name] else { continue }
                        switch e.change {
                        case .removed: logger.info("(\(e.name)) removed from the configuration, stopping")
                        case .restarted(let why): logger.info("(\(e.name)) \(why), restarting the instance")
                        default: continue
                        }
                        let t = now()
                        await execute(i, machines[i].handle(.shutdown, now: t))
                    }
                    // The new table of instances: kept machines move to their new position.
                    let oldSetups = setups
                    var newMachines: [VRRPInstance] = []
                    var newGenerations: [Int] = []
                    for n in req.instances {
                        let name = n.config.name
                        switch plan.change(of: name) {
                        case .unchanged?, .updated?:
                            let j = indexByName[name]!
                            newMachines.append(machines[j])
                            newGenerations.append(generations[j])
                        default:
                            newMachines.append(VRRPInstance(config: n.config))
                            newGenerations.append(0)
                        }
                    }
                    setups = req.instances
                    machines = newMachines
                    generations = newGenerations
                    index()
                    reindexNames()
                    let oldGroups = Dictionary(zip(groupSetups.map(\.group), groupStates).map { ($0.0.name, ($0.0, $0.1)) }, uniquingKeysWith: { a, _ in a })
                    groupSetups = req.groups
                    groupStates = req.groups.map { g in
                        if let (cfg, state) = oldGroups[g.group.name], cfg == g.group { return state }
                        return g.group
                    }
                    if let o = req.options {
                        let oldScripts = Dictionary(options.scripts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                        let newScripts = Dictionary(o.scripts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                        for (name, _) in oldScripts where newScripts[name] == nil { stopTracker("script:\(name)") }
                        for s in o.scripts where oldScripts[s.name] != s { startScript(s, announce: true) }
                        let oldFiles = Dictionary(options.trackFiles.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                        let newFiles = Dictionary(o.trackFiles.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                        for (name, _) in oldFiles where newFiles[name] == nil { stopTracker("file:\(name)") }
                        for f in o.trackFiles where oldFiles[f.name] != f { startTrackFile(f) }
                        let oldProcs = Dictionary(options.trackProcesses.map { ($0.rule.name, $0) }, uniquingKeysWith: { a, _ in a })
                        let newProcs = Dictionary(o.trackProcesses.map { ($0.rule.name, $0) }, uniquingKeysWith: { a, _ in a })
                        for (name, _) in oldProcs where newProcs[name] == nil { stopTracker("process:\(name)") }
                        for t in o.trackProcesses where oldProcs[t.rule.name] != t { startTrackProcess(t) }
                        if o.notifyFIFO != options.notifyFIFO {
                            fifo?.close()
                            fifo = openFIFO(o.notifyFIFO)
                        }
                        let namespace = options.namespace
                        options = o
                        options.namespace = namespace
                    }
                    // Updated instances change in place; added ones start.
                    let oldByName = Dictionary(oldSetups.map { ($0.config.name, $0) }, uniquingKeysWith: { a, _ in a })
                    for (i, n) in setups.enumerated() {
                        let name = n.config.name
                        switch plan.change(of: name) {
                        case .updated(let fields)?:
                            let o = oldByName[name]!
                            logger.info("(\(name)) reloaded with changed \(fields.joined(separator: ", ")); keeping \(machines[i].state.rawValue) state")
                            // Addresses no longer configured go first, so that they do not
                            // stay behind if the new settings end mastership.
                            let wasMaster = machines[i].state == .master
                            let vips = listDifference(from: o.vips, to: n.vips)
                            let routes = listDifference(from: o.routes, to: n.routes)
                            let rules = listDifference(from: o.rules, to: n.rules)
                            if wasMaster { await removeVIPs(name, vips.removed, routes.removed, rules.removed) }
                            let t = now()
                            await process(i) { $0.reconfigure(n.config, now: t) }
                            let known = Set(o.config.trackers.map(\.name))
                            await replayTrackers(i, except: known)
                            if wasMaster && machines[i].state == .master {
                                await addVIPs(name, vips.added, routes.added, rules.added)
                                sendGratuitous(i, vips.added, count: max(1, n.config.gratuitous.masterRepeat))
                            }
                            let oldTracked = Set(o.config.trackers.filter { $0.kind == .interface }.map(\.name))
                            let newTracked = Set(n.config.trackers.filter { $0.kind == .interface }.map(\.name))
                            postInitialLinks(i, only: newTracked.subtracting(oldTracked))
                        case .added?, .restarted?:
                            postInitialLinks(i)
                            await replayTrackers(i, except: [])
                            let t = now()
                            await process(i) { $0.handle(.start, now: t) }
                        default:
                            break
                        }
                    }
                    return plan
                }

                for i in machines.indices {
                    let t = now()
                    await process(i) { $0.handle(.start, now: t) }
                }
                publish()

                var stopping = false
                loop: for await input in inputs {
                    switch input {
                    case .packet(let si, let p):
                        guard p.payload.count >= 2, let i = byVRID[si]?[p.payload[1]] else {
                            interfaceStats.withLock { $0[sockets[si].interface.name, default: .init()].count(p.payload.count < 2 ? .truncated : .vridMismatch) }
                            continue
                        }
                        let t = now()
                        await process(i) { $0.receive(packet: p.payload, ttl: p.ttl, source: p.source, destination: p.destination, now: t) }
                    case .timer(let gen):
                        guard let i = generations.firstIndex(of: gen) else { continue }
                        let t = now()
                        await process(i) { $0.handle(.timer, now: t) }
                    case .event(let name, let ev):
                        if name == nil, case .tracker(let tn, let st) = ev { trackerStatus[tn] = st }
                        for i in machines.indices where name == nil || setups[i].config.name == name {
                            let t = now()
                            await process(i) { $0.handle(ev, now: t) }
                        }
                    case .link(let name, let up):
                        for i in machines.indices {
                            for (n, primary) in watchedLinks(i) where n == name {
                                let t = now()
                                await process(i) { $0.handle(linkEvent(primary, name, up), now: t) }
                            }
                        }
                    case .reload(let req, let id):
                        guard !stopping else {
                            finishReload(id, nil)
                            continue
                        }
                        let plan = await applyReload(req)
                        publish()
                        finishReload(id, plan)
                    case .shutdown:
                        // First stop: masters hand over (priority 0, VIPs kept until the new
                        // master advertises, at most one interval). A second one: at once.
                        let event: VRRPInstance.Event = stopping ? .shutdown : .handOver
                        stopping = true
                        for i in machines.indices {
                            let t = now()
                            await process(i) { $0.handle(event, now: t) }
                        }
                    case .abandon:
                        break loop
                    }
                    publish()
                    if stopping && !machines.contains(where: \.handoverPending) {
                        // Give stop scripts a bounded chance to finish.
                        let limit = ContinuousClock.now + .seconds(2)
                        while runningScripts.withLock({ $0 }) > 0 && ContinuousClock.now < limit {
                            try? await Task.sleep(for: .milliseconds(10))
                        }
                        break loop
                    }
                }
                group.cancelAll()
            }
        } onCancel: {
            continuation.yield(.shutdown)
        }
        fifo?.close()
        stop.store(true, ordering: .relaxed)
        for t in receivers { while !t.isFinished { usleep(5_000) } }
    }
}
