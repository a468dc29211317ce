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
public struct VRRPInstanceSetup: Sendable {
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
public struct SyncGroupSetup: Sendable {
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
        public init() {}
    }

    enum Input: Sendable {
        case packet(socket: Int, ReceivedPacket)
        case timer(instance: Int, generation: Int)
        case event(instance: String?, VRRPInstance.Event)
        case shutdown
        case abandon
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

    /// Runs until shutdown. Throws if a socket cannot be opened.
    public func run() async throws {
        // A daemon must survive writes to closed pipes (notify FIFO readers going away, and
        // LinkMonitor's wake pipe after its reader thread closed it); errors come back as EPIPE.
        signal(SIGPIPE, SIG_IGN)
        // Open every socket up front, in the configured namespace.
        let setups = self.setups
        let opened: [(SocketKey, InterfaceSockets)] = try inNetworkNamespace(options.namespace) {
            var out: [(SocketKey, InterfaceSockets)] = []
            var keys: [SocketKey: [IPAddress]] = [:]
            var order: [SocketKey] = []
            for s in setups {
                let k = SocketKey(interface: s.config.interface, family: s.config.family)
                if keys[k] == nil { order.append(k) }
                keys[k, default: []].append(s.config.multicastGroup)
            }
            for k in order {
                let info = try LinkFacts.read(k.interface)
                let sock = try InterfaceSockets(interface: info, family: k.family, groups: Array(Set(keys[k]!)))
                try sock.prepareGratuitous()
                for s in setups where s.config.interface == k.interface && s.config.family == k.family {
                    try sock.prepareSender(source: s.config.primaryAddress)
                }
                out.append((k, sock))
            }
            return out
        }
        let sockets = opened.map(\.1)
        let linkMonitor: LinkMonitor? = try inNetworkNamespace(options.namespace) { try LinkMonitor(addresses: false) }
        defer { linkMonitor?.stop() }
        defer { for s in sockets { s.closeAll() } }
        let socketOf: [Int] = setups.map { s in
            opened.firstIndex { $0.0 == SocketKey(interface: s.config.interface, family: s.config.family) }!
        }
        var byVRID: [Int: [UInt8: Int]] = [:]
        for (i, s) in setups.enumerated() { byVRID[socketOf[i], default: [:]][s.config.vrid] = i }

        let stop = Atomic<Bool>(false)
        let receivers = sockets.enumerated().map { (idx, sock) in
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
            return t
        }
        receivers.forEach { $0.start() }
        defer { stop.store(true, ordering: .relaxed) }

        let origin = clock.now
        let clock = self.clock
        let cont = continuation
        func now() -> VRRPCore.Instant { Instant(nanoseconds: origin.duration(to: clock.now).nanoseconds) }

        var machines = setups.map { VRRPInstance(config: $0.config) }
        var generations = [Int](repeating: 0, count: machines.count)
        var groupStates = groups.map(\.group)
        let indexByName = Dictionary(setups.enumerated().map { ($0.element.config.name, $0.offset) }, uniquingKeysWith: { a, _ in a })
        let fifo: NotifyFIFO? = options.notifyFIFO.flatMap { path in
            do { return try NotifyFIFO(path: path) } catch {
                logger.error("notify_fifo \(path): \(error)")
                return nil
            }
        }
        let scriptUser = options.scriptUser
        let scriptTimeout = options.scriptTimeout

        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                func runScripts(_ commands: [ScriptCommand]) {
                    guard !commands.isEmpty else { return }
                    runningScripts.withLock { $0 += 1 }
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
                            do { try await vipManager.add(setup.vips) } catch {
                                logger.error("(\(setup.config.name)) setting VIPs failed: \(error)")
                            }
                            do {
                                try await vipManager.addRoutes(setup.routes)
                                try await vipManager.addRules(setup.rules)
                            } catch {
                                logger.error("(\(setup.config.name)) setting virtual routes/rules failed: \(error)")
                            }
                        case .removeVIPs:
                            do {
                                try await vipManager.removeRules(setup.rules)
                                try await vipManager.removeRoutes(setup.routes)
                            } catch {
                                logger.error("(\(setup.config.name)) removing virtual routes/rules failed: \(error)")
                            }
                            do { try await vipManager.remove(setup.vips) } catch {
                                logger.error("(\(setup.config.name)) removing VIPs failed: \(error)")
                            }
                        case .sendGratuitous(let count):
                            let kind = setup.config.family == .inet ? "gratuitous ARPs" : "Unsolicited Neighbour Adverts"
                            for v in setup.vips where v.device == setup.config.interface && v.address.family == setup.config.family {
                                logger.debug("(\(setup.config.name)) Sending/queueing \(kind) on \(v.device) for \(v.address)")
                                for _ in 0..<count {
                                    do { try sock.sendGratuitous(for: v.address) } catch {
                                        logger.warning("(\(setup.config.name)) \(error)")
                                    }
                                }
                            }
                        case .armTimer(let at):
                            generations[i] += 1
                            let gen = generations[i]
                            let deadline = origin.advanced(by: .nanoseconds(at.nanoseconds))
                            group.addTask {
                                do { try await clock.sleep(until: deadline, tolerance: nil) } catch { return }
                                cont.yield(.timer(instance: i, generation: gen))
                            }
                        case .cancelTimer:
                            generations[i] += 1
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
                        if let n = outcome.notification { notify(n, groups[g].notify) }
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

                // Trackers: scripts, files and link state, each in its own child task.
                for s in options.scripts {
                    group.addTask { [logger] in
                        var h = ScriptHysteresis(rise: s.rise, fall: s.fall, initiallyUp: !s.initFail)
                        if s.initFail { cont.yield(.event(instance: nil, .tracker(s.name, .down))) }
                        while !Task.isCancelled {
                            let r = await ScriptRunner.run(s.command, user: s.user ?? scriptUser, timeout: s.timeout ?? s.interval)
                            if r == .timedOut { logger.info("VRRP_Script(\(s.name)) timed_out") }
                            if let change = h.record(success: r.succeeded) {
                                logger.info("VRRP_Script(\(s.name)) \(change == .up ? "succeeded" : "failed")")
                                cont.yield(.event(instance: nil, .tracker(s.name, change)))
                            }
                            do { try await clock.sleep(for: s.interval) } catch { return }
                        }
                    }
                }
                for f in options.trackFiles {
                    group.addTask {
                        var last: Int?
                        while !Task.isCancelled {
                            let v = TrackFileConfig.value(of: f.path)
                            if v != last {
                                last = v
                                cont.yield(.event(instance: nil, .tracker(f.name, .value(v))))
                            }
                            do { try await clock.sleep(for: f.interval) } catch { return }
                        }
                    }
                }
                // Interface state (instance interface → FAULT, track_interface → tracker) from
                // rtnetlink link events; the initial state comes from SIOCGIFFLAGS.
                let watched: [(Int, String, Bool)] = setups.enumerated().flatMap { (i, s) in
                    [(i, s.config.interface, true)] + s.config.trackers.filter { $0.kind == .interface }.map { (i, $0.name, false) }
                }
                func linkEvent(_ i: Int, _ name: String, _ primary: Bool, _ up: Bool) -> VRRPInstance.Event {
                    primary ? (up ? .interfaceUp : .interfaceDown) : .tracker(name, up ? .up : .down)
                }
                for (i, name, primary) in watched {
                    let up = sockets[socketOf[i]].linkIsUp(name) ?? false
                    if !up || !primary { cont.yield(.event(instance: setups[i].config.name, linkEvent(i, name, primary, up))) }
                }
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
                            for (i, name, primary) in watched where name == info.name {
                                cont.yield(.event(instance: setups[i].config.name, linkEvent(i, name, primary, up)))
                            }
                        }
                    }
                }

                for i in machines.indices {
                    let t = now()
                    await process(i) { $0.handle(.start, now: t) }
                }
                publish()

                loop: for await input in inputs {
                    switch input {
                    case .packet(let si, let p):
                        guard p.payload.count >= 2, let i = byVRID[si]?[p.payload[1]] else {
                            interfaceStats.withLock { $0[sockets[si].interface.name, default: .init()].count(p.payload.count < 2 ? .truncated : .vridMismatch) }
                            continue
                        }
                        let t = now()
                        await process(i) { $0.receive(packet: p.payload, ttl: p.ttl, source: p.source, destination: p.destination, now: t) }
                    case .timer(let i, let gen):
                        guard gen == generations[i] else { continue }
                        let t = now()
                        await process(i) { $0.handle(.timer, now: t) }
                    case .event(let name, let ev):
                        for i in machines.indices where name == nil || setups[i].config.name == name {
                            let t = now()
                            await process(i) { $0.handle(ev, now: t) }
                        }
                    case .shutdown:
                        for i in machines.indices {
                            let t = now()
                            await process(i) { $0.handle(.shutdown, now: t) }
                        }
                        publish()
                        // Give stop scripts a bounded chance to finish.
                        let limit = ContinuousClock.now + .seconds(2)
                        while runningScripts.withLock({ $0 }) > 0 && ContinuousClock.now < limit {
                            try? await Task.sleep(for: .milliseconds(10))
                        }
                        break loop
                    case .abandon:
                        break loop
                    }
                    publish()
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
