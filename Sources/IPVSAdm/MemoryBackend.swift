#if canImport(Glibc)
import Glibc
#endif
import DataPlane
import Foundation
import NetCore

/// An in-memory data plane that answers like the kernel's IPVS (same errnos, destinations kept
/// newest first, timeouts with "0 = keep", one master and one backup sync daemon), for tests and
/// for running `vigil ipvsadm` without a kernel engine. With a state file it loads the state
/// before and saves it after every operation, so separate processes share one table.
public actor MemoryBackend: IPVSAdmBackend {
    /// Everything the backend holds; also the JSON state file's content.
    public struct State: Sendable, Codable, Hashable {
        public var services: [VirtualService] = []
        public var timeouts = Timeouts()
        public var daemons: [SyncDaemon] = []
        public var connections: [ConnectionEntry] = []
        public var info = IPVSInfo()
        /// Scheduler modules "loaded" (an unknown one gives ENOENT, as the kernel).
        public var schedulers: [String] = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos", "none"]
        public var persistenceEngines: [String] = ["sip"]
        /// Interfaces a sync daemon may use; nil accepts any name.
        public var interfaces: [String]?

        public init() {}
    }

    public nonisolated let name = "memory"
    private var state: State
    private let stateFile: String?

    public init(state: State = State()) {
        self.state = state
        self.stateFile = nil
    }

    /// A backend whose state lives in `path` (created on first save; a missing file is empty).
    public init(stateFile path: String) throws {
        self.stateFile = path
        self.state = try Self.load(path)
    }

    public var snapshot: State { state }

    public func setConnections(_ entries: [ConnectionEntry]) { state.connections = entries }

    private static func load(_ path: String) throws -> State {
        guard FileManager.default.fileExists(atPath: path) else { return State() }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        if data.isEmpty { return State() }
        do {
            return try JSONDecoder().decode(State.self, from: data)
        } catch {
            throw StateFileError(path: path, reason: "\(error)")
        }
    }

    private func reload() throws {
        if let f = stateFile { state = try Self.load(f) }
    }

    private func save() throws {
        guard let f = stateFile else { return }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(state).write(to: URL(fileURLWithPath: f), options: .atomic)
    }

    /// Runs `body` on a copy of the state and keeps it only if it succeeds (one transaction).
    private func mutate(_ body: (inout State) throws -> Void) throws {
        try reload()
        var copy = state
        try body(&copy)
        state = copy
        try save()
    }

    // MARK: LoadBalancerBackend

    public func currentState() async throws -> DataPlaneState {
        try reload()
        return DataPlaneState(services: state.services)
    }

    public func apply(_ changes: [DataPlaneChange]) async throws {
        try mutate { s in
            for change in changes { try Self.apply(change, to: &s) }
        }
    }

    private static func apply(_ change: DataPlaneChange, to s: inout State) throws {
        switch change {
        case .addService(let svc):
            if s.services.contains(where: { $0.key == svc.key }) { throw KernelError(EEXIST) }
            try checkService(svc, s)
            var new = svc
            new.destinations = []
            new.counters = Counters()
            s.services.append(new)
            for d in svc.destinations.reversed() { try apply(.addDestination(svc.key, d), to: &s) }
        case .editService(let svc):
            guard let i = s.services.firstIndex(where: { $0.key == svc.key }) else { throw KernelError(ESRCH) }
            try checkService(svc, s)
            s.services[i].scheduler = svc.scheduler
            s.services[i].flags = svc.flags
            s.services[i].persistenceTimeout = svc.persistenceTimeout
            s.services[i].persistencePrefix = svc.persistencePrefix
            s.services[i].persistenceEngine = svc.persistenceEngine
        case .deleteService(let key):
            guard let i = s.services.firstIndex(where: { $0.key == key }) else { throw KernelError(ESRCH) }
            s.services.remove(at: i)
        case .addDestination(let key, let dest):
            guard let i = s.services.firstIndex(where: { $0.key == key }) else { throw KernelError(ESRCH) }
            try checkDestination(dest, service: s.services[i])
            if s.services[i].destinations.contains(where: { $0.address == dest.address }) { throw KernelError(EEXIST) }
            var new = dest
            new.activeConnections = 0
            new.inactiveConnections = 0
            new.persistentConnections = 0
            new.counters = Counters()
            // The kernel adds at the head of the list.
            s.services[i].destinations.insert(new, at: 0)
        case .editDestination(let key, let dest):
            guard let i = s.services.firstIndex(where: { $0.key == key }) else { throw KernelError(ESRCH) }
            try checkDestination(dest, service: s.services[i])
            guard let j = s.services[i].destinations.firstIndex(where: { $0.address == dest.address }) else { throw KernelError(ENOENT) }
            var d = s.services[i].destinations[j]
            d.forwarding = dest.forwarding
            d.weight = dest.weight
            d.upperThreshold = dest.upperThreshold
            d.lowerThreshold = dest.lowerThreshold
            d.tunnel = dest.tunnel
            s.services[i].destinations[j] = d
        case .deleteDestination(let key, let address):
            guard let i = s.services.firstIndex(where: { $0.key == key }) else { throw KernelError(ESRCH) }
            guard let j = s.services[i].destinations.firstIndex(where: { $0.address == address }) else { throw KernelError(ENOENT) }
            s.services[i].destinations.remove(at: j)
        }
    }

    private static func checkService(_ svc: VirtualService, _ s: State) throws {
        if !s.schedulers.contains(svc.scheduler) { throw KernelError(ENOENT) }
        if let pe = svc.persistenceEngine, !s.persistenceEngines.contains(pe) { throw KernelError(ENOENT) }
        if svc.key.family == .inet6 && !(1...128).contains(svc.persistencePrefix) { throw KernelError(EINVAL) }
        if svc.key.family == .inet && !(0...32).contains(svc.persistencePrefix) { throw KernelError(EINVAL) }
    }

    private static func checkDestination(_ d: Destination, service: VirtualService) throws {
        if d.address.address.family != service.key.family && d.forwarding != .tunnel { throw KernelError(EINVAL) }
        if d.weight < 0 { throw KernelError(ERANGE) }
        if d.lowerThreshold > d.upperThreshold { throw KernelError(ERANGE) }
        if let t = d.tunnel, t.kind == .gue, t.port == 0 { throw KernelError(EINVAL) }
        let a = d.address.address
        if a.isMulticast || a.isUnspecified || a == .v4(IPv4Address(UInt32.max)) { throw KernelError(EINVAL) }
    }

    // MARK: IPVSAdmBackend

    public func flush() async throws {
        try mutate { $0.services.removeAll() }
    }

    public func zeroCounters(service: ServiceKey?) async throws {
        try mutate { s in
            if let key = service {
                guard let i = s.services.firstIndex(where: { $0.key == key }) else { throw KernelError(ESRCH) }
                Self.zero(&s.services[i])
            } else {
                for i in s.services.indices { Self.zero(&s.services[i]) }
            }
        }
    }

    private static func zero(_ svc: inout VirtualService) {
        svc.counters = Counters()
        for j in svc.destinations.indices { svc.destinations[j].counters = Counters() }
    }

    public func timeouts() async throws -> Timeouts {
        try reload()
        return state.timeouts
    }

    public func setTimeouts(_ t: Timeouts) async throws {
        try mutate { s in
            if t.tcp != 0 { s.timeouts.tcp = t.tcp }
            if t.tcpFin != 0 { s.timeouts.tcpFin = t.tcpFin }
            if t.udp != 0 { s.timeouts.udp = t.udp }
        }
    }

    public func syncDaemons() async throws -> [SyncDaemon] {
        try reload()
        return state.daemons
    }

    public func startSyncDaemon(_ daemon: SyncDaemon) async throws {
        try mutate { s in
            if s.daemons.contains(where: { $0.role == daemon.role }) { throw KernelError(EEXIST) }
            if let ifs = s.interfaces, !ifs.contains(daemon.interface) { throw KernelError(ENODEV) }
            // What the kernel reports back for unset fields (MTU 1500, IPv4 group).
            var d = daemon
            if d.maxLength == 0 { d.maxLength = d.group?.family == .inet6 ? 1452 : 1472 }
            if d.group == nil { d.group = .v4(IPv4Address(224, 0, 0, 81)) }
            if d.port == 0 { d.port = 8848 }
            if d.ttl == 0 { d.ttl = 1 }
            s.daemons.append(d)
            s.daemons.sort { $0.role.rawValue < $1.role.rawValue }
        }
    }

    public func stopSyncDaemon(_ role: SyncDaemon.Role) async throws {
        try mutate { s in
            guard let i = s.daemons.firstIndex(where: { $0.role == role }) else { throw KernelError(ESRCH) }
            s.daemons.remove(at: i)
        }
    }

    public func info() async throws -> IPVSInfo {
        try reload()
        return state.info
    }

    public func connections() async throws -> [ConnectionEntry] {
        try reload()
        return state.connections
    }
}

/// The JSON state file of a `MemoryBackend` could not be read.
public struct StateFileError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): unreadable ipvsadm state file: \(reason)" }
}
