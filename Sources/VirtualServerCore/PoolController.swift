import DataPlane
import NetCore

/// A real server as the control loop needs it (from keepalived.conf's `real_server` block).
public struct RealServerSpec: Hashable, Sendable {
    public var address: SocketAddress
    /// The configured weight (`weight`, default 1).
    public var weight: Int32
    public var forwarding: ForwardingMethod
    public var upperThreshold: UInt32
    public var lowerThreshold: UInt32
    public var tunnel: TunnelSettings?
    /// `inhibit_on_failure`: a failed server stays in the pool with weight 0.
    public var inhibitOnFailure: Bool
    /// `alpha`: start as failed until a checker succeeds.
    public var alpha: Bool
    public var notifyUp: String?
    public var notifyDown: String?

    public init(
        address: SocketAddress, weight: Int32 = 1, forwarding: ForwardingMethod = .masquerade,
        upperThreshold: UInt32 = 0, lowerThreshold: UInt32 = 0, tunnel: TunnelSettings? = nil,
        inhibitOnFailure: Bool = false, alpha: Bool = false, notifyUp: String? = nil, notifyDown: String? = nil
    ) {
        self.address = address
        self.weight = weight
        self.forwarding = forwarding
        self.upperThreshold = upperThreshold
        self.lowerThreshold = lowerThreshold
        self.tunnel = tunnel
        self.inhibitOnFailure = inhibitOnFailure
        self.alpha = alpha
        self.notifyUp = notifyUp
        self.notifyDown = notifyDown
    }

    func destination(weight: Int32) -> Destination {
        Destination(
            address: address, forwarding: forwarding, weight: weight, upperThreshold: upperThreshold,
            lowerThreshold: lowerThreshold, tunnel: tunnel)
    }
}

/// A virtual service as the control loop needs it (one per `virtual_server`, or per group entry).
public struct VirtualServerSpec: Hashable, Sendable {
    public var key: ServiceKey
    public var scheduler: String
    public var flags: ServiceFlags
    public var persistenceTimeout: UInt32
    public var persistencePrefix: Int?
    public var persistenceEngine: String?
    public var realServers: [RealServerSpec]
    /// `quorum` (default 1) and `hysteresis` (default 0).
    public var quorum: Int
    public var hysteresis: Int
    public var sorryServer: RealServerSpec?
    /// `sorry_server_inhibit`: the sorry server stays in the pool at weight 0 while not needed.
    public var sorryServerInhibit: Bool
    public var quorumUp: String?
    public var quorumDown: String?
    /// `omega`: on shutdown also run quorum_down and notify_down.
    public var omega: Bool
    /// `ha_suspend`: the checkers pause while the service address is not local (address services only).
    public var haSuspend = false

    public init(
        key: ServiceKey, scheduler: String = "wlc", flags: ServiceFlags = [], persistenceTimeout: UInt32 = 0,
        persistencePrefix: Int? = nil, persistenceEngine: String? = nil, realServers: [RealServerSpec] = [],
        quorum: Int = 1, hysteresis: Int = 0, sorryServer: RealServerSpec? = nil, sorryServerInhibit: Bool = false,
        quorumUp: String? = nil, quorumDown: String? = nil, omega: Bool = false
    ) {
        self.key = key
        self.scheduler = scheduler
        self.flags = flags
        self.persistenceTimeout = persistenceTimeout
        self.persistencePrefix = persistencePrefix
        self.persistenceEngine = persistenceEngine
        self.realServers = realServers
        self.quorum = quorum
        self.hysteresis = hysteresis
        self.sorryServer = sorryServer
        self.sorryServerInhibit = sorryServerInhibit
        self.quorumUp = quorumUp
        self.quorumDown = quorumDown
        self.omega = omega
    }

    /// Identity of the service-level settings; a change means an edit of the kernel service.
    func sameServiceSettings(as o: VirtualServerSpec) -> Bool {
        key == o.key && scheduler == o.scheduler && flags == o.flags && persistenceTimeout == o.persistenceTimeout
            && persistencePrefix == o.persistencePrefix && persistenceEngine == o.persistenceEngine
    }
}

/// What the control loop must do besides programming the data plane.
public enum PoolEffect: Hashable, Sendable {
    /// A log line in keepalived's wording.
    case log(String)
    /// Run a notify or quorum script (its configured command line).
    case runScript(String)
    /// A line for `notify_fifo` / `lvs_notify_fifo` (without the newline).
    case fifo(String)
}

/// The pool of every virtual server: which real servers are alive, whether each service has
/// quorum, and from that the data-plane state the kernel should have (keepalived §3: quorum,
/// hysteresis, sorry server, inhibit_on_failure, alpha, omega).
///
/// Pure: health verdicts in, effects out; `desiredState` is derived, never stored.
public struct PoolController: Sendable {
    struct ServerState: Sendable, Hashable {
        var alive: Bool
        /// Weight after dynamic changes (misc_dynamic, FILE_CHECK); starts at the configured one.
        var effectiveWeight: Int32
    }

    struct ServiceState: Sendable {
        var spec: VirtualServerSpec
        var servers: [SocketAddress: ServerState]
        var quorumUp: Bool
    }

    private(set) var services: [ServiceState]

    /// Starts the pool: real servers are alive unless `alpha` (keepalived's startup), and each
    /// service's quorum is computed from that. Returns the start-up effects too.
    public init(specs: [VirtualServerSpec]) {
        services = []
        _ = reload(specs: specs)
    }

    /// The start-up effects (quorum starting down, sorry server added), as keepalived logs them.
    public private(set) var startupEffects: [PoolEffect] = []

    // MARK: queries

    /// What the data plane should hold now.
    public var desiredState: DataPlaneState {
        DataPlaneState(services: services.map(Self.desiredService))
    }

    /// Whether `server` of `service` is currently alive (nil if unknown).
    public func isAlive(_ server: SocketAddress, of service: ServiceKey) -> Bool? {
        services.first { $0.spec.key == service }?.servers[server]?.alive
    }

    /// Every real server with its service and whether it is alive, in configuration order.
    public var health: [(service: VirtualServerSpec, server: RealServerSpec, alive: Bool)] {
        services.flatMap { s in s.spec.realServers.map { (s.spec, $0, s.servers[$0.address]?.alive ?? false) } }
    }

    public func hasQuorum(_ service: ServiceKey) -> Bool? {
        services.first { $0.spec.key == service }?.quorumUp
    }

    static func desiredService(_ s: ServiceState) -> VirtualService {
        var vs = VirtualService(
            key: s.spec.key, scheduler: s.spec.scheduler, flags: s.spec.flags,
            persistenceTimeout: s.spec.persistenceTimeout, persistencePrefix: s.spec.persistencePrefix,
            persistenceEngine: s.spec.persistenceEngine)
        let sorryActive = !s.quorumUp && s.spec.sorryServer != nil
        for rs in s.spec.realServers {
            guard let st = s.servers[rs.address] else { continue }
            if st.alive && !sorryActive {
                vs.destinations.append(rs.destination(weight: st.effectiveWeight))
            } else if !st.alive && rs.inhibitOnFailure {
                vs.destinations.append(rs.destination(weight: 0))
            }
        }
        if let sorry = s.spec.sorryServer, !vs.destinations.contains(where: { $0.address == sorry.address }) {
            if sorryActive {
                vs.destinations.append(sorry.destination(weight: sorry.weight))
            } else if s.spec.sorryServerInhibit {
                vs.destinations.append(sorry.destination(weight: 0))
            }
        }
        return vs
    }

    // MARK: events

    /// A real server's checkers all passed (`alive`) or one failed. Returns keepalived's logs,
    /// notify scripts and FIFO lines.
    public mutating func setAlive(_ alive: Bool, server: SocketAddress, of service: ServiceKey) -> [PoolEffect] {
        guard let i = services.firstIndex(where: { $0.spec.key == service }),
              let rs = services[i].spec.realServers.first(where: { $0.address == server }),
              var st = services[i].servers[server], st.alive != alive
        else { return [] }
        let s = services[i]
        let verb: String
        if rs.inhibitOnFailure {
            verb = alive ? "Enabling service \(fmt(rs, s.spec)) of VS" : "Disabling service \(fmt(rs, s.spec)) of VS"
        } else {
            verb = alive ? "Adding service \(fmt(rs, s.spec)) to VS" : "Removing service \(fmt(rs, s.spec)) from VS"
        }
        var effects: [PoolEffect] = [.log("\(verb) \(fmtVS(s.spec))")]
        st.alive = alive
        services[i].servers[server] = st
        if let script = alive ? rs.notifyUp : rs.notifyDown { effects.append(.runScript(script)) }
        effects.append(.fifo("RS \(fmt(rs, s.spec)) \(fmtVS(s.spec)) \(alive ? "UP" : "DOWN")"))
        effects += updateQuorum(i, initial: false)
        return effects
    }

    /// A dynamic weight change (misc_dynamic exit code, FILE_CHECK, track_file).
    public mutating func setWeight(_ weight: Int32, server: SocketAddress, of service: ServiceKey) -> [PoolEffect] {
        guard let i = services.firstIndex(where: { $0.spec.key == service }),
              let rs = services[i].spec.realServers.first(where: { $0.address == server }),
              var st = services[i].servers[server], st.effectiveWeight != weight
        else { return [] }
        let old = st.effectiveWeight
        st.effectiveWeight = weight
        services[i].servers[server] = st
        var effects: [PoolEffect] = [
            .log("Changing weight from \(old) to \(weight) for \(st.alive ? "" : "in")active service \(fmt(rs, services[i].spec)) of VS \(fmtVS(services[i].spec))")
        ]
        effects += updateQuorum(i, initial: false)
        return effects
    }

    /// Replaces the configuration (SIGHUP). Services and real servers that stay keep their
    /// alive state and weights; new ones start as at start-up; removed ones are logged.
    public mutating func reload(specs: [VirtualServerSpec]) -> [PoolEffect] {
        var effects: [PoolEffect] = []
        let old = Dictionary(services.map { ($0.spec.key, $0) }, uniquingKeysWith: { a, _ in a })
        let newKeys = Set(specs.map(\.key))
        for s in services where !newKeys.contains(s.spec.key) {
            effects.append(.log("Removing Virtual Server \(fmtVS(s.spec))"))
        }
        var next: [ServiceState] = []
        var fresh: [Int] = []
        for spec in specs {
            if var prev = old[spec.key] {
                let keep = Set(spec.realServers.map(\.address))
                for rs in prev.spec.realServers where !keep.contains(rs.address) {
                    effects.append(.log("service \(fmt(rs, prev.spec)) no longer exist"))
                    prev.servers[rs.address] = nil
                }
                for rs in spec.realServers {
                    if let st = prev.servers[rs.address] {
                        // A changed configured weight replaces a dynamic one, as keepalived does.
                        let oldSpec = prev.spec.realServers.first { $0.address == rs.address }
                        if oldSpec?.weight != rs.weight {
                            prev.servers[rs.address] = ServerState(alive: st.alive, effectiveWeight: rs.weight)
                        }
                    } else {
                        prev.servers[rs.address] = ServerState(alive: !rs.alpha, effectiveWeight: rs.weight)
                    }
                }
                prev.spec = spec
                next.append(prev)
            } else {
                var servers: [SocketAddress: ServerState] = [:]
                for rs in spec.realServers {
                    servers[rs.address] = ServerState(alive: !rs.alpha, effectiveWeight: rs.weight)
                }
                let st = ServiceState(
                    spec: spec, servers: servers,
                    quorumUp: Self.weightSum(servers, spec) >= spec.quorum + spec.hysteresis)
                fresh.append(next.count)
                next.append(st)
            }
        }
        services = next
        for i in services.indices {
            effects += updateQuorum(i, initial: fresh.contains(i))
        }
        if startupEffects.isEmpty && old.isEmpty { startupEffects = effects }
        return effects
    }

    /// Shutdown: with `omega`, quorum_down and notify_down run for what was up.
    public func shutdownEffects() -> [PoolEffect] {
        var effects: [PoolEffect] = []
        for s in services {
            for rs in s.spec.realServers where s.servers[rs.address]?.alive == true {
                effects.append(.log("Shutting down service \(fmt(rs, s.spec)) from VS \(fmtVS(s.spec))"))
                if s.spec.omega {
                    if let script = rs.notifyDown { effects.append(.runScript(script)) }
                    effects.append(.fifo("RS \(fmt(rs, s.spec)) \(fmtVS(s.spec)) DOWN"))
                }
            }
            if s.spec.omega {
                if let q = s.spec.quorumDown { effects.append(.runScript(q)) }
                effects.append(.fifo("VS \(fmtVS(s.spec)) DOWN"))
            }
        }
        return effects
    }

    // MARK: quorum

    static func weightSum(_ servers: [SocketAddress: ServerState], _ spec: VirtualServerSpec) -> Int {
        spec.realServers.reduce(0) { sum, rs in
            guard let st = servers[rs.address], st.alive else { return sum }
            return sum + Int(max(0, st.effectiveWeight))
        }
    }

    private mutating func updateQuorum(_ i: Int, initial: Bool) -> [PoolEffect] {
        let s = services[i]
        let sum = Self.weightSum(s.servers, s.spec)
        let threshold = s.spec.quorum + (s.quorumUp ? -1 : 1) * s.spec.hysteresis
        var effects: [PoolEffect] = []
        if !s.quorumUp && sum >= threshold {
            services[i].quorumUp = true
            effects.append(.log("Gained quorum \(s.spec.quorum)+\(s.spec.hysteresis)=\(threshold) <= \(sum) for VS \(fmtVS(s.spec))"))
            if let sorry = s.spec.sorryServer {
                effects.append(.log("\(s.spec.sorryServerInhibit ? "Disabling" : "Removing") sorry server \(fmt(sorry, s.spec)) from VS \(fmtVS(s.spec))"))
                effects.append(.log("Adding alive servers to the pool for VS \(fmtVS(s.spec))"))
            }
            if let q = s.spec.quorumUp { effects.append(.runScript(q)) }
            effects.append(.fifo("VS \(fmtVS(s.spec)) UP"))
        } else if (s.quorumUp && (sum == 0 || sum < threshold)) || (initial && !s.quorumUp && s.spec.sorryServer != nil) {
            services[i].quorumUp = false
            effects.append(.log("\(initial ? "Starting with quorum down" : "Lost quorum") \(s.spec.quorum)-\(s.spec.hysteresis)=\(threshold) > \(sum) for VS \(fmtVS(s.spec))"))
            if let sorry = s.spec.sorryServer {
                effects.append(.log("\(s.spec.sorryServerInhibit ? "Enabling" : "Adding") sorry server \(fmt(sorry, s.spec)) to VS \(fmtVS(s.spec))"))
                effects.append(.log("Removing alive servers from the pool for VS \(fmtVS(s.spec))"))
            }
            if let q = s.spec.quorumDown { effects.append(.runScript(q)) }
            effects.append(.fifo("VS \(fmtVS(s.spec)) DOWN"))
        }
        return effects
    }
}

/// keepalived's `FMT_VS`: `[192.168.0.21]:tcp:80`, or `FWM 7`.
public func fmtVS(_ spec: VirtualServerSpec) -> String { spec.key.description }

/// keepalived's `FMT_RS`: `[192.168.0.12]:tcp:80` (the service's protocol; fwmark services use tcp).
public func fmt(_ rs: RealServerSpec, _ vs: VirtualServerSpec) -> String {
    let proto: L4Protocol
    switch vs.key {
    case .address(let p, _): proto = p
    case .fwmark: proto = .tcp
    }
    return "[\(rs.address.address)]:\(proto):\(rs.address.port)"
}
