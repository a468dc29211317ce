import DataPlane
import NetCore

/// Errors of the nftables engine. Each names what failed and where.
public struct NFTEngineError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// TUN needs the ipip module, which the running kernel lacks.
        case tunnelUnsupported
        /// A feature the nftables engine does not emulate (named in the message).
        case unsupported
        /// No MAC for a DR real server on the interface (neighbour table / ARP failed).
        case macUnresolved
        /// `nft` (or `ip`) failed; the message has the command and its stderr.
        case command
        /// `nft -j` output we could not read.
        case readBack
        /// Two identities hashed to the same name.
        case nameCollision
    }
    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "nftables: \(message)" }

    public static let tunnel = NFTEngineError(
        .tunnelUnsupported, "TUN forwarding needs the ipip kernel module, which this kernel lacks")
}

/// Settings of one Vigil nftables data plane.
public struct NFTEngineSettings: Sendable, Hashable {
    /// Table name in both the `netdev` (DR) and `inet` (NAT) families, e.g. `vigil` or `vigil_<instance>`.
    public var tableName: String
    /// The interface that carries the VIPs: DR's ingress hook and `fwd to` device.
    public var interface: String
    /// Connection-map timeouts: TCP uses `tcp` (IPVS ESTABLISHED, 900 s), UDP uses `udp` (300 s).
    public var timeouts: Timeouts
    /// Base of every hash seed; nil (the default) uses a fixed constant, so each service's seed
    /// is a function of the virtual server's identity alone: every director with the same
    /// configuration derives the same seeds whatever its table name or host (failover without
    /// state sync relies on it). The real-server set enters through the Maglev identities, not
    /// the seed, so adding or removing a server moves only its own share of flows.
    public var seed: UInt64?
    /// `size` of each connection map.
    public var connectionMapSize: Int
    /// Maglev table size (a prime); nil picks the smallest of 251…65,537 with ≥ 20 slots per server.
    public var maglevSize: Int?
    /// How many future picks the lc/wlc/sed/nq/fo/ovf slot map holds between refreshes.
    public var dynamicSlots: Int
    /// Priority of the DR ingress chain (user chains that set fwmarks must run before it).
    public var priority: Int
    /// A packet of a flow without state takes the seeded Maglev hash and is learned (the default,
    /// issue 7). false reproduces keepalived + IPVS without a sync daemon, for comparison only
    /// (bench/survival): rr/wrr/lc… schedule SYNs only, and any other packet without state goes
    /// to the director's own stack, which answers with a reset because it holds the VIP.
    public var missFallback: Bool = true

    public init(
        tableName: String = "vigil", interface: String, timeouts: Timeouts = Timeouts(), seed: UInt64? = nil,
        connectionMapSize: Int = 262_144, maglevSize: Int? = nil, dynamicSlots: Int = 64, priority: Int = 0
    ) {
        self.tableName = tableName
        self.interface = interface
        self.timeouts = timeouts
        self.seed = seed
        self.connectionMapSize = connectionMapSize
        self.maglevSize = maglevSize
        self.dynamicSlots = dynamicSlots
        self.priority = priority
    }

    var baseSeed: UInt64 { seed ?? fnv64(Array("vigil maglev v1".utf8)) }
}

/// A real server removed from the configuration whose flows still drain through its chain.
public struct DrainingServer: Sendable, Hashable {
    public var service: ServiceKey
    public var destination: Destination
    public var mark: UInt32
    public var mac: MACAddress?

    public init(service: ServiceKey, destination: Destination, mark: UInt32, mac: MACAddress?) {
        self.service = service
        self.destination = destination
        self.mark = mark
        self.mac = mac
    }
}

/// Runtime facts that are not configuration: MAC addresses and live connection counts.
public struct NFTFacts: Sendable, Hashable {
    public var directorMAC: MACAddress
    /// Real-server MACs on the interface (DR only).
    public var macs: [IPAddress: MACAddress]
    /// Connection-map entries per mark, per service (for lc/wlc/sed/nq/fo/ovf and thresholds).
    public var activeCounts: [ServiceKey: [UInt32: UInt32]]
    /// Marks already in use (kept stable so existing connection entries stay valid).
    public var marks: [ServiceKey: [SocketAddress: UInt32]]
    /// Last non-zero weights (Maglev turns keep a quiesced server's slots reserved, like IPVS mh).
    public var lastWeights: [ServiceKey: [SocketAddress: Int32]]
    /// The rr slot order last programmed (marks by slot). A server leaving hands its slot to the
    /// last slot's server, so a change rewrites two elements instead of shifting the whole map.
    public var slotOrders: [ServiceKey: [UInt32]]

    public init(
        directorMAC: MACAddress, macs: [IPAddress: MACAddress] = [:], activeCounts: [ServiceKey: [UInt32: UInt32]] = [:],
        marks: [ServiceKey: [SocketAddress: UInt32]] = [:], lastWeights: [ServiceKey: [SocketAddress: Int32]] = [:],
        slotOrders: [ServiceKey: [UInt32]] = [:]
    ) {
        self.slotOrders = slotOrders
        self.directorMAC = directorMAC
        self.macs = macs
        self.activeCounts = activeCounts
        self.marks = marks
        self.lastWeights = lastWeights
    }
}

func fnv64(_ bytes: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes {
        h ^= UInt64(b)
        h = h &* 0x100_0000_01b3
    }
    return h
}

func hex8(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 8 - s.count) + s
}

/// Short stable name of a service inside the table (`svc_<id>`): FNV-1a of its key.
public func serviceID(_ key: ServiceKey) -> String {
    let h = fnv64(Array("\(key) \(key.family)".utf8))
    return hex8(UInt32(truncatingIfNeeded: h ^ (h >> 32)))
}

/// Deterministic marks for real servers: a hash of the address and port (never 0, which means
/// "no state"), kept when already assigned, probing upwards on a collision. Directors with the
/// same configuration derive the same marks, so their connection maps are interchangeable.
public func assignMarks(_ addresses: [SocketAddress], existing: [SocketAddress: UInt32]) -> [SocketAddress: UInt32] {
    var out: [SocketAddress: UInt32] = [:]
    var used = Set<UInt32>()
    for a in addresses.sorted() {
        if let m = existing[a], !used.contains(m) {
            out[a] = m
            used.insert(m)
        }
    }
    for a in addresses.sorted() where out[a] == nil {
        let h = fnv64(a.address.bytes + [UInt8(a.port >> 8), UInt8(a.port & 0xff)])
        var m = UInt32(truncatingIfNeeded: h ^ (h >> 32)) & 0x7fff_ffff
        if m == 0 { m = 1 }
        while used.contains(m) { m = m == 0x7fff_ffff ? 1 : m + 1 }
        out[a] = m
        used.insert(m)
    }
    return out
}

/// Comments that let `currentState()` rebuild the configuration exactly (nft comments ≤ 128 bytes).
enum Comment {
    static func service(_ s: VirtualService) -> String {
        let id: String
        switch s.key {
        case .address(let p, let a): id = "\(p) \(a.address) \(a.port)"
        case .fwmark(let m, let f): id = "fwm \(m) \(f)"
        }
        let pe = s.persistenceEngine.map { " \($0)" } ?? ""
        return "vigil svc \(id) \(s.scheduler) \(s.flags.subtracting(.hashed).rawValue) \(s.persistenceTimeout) \(s.persistencePrefix)\(pe)"
    }

    static func parseService(_ c: String) -> VirtualService? {
        let f = c.split(separator: " ").map(String.init)
        guard f.count >= 9, f[0] == "vigil", f[1] == "svc" else { return nil }
        let key: ServiceKey
        if f[2] == "fwm" {
            guard let m = UInt32(f[3]) else { return nil }
            key = .fwmark(m, f[4] == "inet6" ? .inet6 : .inet)
        } else {
            guard let p = L4Protocol.allCases.first(where: { $0.description == f[2] }), let a = IPAddress(f[3]),
                let port = UInt16(f[4])
            else { return nil }
            key = .address(p, SocketAddress(address: a, port: port))
        }
        guard let flags = UInt32(f[6]), let t = UInt32(f[7]), let prefix = Int(f[8]) else { return nil }
        return VirtualService(
            key: key, scheduler: f[5], flags: ServiceFlags(rawValue: flags), persistenceTimeout: t,
            persistencePrefix: prefix, persistenceEngine: f.count > 9 ? f[9] : nil)
    }

    static func server(_ d: Destination, lastWeight: Int32, mac: MACAddress?, draining: Bool) -> String {
        let fwd = d.forwarding == .masquerade ? "nat" : "dr"
        let m = mac.map { " \($0)" } ?? ""
        return "vigil \(draining ? "drain" : "rs") \(d.address.address) \(d.address.port) \(fwd) \(d.weight) \(lastWeight) \(d.upperThreshold) \(d.lowerThreshold)\(m)"
    }

    struct Server {
        var destination: Destination
        var lastWeight: Int32
        var mac: MACAddress?
        var draining: Bool
    }

    static func parseServer(_ c: String) -> Server? {
        let f = c.split(separator: " ").map(String.init)
        guard f.count >= 9, f[0] == "vigil", f[1] == "rs" || f[1] == "drain", let a = IPAddress(f[2]), let port = UInt16(f[3]),
            let w = Int32(f[5]), let lw = Int32(f[6]), let u = UInt32(f[7]), let l = UInt32(f[8])
        else { return nil }
        let d = Destination(
            address: SocketAddress(address: a, port: port), forwarding: f[4] == "nat" ? .masquerade : .directRoute, weight: w,
            upperThreshold: u, lowerThreshold: l)
        return Server(destination: d, lastWeight: lw, mac: f.count > 9 ? MACAddress(f[9]) : nil, draining: f[1] == "drain")
    }
}

/// The pure generator: desired services + runtime facts → the two tables' contents.
public struct NFTRuleset: Sendable {
    public var netdev: NFTTableSpec
    public var inet: NFTTableSpec
    /// Marks per service after this build (feed back as `NFTFacts.marks`).
    public var marks: [ServiceKey: [SocketAddress: UInt32]]
    /// Last non-zero weights after this build.
    public var lastWeights: [ServiceKey: [SocketAddress: Int32]]
    /// rr slot orders after this build (feed back as `NFTFacts.slotOrders`).
    public var slotOrders: [ServiceKey: [UInt32]] = [:]

    /// Builds both tables. Throws for TUN, local/bypass forwarding, mixed forwarding in one
    /// service, NAT with persistence, a persistence engine, unknown schedulers, or a DR server
    /// without a MAC.
    public init(
        state: DataPlaneState, draining: [DrainingServer], facts: NFTFacts, settings: NFTEngineSettings,
        ipipAvailable: Bool = false
    ) throws(NFTEngineError) {
        var nd = NFTTableSpec(family: "netdev", name: settings.tableName)
        var inet = NFTTableSpec(family: "inet", name: settings.tableName)
        var marks: [ServiceKey: [SocketAddress: UInt32]] = [:]
        var lastWeights: [ServiceKey: [SocketAddress: Int32]] = [:]
        var slotOrders: [ServiceKey: [UInt32]] = [:]
        var ingressFwm: [String] = [], ingressExact: [String] = [], ingressZero: [String] = []
        var natFwm: [String] = [], natExact: [String] = [], natZero: [String] = []
        var natCount: [String] = []
        var ids: [String: ServiceKey] = [:]

        for svc in state.services.sorted(by: { $0.key < $1.key }) {
            let sid = serviceID(svc.key)
            if let other = ids[sid] {
                throw NFTEngineError(.nameCollision, "services \(other) and \(svc.key) hash to the same id \(sid)")
            }
            ids[sid] = svc.key
            let mode = try Self.forwarding(of: svc, ipipAvailable: ipipAvailable)
            guard let kind = SchedulerKind(rawValue: svc.scheduler), ![.lblc, .lblcr, .twos].contains(kind) else {
                throw NFTEngineError(.unsupported, "virtual server \(svc.key): scheduler \(svc.scheduler) is not emulated by the nftables engine (use rr, wrr, lc, wlc, sed, nq, fo, ovf, sh, dh, mh or none)")
            }
            if svc.persistenceEngine != nil {
                throw NFTEngineError(.unsupported, "virtual server \(svc.key): persistence engines are not supported by the nftables engine")
            }
            let drains = draining.filter { $0.service == svc.key && mode == .directRoute }
            var m = assignMarks(svc.destinations.map(\.address) + drains.map(\.destination.address), existing: facts.marks[svc.key] ?? [:])
            for d in drains { m[d.destination.address] = d.mark }
            marks[svc.key] = m
            var lw: [SocketAddress: Int32] = [:]
            for d in svc.destinations {
                lw[d.address] = d.weight > 0 ? d.weight : (facts.lastWeights[svc.key]?[d.address] ?? 0)
            }
            lastWeights[svc.key] = lw
            let ctx = ServiceContext(
                svc: svc, sid: sid, kind: kind, marks: m, lastWeights: lw, counts: facts.activeCounts[svc.key] ?? [:],
                settings: settings, previousSlots: facts.slotOrders[svc.key])
            if kind == .rr { slotOrders[svc.key] = ctx.slotPlan().map { m[svc.destinations[$0].address]! } }
            let match = ctx.match
            switch mode {
            case .directRoute:
                try ctx.buildDR(into: &nd, drains: drains, facts: facts)
                let r = "\(match) jump svc_\(sid)"
                if case .fwmark = svc.key { ingressFwm.append(r) } else if ctx.port == 0 { ingressZero.append(r) } else { ingressExact.append(r) }
            default:
                if svc.flags.contains(.persistent) {
                    throw NFTEngineError(.unsupported, "virtual server \(svc.key): persistence with NAT is not supported by the nftables engine")
                }
                try ctx.buildNAT(into: &inet, counting: &natCount)
                let r = "\(match) jump nat_\(sid)"
                if case .fwmark = svc.key { natFwm.append(r) } else if ctx.port == 0 { natZero.append(r) } else { natExact.append(r) }
            }
        }
        // Only frames addressed to this director: a switch floods frames for a MAC it has not
        // learned (a dead master's), and a BACKUP must not forward those as well, or a SYN would
        // reach two real servers.
        let ingress = (ingressFwm + ingressExact + ingressZero).isEmpty ? [] : ["meta pkttype != host accept"] + ingressFwm + ingressExact + ingressZero
        if !ingress.isEmpty || !nd.isEmpty {
            nd.chains.append(NFTChainSpec(
                name: "ingress",
                hook: "type filter hook ingress device \"\(settings.interface)\" priority \(settings.priority); policy accept;",
                rules: ingress))
        }
        let nat = natFwm + natExact + natZero
        if !nat.isEmpty {
            inet.chains.append(NFTChainSpec(name: "prerouting", hook: "type nat hook prerouting priority dstnat; policy accept;", rules: nat))
            inet.chains.append(NFTChainSpec(name: "natcount", hook: "type filter hook forward priority 0; policy accept;", rules: natCount))
        }
        self.netdev = nd
        self.inet = inet
        self.marks = marks
        self.lastWeights = lastWeights
        self.slotOrders = slotOrders
    }

    static func forwarding(of svc: VirtualService, ipipAvailable: Bool) throws(NFTEngineError) -> ForwardingMethod {
        let methods = Set(svc.destinations.map(\.forwarding))
        if methods.contains(.tunnel) {
            if !ipipAvailable { throw NFTEngineError.tunnel }
            throw NFTEngineError(.unsupported, "virtual server \(svc.key): TUN forwarding is not implemented by the nftables engine")
        }
        if methods.contains(.local) || methods.contains(.bypass) {
            throw NFTEngineError(.unsupported, "virtual server \(svc.key): local and bypass forwarding are not supported by the nftables engine")
        }
        if methods.count > 1 {
            throw NFTEngineError(.unsupported, "virtual server \(svc.key): mixing DR and NAT real servers in one virtual server is not supported by the nftables engine")
        }
        return methods.first ?? .directRoute
    }
}

/// Per-service generation helpers.
struct ServiceContext {
    var svc: VirtualService
    var sid: String
    var kind: SchedulerKind
    var marks: [SocketAddress: UInt32]
    var lastWeights: [SocketAddress: Int32]
    var counts: [UInt32: UInt32]
    var settings: NFTEngineSettings
    var previousSlots: [UInt32]? = nil

    var l3: String { svc.key.family == .inet ? "ip" : "ip6" }
    var addrType: String { svc.key.family == .inet ? "ipv4_addr" : "ipv6_addr" }
    var proto: L4Protocol? {
        if case .address(let p, _) = svc.key { return p }
        return nil
    }
    var port: UInt16 {
        if case .address(_, let a) = svc.key { return a.port }
        return 0
    }
    /// Transport expression for ports: the protocol, or `th` (any transport) for fwmark services.
    var l4: String { proto.map { "\($0)" } ?? "th" }
    var isTCPOnly: Bool { proto == .tcp }
    var timeout: UInt32 {
        let t = proto == .udp ? settings.timeouts.udp : settings.timeouts.tcp
        return t == 0 ? (proto == .udp ? 300 : 900) : t
    }
    var seed: UInt64 { fnv64(Array("\(settings.baseSeed) \(svc.key)".utf8)) }
    var jhashSeed: String { "0x" + hex8(UInt32(truncatingIfNeeded: seed >> 16)) }

    /// The packet match that selects this service.
    var match: String {
        switch svc.key {
        case .fwmark(let m, _): return "meta protocol \(l3) meta mark \(m)"
        case .address(let p, let a):
            if a.port == 0 { return "\(l3) daddr \(a.address) meta l4proto \(p)" }
            return "\(l3) daddr \(a.address) \(p) dport \(a.port)"
        }
    }

    /// Connection-map key: port first, because nft 1.0.6 crashes on `ipv6_addr . inet_service`
    /// keys in `update` statements (netlink_linearize.c assertion).
    var connKey: String { "\(l4) sport . \(l3) saddr" }
    var persistKey: String {
        let full = svc.key.family == .inet ? 32 : 128
        if svc.persistencePrefix >= full { return "\(l3) saddr" }
        return "\(l3) saddr & \(IPAddress(bytes: [UInt8](repeating: 0xff, count: full / 8), family: svc.key.family)!.masked(to: svc.persistencePrefix))"
    }
    /// Packets that may open a connection: TCP SYN without ACK (like IPVS), any packet otherwise.
    var newFlowMatches: [String] {
        if proto == .tcp { return ["tcp flags & (syn|ack) == syn "] }
        if proto == nil { return ["meta l4proto != tcp ", "tcp flags & (syn|ack) == syn "] }
        return [""]
    }

    func mark(_ d: Destination) -> String { "0x" + hex8(marks[d.address]!) }

    func candidates() -> [SchedulerCandidate] {
        svc.destinations.map { d in
            let active = counts[marks[d.address] ?? 0] ?? 0
            let over = d.upperThreshold != 0 && active >= d.upperThreshold
            return SchedulerCandidate(weight: d.weight, activeConnections: active, overloaded: over)
        }
    }

    /// numgen slot list for rr/wrr/connection schedulers, as indices into `svc.destinations`.
    func slotPlan() -> [Int] {
        let c = candidates()
        switch kind {
        case .rr:
            let available = c.indices.filter { c[$0].isAvailable }
            guard var slots = previousSlots, !slots.isEmpty else { return available }
            var index: [UInt32: Int] = [:]
            for i in available { index[marks[svc.destinations[i].address]!] = i }
            // Walk from the end: a leaving server's slot takes the last slot's server, so the
            // update rewrites one element and deletes one, whatever the map size.
            for i in stride(from: slots.count - 1, through: 0, by: -1) where index[slots[i]] == nil {
                let last = slots.removeLast()
                if i < slots.count { slots[i] = last }
            }
            let present = Set(slots)
            slots += available.map { marks[svc.destinations[$0].address]! }.filter { !present.contains($0) }
            return slots.map { index[$0]! }
        case .wrr:
            var weights = c.map { $0.isAvailable ? $0.weight : 0 }
            var period = WeightedRoundRobinScheduler.period(weights: weights)
            if period > 65_536 {
                // Keep the map bounded: scale weights down (proportions kept within rounding).
                let total = weights.reduce(0) { $0 + Int($1) }
                weights = weights.map { $0 == 0 ? 0 : Int32(max(1, Int($0) * 65_536 / total)) }
                period = WeightedRoundRobinScheduler.period(weights: weights)
            }
            return WeightedRoundRobinScheduler.sequence(weights: weights, count: period)
        case .lc, .wlc, .sed, .nq, .fo, .ovf:
            return planByConnections(kind, c, count: settings.dynamicSlots)
        default:
            return []
        }
    }

    /// The Maglev table (size, slot → destination index) over weights, quiesced slots resolved.
    func hashPlan() throws(NFTEngineError) -> (size: Int, slots: [Int32]) {
        let ds = svc.destinations
        let c = candidates()
        // Hash schedulers get >= 20 slots per server; for the others the table only catches stray
        // packets without state (hybrid fallback), so a coarser one (>= 4 per server) is enough.
        let hashed = [.sh, .mh, .dh].contains(kind)
        let size = settings.maglevSize ?? Maglev.size(forBackends: max(1, ds.count), perBackend: hashed ? 20 : 4)
        let table: Maglev
        do {
            table = try Maglev(
                identities: ds.map { $0.address.address.bytes + [UInt8($0.address.port >> 8), UInt8($0.address.port & 0xff)] },
                weights: ds.map { lastWeights[$0.address] ?? 0 }, size: size, seed: seed)
        } catch {
            throw NFTEngineError(.unsupported, "virtual server \(svc.key): \(error)")
        }
        return (size, table.resolvingUnavailable { c[$0].isAvailable })
    }

    var slotDecl: String { "typeof numgen inc mod 2 : meta mark;" }
    /// Seconds a newly scheduled flow stays in `new_<sid>` (connection sync reads it every 100 ms).
    static let recentTimeout = 3

    func buildDR(into t: inout NFTTableSpec, drains: [DrainingServer], facts: NFTFacts) throws(NFTEngineError) {
        let persistent = svc.flags.contains(.persistent)
        t.counters += ["c_\(sid)_conn"]
        t.maps.append(NFTMapSpec(
            name: "conn_\(sid)",
            declaration: "type inet_service . \(addrType) : mark; flags dynamic,timeout; timeout \(timeout)s; size \(settings.connectionMapSize);",
            elements: nil))
        let pt = svc.persistenceTimeout == 0 ? 360 : svc.persistenceTimeout
        if persistent {
            t.maps.append(NFTMapSpec(
                name: "pers_\(sid)",
                declaration: "type \(addrType) : mark; flags dynamic,timeout; timeout \(pt)s; size 65536;", elements: nil))
        }
        var disp: [String: String] = [:]
        // Real-server chains: configured servers first, then draining ones.
        let servers = svc.destinations.map { ($0, false, facts.macs[$0.address.address]) } + drains.map { ($0.destination, true, $0.mac) }
        for (d, draining, mac) in servers {
            guard let mac else {
                throw NFTEngineError(.macUnresolved, "real server \(d.address.address) of \(svc.key): no MAC on \(settings.interface) (neighbour table and ARP gave none)")
            }
            let mk = marks[d.address]!
            let name = "rs_\(sid)_\(hex8(mk))"
            let lw = draining ? d.weight : (lastWeights[d.address] ?? 0)
            var rules = ["counter name \"c_\(sid)_\(hex8(mk))\" comment \"\(Comment.server(d, lastWeight: lw, mac: mac, draining: draining))\""]
            if proto != .udp {
                rules.append("tcp flags & (syn|ack) == syn counter name \"c_\(sid)_\(hex8(mk))_conn\"")
                t.counters.append("c_\(sid)_\(hex8(mk))_conn")
            }
            rules.append("ether saddr set \(facts.directorMAC) ether daddr set \(mac) fwd to \"\(settings.interface)\"")
            t.counters.append("c_\(sid)_\(hex8(mk))")
            t.chains.append(NFTChainSpec(name: name, rules: rules))
            disp["0x" + hex8(mk)] = "goto \(name)"
        }
        t.maps.append(NFTMapSpec(name: "disp_\(sid)", declaration: "type mark : verdict;", elements: disp))
        // Servers that take no new connections (weight 0, or removed and draining), each mapped
        // to itself: a SYN whose port's old entry names one of them is scheduled afresh.
        var quiet: [String: String] = [:]
        for d in svc.destinations where d.weight == 0 { quiet[mark(d)] = mark(d) }
        for d in drains { quiet["0x" + hex8(d.mark)] = "0x" + hex8(d.mark) }
        t.maps.append(NFTMapSpec(name: "quiet_\(sid)", declaration: "type mark : mark;", elements: quiet))

        // pick: flows without state.
        var pick: [String] = []
        let slots = slotPlan()
        var slotElements: [String: String] = [:]
        for (i, di) in slots.enumerated() { slotElements["\(i)"] = mark(svc.destinations[di]) }
        let hashed = [.sh, .mh, .dh].contains(kind)
        let (hsize, hslots) = try hashPlan()
        var hashElements: [String: String] = [:]
        if hslots.first.map({ $0 >= 0 }) ?? false {
            for (i, di) in hslots.enumerated() { hashElements["\(i)"] = mark(svc.destinations[Int(di)]) }
        }
        for m in newFlowMatches {
            if !slots.isEmpty && !hashed {
                pick.append("\(m)counter name \"c_\(sid)_conn\" meta mark set numgen inc mod \(slots.count) map @slots_\(sid)")
            } else {
                pick.append("\(m)counter name \"c_\(sid)_conn\"")
            }
        }
        if !hashElements.isEmpty && kind != .none && (hashed || settings.missFallback) {
            let sched2 = svc.flags.contains(.sched2)
            let key: String
            switch kind {
            case .sh, .mh: key = sched2 ? "\(l3) saddr . \(l4) sport" : "\(l3) saddr"
            case .dh: key = "\(l3) daddr"
            default: key = "\(l3) saddr . \(l4) sport"  // hybrid fallback: the flow's own hash
            }
            let guardMark = hashed ? "" : "meta mark 0 "
            pick.append("\(guardMark)meta mark set jhash \(key) mod \(hsize) seed \(jhashSeed) map @hash_\(sid)")
        }
        t.maps.append(NFTMapSpec(name: "slots_\(sid)", declaration: slotDecl, elements: slotElements))
        t.maps.append(NFTMapSpec(name: "hash_\(sid)", declaration: slotDecl, elements: hashElements))
        // Flows scheduled in the last few seconds, for connection sync: the master reads this
        // small map often instead of the whole conn map, so the sync lag does not grow with the
        // number of connections. Only the miss path writes it; established packets never do.
        t.maps.append(NFTMapSpec(
            name: "new_\(sid)",
            declaration: "type inet_service . \(addrType) : mark; flags dynamic,timeout; timeout \(Self.recentTimeout)s; size 65536;",
            elements: nil))
        pick.append("meta mark != 0 update @new_\(sid) { \(connKey) timeout \(Self.recentTimeout)s : meta mark }")
        t.chains.append(NFTChainSpec(name: "pick_\(sid)", rules: pick))

        // Hit path in one rule: look the flow up, refresh its entry (and its persistence
        // template), dispatch. A miss stops the rule there and falls to the rules below. No
        // service counter per packet: service totals are the sums of the server counters.
        let refresh = "update @conn_\(sid) { \(connKey) timeout \(timeout)s : meta mark }"
        let refreshPersist = persistent ? " update @pers_\(sid) { \(persistKey) timeout \(pt)s : meta mark }" : ""
        var rules = ["meta mark set 0 comment \"\(Comment.service(svc))\""]
        // A SYN on a port whose entry names a server that takes no new connections opens a new
        // connection (the client reused the port): delete the entry so the SYN is scheduled
        // like any new flow, as IPVS reschedules it (conn_reuse_mode, expire_nodest_conn).
        // `update` alone would keep the old server (nft-dataplane.md §4.2). The recent-flows map
        // loses it too, so connection sync sends the new server, not the old one.
        if proto != .udp {
            rules.append("tcp flags & (syn|ack) == syn meta mark set \(connKey) map @conn_\(sid) meta mark set meta mark map @quiet_\(sid) delete @conn_\(sid) { \(connKey) : meta mark } delete @new_\(sid) { \(connKey) : meta mark } meta mark set 0")
        }
        rules.append("meta mark set \(connKey) map @conn_\(sid) \(refresh)\(refreshPersist) meta mark vmap @disp_\(sid)")
        if persistent {
            rules.append("meta mark 0 meta mark set \(persistKey) map @pers_\(sid)")
            // The same for a persistence template: a new flow never follows it to such a server.
            for m in newFlowMatches {
                rules.append("\(m)meta mark set meta mark map @quiet_\(sid) delete @pers_\(sid) { \(persistKey) : meta mark } meta mark set 0")
            }
        }
        rules += [
            "meta mark 0 jump pick_\(sid)",
            settings.missFallback || hashed ? "meta mark 0 drop" : "meta mark 0 accept",
            refresh,
        ]
        if persistent { rules.append("update @pers_\(sid) { \(persistKey) timeout \(pt)s : meta mark }") }
        rules += ["meta mark vmap @disp_\(sid)", "drop"]
        t.chains.append(NFTChainSpec(name: "svc_\(sid)", rules: rules))
    }

    func buildNAT(into t: inout NFTTableSpec, counting: inout [String]) throws(NFTEngineError) {
        let withPort = port != 0 && proto != nil
        let dataType = withPort ? "\(l3) daddr . \(l4) dport" : "\(l3) daddr"
        // nft wants a transport match in the same rule before it maps ports.
        let target = withPort ? "meta l4proto \(l4) dnat \(l3) addr . port to" : "dnat \(l3) to"
        func value(_ d: Destination) -> String {
            let p = d.address.port == 0 ? port : d.address.port
            return withPort ? "\(d.address.address) . \(p)" : "\(d.address.address)"
        }
        t.counters.append("c_\(sid)_conn")
        let decl = "typeof numgen inc mod 2 : \(dataType);"
        var rules = ["counter name \"c_\(sid)_conn\" comment \"\(Comment.service(svc))\""]
        if proto == .tcp { rules.append("tcp flags & (syn|ack) != syn drop") }
        var slotElements: [String: String] = [:]
        var hashElements: [String: String] = [:]
        if [.sh, .mh, .dh].contains(kind) {
            let (hsize, hslots) = try hashPlan()
            if hslots.first.map({ $0 >= 0 }) ?? false {
                for (i, di) in hslots.enumerated() { hashElements["\(i)"] = value(svc.destinations[Int(di)]) }
                let key = kind == .dh ? "\(l3) daddr" : (svc.flags.contains(.sched2) && proto != nil ? "\(l3) saddr . \(l4) sport" : "\(l3) saddr")
                rules.append("\(target) jhash \(key) mod \(hsize) seed \(jhashSeed) map @hash_\(sid)")
            }
        } else if kind != .none {
            let slots = slotPlan()
            for (i, di) in slots.enumerated() { slotElements["\(i)"] = value(svc.destinations[di]) }
            if !slots.isEmpty { rules.append("\(target) numgen inc mod \(slots.count) map @slots_\(sid)") }
        }
        rules.append("drop")
        t.maps.append(NFTMapSpec(name: "slots_\(sid)", declaration: decl, elements: slotElements))
        t.maps.append(NFTMapSpec(name: "hash_\(sid)", declaration: decl, elements: hashElements))
        t.chains.append(NFTChainSpec(name: "nat_\(sid)", rules: rules))

        // Forward-path counters (conntrack's original destination names the service).
        let vip: String
        if case .address(_, let a) = svc.key { vip = " ct original \(l3) daddr \(a.address)" } else { vip = " meta mark \(markOfKey)" }
        for d in svc.destinations {
            let mk = hex8(marks[d.address]!)
            let p = d.address.port == 0 ? port : d.address.port
            let inPort = withPort ? " \(l4) dport \(p)" : ""
            let outPort = withPort ? " \(l4) sport \(p)" : ""
            t.counters += ["c_\(sid)_\(mk)", "c_\(sid)_\(mk)_out", "c_\(sid)_\(mk)_conn"]
            counting.append("\(l3) daddr \(d.address.address)\(inPort)\(vip) counter name \"c_\(sid)_\(mk)\" comment \"\(Comment.server(d, lastWeight: lastWeights[d.address] ?? 0, mac: nil, draining: false))\"")
            counting.append("ct state new \(l3) daddr \(d.address.address)\(inPort)\(vip) counter name \"c_\(sid)_\(mk)_conn\"")
            counting.append("\(l3) saddr \(d.address.address)\(outPort)\(vip) counter name \"c_\(sid)_\(mk)_out\"")
        }
    }

    var markOfKey: UInt32 {
        if case .fwmark(let m, _) = svc.key { return m }
        return 0
    }
}
