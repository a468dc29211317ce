#if canImport(Glibc)
import Glibc
#endif
import DataPlane
import IPVSAdm
import NetCore
import Netlink
import NetlinkCodec
import SysCore

/// A failed IPVS command: the kernel errno, the command, the request, and (from `apply`) which
/// change of the list failed. `message` is ipvsadm's wording (`Destination already exists`).
public struct IPVSError: ErrnoCarrying, Hashable, Sendable, CustomStringConvertible {
    public var errno: Int32
    public var command: IPVSCommand
    /// The request, e.g. `IPVS_CMD_NEW_DEST 10.0.1.11:80 in [192.168.0.21]:tcp:80`.
    public var request: String
    /// The kernel's extended-ack text, when it sent one.
    public var kernelMessage: String?
    /// Index of the failed change in the list given to `apply` (nil outside `apply`).
    public var changeIndex: Int?
    /// How many changes `apply` was given.
    public var changeCount: Int?

    /// What ipvsadm prints for this errno after this command (`ipvs_strerror`).
    public var message: String { IPVSCodec.errorText(errno, command: command) }

    public var description: String {
        var s = ""
        if let i = changeIndex, let n = changeCount { s += "change \(i + 1) of \(n): " }
        s += "\(request): \(message)"
        if let k = kernelMessage { s += " (kernel: \(k))" }
        return s
    }
}

extension NetlinkError: ErrnoCarrying {
    public var errno: Int32 { code.rawValue }
}

/// The IPVS data plane over generic netlink (family "IPVS"), the engine keepalived and ipvsadm
/// use (reference/ipvs.md §4).
///
/// Every operation is one request/ACK (or dump) on a socket owned by this object; requests from
/// several tasks are serialised. The socket lives in the network namespace where `init` ran.
///
/// `apply` runs the changes in order and stops at the first failure, throwing `IPVSError` with
/// the failed change's index; IPVS has no transactions, so earlier changes stay applied (the
/// caller re-reads `currentState()` and diffs again). `.addService` also adds the destinations
/// it carries, last first, so the kernel's list (newest first) reads back in the given order.
public final class IPVSBackend: IPVSAdmBackend, Sendable {
    public let name = "ipvs"
    private let requester: any NetlinkRequesting
    /// The generic netlink id the kernel assigned to IPVS.
    public let familyID: UInt16

    /// Opens a generic netlink socket and resolves the "IPVS" family.
    /// - Throws: `NetlinkError` `.notFound` when the kernel has no IPVS (module not loaded),
    ///   `SystemError` when the socket cannot be opened.
    public init() throws {
        let genl = try GenericNetlinkClient(familyName: "IPVS")
        requester = genl.client
        familyID = genl.family.id
    }

    /// Uses `requester` (a fake kernel in tests) with an already known family id.
    public init(requester: any NetlinkRequesting, familyID: UInt16) {
        self.requester = requester
        self.familyID = familyID
    }

    // MARK: Synchronous operations (each one netlink round trip)

    private func run(_ m: NetlinkMessage, _ command: IPVSCommand, _ what: String) throws -> [NetlinkMessage] {
        let request = what.isEmpty ? "\(command)" : "\(command) \(what)"
        do {
            return try requester.request(m, name: request).filter { $0.type == familyID }
        } catch let e as NetlinkError {
            throw IPVSError(errno: e.code.rawValue, command: command, request: request, kernelMessage: e.kernelMessage)
        }
    }

    /// Every service with its destinations and counters (`ipvsadm -Ln`): one GET_SERVICE dump,
    /// then one GET_DEST dump per service. Services are sorted by key; destinations keep the
    /// kernel's order (newest first), which the schedulers follow.
    public func readState() throws -> DataPlaneState {
        var services: [VirtualService] = []
        for m in try run(IPVSCodec.dumpServices(family: familyID), .getService, "dump") {
            var s = try IPVSCodec.decodeService(m)
            do {
                s.destinations = try destinations(of: s.key)
            } catch let e as IPVSError where e.errno == ESRCH {
                continue  // deleted by someone else between the two dumps
            }
            services.append(s)
        }
        return DataPlaneState(services: services.sorted { $0.key < $1.key })
    }

    /// The destinations of one service (GET_DEST dump). ESRCH when the service does not exist.
    public func destinations(of key: ServiceKey) throws -> [Destination] {
        try run(IPVSCodec.dumpDestinations(of: key, family: familyID), .getDestination, key.description)
            .map { try IPVSCodec.decodeDestination($0, serviceFamily: key.family) }
    }

    /// One service by key (GET_SERVICE do), with destinations; nil when there is none.
    public func service(_ key: ServiceKey) throws -> VirtualService? {
        do {
            guard let m = try run(IPVSCodec.getService(key, family: familyID), .getService, key.description).first else { return nil }
            var s = try IPVSCodec.decodeService(m)
            s.destinations = try destinations(of: key)
            return s
        } catch let e as IPVSError where e.errno == ESRCH {
            return nil
        }
    }

    /// Executes one change (the kernel's semantics: EEXIST, ESRCH, ENOENT ... as ipvs.md §4.2).
    public func execute(_ change: DataPlaneChange) throws {
        switch change {
        case .addService(let s):
            _ = try run(IPVSCodec.newService(s, family: familyID), .newService, s.key.description)
            for d in s.destinations.reversed() { try execute(.addDestination(s.key, d)) }
        case .editService(let s):
            _ = try run(IPVSCodec.setService(s, family: familyID), .setService, s.key.description)
        case .deleteService(let k):
            _ = try run(IPVSCodec.deleteService(k, family: familyID), .deleteService, k.description)
        case .addDestination(let k, let d):
            _ = try run(IPVSCodec.newDestination(d, in: k, family: familyID), .newDestination, "\(d.address) in \(k)")
        case .editDestination(let k, let d):
            _ = try run(IPVSCodec.setDestination(d, in: k, family: familyID), .setDestination, "\(d.address) in \(k)")
        case .deleteDestination(let k, let a):
            _ = try run(IPVSCodec.deleteDestination(a, in: k, family: familyID), .deleteDestination, "\(a) in \(k)")
        }
    }

    /// Executes `changes` in order; see the type's discussion for failure semantics.
    public func execute(_ changes: [DataPlaneChange]) throws {
        for (i, c) in changes.enumerated() {
            do {
                try execute(c)
            } catch var e as IPVSError {
                e.changeIndex = i
                e.changeCount = changes.count
                throw e
            }
        }
    }

    /// `ipvsadm -C`.
    public func flushAll() throws { _ = try run(IPVSCodec.flush(family: familyID), .flush, "") }

    /// `ipvsadm -Z [service]`.
    public func zero(_ key: ServiceKey?) throws {
        _ = try run(IPVSCodec.zero(key, family: familyID), .zero, key?.description ?? "all")
    }

    /// `ipvsadm -L --timeout`.
    public func readTimeouts() throws -> Timeouts {
        guard let m = try run(IPVSCodec.getConfig(family: familyID), .getConfig, "").first else {
            throw NetlinkDecodingError(.unexpectedMessage, "IPVS_CMD_GET_CONFIG: no reply before the ACK")
        }
        return try IPVSCodec.decodeConfig(m)
    }

    /// `ipvsadm --set tcp tcpfin udp` (0 keeps a value).
    public func writeTimeouts(_ t: Timeouts) throws {
        _ = try run(IPVSCodec.setConfig(t, family: familyID), .setConfig, "\(t.tcp) \(t.tcpFin) \(t.udp)")
    }

    /// Version and connection-table size.
    public func readInfo() throws -> IPVSInfo {
        guard let m = try run(IPVSCodec.getInfo(family: familyID), .getInfo, "").first else {
            throw NetlinkDecodingError(.unexpectedMessage, "IPVS_CMD_GET_INFO: no reply before the ACK")
        }
        return try IPVSCodec.decodeInfo(m)
    }

    /// `ipvsadm -L --daemon`.
    public func readSyncDaemons() throws -> [SyncDaemon] {
        try run(IPVSCodec.dumpDaemons(family: familyID), .getDaemon, "dump").map { try IPVSCodec.decodeDaemon($0) }
    }

    /// `ipvsadm --start-daemon`.
    public func startDaemon(_ d: SyncDaemon) throws {
        _ = try run(IPVSCodec.newDaemon(d, family: familyID), .newDaemon, "\(d.role.name) mcast=\(d.interface) syncid=\(d.syncID)")
    }

    /// `ipvsadm --stop-daemon`.
    public func stopDaemon(_ role: SyncDaemon.Role) throws {
        _ = try run(IPVSCodec.deleteDaemon(role: role, family: familyID), .deleteDaemon, role.name)
    }

    /// The connection table as ipvsadm reads it: `/proc/net/ip_vs_conn` (and `ip_vs_conn_v6`
    /// where a kernel has it), in the namespace of the calling thread.
    public func readConnections() throws -> [ConnectionEntry] {
        var out: [ConnectionEntry] = []
        for path in ["/proc/net/ip_vs_conn", "/proc/net/ip_vs_conn_v6"] {
            guard let text = try readTextFile(path, missingOK: path.hasSuffix("_v6")) else { continue }
            out += try IPVSConnectionTable.parse(text, source: path)
        }
        return out
    }

    // MARK: LoadBalancerBackend / IPVSAdmBackend

    public func currentState() async throws -> DataPlaneState { try readState() }
    public func apply(_ changes: [DataPlaneChange]) async throws { try execute(changes) }
    public func flush() async throws { try flushAll() }
    public func zeroCounters(service: ServiceKey?) async throws { try zero(service) }
    public func timeouts() async throws -> Timeouts { try readTimeouts() }
    public func setTimeouts(_ timeouts: Timeouts) async throws { try writeTimeouts(timeouts) }
    public func syncDaemons() async throws -> [SyncDaemon] { try readSyncDaemons() }
    public func startSyncDaemon(_ daemon: SyncDaemon) async throws { try startDaemon(daemon) }
    public func stopSyncDaemon(_ role: SyncDaemon.Role) async throws { try stopDaemon(role) }
    public func info() async throws -> IPVSInfo { try readInfo() }
    public func connections() async throws -> [ConnectionEntry] { try readConnections() }
}

/// Reads a whole (proc) file; nil when it does not exist and `missingOK`.
func readTextFile(_ path: String, missingOK: Bool) throws -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 {
        if missingOK && errno == ENOENT { return nil }
        throw SystemError.last("open(\(path))")
    }
    defer { close(fd) }
    var data: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = try retryingSyscall("read(\(path))") { buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
        if n == 0 { break }
        data += buf.prefix(n)
    }
    return String(decoding: data, as: UTF8.self)
}
