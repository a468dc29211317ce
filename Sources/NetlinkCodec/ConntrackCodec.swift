import NetCore

/// ctnetlink (`NETLINK_NETFILTER`, subsystem `NFNL_SUBSYS_CTNETLINK`): the connection-tracking
/// table as `conntrack -L` reads it. Numbers from `<linux/netfilter/nfnetlink.h>`,
/// `<linux/netfilter/nfnetlink_conntrack.h>` and `<linux/netfilter/nf_conntrack_tcp.h>`.
///
/// Messages are `nlmsghdr` + `struct nfgenmsg` {family, version, res_id (big endian)} + attributes.
/// Every integer attribute of ctnetlink is in network byte order.
public enum Conntrack {
    /// `NETLINK_NETFILTER`.
    public static let netlinkProtocol: Int32 = 12
    /// `NFNL_SUBSYS_CTNETLINK`: the high byte of `nlmsg_type`.
    public static let subsystem: UInt16 = 1
    /// `IPCTNL_MSG_CT_NEW`: a conntrack entry (also what a dump answers with).
    public static let messageNew: UInt16 = 0
    /// `IPCTNL_MSG_CT_GET`.
    public static let messageGet: UInt16 = 1

    enum CTA {
        static let tupleOrig: UInt16 = 1
        static let tupleReply: UInt16 = 2
        static let status: UInt16 = 3
        static let protoinfo: UInt16 = 4
        static let timeout: UInt16 = 7
        static let mark: UInt16 = 8
        static let id: UInt16 = 12
        static let markMask: UInt16 = 21
        static let filter: UInt16 = 25
    }
    enum Filter {
        static let origFlags: UInt16 = 1
        static let replyFlags: UInt16 = 2
        // CTA_FILTER_FLAG_* (nf_conntrack_netlink.c): which fields of CTA_TUPLE_ORIG must match.
        static let ipDst: UInt32 = 1 << 1
        static let protoNum: UInt32 = 1 << 3
        static let protoDstPort: UInt32 = 1 << 5
    }
    enum Tuple {
        static let ip: UInt16 = 1
        static let proto: UInt16 = 2
    }
    enum IP {
        static let v4Src: UInt16 = 1
        static let v4Dst: UInt16 = 2
        static let v6Src: UInt16 = 3
        static let v6Dst: UInt16 = 4
    }
    enum Proto {
        static let num: UInt16 = 1
        static let srcPort: UInt16 = 2
        static let dstPort: UInt16 = 3
    }
    enum ProtoInfo {
        static let tcp: UInt16 = 1
        static let tcpState: UInt16 = 1
    }

    /// The `nlmsg_type` of a ctnetlink message.
    public static func messageType(_ message: UInt16) -> UInt16 { subsystem << 8 | message }

    /// `IPCTNL_MSG_CT_GET` with `NLM_F_DUMP`: every entry of `family` (nil: both families),
    /// optionally filtered by the kernel.
    ///
    /// Filters are an optimisation only: kernels before 5.10 ignore `CTA_FILTER` and dump
    /// everything, so callers still match the entries themselves.
    public static func dumpRequest(family: AddressFamily?, filter: ConntrackDumpFilter? = nil) -> NetlinkMessage {
        let af: UInt8 =
            switch family {
            case .inet: 2  // AF_INET
            case .inet6: 10  // AF_INET6
            case nil: 0  // AF_UNSPEC: the kernel does not filter
            }
        var w = ByteWriter()
        // CTA_FILTER is parsed strictly (nla_parse_nested): without NLA_F_NESTED the kernel
        // answers EINVAL. The tuple nests get the flag too, as the kernel's own messages have it.
        let nested = NetlinkConstants.attrNested
        switch filter {
        case nil: break
        case .original(let destination, let protocolNumber, let destinationPort):
            w.nest(CTA.tupleOrig | nested) { t in
                t.nest(Tuple.ip | nested) { ip in
                    switch destination {
                    case .v4(let a): ip.attributeBigEndian(IP.v4Dst, a.value)
                    case .v6(let a):
                        ip.attribute(IP.v6Dst, withUnsafeBytes(of: a.high.bigEndian, Array.init) + withUnsafeBytes(of: a.low.bigEndian, Array.init))
                    }
                }
                t.nest(Tuple.proto | nested) { p in
                    p.attributeU8(Proto.num, protocolNumber)
                    if let destinationPort { p.attributeBigEndian(Proto.dstPort, destinationPort) }
                }
            }
            let flags = Filter.ipDst | Filter.protoNum | (destinationPort == nil ? 0 : Filter.protoDstPort)
            w.nest(CTA.filter | nested) { f in
                f.attributeHost(Filter.origFlags, flags)
                f.attributeHost(Filter.replyFlags, UInt32(0))
            }
        case .mark(let mark):
            w.attributeBigEndian(CTA.mark, mark)
            w.attributeBigEndian(CTA.markMask, UInt32.max)
        }
        // nfgenmsg: family, NFNETLINK_V0, res_id 0.
        return NetlinkMessage(type: messageType(messageGet), flags: [.request, .dump], payload: [af, 0, 0, 0] + w.bytes)
    }

    /// Decodes one `IPCTNL_MSG_CT_NEW` message (a dump reply).
    /// - Throws: `NetlinkDecodingError` naming the attribute that is missing, truncated or of
    ///   the wrong size (`CTA_IP_V4_SRC in CTA_TUPLE_IP in CTA_TUPLE_ORIG in IPCTNL_MSG_CT_NEW: 3 bytes, expected 4`).
    public static func decode(_ m: NetlinkMessage) throws(NetlinkDecodingError) -> ConntrackEntry {
        let name = "IPCTNL_MSG_CT_NEW"
        guard m.type == messageType(messageNew) else {
            throw NetlinkDecodingError(.unexpectedMessage, "\(name): nlmsg_type 0x\(String(m.type, radix: 16)), expected 0x\(String(messageType(messageNew), radix: 16))")
        }
        guard m.payload.count >= 4 else {
            throw NetlinkDecodingError(.truncated, "\(name): nfgenmsg needs 4 bytes, got \(m.payload.count)")
        }
        let family: AddressFamily
        switch m.payload[0] {
        case 2: family = .inet
        case 10: family = .inet6
        default: throw NetlinkDecodingError(.unexpectedMessage, "\(name): nfgen_family \(m.payload[0]) is neither AF_INET nor AF_INET6")
        }
        let r = try AttributeReader(parsing: Array(m.payload[4...]), context: name)
        let orig = try r.required(try tuple(r, CTA.tupleOrig, "CTA_TUPLE_ORIG", family: family), "CTA_TUPLE_ORIG")
        let reply = try r.required(try tuple(r, CTA.tupleReply, "CTA_TUPLE_REPLY", family: family), "CTA_TUPLE_REPLY")
        var tcpState: TCPConntrackState?
        if let pi = try r.nested(CTA.protoinfo, "CTA_PROTOINFO"), let tcp = try pi.nested(ProtoInfo.tcp, "CTA_PROTOINFO_TCP") {
            if let s = try tcp.u8(ProtoInfo.tcpState, "CTA_PROTOINFO_TCP_STATE") { tcpState = TCPConntrackState(rawValue: s) }
        }
        return ConntrackEntry(
            family: family, original: orig, reply: reply,
            status: try be32(r, CTA.status, "CTA_STATUS").map { ConntrackStatus(rawValue: $0) },
            timeout: try be32(r, CTA.timeout, "CTA_TIMEOUT"), mark: try be32(r, CTA.mark, "CTA_MARK"),
            tcpState: tcpState, id: try be32(r, CTA.id, "CTA_ID"))
    }

    private static func be32(_ r: AttributeReader, _ type: UInt16, _ name: String) throws(NetlinkDecodingError) -> UInt32? {
        guard let b = try r.bytes(type, name, exactly: 4) else { return nil }
        return UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
    }

    private static func be16(_ r: AttributeReader, _ type: UInt16, _ name: String) throws(NetlinkDecodingError) -> UInt16? {
        guard let b = try r.bytes(type, name, exactly: 2) else { return nil }
        return UInt16(b[0]) << 8 | UInt16(b[1])
    }

    private static func tuple(_ r: AttributeReader, _ type: UInt16, _ name: String, family: AddressFamily) throws(NetlinkDecodingError) -> ConntrackTuple? {
        guard let t = try r.nested(type, name) else { return nil }
        let ip = try t.required(try t.nested(Tuple.ip, "CTA_TUPLE_IP"), "CTA_TUPLE_IP")
        let (srcType, dstType, width, srcName, dstName) =
            family == .inet
            ? (IP.v4Src, IP.v4Dst, 4, "CTA_IP_V4_SRC", "CTA_IP_V4_DST") : (IP.v6Src, IP.v6Dst, 16, "CTA_IP_V6_SRC", "CTA_IP_V6_DST")
        let src = try ip.required(try ip.bytes(srcType, srcName, exactly: width), srcName)
        let dst = try ip.required(try ip.bytes(dstType, dstName, exactly: width), dstName)
        let proto = try t.required(try t.nested(Tuple.proto, "CTA_TUPLE_PROTO"), "CTA_TUPLE_PROTO")
        let num = try proto.required(try proto.bytes(Proto.num, "CTA_PROTO_NUM", exactly: 1), "CTA_PROTO_NUM")[0]
        return ConntrackTuple(
            source: IPAddress(bytes: src, family: family)!, destination: IPAddress(bytes: dst, family: family)!,
            protocolNumber: num,
            sourcePort: try be16(proto, Proto.srcPort, "CTA_PROTO_SRC_PORT"),
            destinationPort: try be16(proto, Proto.dstPort, "CTA_PROTO_DST_PORT"))
    }
}

/// What the kernel keeps of a dump (`CTA_FILTER` with `CTA_TUPLE_ORIG`, Linux 5.10+; `CTA_MARK` +
/// `CTA_MARK_MASK`, Linux 3.x+).
public enum ConntrackDumpFilter: Sendable, Hashable {
    /// Entries whose original destination address, protocol and (when given) port are these.
    case original(destination: IPAddress, protocolNumber: UInt8, destinationPort: UInt16?)
    /// Entries whose `ct mark` is exactly this.
    case mark(UInt32)
}

/// One direction of a tracked connection (`CTA_TUPLE_ORIG` / `CTA_TUPLE_REPLY`).
public struct ConntrackTuple: Sendable, Hashable {
    public var source: IPAddress
    public var destination: IPAddress
    /// IP protocol number (6 TCP, 17 UDP, 132 SCTP).
    public var protocolNumber: UInt8
    /// nil for protocols without ports (ICMP).
    public var sourcePort: UInt16?
    public var destinationPort: UInt16?

    public init(source: IPAddress, destination: IPAddress, protocolNumber: UInt8, sourcePort: UInt16?, destinationPort: UInt16?) {
        self.source = source
        self.destination = destination
        self.protocolNumber = protocolNumber
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
    }
}

/// `enum tcp_conntrack` (conntrack's TCP state, `CTA_PROTOINFO_TCP_STATE`).
public enum TCPConntrackState: UInt8, Sendable, Hashable, CaseIterable {
    case none = 0, synSent, synReceived, established, finWait, closeWait, lastAck, timeWait, close
    /// `TCP_CONNTRACK_SYN_SENT2` (simultaneous open; the header's obsolete `LISTEN`).
    case synSent2
}

/// `enum ip_conntrack_status` bits (`CTA_STATUS`).
public struct ConntrackStatus: OptionSet, Sendable, Hashable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let expected = ConntrackStatus(rawValue: 1 << 0)
    public static let seenReply = ConntrackStatus(rawValue: 1 << 1)
    public static let assured = ConntrackStatus(rawValue: 1 << 2)
    public static let confirmed = ConntrackStatus(rawValue: 1 << 3)
    public static let sourceNAT = ConntrackStatus(rawValue: 1 << 4)
    public static let destinationNAT = ConntrackStatus(rawValue: 1 << 5)
    public static let dying = ConntrackStatus(rawValue: 1 << 9)
}

/// One conntrack entry as a dump returns it.
public struct ConntrackEntry: Sendable, Hashable {
    public var family: AddressFamily
    public var original: ConntrackTuple
    public var reply: ConntrackTuple
    public var status: ConntrackStatus?
    /// Seconds until the entry expires (`CTA_TIMEOUT`).
    public var timeout: UInt32?
    /// `ct mark` (`CTA_MARK`; the kernel sends it only when non-zero on older kernels).
    public var mark: UInt32?
    /// TCP only.
    public var tcpState: TCPConntrackState?
    /// `CTA_ID`.
    public var id: UInt32?

    public init(
        family: AddressFamily, original: ConntrackTuple, reply: ConntrackTuple, status: ConntrackStatus? = nil,
        timeout: UInt32? = nil, mark: UInt32? = nil, tcpState: TCPConntrackState? = nil, id: UInt32? = nil
    ) {
        self.family = family
        self.original = original
        self.reply = reply
        self.status = status
        self.timeout = timeout
        self.mark = mark
        self.tcpState = tcpState
        self.id = id
    }
}
