import NetCore

/// Transport protocol of a virtual service (the IANA protocol numbers IPVS uses).
public enum L4Protocol: UInt16, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case tcp = 6
    case udp = 17
    case sctp = 132

    /// Lower-case name as keepalived logs it (`[1.2.3.4]:tcp:80`).
    public var description: String {
        switch self {
        case .tcp: "tcp"
        case .udp: "udp"
        case .sctp: "sctp"
        }
    }
}

/// How a director hands a packet to a real server (`IP_VS_CONN_F_*` forwarding values).
public enum ForwardingMethod: UInt32, Sendable, Hashable, Codable, CaseIterable {
    /// NAT ("Masq"): DNAT to the real server, replies come back through the director.
    case masquerade = 0
    /// The destination is local to the director.
    case local = 1
    /// IP-in-IP (or GUE/GRE) tunnel ("Tunnel").
    case tunnel = 2
    /// Direct routing ("Route"): only the destination MAC is rewritten.
    case directRoute = 3
    /// Bypass (cache_bypass only).
    case bypass = 4
}

/// Tunnel encapsulation for `ForwardingMethod.tunnel` (`IPVS_DEST_ATTR_TUN_*`).
public struct TunnelSettings: Sendable, Hashable, Codable {
    public enum Kind: UInt8, Sendable, Hashable, Codable { case ipip = 0, gue = 1, gre = 2 }
    public enum Checksum: UInt16, Sendable, Hashable, Codable { case nocsum = 0, csum = 1, remcsum = 2 }
    public var kind: Kind
    public var port: UInt16
    public var checksum: Checksum

    public init(kind: Kind = .ipip, port: UInt16 = 0, checksum: Checksum = .nocsum) {
        self.kind = kind
        self.port = port
        self.checksum = checksum
    }
}

/// Identity of a virtual service: protocol + address + port, or a firewall mark and family.
public enum ServiceKey: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    case address(L4Protocol, SocketAddress)
    case fwmark(UInt32, AddressFamily)

    public var family: AddressFamily {
        switch self {
        case .address(_, let sa): sa.address.family
        case .fwmark(_, let af): af
        }
    }

    /// keepalived's log spelling: `[192.168.0.21]:tcp:80` or `FWM 7`.
    public var description: String {
        switch self {
        case .address(let p, let sa): "[\(sa.address)]:\(p):\(sa.port)"
        case .fwmark(let m, _): "FWM \(m)"
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.address(let p1, let a1), .address(let p2, let a2)): (a1.address.family.rawValue, p1.rawValue, a1) < (a2.address.family.rawValue, p2.rawValue, a2)
        case (.address, .fwmark): true
        case (.fwmark, .address): false
        case (.fwmark(let m1, let f1), .fwmark(let m2, let f2)): (m1, f1.rawValue) < (m2, f2.rawValue)
        }
    }
}

/// IPVS service flags (`IP_VS_SVC_F_*`).
public struct ServiceFlags: OptionSet, Sendable, Hashable, Codable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let persistent = ServiceFlags(rawValue: 0x1)
    public static let hashed = ServiceFlags(rawValue: 0x2)
    public static let onePacket = ServiceFlags(rawValue: 0x4)
    /// sh-fallback / mh-fallback / flag-1.
    public static let sched1 = ServiceFlags(rawValue: 0x8)
    /// sh-port / mh-port / flag-2.
    public static let sched2 = ServiceFlags(rawValue: 0x10)
    /// flag-3.
    public static let sched3 = ServiceFlags(rawValue: 0x20)
}

/// Traffic counters of a service or destination (`IPVS_STATS_ATTR_*`, 64-bit).
public struct Counters: Sendable, Hashable, Codable {
    public var connections: UInt64 = 0
    public var inPackets: UInt64 = 0
    public var outPackets: UInt64 = 0
    public var inBytes: UInt64 = 0
    public var outBytes: UInt64 = 0
    /// Rates (per second) as the kernel estimator reports them.
    public var cps: UInt64 = 0
    public var inPPS: UInt64 = 0
    public var outPPS: UInt64 = 0
    public var inBPS: UInt64 = 0
    public var outBPS: UInt64 = 0

    public init() {}
}

/// A real server (IPVS "destination") of a virtual service.
public struct Destination: Sendable, Hashable, Codable {
    public var address: SocketAddress
    public var forwarding: ForwardingMethod
    public var weight: Int32
    public var upperThreshold: UInt32
    public var lowerThreshold: UInt32
    public var tunnel: TunnelSettings?

    // Read back only; ignored by `diff`.
    public var activeConnections: UInt32 = 0
    public var inactiveConnections: UInt32 = 0
    public var persistentConnections: UInt32 = 0
    public var counters = Counters()

    public init(
        address: SocketAddress, forwarding: ForwardingMethod = .directRoute, weight: Int32 = 1,
        upperThreshold: UInt32 = 0, lowerThreshold: UInt32 = 0, tunnel: TunnelSettings? = nil
    ) {
        self.address = address
        self.forwarding = forwarding
        self.weight = weight
        self.upperThreshold = upperThreshold
        self.lowerThreshold = lowerThreshold
        self.tunnel = tunnel
    }

    /// True when the configured (not read-back) settings are the same.
    public func sameSettings(as other: Destination) -> Bool {
        address == other.address && forwarding == other.forwarding && weight == other.weight
            && upperThreshold == other.upperThreshold && lowerThreshold == other.lowerThreshold
            && tunnel == other.tunnel
    }
}

/// A virtual service with its destinations.
public struct VirtualService: Sendable, Hashable, Codable {
    public var key: ServiceKey
    public var scheduler: String
    public var flags: ServiceFlags
    /// Persistence timeout in seconds (meaningful with `.persistent`).
    public var persistenceTimeout: UInt32
    /// Persistence granularity: IPv4 prefix length 0...32 or IPv6 prefix length 1...128.
    public var persistencePrefix: Int
    public var persistenceEngine: String?
    public var destinations: [Destination]

    // Read back only; ignored by `diff`.
    public var counters = Counters()

    public init(
        key: ServiceKey, scheduler: String = "wlc", flags: ServiceFlags = [], persistenceTimeout: UInt32 = 0,
        persistencePrefix: Int? = nil, persistenceEngine: String? = nil, destinations: [Destination] = []
    ) {
        self.key = key
        self.scheduler = scheduler
        self.flags = flags
        self.persistenceTimeout = persistenceTimeout
        self.persistencePrefix = persistencePrefix ?? (key.family == .inet ? 32 : 128)
        self.persistenceEngine = persistenceEngine
        self.destinations = destinations
    }

    /// True when the service-level settings (not destinations, not counters) are the same.
    /// `.hashed` is a kernel-internal flag and is ignored.
    public func sameSettings(as other: VirtualService) -> Bool {
        key == other.key && scheduler == other.scheduler
            && flags.subtracting(.hashed) == other.flags.subtracting(.hashed)
            && persistenceTimeout == other.persistenceTimeout && persistencePrefix == other.persistencePrefix
            && persistenceEngine == other.persistenceEngine
    }
}

/// Global connection timeouts (`ipvsadm --set tcp tcpfin udp`), in seconds; 0 = unchanged.
public struct Timeouts: Sendable, Hashable, Codable {
    public var tcp: UInt32
    public var tcpFin: UInt32
    public var udp: UInt32

    public init(tcp: UInt32 = 900, tcpFin: UInt32 = 120, udp: UInt32 = 300) {
        self.tcp = tcp
        self.tcpFin = tcpFin
        self.udp = udp
    }
}

/// The whole state of a data plane: what we want programmed, or what was read back.
public struct DataPlaneState: Sendable, Hashable, Codable {
    public var services: [VirtualService]

    public init(services: [VirtualService] = []) { self.services = services }

    public subscript(key: ServiceKey) -> VirtualService? {
        services.first { $0.key == key }
    }
}

/// One change to a data plane. A backend applies a list of these as one transaction.
public enum DataPlaneChange: Sendable, Hashable, Codable {
    case addService(VirtualService)
    case editService(VirtualService)
    case deleteService(ServiceKey)
    case addDestination(ServiceKey, Destination)
    case editDestination(ServiceKey, Destination)
    case deleteDestination(ServiceKey, SocketAddress)
}

/// A kernel engine that forwards packets for virtual services (IPVS, nftables).
public protocol LoadBalancerBackend: Sendable {
    /// A short name for logs ("ipvs", "nftables").
    var name: String { get }
    /// Reads back what the kernel has, with counters.
    func currentState() async throws -> DataPlaneState
    /// Applies the changes as one transaction.
    func apply(_ changes: [DataPlaneChange]) async throws
}
