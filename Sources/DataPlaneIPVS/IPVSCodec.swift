import DataPlane
import IPVSAdm
import NetCore
import NetlinkCodec

/// IPVS generic netlink commands (`IPVS_CMD_*`, reference/ipvs.md §4.2).
public enum IPVSCommand: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case newService = 1, setService, deleteService, getService
    case newDestination, setDestination, deleteDestination, getDestination
    case newDaemon, deleteDaemon, getDaemon
    case setConfig, getConfig, setInfo, getInfo, zero, flush

    public var description: String {
        switch self {
        case .newService: "IPVS_CMD_NEW_SERVICE"
        case .setService: "IPVS_CMD_SET_SERVICE"
        case .deleteService: "IPVS_CMD_DEL_SERVICE"
        case .getService: "IPVS_CMD_GET_SERVICE"
        case .newDestination: "IPVS_CMD_NEW_DEST"
        case .setDestination: "IPVS_CMD_SET_DEST"
        case .deleteDestination: "IPVS_CMD_DEL_DEST"
        case .getDestination: "IPVS_CMD_GET_DEST"
        case .newDaemon: "IPVS_CMD_NEW_DAEMON"
        case .deleteDaemon: "IPVS_CMD_DEL_DAEMON"
        case .getDaemon: "IPVS_CMD_GET_DAEMON"
        case .setConfig: "IPVS_CMD_SET_CONFIG"
        case .getConfig: "IPVS_CMD_GET_CONFIG"
        case .setInfo: "IPVS_CMD_SET_INFO"
        case .getInfo: "IPVS_CMD_GET_INFO"
        case .zero: "IPVS_CMD_ZERO"
        case .flush: "IPVS_CMD_FLUSH"
        }
    }
}

/// Attribute numbers (`<linux/ip_vs.h>`), ipvs.md §4.3.
enum IPVSAttr {
    static let service: UInt16 = 1
    static let dest: UInt16 = 2
    static let daemon: UInt16 = 3
    static let timeoutTCP: UInt16 = 4
    static let timeoutTCPFin: UInt16 = 5
    static let timeoutUDP: UInt16 = 6
    static let infoVersion: UInt16 = 1
    static let infoConnTabSize: UInt16 = 2
}

enum SvcAttr {
    static let af: UInt16 = 1
    static let protocolNumber: UInt16 = 2
    static let addr: UInt16 = 3
    static let port: UInt16 = 4
    static let fwmark: UInt16 = 5
    static let schedName: UInt16 = 6
    static let flags: UInt16 = 7
    static let timeout: UInt16 = 8
    static let netmask: UInt16 = 9
    static let stats: UInt16 = 10
    static let peName: UInt16 = 11
    static let stats64: UInt16 = 12
}

enum DestAttr {
    static let addr: UInt16 = 1
    static let port: UInt16 = 2
    static let fwdMethod: UInt16 = 3
    static let weight: UInt16 = 4
    static let uThresh: UInt16 = 5
    static let lThresh: UInt16 = 6
    static let activeConns: UInt16 = 7
    static let inactConns: UInt16 = 8
    static let persistConns: UInt16 = 9
    static let stats: UInt16 = 10
    static let addrFamily: UInt16 = 11
    static let stats64: UInt16 = 12
    static let tunType: UInt16 = 13
    static let tunPort: UInt16 = 14
    static let tunFlags: UInt16 = 15
}

enum DaemonAttr {
    static let state: UInt16 = 1
    static let mcastIfn: UInt16 = 2
    static let syncID: UInt16 = 3
    static let syncMaxLen: UInt16 = 4
    static let mcastGroup: UInt16 = 5
    static let mcastGroup6: UInt16 = 6
    static let mcastPort: UInt16 = 7
    static let mcastTTL: UInt16 = 8
}

/// Builds IPVS generic netlink requests byte for byte as ipvsadm 1.31 (libipvs + libnl) sends
/// them, and decodes the kernel's replies (ipvs.md §4).
///
/// Requests carry `NLM_F_REQUEST|NLM_F_ACK`, dumps add `NLM_F_DUMP`; the genl header is
/// {cmd, version 1, 0}. `family` is the id `CTRL_CMD_GETFAMILY "IPVS"` returned.
public enum IPVSCodec {
    public static let genlVersion: UInt8 = 1

    public static func request(_ command: IPVSCommand, family: UInt16, dump: Bool = false, _ body: (inout ByteWriter) -> Void = { _ in })
        -> NetlinkMessage
    {
        var w = ByteWriter()
        body(&w)
        return GenericNetlink.message(
            family: family, command: command.rawValue, version: genlVersion,
            flags: dump ? [.request, .ack, .dump] : [.request, .ack], attributes: w.bytes)
    }

    // MARK: Service and destination nests

    /// The 16-byte address field (IPv4 in the first 4 bytes, as ipvsadm sends `union nf_inet_addr`).
    static func address16(_ a: IPAddress) -> [UInt8] {
        let b = a.bytes
        return b + [UInt8](repeating: 0, count: 16 - b.count)
    }

    /// `IPVS_SVC_ATTR_NETMASK`: IPv4 mask bytes in network order; IPv6 prefix length (host order).
    static func netmaskBytes(family: AddressFamily, prefixLength: Int) -> [UInt8] {
        switch family {
        case .inet:
            let len = max(0, min(32, prefixLength))
            return IPv4Address(len == 0 ? 0 : ~UInt32(0) << UInt32(32 - len)).bytes
        case .inet6:
            return withUnsafeBytes(of: UInt32(prefixLength)) { Array($0) }
        }
    }

    /// The SERVICE nest: AF, FWMARK or (PROTOCOL, ADDR[16], PORT), SCHED_NAME, [PE_NAME], FLAGS
    /// {flags, ~0}, TIMEOUT, NETMASK. ipvsadm sends all of them for every command that names a
    /// service; for commands other than add/edit its scheduler is "" and the rest are defaults,
    /// which is what `service: nil` produces.
    static func appendService(_ w: inout ByteWriter, key: ServiceKey, service: VirtualService?) {
        w.nest(IPVSAttr.service) { n in
            n.attributeHost(SvcAttr.af, key.family.rawValue)
            switch key {
            case .fwmark(let mark, _):
                n.attributeHost(SvcAttr.fwmark, mark)
            case .address(let proto, let sa):
                n.attributeHost(SvcAttr.protocolNumber, proto.rawValue)
                n.attribute(SvcAttr.addr, address16(sa.address))
                n.attributeBigEndian(SvcAttr.port, sa.port)
            }
            n.attributeString(SvcAttr.schedName, service?.scheduler ?? "")
            if let pe = service?.persistenceEngine, !pe.isEmpty { n.attributeString(SvcAttr.peName, pe) }
            var flags = ByteWriter()
            flags.appendHost(service?.flags.subtracting(.hashed).rawValue ?? 0)
            flags.appendHost(UInt32.max)
            n.attribute(SvcAttr.flags, flags.bytes)
            n.attributeHost(SvcAttr.timeout, service?.persistenceTimeout ?? 0)
            let prefix = service?.persistencePrefix ?? (key.family == .inet ? 32 : 128)
            n.attribute(SvcAttr.netmask, netmaskBytes(family: key.family, prefixLength: prefix))
        }
    }

    /// The SERVICE nest with only the identity (what ipvsadm sends with the GET_DEST dump).
    static func appendServiceIdentity(_ w: inout ByteWriter, key: ServiceKey) {
        w.nest(IPVSAttr.service) { n in
            n.attributeHost(SvcAttr.af, key.family.rawValue)
            switch key {
            case .fwmark(let mark, _):
                n.attributeHost(SvcAttr.fwmark, mark)
            case .address(let proto, let sa):
                n.attributeHost(SvcAttr.protocolNumber, proto.rawValue)
                n.attribute(SvcAttr.addr, address16(sa.address))
                n.attributeBigEndian(SvcAttr.port, sa.port)
            }
        }
    }

    /// The DEST nest: ADDR_FAMILY, ADDR[16], PORT, FWD_METHOD, WEIGHT, TUN_TYPE, TUN_PORT,
    /// TUN_FLAGS, U_THRESH, L_THRESH (ipvsadm's order). A tunnel without settings is IPIP.
    static func appendDestination(_ w: inout ByteWriter, _ d: Destination) {
        w.nest(IPVSAttr.dest) { n in
            n.attributeHost(DestAttr.addrFamily, d.address.address.family.rawValue)
            n.attribute(DestAttr.addr, address16(d.address.address))
            n.attributeBigEndian(DestAttr.port, d.address.port)
            n.attributeHost(DestAttr.fwdMethod, d.forwarding.rawValue)
            n.attributeHost(DestAttr.weight, UInt32(bitPattern: d.weight))
            let tun = d.forwarding == .tunnel ? (d.tunnel ?? TunnelSettings()) : TunnelSettings()
            n.attributeU8(DestAttr.tunType, tun.kind.rawValue)
            n.attributeBigEndian(DestAttr.tunPort, tun.port)
            n.attributeHost(DestAttr.tunFlags, tun.checksum.rawValue)
            n.attributeHost(DestAttr.uThresh, d.upperThreshold)
            n.attributeHost(DestAttr.lThresh, d.lowerThreshold)
        }
    }

    // MARK: Requests (one per ipvsadm operation)

    /// `ipvsadm -A` (NEW_SERVICE). The service's destinations are not sent.
    public static func newService(_ s: VirtualService, family: UInt16) -> NetlinkMessage {
        request(.newService, family: family) { appendService(&$0, key: s.key, service: s) }
    }

    /// `ipvsadm -E` (SET_SERVICE): replaces scheduler, flags, persistence and PE.
    public static func setService(_ s: VirtualService, family: UInt16) -> NetlinkMessage {
        request(.setService, family: family) { appendService(&$0, key: s.key, service: s) }
    }

    /// `ipvsadm -D` (DEL_SERVICE).
    public static func deleteService(_ key: ServiceKey, family: UInt16) -> NetlinkMessage {
        request(.deleteService, family: family) { appendService(&$0, key: key, service: nil) }
    }

    /// `ipvsadm -a` (NEW_DEST).
    public static func newDestination(_ d: Destination, in key: ServiceKey, family: UInt16) -> NetlinkMessage {
        request(.newDestination, family: family) {
            appendService(&$0, key: key, service: nil)
            appendDestination(&$0, d)
        }
    }

    /// `ipvsadm -e` (SET_DEST).
    public static func setDestination(_ d: Destination, in key: ServiceKey, family: UInt16) -> NetlinkMessage {
        request(.setDestination, family: family) {
            appendService(&$0, key: key, service: nil)
            appendDestination(&$0, d)
        }
    }

    /// `ipvsadm -d` (DEL_DEST): the destination nest carries ipvsadm's defaults (DR, weight 1).
    public static func deleteDestination(_ address: SocketAddress, in key: ServiceKey, family: UInt16) -> NetlinkMessage {
        request(.deleteDestination, family: family) {
            appendService(&$0, key: key, service: nil)
            appendDestination(&$0, Destination(address: address))
        }
    }

    /// `ipvsadm -L` step 2: GET_SERVICE dump without attributes.
    public static func dumpServices(family: UInt16) -> NetlinkMessage {
        request(.getService, family: family, dump: true)
    }

    /// `ipvsadm -L -t V` : GET_SERVICE do with the service nest.
    public static func getService(_ key: ServiceKey, family: UInt16) -> NetlinkMessage {
        request(.getService, family: family) { appendService(&$0, key: key, service: nil) }
    }

    /// `ipvsadm -L` step 3: GET_DEST dump for one service (identity only).
    public static func dumpDestinations(of key: ServiceKey, family: UInt16) -> NetlinkMessage {
        request(.getDestination, family: family, dump: true) { appendServiceIdentity(&$0, key: key) }
    }

    /// `ipvsadm -C` (FLUSH).
    public static func flush(family: UInt16) -> NetlinkMessage { request(.flush, family: family) }

    /// `ipvsadm -Z [service]` (ZERO).
    public static func zero(_ key: ServiceKey?, family: UInt16) -> NetlinkMessage {
        request(.zero, family: family) { w in
            if let key { appendService(&w, key: key, service: nil) }
        }
    }

    /// GET_INFO (version, connection-table size).
    public static func getInfo(family: UInt16) -> NetlinkMessage { request(.getInfo, family: family) }

    /// `ipvsadm -L --timeout` (GET_CONFIG).
    public static func getConfig(family: UInt16) -> NetlinkMessage { request(.getConfig, family: family) }

    /// `ipvsadm --set tcp tcpfin udp` (SET_CONFIG with all three; 0 keeps a value).
    public static func setConfig(_ t: Timeouts, family: UInt16) -> NetlinkMessage {
        request(.setConfig, family: family) { w in
            w.attributeHost(IPVSAttr.timeoutTCP, t.tcp)
            w.attributeHost(IPVSAttr.timeoutTCPFin, t.tcpFin)
            w.attributeHost(IPVSAttr.timeoutUDP, t.udp)
        }
    }

    /// `ipvsadm --start-daemon` (NEW_DAEMON): STATE, MCAST_IFN, SYNC_ID, then the optional
    /// SYNC_MAXLEN, MCAST_PORT, MCAST_TTL and GROUP/GROUP6 when set.
    public static func newDaemon(_ d: SyncDaemon, family: UInt16) -> NetlinkMessage {
        request(.newDaemon, family: family) { w in
            w.nest(IPVSAttr.daemon) { n in
                n.attributeHost(DaemonAttr.state, d.role.rawValue)
                n.attributeString(DaemonAttr.mcastIfn, d.interface)
                n.attributeHost(DaemonAttr.syncID, d.syncID)
                if d.maxLength != 0 { n.attributeHost(DaemonAttr.syncMaxLen, d.maxLength) }
                if d.port != 0 { n.attributeHost(DaemonAttr.mcastPort, d.port) }
                if d.ttl != 0 { n.attributeU8(DaemonAttr.mcastTTL, d.ttl) }
                switch d.group {
                case .v4(let a)?: n.attribute(DaemonAttr.mcastGroup, a.bytes)
                case .v6(let a)?: n.attribute(DaemonAttr.mcastGroup6, a.bytes)
                case nil: break
                }
            }
        }
    }

    /// `ipvsadm --stop-daemon` (DEL_DAEMON): STATE, MCAST_IFN, SYNC_ID.
    public static func deleteDaemon(role: SyncDaemon.Role, interface: String = "", syncID: UInt32 = 0, family: UInt16) -> NetlinkMessage {
        request(.deleteDaemon, family: family) { w in
            w.nest(IPVSAttr.daemon) { n in
                n.attributeHost(DaemonAttr.state, role.rawValue)
                n.attributeString(DaemonAttr.mcastIfn, interface)
                n.attributeHost(DaemonAttr.syncID, syncID)
            }
        }
    }

    /// `ipvsadm -L --daemon` (GET_DAEMON dump).
    public static func dumpDaemons(family: UInt16) -> NetlinkMessage { request(.getDaemon, family: family, dump: true) }

    // MARK: Decoding

    static func reader(_ m: NetlinkMessage, expecting cmd: IPVSCommand) throws(NetlinkDecodingError) -> AttributeReader {
        let (command, _, attrs) = try GenericNetlink.split(m, context: "\(cmd) reply")
        guard command == cmd.rawValue else {
            throw NetlinkDecodingError(.unexpectedMessage, "expected \(cmd) reply, got command \(command)")
        }
        return try AttributeReader(parsing: attrs, context: "\(cmd)")
    }

    static func address(_ bytes: [UInt8], family: AddressFamily, _ name: String, _ ctx: String) throws(NetlinkDecodingError) -> IPAddress {
        let need = family == .inet ? 4 : 16
        guard bytes.count >= need, let a = IPAddress(bytes: bytes.prefix(need), family: family) else {
            throw NetlinkDecodingError(.badAttribute, "\(name) in \(ctx): \(bytes.count) bytes, need \(need) for \(family)")
        }
        return a
    }

    static func family(_ raw: UInt16, _ name: String, _ ctx: String) throws(NetlinkDecodingError) -> AddressFamily {
        guard let f = AddressFamily(rawValue: raw) else {
            throw NetlinkDecodingError(.badAttribute, "\(name) in \(ctx): address family \(raw) is neither AF_INET nor AF_INET6")
        }
        return f
    }

    /// Counters from STATS64 (all u64), or from legacy STATS (u32 except the byte counts) when
    /// the kernel sends no STATS64 (before ≈4.1). PAD (11) and unknown attributes are skipped.
    static func counters(_ r: AttributeReader, stats64: UInt16, stats: UInt16) throws(NetlinkDecodingError) -> Counters {
        var c = Counters()
        if let s = try r.nested(stats64, "STATS64") {
            c.connections = try s.u64(1, "CONNS") ?? 0
            c.inPackets = try s.u64(2, "INPKTS") ?? 0
            c.outPackets = try s.u64(3, "OUTPKTS") ?? 0
            c.inBytes = try s.u64(4, "INBYTES") ?? 0
            c.outBytes = try s.u64(5, "OUTBYTES") ?? 0
            c.cps = try s.u64(6, "CPS") ?? 0
            c.inPPS = try s.u64(7, "INPPS") ?? 0
            c.outPPS = try s.u64(8, "OUTPPS") ?? 0
            c.inBPS = try s.u64(9, "INBPS") ?? 0
            c.outBPS = try s.u64(10, "OUTBPS") ?? 0
        } else if let s = try r.nested(stats, "STATS") {
            c.connections = UInt64(try s.u32(1, "CONNS") ?? 0)
            c.inPackets = UInt64(try s.u32(2, "INPKTS") ?? 0)
            c.outPackets = UInt64(try s.u32(3, "OUTPKTS") ?? 0)
            c.inBytes = try s.u64(4, "INBYTES") ?? 0
            c.outBytes = try s.u64(5, "OUTBYTES") ?? 0
            c.cps = UInt64(try s.u32(6, "CPS") ?? 0)
            c.inPPS = UInt64(try s.u32(7, "INPPS") ?? 0)
            c.outPPS = UInt64(try s.u32(8, "OUTPPS") ?? 0)
            c.inBPS = UInt64(try s.u32(9, "INBPS") ?? 0)
            c.outBPS = UInt64(try s.u32(10, "OUTBPS") ?? 0)
        }
        return c
    }

    /// Decodes a GET_SERVICE reply (cmd NEW_SERVICE). The kernel-internal HASHED flag is dropped.
    public static func decodeService(_ m: NetlinkMessage) throws(NetlinkDecodingError) -> VirtualService {
        let top = try reader(m, expecting: .newService)
        let r = try top.required(try top.nested(IPVSAttr.service, "IPVS_CMD_ATTR_SERVICE"), "IPVS_CMD_ATTR_SERVICE")
        let ctx = r.context
        let af = try family(try r.required(try r.u16(SvcAttr.af, "IPVS_SVC_ATTR_AF"), "IPVS_SVC_ATTR_AF"), "IPVS_SVC_ATTR_AF", ctx)
        let key: ServiceKey
        if let mark = try r.u32(SvcAttr.fwmark, "IPVS_SVC_ATTR_FWMARK") {
            key = .fwmark(mark, af)
        } else {
            let p = try r.required(try r.u16(SvcAttr.protocolNumber, "IPVS_SVC_ATTR_PROTOCOL"), "IPVS_SVC_ATTR_PROTOCOL")
            guard let proto = L4Protocol(rawValue: p) else {
                throw NetlinkDecodingError(.badAttribute, "IPVS_SVC_ATTR_PROTOCOL in \(ctx): protocol \(p) is not TCP, UDP or SCTP")
            }
            let addr = try address(try r.required(r.first(SvcAttr.addr)?.payload, "IPVS_SVC_ATTR_ADDR"), family: af, "IPVS_SVC_ATTR_ADDR", ctx)
            let port = try r.required(try r.u16BigEndian(SvcAttr.port, "IPVS_SVC_ATTR_PORT"), "IPVS_SVC_ATTR_PORT")
            key = .address(proto, SocketAddress(address: addr, port: port))
        }
        let flagsAttr = try r.required(try r.bytes(SvcAttr.flags, "IPVS_SVC_ATTR_FLAGS", exactly: 8), "IPVS_SVC_ATTR_FLAGS")
        let flags = ServiceFlags(rawValue: flagsAttr.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }).subtracting(.hashed)
        let prefix: Int
        if let nm = try r.bytes(SvcAttr.netmask, "IPVS_SVC_ATTR_NETMASK", exactly: 4) {
            if af == .inet {
                let mask = IPv4Address(bytes: nm)!.value
                prefix = mask.nonzeroBitCount
                guard mask == (prefix == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefix)) else {
                    throw NetlinkDecodingError(.badAttribute, "IPVS_SVC_ATTR_NETMASK in \(ctx): \(IPv4Address(mask)) is not a contiguous mask")
                }
            } else {
                prefix = Int(nm.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
            }
        } else {
            prefix = af == .inet ? 32 : 128
        }
        var s = VirtualService(
            key: key, scheduler: r.string(SvcAttr.schedName) ?? "", flags: flags,
            persistenceTimeout: try r.u32(SvcAttr.timeout, "IPVS_SVC_ATTR_TIMEOUT") ?? 0, persistencePrefix: prefix,
            persistenceEngine: r.string(SvcAttr.peName).flatMap { $0.isEmpty ? nil : $0 })
        s.counters = try counters(r, stats64: SvcAttr.stats64, stats: SvcAttr.stats)
        return s
    }

    /// Decodes a GET_DEST dump reply (cmd NEW_DEST). The address family comes from
    /// DEST ADDR_FAMILY, else the service's (kernels before ≈3.18 do not send it). Tunnel
    /// settings are reported only for tunnel destinations, and the default (IPIP, no port,
    /// nocsum) reads back as nil.
    public static func decodeDestination(_ m: NetlinkMessage, serviceFamily: AddressFamily) throws(NetlinkDecodingError) -> Destination {
        let top = try reader(m, expecting: .newDestination)
        let r = try top.required(try top.nested(IPVSAttr.dest, "IPVS_CMD_ATTR_DEST"), "IPVS_CMD_ATTR_DEST")
        let ctx = r.context
        var af = serviceFamily
        if let raw = try r.u16(DestAttr.addrFamily, "IPVS_DEST_ATTR_ADDR_FAMILY"), raw != 0 {
            af = try family(raw, "IPVS_DEST_ATTR_ADDR_FAMILY", ctx)
        }
        let addr = try address(try r.required(r.first(DestAttr.addr)?.payload, "IPVS_DEST_ATTR_ADDR"), family: af, "IPVS_DEST_ATTR_ADDR", ctx)
        let port = try r.required(try r.u16BigEndian(DestAttr.port, "IPVS_DEST_ATTR_PORT"), "IPVS_DEST_ATTR_PORT")
        let fwdRaw = try r.required(try r.u32(DestAttr.fwdMethod, "IPVS_DEST_ATTR_FWD_METHOD"), "IPVS_DEST_ATTR_FWD_METHOD") & 0x7
        guard let fwd = ForwardingMethod(rawValue: fwdRaw) else {
            throw NetlinkDecodingError(.badAttribute, "IPVS_DEST_ATTR_FWD_METHOD in \(ctx): unknown method \(fwdRaw)")
        }
        var tunnel: TunnelSettings?
        if fwd == .tunnel {
            let kindRaw = try r.u8(DestAttr.tunType, "IPVS_DEST_ATTR_TUN_TYPE") ?? 0
            let csumRaw = try r.u16(DestAttr.tunFlags, "IPVS_DEST_ATTR_TUN_FLAGS") ?? 0
            guard let kind = TunnelSettings.Kind(rawValue: kindRaw), let csum = TunnelSettings.Checksum(rawValue: csumRaw) else {
                throw NetlinkDecodingError(.badAttribute, "IPVS_DEST_ATTR_TUN_TYPE/TUN_FLAGS in \(ctx): unknown \(kindRaw)/\(csumRaw)")
            }
            let t = TunnelSettings(kind: kind, port: try r.u16BigEndian(DestAttr.tunPort, "IPVS_DEST_ATTR_TUN_PORT") ?? 0, checksum: csum)
            tunnel = t == TunnelSettings() ? nil : t
        }
        var d = Destination(
            address: SocketAddress(address: addr, port: port), forwarding: fwd,
            weight: Int32(bitPattern: try r.required(try r.u32(DestAttr.weight, "IPVS_DEST_ATTR_WEIGHT"), "IPVS_DEST_ATTR_WEIGHT")),
            upperThreshold: try r.u32(DestAttr.uThresh, "IPVS_DEST_ATTR_U_THRESH") ?? 0,
            lowerThreshold: try r.u32(DestAttr.lThresh, "IPVS_DEST_ATTR_L_THRESH") ?? 0, tunnel: tunnel)
        d.activeConnections = try r.u32(DestAttr.activeConns, "IPVS_DEST_ATTR_ACTIVE_CONNS") ?? 0
        d.inactiveConnections = try r.u32(DestAttr.inactConns, "IPVS_DEST_ATTR_INACT_CONNS") ?? 0
        d.persistentConnections = try r.u32(DestAttr.persistConns, "IPVS_DEST_ATTR_PERSIST_CONNS") ?? 0
        d.counters = try counters(r, stats64: DestAttr.stats64, stats: DestAttr.stats)
        return d
    }

    /// Decodes the GET_INFO reply (cmd SET_INFO; top-level attributes 1 and 2).
    public static func decodeInfo(_ m: NetlinkMessage) throws(NetlinkDecodingError) -> IPVSInfo {
        let r = try reader(m, expecting: .setInfo)
        return IPVSInfo(
            version: try r.required(try r.u32(IPVSAttr.infoVersion, "IPVS_INFO_ATTR_VERSION"), "IPVS_INFO_ATTR_VERSION"),
            connectionTableSize: try r.required(try r.u32(IPVSAttr.infoConnTabSize, "IPVS_INFO_ATTR_CONN_TAB_SIZE"), "IPVS_INFO_ATTR_CONN_TAB_SIZE"))
    }

    /// Decodes the GET_CONFIG reply (cmd SET_CONFIG with the three timeouts).
    public static func decodeConfig(_ m: NetlinkMessage) throws(NetlinkDecodingError) -> Timeouts {
        let r = try reader(m, expecting: .setConfig)
        return Timeouts(
            tcp: try r.u32(IPVSAttr.timeoutTCP, "IPVS_CMD_ATTR_TIMEOUT_TCP") ?? 0,
            tcpFin: try r.u32(IPVSAttr.timeoutTCPFin, "IPVS_CMD_ATTR_TIMEOUT_TCP_FIN") ?? 0,
            udp: try r.u32(IPVSAttr.timeoutUDP, "IPVS_CMD_ATTR_TIMEOUT_UDP") ?? 0)
    }

    /// Decodes one GET_DAEMON dump reply (cmd NEW_DAEMON).
    public static func decodeDaemon(_ m: NetlinkMessage) throws(NetlinkDecodingError) -> SyncDaemon {
        let top = try reader(m, expecting: .newDaemon)
        let r = try top.required(try top.nested(IPVSAttr.daemon, "IPVS_CMD_ATTR_DAEMON"), "IPVS_CMD_ATTR_DAEMON")
        let stateRaw = try r.required(try r.u32(DaemonAttr.state, "IPVS_DAEMON_ATTR_STATE"), "IPVS_DAEMON_ATTR_STATE")
        guard let role = SyncDaemon.Role(rawValue: stateRaw) else {
            throw NetlinkDecodingError(.badAttribute, "IPVS_DAEMON_ATTR_STATE in \(r.context): \(stateRaw) is neither master (1) nor backup (2)")
        }
        var group: IPAddress?
        if let g = try r.bytes(DaemonAttr.mcastGroup, "IPVS_DAEMON_ATTR_MCAST_GROUP", exactly: 4) {
            group = IPAddress(bytes: g, family: .inet)
        } else if let g = try r.bytes(DaemonAttr.mcastGroup6, "IPVS_DAEMON_ATTR_MCAST_GROUP6", exactly: 16) {
            group = IPAddress(bytes: g, family: .inet6)
        }
        return SyncDaemon(
            role: role, interface: try r.required(r.string(DaemonAttr.mcastIfn), "IPVS_DAEMON_ATTR_MCAST_IFN"),
            syncID: try r.required(try r.u32(DaemonAttr.syncID, "IPVS_DAEMON_ATTR_SYNC_ID"), "IPVS_DAEMON_ATTR_SYNC_ID"),
            maxLength: try r.u16(DaemonAttr.syncMaxLen, "IPVS_DAEMON_ATTR_SYNC_MAXLEN") ?? 0, group: group,
            port: try r.u16(DaemonAttr.mcastPort, "IPVS_DAEMON_ATTR_MCAST_PORT") ?? 0,
            ttl: try r.u8(DaemonAttr.mcastTTL, "IPVS_DAEMON_ATTR_MCAST_TTL") ?? 0)
    }

    // MARK: Error wording

    /// ipvsadm's text for a kernel errno after `command` (libipvs `ipvs_strerror`, ipvs.md §3.1),
    /// falling back to the C library's text.
    public static func errorText(_ errno: Int32, command: IPVSCommand) -> String {
        switch (errno, command) {
        case (17, .newService): return "Service already exists"
        case (2, .newService), (2, .setService): return "Scheduler or persistence engine not found"
        case (3, .setService), (3, .deleteService), (3, .zero), (3, .getService), (3, .getDestination): return "No such service"
        case (3, .newDestination), (3, .setDestination), (3, .deleteDestination): return "Service not defined"
        case (17, .newDestination): return "Destination already exists"
        case (2, .setDestination), (2, .deleteDestination): return "No such destination"
        case (17, .newDaemon): return "Daemon has already run"
        case (3, .deleteDaemon): return "No daemon is running"
        case (1, _): return "Permission denied (you must be root)"
        case (22, _): return "Invalid operation.  Possibly wrong module version, address not unicast, ..."
        case (92, _): return "Protocol not available"
        case (12, _): return "Memory allocation problem"
        case (95, _): return "Operation not supported with IPv6"
        case (97, _): return "Operation not supported with specified address family"
        case (90, _): return "Module is wrong version"
        default: return NetlinkError.Code(rawValue: errno).message
        }
    }
}
