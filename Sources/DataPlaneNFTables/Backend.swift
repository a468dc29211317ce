import DataPlane
import Foundation
import NetCore
import Netlink
import SysCore

/// One entry of the connection map, as `ipvsadm -Lnc` lists it.
public struct NFTConnectionEntry: Sendable, Hashable {
    public var service: ServiceKey
    public var client: SocketAddress
    /// nil when the mark belongs to no known server (removed and garbage-collected).
    public var destination: SocketAddress?
    /// Seconds until the entry expires.
    public var expires: Int
    /// NAT entries (from conntrack): IPVS's state name ("ESTABLISHED", "TIME_WAIT", "UDP", ...).
    /// nil for DR conn-map entries, which have no state.
    public var state: String? = nil
    /// NAT entries: the packet's protocol ("TCP", "UDP", "SCTP"), also for fwmark services.
    public var protocolName: String? = nil
    /// NAT entries: the address the client connected to (for fwmark services the real VIP:port).
    public var virtual: SocketAddress? = nil
    /// NAT entries: the server address and port the connection was translated to.
    public var server: SocketAddress? = nil

    /// Counted as ActiveConn, as IPVS does: NAT TCP entries in ESTABLISHED; DR conn-map entries
    /// of non-UDP services (the map keeps no TCP state). Everything else is InActConn.
    public var isActive: Bool {
        if let state { return state == "ESTABLISHED" && protocolName != "UDP" }
        if case .address(.udp, _) = service { return false }
        return true
    }
}

/// Runs `nft`/`ip`/`ping`, optionally inside a network namespace (`["ip", "netns", "exec", ns]`).
public struct NFTCommandRunner: Sendable {
    public var prefix: [String]

    public init(prefix: [String] = []) { self.prefix = prefix }

    public func run(_ args: [String], input: String? = nil) throws(NFTEngineError) -> String {
        let full = prefix + args
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = full
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input == nil ? FileHandle.nullDevice : inp
        do { try p.run() } catch {
            throw NFTEngineError(.command, "\(SystemError(call: "posix_spawn(\(full.joined(separator: " ")))", errno: ENOENT))")
        }
        // Read stdout/stderr on their own threads so large outputs never block the child.
        nonisolated(unsafe) var o = Data(), e = Data()
        let g = DispatchGroup()
        g.enter()
        DispatchQueue.global().async { o = out.fileHandleForReading.readDataToEndOfFile(); g.leave() }
        g.enter()
        DispatchQueue.global().async { e = err.fileHandleForReading.readDataToEndOfFile(); g.leave() }
        if let input {
            inp.fileHandleForWriting.write(Data(input.utf8))
            try? inp.fileHandleForWriting.close()
        }
        p.waitUntilExit()
        g.wait()
        guard p.terminationStatus == 0 else {
            let msg = String(decoding: e, as: UTF8.self).split(separator: "\n").prefix(6).joined(separator: " | ")
            throw NFTEngineError(.command, "\(full.joined(separator: " ")) exited \(p.terminationStatus): \(msg)")
        }
        return String(decoding: o, as: UTF8.self)
    }
}

/// An IPVS-like load balancer on nftables (LVS-DR via `netdev` ingress + `fwd`, NAT via `inet`
/// dnat). See docs/nftables-engine.md for the ruleset and how it differs from IPVS.
///
/// Every `apply` is one `nft -f -` transaction that only replaces chain and map contents, so
/// established flows survive updates; the connection maps are never re-created.
public actor NFTablesBackend: LoadBalancerBackend {
    public nonisolated let name = "nftables"
    /// Mutable only through `setTimeouts` (ipvsadm `--set`).
    public internal(set) var settings: NFTEngineSettings
    let runner: NFTCommandRunner
    let staticMACs: [IPAddress: MACAddress]
    var directorMAC: MACAddress?

    // What the last successful transaction programmed (nil until the first read-back).
    var state: DataPlaneState?
    var previousNetdev: NFTPrevious = .absent
    var previousInet: NFTPrevious = .absent
    var draining: [DrainingServer] = []
    var marks: [ServiceKey: [SocketAddress: UInt32]] = [:]
    var lastWeights: [ServiceKey: [SocketAddress: Int32]] = [:]
    var slotOrders: [ServiceKey: [UInt32]] = [:]
    var macs: [IPAddress: MACAddress] = [:]

    /// - Parameters:
    ///   - settings: table name, interface, timeouts, seed, Maglev size.
    ///   - commandPrefix: prepended to every command, e.g. `["ip", "netns", "exec", "ns1"]`.
    ///   - staticMACs: real-server MACs to use instead of the neighbour table.
    ///   - directorMAC: source MAC for DR frames; nil reads the interface's address.
    public init(
        settings: NFTEngineSettings, commandPrefix: [String] = [], staticMACs: [IPAddress: MACAddress] = [:],
        directorMAC: MACAddress? = nil
    ) {
        self.settings = settings
        self.runner = NFTCommandRunner(prefix: commandPrefix)
        self.staticMACs = staticMACs
        self.directorMAC = directorMAC
    }

    /// True when the running kernel can do IP-in-IP (needed for TUN forwarding).
    public nonisolated static func kernelHasIPIP() -> Bool {
        FileManager.default.fileExists(atPath: "/sys/module/ipip")
    }

    // MARK: read-back

    struct ReadBack {
        var state = DataPlaneState()
        var draining: [DrainingServer] = []
        var marks: [ServiceKey: [SocketAddress: UInt32]] = [:]
        var lastWeights: [ServiceKey: [SocketAddress: Int32]] = [:]
        var netdev: NFTPrevious = .absent
        var inet: NFTPrevious = .absent
        var sids: [String: ServiceKey] = [:]
    }

    func listTable(_ family: String) throws(NFTEngineError) -> [[String: Any]]? {
        let out: String
        do {
            out = try runner.run(["nft", "-j", "list", "table", family, settings.tableName])
        } catch {
            if error.message.contains("No such file or directory") { return nil }
            throw error
        }
        guard let obj = try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any],
            let items = obj["nftables"] as? [[String: Any]]
        else { throw NFTEngineError(.readBack, "nft -j list table \(family) \(settings.tableName): not the expected JSON") }
        return items
    }

    func readBack() throws(NFTEngineError) -> ReadBack {
        var rb = ReadBack()
        var counters: [String: (UInt64, UInt64)] = [:]
        var services: [String: VirtualService] = [:]
        var order: [String] = []
        var pendingDrains: [(String, Destination, UInt32, MACAddress?)] = []
        var markBySid: [String: [SocketAddress: UInt32]] = [:]
        var lwBySid: [String: [SocketAddress: Int32]] = [:]
        for family in ["netdev", "inet"] {
            guard let items = try listTable(family) else { continue }
            var cn = Set<String>(), mp = Set<String>(), ch = Set<String>()
            for item in items {
                if let c = item["counter"] as? [String: Any], let n = c["name"] as? String {
                    cn.insert(n)
                    counters[n] = ((c["packets"] as? NSNumber)?.uint64Value ?? 0, (c["bytes"] as? NSNumber)?.uint64Value ?? 0)
                } else if let m = item["map"] as? [String: Any], let n = m["name"] as? String {
                    mp.insert(n)
                } else if let c = item["chain"] as? [String: Any], let n = c["name"] as? String {
                    ch.insert(n)
                }
            }
            let prev = NFTPrevious.names(counters: cn, maps: mp, chains: ch)
            if family == "netdev" { rb.netdev = prev } else { rb.inet = prev }
            for item in items {
                guard let r = item["rule"] as? [String: Any], let chain = r["chain"] as? String, let comment = r["comment"] as? String
                else { continue }
                if var svc = Comment.parseService(comment) {
                    let sid = chain.split(separator: "_").last.map(String.init) ?? ""
                    svc.counters.inPackets = counters["c_\(sid)"]?.0 ?? 0
                    svc.counters.inBytes = counters["c_\(sid)"]?.1 ?? 0
                    svc.counters.connections = counters["c_\(sid)_conn"]?.0 ?? 0
                    if services[sid] == nil { order.append(sid) }
                    let dests = services[sid]?.destinations ?? []
                    svc.destinations = dests
                    services[sid] = svc
                    rb.sids[sid] = svc.key
                } else if let srv = Comment.parseServer(comment) {
                    // The counter name c_<sid>_<mark> ties the server to its service and mark.
                    guard let cname = Self.counterName(in: r) else { continue }
                    let parts = cname.split(separator: "_")
                    guard parts.count == 3, let mark = UInt32(parts[2], radix: 16) else { continue }
                    let sid = String(parts[1])
                    var d = srv.destination
                    let c = counters[cname] ?? (0, 0)
                    d.counters.inPackets = c.0
                    d.counters.inBytes = c.1
                    d.counters.connections = counters["\(cname)_conn"]?.0 ?? 0
                    d.counters.outPackets = counters["\(cname)_out"]?.0 ?? 0
                    d.counters.outBytes = counters["\(cname)_out"]?.1 ?? 0
                    if services[sid] == nil {
                        order.append(sid)
                        services[sid] = VirtualService(key: .fwmark(0, .inet))  // filled when its svc comment arrives
                    }
                    if srv.draining {
                        pendingDrains.append((sid, d, mark, srv.mac))
                    } else {
                        services[sid]!.destinations.append(d)
                    }
                    markBySid[sid, default: [:]][d.address] = mark
                    lwBySid[sid, default: [:]][d.address] = srv.lastWeight
                    if let mac = srv.mac { macs[d.address.address] = mac }
                }
            }
        }
        rb.marks = [:]
        for sid in order {
            guard let svc = services[sid], let key = rb.sids[sid] else { continue }
            var s = svc
            if s.key != key { s.key = key }
            // Service totals are the sums of their servers' counters (NAT: forward path; DR:
            // the server chains, draining ones included), unless an older ruleset had c_<sid>.
            if s.destinations.contains(where: { $0.forwarding == .masquerade }) || counters["c_\(sid)"] == nil {
                let drains = pendingDrains.filter { $0.0 == sid }.map(\.1)
                s.counters.inPackets = (s.destinations + drains).reduce(0) { $0 + $1.counters.inPackets }
                s.counters.inBytes = (s.destinations + drains).reduce(0) { $0 + $1.counters.inBytes }
                s.counters.outPackets = s.destinations.reduce(0) { $0 + $1.counters.outPackets }
                s.counters.outBytes = s.destinations.reduce(0) { $0 + $1.counters.outBytes }
            }
            rb.state.services.append(s)
            rb.marks[key] = markBySid[sid] ?? [:]
            rb.lastWeights[key] = lwBySid[sid] ?? [:]
        }
        for (sid, d, mark, mac) in pendingDrains {
            guard let key = rb.sids[sid] else { continue }
            rb.draining.append(DrainingServer(service: key, destination: d, mark: mark, mac: mac))
        }
        return rb
    }

    static func counterName(in rule: [String: Any]) -> String? {
        guard let expr = rule["expr"] as? [[String: Any]] else { return nil }
        for e in expr { if let n = e["counter"] as? String { return n } }
        return nil
    }

    /// One element of a map as `nft -j list map` prints it: the key (a plain value, or an
    /// `{"concat": [...]}` object), the mapped data, and the seconds left before it expires (0 for
    /// an element without a timeout).
    struct MapElement {
        var key: Any
        var data: Any
        var expires: Int
    }

    /// The elements of `nft -j list map` output, or nil when the text is not that JSON.
    static func mapElements(json text: String) -> [MapElement]? {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let items = obj["nftables"] as? [[String: Any]]
        else { return nil }
        var out: [MapElement] = []
        for item in items {
            guard let m = item["map"] as? [String: Any], let elems = m["elem"] as? [[Any]] else { continue }
            for pair in elems where pair.count == 2 {
                var key = pair[0]
                var expires = 0
                // An element with a timeout comes wrapped: {"elem": {"val": KEY, "expires": N, ...}}.
                if let w = key as? [String: Any], let e = w["elem"] as? [String: Any] {
                    key = e["val"] as Any
                    expires = (e["expires"] as? NSNumber)?.intValue ?? 0
                }
                out.append(MapElement(key: key, data: pair[1], expires: expires))
            }
        }
        return out
    }

    /// The elements of this table's map `name`; nil when nft cannot list it (e.g. it does not exist).
    func listMapElements(_ name: String) throws(NFTEngineError) -> [MapElement]? {
        guard let text = try? runner.run(["nft", "-j", "list", "map", "netdev", settings.tableName, name]) else { return nil }
        guard let elements = Self.mapElements(json: text) else {
            throw NFTEngineError(.readBack, "nft -j list map netdev \(settings.tableName) \(name): not the expected JSON")
        }
        return elements
    }

    /// Connection-map entries per service (DR services only; NAT flows live in conntrack).
    func readConnections(_ services: [VirtualService], marks: [ServiceKey: [SocketAddress: UInt32]]) throws(NFTEngineError) -> [NFTConnectionEntry] {
        var out: [NFTConnectionEntry] = []
        for svc in services where !svc.destinations.contains(where: { $0.forwarding == .masquerade }) {
            guard let elements = try listMapElements("conn_\(serviceID(svc.key))") else { continue }
            let byMark = Dictionary((marks[svc.key] ?? [:]).map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            for e in elements {
                guard let k = e.key as? [String: Any], let concat = k["concat"] as? [Any], concat.count == 2,
                    let port = (concat[0] as? NSNumber)?.uint16Value, let a = (concat[1] as? String).flatMap({ IPAddress($0) }),
                    let mark = (e.data as? NSNumber)?.uint32Value
                else { continue }
                out.append(NFTConnectionEntry(
                    service: svc.key, client: SocketAddress(address: a, port: port), destination: byMark[mark], expires: e.expires))
            }
        }
        return out
    }

    /// Conntrack entries of the NAT services (none read when there is no NAT service).
    ///
    /// The ctnetlink socket is opened in the namespace the commands run in: no prefix is this
    /// process's namespace, `ip netns exec NAME` is `/run/netns/NAME` (`withNetworkNamespace`).
    func readNATConnections(_ services: [VirtualService]) throws -> [NFTConnectionEntry] {
        let nat = services.filter { $0.destinations.contains { $0.forwarding == .masquerade } }
        guard !nat.isEmpty else { return [] }
        let p = runner.prefix
        // One dump per service, filtered by the kernel on its VIP:port (or fwmark), so a big
        // conntrack table of unrelated flows costs kernel time only.
        func dump() throws -> [NFTConnectionEntry] {
            let ct = try ConntrackNetlink()
            return try nat.flatMap { svc in
                let filter: ConntrackDumpFilter
                switch svc.key {
                case .address(let proto, let vip):
                    filter = .original(
                        destination: vip.address, protocolNumber: UInt8(proto.rawValue), destinationPort: vip.port == 0 ? nil : vip.port)
                case .fwmark(let m, _): filter = .mark(m)
                }
                let entries: [ConntrackEntry]
                do {
                    entries = try ct.entries(family: svc.key.family, filter: filter)
                } catch let e as NetlinkError where e.code == .invalidArgument || e.code == .notSupported {
                    // A kernel that refuses the filter: dump everything and match here.
                    entries = try ct.entries(family: svc.key.family)
                }
                return NATConnections.match(entries, services: [svc])
            }
        }
        if p.isEmpty {
            return try dump()
        } else if p.count == 4, Array(p[0..<3]) == ["ip", "netns", "exec"] {
            return try withNetworkNamespace(p[3]) { try dump() }
        } else {
            throw NFTEngineError(
                .unsupported, "conntrack: cannot open ctnetlink for command prefix `\(p.joined(separator: " "))` (only `ip netns exec NAME` is understood)")
        }
    }

    /// Reads back services, servers, counters and connection counts from the kernel: DR from
    /// the conn maps, NAT from conntrack (ActiveConn = ESTABLISHED, InActConn = other TCP states
    /// and UDP, as IPVS counts). When conntrack cannot be read, NAT counts stay 0 rather than
    /// failing the read-back the control loop depends on; `connections()` reports the error.
    public func currentState() async throws -> DataPlaneState {
        let rb = try readBack()
        var s = rb.state
        let conns = try readConnections(s.services, marks: rb.marks) + ((try? readNATConnections(s.services)) ?? [])
        for i in s.services.indices {
            for j in s.services[i].destinations.indices {
                let a = s.services[i].destinations[j].address
                let mine = conns.filter { $0.service == s.services[i].key && $0.destination == a }
                let active = UInt32(mine.filter(\.isActive).count)
                s.services[i].destinations[j].activeConnections = active
                s.services[i].destinations[j].inactiveConnections = UInt32(mine.count) - active
            }
        }
        return s
    }

    /// `ipvsadm -Lnc`: every DR connection-map entry and every NAT conntrack entry with its
    /// client, server and remaining seconds.
    public func connections() async throws -> [NFTConnectionEntry] {
        let rb = try readBack()
        return try readConnections(rb.state.services, marks: rb.marks) + readNATConnections(rb.state.services)
    }

    // MARK: apply

    func loadIfNeeded() throws(NFTEngineError) {
        guard state == nil else { return }
        let rb = try readBack()
        state = rb.state
        previousNetdev = rb.netdev
        previousInet = rb.inet
        draining = rb.draining
        marks = rb.marks
        lastWeights = rb.lastWeights
    }

    func resolveMACs(for s: DataPlaneState) throws(NFTEngineError) {
        if directorMAC == nil {
            let out = try runner.run(["ip", "-j", "link", "show", "dev", settings.interface])
            if let arr = try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]],
                let a = arr.first?["address"] as? String, let mac = MACAddress(a)
            {
                directorMAC = mac
            } else {
                throw NFTEngineError(.macUnresolved, "interface \(settings.interface): no link-layer address")
            }
        }
        let wanted = Set(s.services.flatMap { $0.destinations.filter { $0.forwarding == .directRoute }.map(\.address.address) })
        var missing = wanted.filter { staticMACs[$0] == nil && macs[$0] == nil }
        for a in missing { if let m = staticMACs[a] { macs[a] = m } }
        for (a, m) in staticMACs { macs[a] = m }
        missing = wanted.filter { macs[$0] == nil }
        guard !missing.isEmpty else { return }
        func readNeigh() throws(NFTEngineError) {
            let out = try runner.run(["ip", "-j", "neigh", "show", "dev", settings.interface])
            guard let arr = try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]] else { return }
            for e in arr {
                guard let d = (e["dst"] as? String).flatMap({ IPAddress($0) }), let l = (e["lladdr"] as? String).flatMap({ MACAddress($0) })
                else { continue }
                let st = (e["state"] as? [String]) ?? []
                if st.contains("FAILED") || st.contains("INCOMPLETE") { continue }
                macs[d] = l
            }
        }
        try readNeigh()
        missing = wanted.filter { macs[$0] == nil }
        guard !missing.isEmpty else { return }
        // One probe each makes the kernel resolve the neighbour (ARP / ND).
        for a in missing.sorted() {
            _ = try? runner.run(["ping", a.family == .inet ? "-4" : "-6", "-c", "1", "-W", "1", "-I", settings.interface, "\(a)"])
        }
        try readNeigh()
    }

    /// Applies the changes as one `nft -f -` transaction.
    public func apply(_ changes: [DataPlaneChange]) async throws {
        // Refuse what cannot be forwarded before touching the kernel.
        for c in changes {
            switch c {
            case .addService(let s): _ = try NFTRuleset.forwarding(of: s, ipipAvailable: Self.kernelHasIPIP())
            case .addDestination(let k, let d), .editDestination(let k, let d):
                _ = try NFTRuleset.forwarding(of: VirtualService(key: k, destinations: [d]), ipipAvailable: Self.kernelHasIPIP())
            default: break
            }
        }
        try loadIfNeeded()
        let base = state ?? DataPlaneState()
        let desired = try DataPlane.apply(changes, to: base)
        try program(desired, base: base)
    }

    /// Connection counts from the last `refreshConnectionSchedulers()`.
    var lastCounts: [ServiceKey: [UInt32: UInt32]] = [:]

    func program(_ desired: DataPlaneState, base: DataPlaneState, counts: [ServiceKey: [UInt32: UInt32]]? = nil) throws(NFTEngineError) {
        let counts = counts ?? lastCounts
        // Servers leaving a kept DR service drain: their chain and dispatch entry stay.
        var drains = draining.filter { d in
            guard let svc = desired[d.service] else { return false }
            return !svc.destinations.contains { $0.address == d.destination.address }
        }
        for old in base.services {
            guard let new = desired[old.key] else { continue }
            for d in old.destinations where d.forwarding == .directRoute && !new.destinations.contains(where: { $0.address == d.address }) {
                guard let m = marks[old.key]?[d.address], !drains.contains(where: { $0.service == old.key && $0.mark == m }) else { continue }
                var dd = d
                dd.counters = Counters()
                drains.append(DrainingServer(service: old.key, destination: dd, mark: m, mac: macs[d.address.address]))
            }
        }
        for svc in desired.services { _ = try NFTRuleset.forwarding(of: svc, ipipAvailable: Self.kernelHasIPIP()) }
        try resolveMACs(for: desired)
        let facts = NFTFacts(
            directorMAC: directorMAC!, macs: macs, activeCounts: counts, marks: marks, lastWeights: lastWeights,
            slotOrders: slotOrders)
        var rs = try NFTRuleset(
            state: desired, draining: drains, facts: facts, settings: settings, ipipAvailable: Self.kernelHasIPIP())
        // The table records its interface and timeouts so a later process (`vigil ipvsadm`) reads them back.
        rs.netdev.chains.append(NFTSettingsRecord(interface: settings.interface, timeouts: settings.timeouts).chain)
        var script = ""
        if !(rs.netdev.isEmpty && previousNetdev == .absent) {
            script += NFTTransaction.script(from: previousNetdev, to: rs.netdev)
        }
        if !(rs.inet.isEmpty && previousInet == .absent) {
            script += NFTTransaction.script(from: previousInet, to: rs.inet)
        }
        if !script.isEmpty {
            do { _ = try runner.run(["nft", "-f", "-"], input: script) } catch {
                // The table may have changed under us (`vigil ipvsadm`, `nft` by hand): read it
                // back before the next transaction instead of building on a stale view.
                state = nil
                throw error
            }
        }
        var clean = desired
        for i in clean.services.indices {
            clean.services[i].counters = Counters()
            for j in clean.services[i].destinations.indices {
                clean.services[i].destinations[j].counters = Counters()
            }
        }
        state = clean
        lastCounts = counts
        draining = drains
        marks = rs.marks
        lastWeights = rs.lastWeights
        slotOrders = rs.slotOrders
        previousNetdev = rs.netdev.isEmpty && previousNetdev == .absent ? .absent : .known(rs.netdev)
        previousInet = rs.inet.isEmpty && previousInet == .absent ? .absent : .known(rs.inet)
    }

    /// The script `apply` would run (for `--dry-run` style output and debugging).
    public func lastProgrammed() -> (netdev: NFTTableSpec?, inet: NFTTableSpec?) {
        func spec(_ p: NFTPrevious) -> NFTTableSpec? { if case .known(let s) = p { return s } else { return nil } }
        return (spec(previousNetdev), spec(previousInet))
    }

    /// Recomputes the slot maps of lc/wlc/sed/nq/fo/ovf services (and upper thresholds) from the
    /// live connection-map counts. Call it periodically (e.g. every second).
    public func refreshConnectionSchedulers() async throws {
        try loadIfNeeded()
        guard let s = state else { return }
        // NAT: only ActiveConn entries count (TIME_WAIT leftovers of short flows would skew lc).
        let nat = ((try? readNATConnections(s.services)) ?? []).filter(\.isActive)
        let conns = try readConnections(s.services, marks: marks) + nat
        var counts: [ServiceKey: [UInt32: UInt32]] = [:]
        for c in conns {
            guard let d = c.destination, let m = marks[c.service]?[d] else { continue }
            counts[c.service, default: [:]][m, default: 0] += 1
        }
        try program(s, base: s, counts: counts)
    }

    /// Deletes the chains of removed servers once no connection-map entry points at them any more
    /// (persistence entries included). Returns how many were collected.
    @discardableResult
    public func collectGarbage() async throws -> Int {
        try loadIfNeeded()
        guard let s = state, !draining.isEmpty else { return 0 }
        // Marks still named by a connection or persistence entry, per service id.
        var live: [String: Set<UInt32>] = [:]
        for svc in s.services {
            let sid = serviceID(svc.key)
            for map in ["conn_\(sid)", "pers_\(sid)"] {
                for e in try listMapElements(map) ?? [] {
                    if let mark = (e.data as? NSNumber)?.uint32Value { live[sid, default: []].insert(mark) }
                }
            }
        }
        let before = draining.count
        let keep = draining.filter { live[serviceID($0.service)]?.contains($0.mark) ?? false }
        guard keep.count != before else { return 0 }
        draining = keep
        try program(s, base: s)
        return before - keep.count
    }
}
