#if canImport(Glibc)
import Glibc
#endif
import DataPlane
import Foundation
import IPVSAdm
import NetCore

/// What the netdev table records about itself, so a process that did not create it (`vigil
/// ipvsadm`, a restarted daemon) knows the interface and the timeouts: one rule in chain
/// `settings`, `return comment "vigil settings if eth0 tcp 900 tcpfin 120 udp 300"`. Nothing
/// jumps to that chain; it only carries the comment.
public struct NFTSettingsRecord: Sendable, Hashable {
    public static let chainName = "settings"
    /// "" when unknown (written as `-`).
    public var interface: String
    public var timeouts: Timeouts

    public init(interface: String, timeouts: Timeouts) {
        self.interface = interface
        self.timeouts = timeouts
    }

    public var comment: String {
        "vigil settings if \(interface.isEmpty ? "-" : interface) tcp \(timeouts.tcp) tcpfin \(timeouts.tcpFin) udp \(timeouts.udp)"
    }

    public var chain: NFTChainSpec { NFTChainSpec(name: Self.chainName, rules: ["return comment \"\(comment)\""]) }

    public static func parse(_ comment: String) -> NFTSettingsRecord? {
        let f = comment.split(separator: " ").map(String.init)
        guard f.count == 10, f[0] == "vigil", f[1] == "settings", f[2] == "if", f[4] == "tcp", f[6] == "tcpfin", f[8] == "udp",
            let tcp = UInt32(f[5]), let fin = UInt32(f[7]), let udp = UInt32(f[9])
        else { return nil }
        return NFTSettingsRecord(interface: f[3] == "-" ? "" : f[3], timeouts: Timeouts(tcp: tcp, tcpFin: fin, udp: udp))
    }
}

/// What an existing netdev table says about its engine (from `nft -j list table`).
public struct NFTTableFacts: Sendable, Hashable {
    /// The device of the `ingress` base chain (present while DR services exist).
    public var ingressDevice: String?
    public var record: NFTSettingsRecord?

    /// Reads the facts out of the `nftables` array of `nft -j list table netdev NAME`.
    static func parse(_ items: [[String: Any]]) -> NFTTableFacts {
        var facts = NFTTableFacts()
        for item in items {
            if let c = item["chain"] as? [String: Any], c["name"] as? String == "ingress" {
                if let d = c["dev"] as? String {
                    facts.ingressDevice = d
                } else if let ds = c["dev"] as? [String], let d = ds.first {
                    facts.ingressDevice = d
                }
            } else if let r = item["rule"] as? [String: Any], r["chain"] as? String == NFTSettingsRecord.chainName,
                let comment = r["comment"] as? String, let rec = NFTSettingsRecord.parse(comment)
            {
                facts.record = rec
            }
        }
        return facts
    }
}

/// `vigil ipvsadm` has nothing to program DR with: no table names an interface and the
/// environment does not either.
public struct NFTNoInterfaceError: Error, Hashable, Sendable, CustomStringConvertible {
    public var tableName: String
    public var description: String {
        "nftables engine: no interface for the virtual servers: table netdev \(tableName) has no ingress chain "
            + "(no `vigil run` has created it) and VIGIL_NFT_INTERFACE is not set; set VIGIL_NFT_INTERFACE=<VIP interface>"
    }
}

/// An IPVS operation the nftables engine has no equivalent of. Carries the errno ipvsadm
/// shows for it and says why.
public struct NFTUnsupportedOperation: ErrnoExplaining, Hashable, Sendable, CustomStringConvertible {
    public var errno: Int32
    public var explanation: String
    public var description: String { "nftables: \(explanation)" }
}

/// A persistence-map entry (IPVS's template connection).
struct NFTPersistenceEntry: Sendable, Hashable {
    var service: ServiceKey
    var client: IPAddress
    var destination: SocketAddress?
    var expires: Int
}

/// The nftables engine as ipvsadm sees it (`vigil ipvsadm` on a kernel without IPVS).
///
/// A thin adapter over `NFTablesBackend` rather than a conformance of the actor itself: the
/// actor's `connections()` already returns the engine's own entry type, and ipvsadm wants the
/// kernel's conventions on top of the engine (errnos, destinations listed newest first).
///
/// - `currentState()` lists destinations newest first, as IPVS does (the table keeps them in
///   the order they were added).
/// - `apply` runs the kernel's argument checks first (`KernelChecks`: ENOENT, EINVAL, ERANGE),
///   then the engine; existence errors are `DataPlaneModelError` (EEXIST, ESRCH, ENOENT).
/// - `flush` deletes every service with its chains and maps; the table, the `settings` record
///   and the interface stay.
/// - `zeroCounters` resets the service's named counters (`reset counter`).
/// - timeouts live in the table's `settings` record; `setTimeouts` rewrites it and every
///   service's conn-map `update` rule (the maps are not re-created, entries keep their expiry
///   until their next packet).
/// - sync daemons: none run; starting one fails with ENOSYS and an explanation.
/// - `info()`: version 1.2.1, size = the conn-map size (`connectionMapSize`).
/// - `connections()`: the DR conn-map and persistence-map entries, and the NAT services'
///   conntrack entries (read over ctnetlink, with IPVS's TCP state names and conntrack's
///   remaining timeout), as `/proc/net/ip_vs_conn` lines.
public struct NFTablesIPVSAdmBackend: IPVSAdmBackend {
    public let engine: NFTablesBackend
    public var name: String { "nftables" }

    public init(engine: NFTablesBackend) { self.engine = engine }

    /// The engine for `vigil ipvsadm`: table `VIGIL_NFT_TABLE` (default `vigil`); interface from
    /// the table's ingress chain, else its settings record, else `VIGIL_NFT_INTERFACE`, else
    /// unknown (listing works; adding fails with `NFTNoInterfaceError`); timeouts from the record.
    public static func open(environment: [String: String], commandPrefix: [String] = []) throws -> NFTablesIPVSAdmBackend {
        let table = environment["VIGIL_NFT_TABLE"].flatMap { $0.isEmpty ? nil : $0 } ?? "vigil"
        let runner = NFTCommandRunner(prefix: commandPrefix)
        var facts = NFTTableFacts()
        do {
            let out = try runner.run(["nft", "-j", "list", "table", "netdev", table])
            if let obj = try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any],
                let items = obj["nftables"] as? [[String: Any]]
            {
                facts = NFTTableFacts.parse(items)
            }
        } catch {
            if !error.message.contains("No such file or directory") { throw error }
        }
        let env = environment["VIGIL_NFT_INTERFACE"].flatMap { $0.isEmpty ? nil : $0 }
        let iface = facts.ingressDevice ?? facts.record.flatMap { $0.interface.isEmpty ? nil : $0.interface } ?? env ?? ""
        let settings = NFTEngineSettings(tableName: table, interface: iface, timeouts: facts.record?.timeouts ?? Timeouts())
        return NFTablesIPVSAdmBackend(engine: NFTablesBackend(settings: settings, commandPrefix: commandPrefix))
    }

    private func requireInterface() async throws {
        let s = await engine.settings
        if s.interface.isEmpty { throw NFTNoInterfaceError(tableName: s.tableName) }
    }

    public func currentState() async throws -> DataPlaneState {
        var s = try await engine.currentState()
        for i in s.services.indices { s.services[i].destinations.reverse() }
        return s
    }

    public func apply(_ changes: [DataPlaneChange]) async throws {
        for c in changes { try KernelChecks.check(c) }
        if changes.contains(where: {
            switch $0 {
            case .deleteService, .deleteDestination: false
            default: true
            }
        }) {
            // The existence errors come first, as from the kernel.
            _ = try DataPlane.apply(changes, to: try await engine.currentState())
            try await requireInterface()
        }
        try await engine.apply(changes)
    }

    public func flush() async throws { try await engine.deleteAllServices() }

    public func zeroCounters(service: ServiceKey?) async throws { try await engine.resetCounters(of: service) }

    public func timeouts() async throws -> Timeouts { try await engine.recordedTimeouts() }

    public func setTimeouts(_ timeouts: Timeouts) async throws {
        try await requireInterface()
        try await engine.updateTimeouts(timeouts)
    }

    public func syncDaemons() async throws -> [SyncDaemon] { [] }

    public func startSyncDaemon(_ daemon: SyncDaemon) async throws {
        throw NFTUnsupportedOperation(
            errno: ENOSYS,
            explanation: "the nftables engine has no connection-sync daemon; DR conn maps are derived identically on every director "
                + "from the same configuration, NAT state needs conntrackd")
    }

    public func stopSyncDaemon(_ role: SyncDaemon.Role) async throws { throw KernelError(ESRCH) }

    public func info() async throws -> IPVSInfo {
        IPVSInfo(version: 0x01_02_01, connectionTableSize: UInt32(clamping: await engine.settings.connectionMapSize))
    }

    public func connections() async throws -> [ConnectionEntry] {
        let (conns, templates) = try await engine.connectionAndPersistenceEntries()
        return Self.ipvsConnections(conns, templates: templates)
    }

    /// Conn-map entries as IPVS lists them: TCP (and SCTP) `ESTABLISHED`, UDP `UDP`; persistence
    /// entries as templates (client port 0, state `NONE`). Fwmark services show protocol `IP` and
    /// the mark as virtual address (the map does not keep the packet's protocol and address).
    /// Entries whose server is gone (collected) are skipped: their packets are dropped.
    static func ipvsConnections(_ conns: [NFTConnectionEntry], templates: [NFTPersistenceEntry]) -> [ConnectionEntry] {
        func virtual(_ key: ServiceKey) -> (String, SocketAddress, L4Protocol?) {
            switch key {
            case .address(let p, let a): return (p.description.uppercased(), a, p)
            case .fwmark(let m, let f):
                let a: IPAddress = f == .inet6 ? .v6(IPv6Address(high: 0, low: UInt64(m))) : .v4(IPv4Address(m))
                return ("IP", SocketAddress(address: a, port: 0), nil)
            }
        }
        var out: [ConnectionEntry] = []
        for c in conns {
            guard let d = c.destination else { continue }
            let (proto, v, p) = virtual(c.service)
            // NAT entries carry what conntrack knows: the state, and the packet's protocol and
            // VIP:port also for fwmark services.
            out.append(ConnectionEntry(
                protocolName: c.protocolName ?? proto, client: c.client, virtual: c.virtual ?? v, destination: c.server ?? d,
                state: c.state ?? (p == .udp ? "UDP" : "ESTABLISHED"), expires: UInt32(clamping: max(0, c.expires))))
        }
        for t in templates {
            guard let d = t.destination else { continue }
            let (proto, v, _) = virtual(t.service)
            out.append(ConnectionEntry(
                protocolName: proto, client: SocketAddress(address: t.client, port: 0), virtual: v,
                destination: SocketAddress(address: d.address, port: v.port == 0 ? 0 : d.port), state: "NONE",
                expires: UInt32(clamping: max(0, t.expires))))
        }
        return out
    }
}

// MARK: - Engine operations ipvsadm needs

extension NFTablesBackend {
    /// IPVS_CMD_FLUSH: every service goes, with its chains, maps and counters.
    func deleteAllServices() throws {
        try loadIfNeeded()
        guard let s = state, !s.services.isEmpty || !draining.isEmpty else { return }
        try program(DataPlaneState(), base: s)
    }

    /// IPVS_CMD_ZERO: resets the named counters of one service (ESRCH if absent) or of all.
    func resetCounters(of key: ServiceKey?) throws {
        let rb = try readBack()
        let prefix: String
        if let key {
            guard rb.state[key] != nil else { throw KernelError(ESRCH) }
            prefix = "c_\(serviceID(key))"
        } else {
            prefix = "c_"
        }
        var lines: [String] = []
        for (family, prev) in [("netdev", rb.netdev), ("inet", rb.inet)] {
            guard case .names(let counters, _, _) = prev else { continue }
            for c in counters.sorted() where c.hasPrefix(prefix) {
                lines.append("reset counter \(family) \(settings.tableName) \(c)")
            }
        }
        if !lines.isEmpty { _ = try runner.run(["nft", "-f", "-"], input: lines.joined(separator: "\n") + "\n") }
    }

    /// The timeouts the table records (else this engine's settings).
    func recordedTimeouts() throws -> Timeouts {
        guard let items = try listTable("netdev") else { return settings.timeouts }
        return NFTTableFacts.parse(items).record?.timeouts ?? settings.timeouts
    }

    /// IPVS_CMD_SET_CONFIG: a 0 field keeps that timeout. Rewrites the settings record and the
    /// conn-map `update` rules in one transaction.
    func updateTimeouts(_ t: Timeouts) throws {
        var new = try recordedTimeouts()
        if t.tcp != 0 { new.tcp = t.tcp }
        if t.tcpFin != 0 { new.tcpFin = t.tcpFin }
        if t.udp != 0 { new.udp = t.udp }
        try loadIfNeeded()
        let before = settings.timeouts
        settings.timeouts = new
        do {
            let s = state ?? DataPlaneState()
            try program(s, base: s)
        } catch {
            settings.timeouts = before
            throw error
        }
    }

    /// Conn-map entries and persistence-map entries of every DR service, conntrack entries of
    /// every NAT service.
    func connectionAndPersistenceEntries() throws -> ([NFTConnectionEntry], [NFTPersistenceEntry]) {
        let rb = try readBack()
        let conns = try readConnections(rb.state.services, marks: rb.marks) + readNATConnections(rb.state.services)
        var templates: [NFTPersistenceEntry] = []
        for svc in rb.state.services where svc.flags.contains(.persistent) && !svc.destinations.contains(where: { $0.forwarding == .masquerade }) {
            guard let elements = try listMapElements("pers_\(serviceID(svc.key))") else { continue }
            let byMark = Dictionary((rb.marks[svc.key] ?? [:]).map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            for e in elements {
                guard let a = (e.key as? String).flatMap({ IPAddress($0) }), let mark = (e.data as? NSNumber)?.uint32Value else { continue }
                templates.append(NFTPersistenceEntry(service: svc.key, client: a, destination: byMark[mark], expires: e.expires))
            }
        }
        return (conns, templates)
    }
}
