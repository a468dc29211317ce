import DataPlane
import NetCore
import SysCore

/// What ipvsadm needs from a data-plane engine beyond `LoadBalancerBackend`: the operations
/// IPVS has that a desired-state engine does not (flush, zero, global timeouts, the sync daemon,
/// version/table-size info, the connection table).
///
/// Errors: throw an error conforming to `ErrnoCarrying` (for example `SysCore.SystemError`) with
/// the errno the kernel would return, so ipvsadm can print its exact text (`ipvs_strerror`):
/// EEXIST, ESRCH, ENOENT, ERANGE, EINVAL, EAFNOSUPPORT, ENODEV, EPERM ... (ipvs.md §3.1, §4.2).
///
/// `apply` semantics expected by ipvsadm (the kernel's, one change at a time):
/// - `.addService` → EEXIST if present, ENOENT for an unknown scheduler or PE;
/// - `.editService` replaces the service settings (its `destinations` are ignored), ESRCH if absent;
/// - `.deleteService` → ESRCH if absent;
/// - `.addDestination` → ESRCH (no service), EEXIST (address:port present), ERANGE (thresholds);
///   new destinations go to the head of the list (the kernel's order, newest first);
/// - `.editDestination` / `.deleteDestination` → ESRCH (no service), ENOENT (no destination).
public protocol IPVSAdmBackend: LoadBalancerBackend {
    /// Removes every service (IPVS_CMD_FLUSH).
    func flush() async throws
    /// Zeroes the counters of one service, or of all when `service` is nil (IPVS_CMD_ZERO).
    func zeroCounters(service: ServiceKey?) async throws
    /// The global TCP / TCP FIN / UDP timeouts (IPVS_CMD_GET_CONFIG).
    func timeouts() async throws -> Timeouts
    /// Sets the timeouts; a 0 field leaves that timeout unchanged (IPVS_CMD_SET_CONFIG).
    func setTimeouts(_ timeouts: Timeouts) async throws
    /// Running sync daemons (at most one master and one backup; IPVS_CMD_GET_DAEMON).
    func syncDaemons() async throws -> [SyncDaemon]
    /// Starts a sync daemon (IPVS_CMD_NEW_DAEMON); EEXIST if that role already runs.
    func startSyncDaemon(_ daemon: SyncDaemon) async throws
    /// Stops the daemon of `role` (IPVS_CMD_DEL_DAEMON); ESRCH if it is not running.
    func stopSyncDaemon(_ role: SyncDaemon.Role) async throws
    /// Version and connection-table size for the `-L` header (IPVS_CMD_GET_INFO).
    func info() async throws -> IPVSInfo
    /// The connection table as `/proc/net/ip_vs_conn` shows it (for `-Lc`).
    func connections() async throws -> [ConnectionEntry]
}

/// An error that carries the errno the kernel would have returned.
public protocol ErrnoCarrying: Error {
    var errno: Int32 { get }
}

extension SystemError: ErrnoCarrying {}

/// A plain kernel-style failure: `errno` only (what `MemoryBackend` throws).
public struct KernelError: ErrnoCarrying, Hashable, CustomStringConvertible {
    public var errno: Int32
    public init(_ errno: Int32) { self.errno = errno }
    public var description: String { "errno \(errno)" }
}

/// `IPVS_CMD_GET_INFO`: version (0x010201 = 1.2.1) and connection-table size.
public struct IPVSInfo: Sendable, Hashable, Codable {
    public var version: UInt32
    public var connectionTableSize: UInt32
    public init(version: UInt32 = 0x01_02_01, connectionTableSize: UInt32 = 4096) {
        self.version = version
        self.connectionTableSize = connectionTableSize
    }
}

/// A connection-sync daemon (`ipvsadm --start-daemon`, IPVS_DAEMON_ATTR_*).
public struct SyncDaemon: Sendable, Hashable, Codable {
    public enum Role: UInt32, Sendable, Hashable, Codable {
        case master = 1, backup = 2
        public var name: String { self == .master ? "master" : "backup" }
    }
    public var role: Role
    public var interface: String
    public var syncID: UInt32
    /// 0 = kernel default (MTU based).
    public var maxLength: UInt16
    /// nil = kernel default (224.0.0.81 / ff02::81 when listed).
    public var group: IPAddress?
    /// 0 = kernel default (8848).
    public var port: UInt16
    /// 0 = kernel default (1).
    public var ttl: UInt8

    public init(
        role: Role, interface: String = "eth0", syncID: UInt32 = 0, maxLength: UInt16 = 0,
        group: IPAddress? = nil, port: UInt16 = 0, ttl: UInt8 = 0
    ) {
        self.role = role
        self.interface = interface
        self.syncID = syncID
        self.maxLength = maxLength
        self.group = group
        self.port = port
        self.ttl = ttl
    }
}

/// One line of `/proc/net/ip_vs_conn`.
public struct ConnectionEntry: Sendable, Hashable, Codable {
    /// "TCP", "UDP", "SCTP", or "IP" for fwmark templates.
    public var protocolName: String
    public var client: SocketAddress
    public var virtual: SocketAddress
    public var destination: SocketAddress
    /// "ESTABLISHED", "UDP", "NONE", "ASSURED", ...
    public var state: String
    /// Seconds until the entry expires.
    public var expires: UInt32
    public var persistenceEngine: String?
    public var persistenceData: String?

    public init(
        protocolName: String, client: SocketAddress, virtual: SocketAddress, destination: SocketAddress,
        state: String, expires: UInt32, persistenceEngine: String? = nil, persistenceData: String? = nil
    ) {
        self.protocolName = protocolName
        self.client = client
        self.virtual = virtual
        self.destination = destination
        self.state = state
        self.expires = expires
        self.persistenceEngine = persistenceEngine
        self.persistenceData = persistenceData
    }
}
