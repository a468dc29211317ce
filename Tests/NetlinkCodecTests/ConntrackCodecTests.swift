import NetCore
import NetlinkCodec
import Testing

/// ctnetlink: the dump request byte for byte, and entries built by hand the way the kernel lays
/// them out (nested attributes with NLA_F_NESTED, every integer big endian).
@Suite struct ConntrackCodecTests {
    /// Appends one raw attribute with an explicit nla_len (so tests can lie about it).
    static func attr(_ type: UInt16, _ payload: [UInt8], nested: Bool = false, len: UInt16? = nil) -> [UInt8] {
        let t = type | (nested ? 0x8000 : 0)
        let l = len ?? UInt16(4 + payload.count)
        var out = [UInt8(l & 0xff), UInt8(l >> 8), UInt8(t & 0xff), UInt8(t >> 8)] + payload
        while out.count % 4 != 0 { out.append(0) }
        return out
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }

    static func tuple(_ type: UInt16, src: [UInt8], dst: [UInt8], proto: UInt8, sport: UInt16, dport: UInt16) -> [UInt8] {
        let v6 = src.count == 16
        let ip = attr(v6 ? 3 : 1, src) + attr(v6 ? 4 : 2, dst)
        let pr = attr(1, [proto]) + attr(2, be16(sport)) + attr(3, be16(dport))
        return attr(type, attr(1, ip, nested: true) + attr(2, pr, nested: true), nested: true)
    }

    /// client 10.0.0.5:40000 -> VIP 192.168.0.21:80, DNAT to 172.16.0.11:8080, ESTABLISHED.
    static func natEntry(family: UInt8 = 2, extra: [UInt8] = [], protoinfo: [UInt8]? = nil) -> NetlinkMessage {
        var attrs = tuple(1, src: [10, 0, 0, 5], dst: [192, 168, 0, 21], proto: 6, sport: 40000, dport: 80)
        attrs += tuple(2, src: [172, 16, 0, 11], dst: [10, 0, 0, 5], proto: 6, sport: 8080, dport: 40000)
        attrs += attr(3, be32(0x1ae))  // seen_reply|assured|confirmed|dst_nat|src_nat_done|dst_nat_done
        attrs += attr(7, be32(431_999))
        attrs += attr(8, be32(0))
        attrs += protoinfo ?? attr(4, attr(1, attr(1, [3]) + attr(2, [7]) + attr(3, [7]), nested: true), nested: true)
        attrs += attr(12, be32(0xdead_beef))
        attrs += extra
        return NetlinkMessage(type: 0x0100, flags: .multi, payload: [family, 0, 0, 0] + attrs)
    }

    @Test func dumpRequestBytes() {
        let m = Conntrack.dumpRequest(family: .inet)
        var wire = m
        wire.sequence = 7
        // nlmsghdr {len 20, type 0x0101 (CTNETLINK<<8 | IPCTNL_MSG_CT_GET), flags REQUEST|DUMP 0x0301, seq 7, pid 0} + nfgenmsg {AF_INET, V0, 0}.
        #expect(wire.encoded() == [20, 0, 0, 0, 0x01, 0x01, 0x01, 0x03, 7, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0])
        #expect(Conntrack.dumpRequest(family: .inet6).payload == [10, 0, 0, 0])
        #expect(Conntrack.dumpRequest(family: nil).payload == [0, 0, 0, 0])
    }

    @Test func filteredDumpRequestBytes() throws {
        let m = Conntrack.dumpRequest(family: .inet, filter: .original(destination: IPAddress("10.77.0.21")!, protocolNumber: 6, destinationPort: 80))
        #expect(m.type == 0x0101 && m.flags == [.request, .dump])
        #expect(Array(m.payload.prefix(4)) == [2, 0, 0, 0])
        // Nests carry NLA_F_NESTED (0x8000). CTA_TUPLE_ORIG {CTA_TUPLE_IP {CTA_IP_V4_DST 10.77.0.21}, CTA_TUPLE_PROTO {CTA_PROTO_NUM 6, CTA_PROTO_DST_PORT 80 (big endian)}},
        // CTA_FILTER {CTA_FILTER_ORIG_FLAGS IP_DST|PROTO_NUM|PROTO_DST_PORT = 0x2a (host order), CTA_FILTER_REPLY_FLAGS 0}.
        let expected: [UInt8] =
            [36, 0, 1, 0x80] + [12, 0, 1, 0x80] + [8, 0, 2, 0, 10, 77, 0, 21]
            + [20, 0, 2, 0x80] + [5, 0, 1, 0, 6, 0, 0, 0] + [6, 0, 3, 0, 0, 80, 0, 0]
            + [20, 0, 25, 0x80] + [8, 0, 1, 0, 0x2a, 0, 0, 0] + [8, 0, 2, 0, 0, 0, 0, 0]
        #expect(Array(m.payload.dropFirst(4)) == expected, "\(Array(m.payload.dropFirst(4)).hexString)")
        // Without a port (port-less service) only address and protocol are compared.
        let any = Conntrack.dumpRequest(family: .inet6, filter: .original(destination: IPAddress("2001:db8::21")!, protocolNumber: 17, destinationPort: nil))
        let attrs = try NetlinkAttribute.parseList(Array(any.payload.dropFirst(4)), context: "test")
        #expect(attrs.map(\.type) == [1, 25])
        let ip = try attrs[0].nested(context: "t")[0].nested(context: "ip")
        #expect(ip.count == 1 && ip[0].type == 4 && IPAddress(bytes: ip[0].payload, family: .inet6) == IPAddress("2001:db8::21"))
        #expect(try attrs[1].nested(context: "f")[0].u32 == 0x0a)
        // A mark filter: CTA_MARK and CTA_MARK_MASK, both big endian.
        let mark = Conntrack.dumpRequest(family: .inet, filter: .mark(7))
        #expect(Array(mark.payload.dropFirst(4)) == [8, 0, 8, 0, 0, 0, 0, 7, 8, 0, 21, 0, 0xff, 0xff, 0xff, 0xff])
    }

    @Test func decodesNATEntry() throws {
        // Through the wire and back, as a dump datagram arrives.
        let msgs = try NetlinkMessage.parseAll(Self.natEntry().encoded())
        let e = try Conntrack.decode(msgs[0])
        #expect(e.family == .inet)
        #expect(e.original == ConntrackTuple(
            source: IPAddress("10.0.0.5")!, destination: IPAddress("192.168.0.21")!, protocolNumber: 6, sourcePort: 40000, destinationPort: 80))
        #expect(e.reply.source == IPAddress("172.16.0.11") && e.reply.sourcePort == 8080)
        #expect(e.reply.destination == IPAddress("10.0.0.5") && e.reply.destinationPort == 40000)
        #expect(e.tcpState == .established)
        #expect(e.timeout == 431_999)
        #expect(e.mark == 0)
        #expect(e.id == 0xdead_beef)
        #expect(e.status?.contains([.destinationNAT, .assured, .seenReply]) == true)
        #expect(e.status?.contains(.sourceNAT) == false)
    }

    @Test func decodesIPv6UDPEntryWithoutProtoinfo() throws {
        let c: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [5]
        let v: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [0x21]
        let r: [UInt8] = [0xfd, 0] + Array(repeating: 0, count: 13) + [0x11]
        var attrs = Self.tuple(1, src: c, dst: v, proto: 17, sport: 5353, dport: 53)
        attrs += Self.tuple(2, src: r, dst: c, proto: 17, sport: 53, dport: 5353)
        attrs += Self.attr(7, Self.be32(29))
        let e = try Conntrack.decode(NetlinkMessage(type: 0x0100, flags: .multi, payload: [10, 0, 0, 0] + attrs))
        #expect(e.family == .inet6)
        #expect(e.original.destination == IPAddress("2001:db8::21"))
        #expect(e.reply.source == IPAddress("fd00::11"))
        #expect(e.original.protocolNumber == 17)
        #expect(e.tcpState == nil && e.status == nil && e.mark == nil)
        #expect(e.timeout == 29)
    }

    @Test func everyTCPStateDecodes() throws {
        for s in TCPConntrackState.allCases {
            let pi = Self.attr(4, Self.attr(1, Self.attr(1, [s.rawValue]), nested: true), nested: true)
            #expect(try Conntrack.decode(Self.natEntry(protoinfo: pi)).tcpState == s)
        }
    }

    // MARK: damage: each error names the attribute

    func expectError(_ m: NetlinkMessage, _ code: NetlinkDecodingError.Code, mentions: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try Conntrack.decode(m)
            Issue.record("decoded a damaged message", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, sourceLocation: sourceLocation)
            #expect(error.message.contains(mentions), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    @Test func shortAddressIsNamed() {
        var attrs = Self.tuple(1, src: [10, 0, 0], dst: [192, 168, 0, 21], proto: 6, sport: 1, dport: 80)
        attrs += Self.tuple(2, src: [172, 16, 0, 11], dst: [10, 0, 0, 5], proto: 6, sport: 8080, dport: 1)
        expectError(
            NetlinkMessage(type: 0x0100, flags: [], payload: [2, 0, 0, 0] + attrs), .badAttribute,
            mentions: "CTA_IP_V4_SRC in CTA_TUPLE_IP in CTA_TUPLE_ORIG")
    }

    @Test func wrongSizedTimeoutStatusAndPortAreNamed() {
        // Kernel attributes are fixed size; a 2-byte CTA_TIMEOUT is not read as a number.
        expectError(Self.natEntry(extra: Self.attr(7, [0, 5])), .badAttribute, mentions: "CTA_TIMEOUT")
        expectError(Self.natEntry(extra: Self.attr(3, [0, 0, 0, 0, 0])), .badAttribute, mentions: "CTA_STATUS")
        var attrs = Self.tuple(1, src: [10, 0, 0, 5], dst: [192, 168, 0, 21], proto: 6, sport: 1, dport: 80)
        attrs += Self.attr(2, Self.attr(1, Self.attr(1, [172, 16, 0, 11]) + Self.attr(2, [10, 0, 0, 5]), nested: true)
            + Self.attr(2, Self.attr(1, [6]) + Self.attr(2, [0x1f, 0x90, 0]), nested: true), nested: true)
        expectError(NetlinkMessage(type: 0x0100, flags: [], payload: [2, 0, 0, 0] + attrs), .badAttribute, mentions: "CTA_PROTO_SRC_PORT in CTA_TUPLE_PROTO in CTA_TUPLE_REPLY")
    }

    @Test func truncatedNestIsNamed() {
        // CTA_PROTOINFO claims 40 bytes but the message ends after 8.
        var m = Self.natEntry(protoinfo: [])
        m.payload += [40, 0, 0x04, 0x80, 0x0c, 0x00, 0x01, 0x80]
        expectError(m, .truncated, mentions: "attribute type 4")
        // A CTA_PROTOINFO_TCP whose child runs past it.
        let pi = Self.attr(4, Self.attr(1, [12, 0, 1, 0, 3], nested: true), nested: true)
        expectError(Self.natEntry(protoinfo: pi), .truncated, mentions: "CTA_PROTOINFO_TCP in CTA_PROTOINFO")
    }

    @Test func missingTuplesAndPartsAreNamed() {
        expectError(NetlinkMessage(type: 0x0100, flags: [], payload: [2, 0, 0, 0] + Self.attr(7, Self.be32(1))), .badAttribute, mentions: "CTA_TUPLE_ORIG")
        let onlyIP = Self.attr(1, Self.attr(1, Self.attr(1, [1, 2, 3, 4]) + Self.attr(2, [5, 6, 7, 8]), nested: true), nested: true)
        expectError(NetlinkMessage(type: 0x0100, flags: [], payload: [2, 0, 0, 0] + onlyIP), .badAttribute, mentions: "CTA_TUPLE_PROTO")
        // An IPv6 message whose tuple carries IPv4 addresses lacks CTA_IP_V6_SRC.
        expectError(Self.natEntry(family: 10), .badAttribute, mentions: "CTA_IP_V6_SRC")
    }

    @Test func badHeaderIsRejected() {
        expectError(NetlinkMessage(type: 0x0100, flags: [], payload: [2, 0]), .truncated, mentions: "nfgenmsg")
        expectError(NetlinkMessage(type: 0x0101, flags: [], payload: [2, 0, 0, 0]), .unexpectedMessage, mentions: "nlmsg_type 0x101")
        expectError(Self.natEntry(family: 7), .unexpectedMessage, mentions: "nfgen_family 7")
    }

    @Test func everyTruncationOfARealEntryFailsCleanly() throws {
        // Cutting the message anywhere must give an error or a shorter valid entry, never a trap.
        let full = Self.natEntry()
        for n in 0..<full.payload.count {
            var m = full
            m.payload = Array(full.payload.prefix(n))
            _ = try? Conntrack.decode(m)
        }
        #expect(throws: NetlinkDecodingError.self) { try Conntrack.decode(NetlinkMessage(type: 0x0100, flags: [], payload: Array(full.payload.prefix(30)))) }
    }
}
