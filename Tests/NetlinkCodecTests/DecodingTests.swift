import NetCore
import NetlinkCodec
import Testing
import TestSupport

/// Decoding of kernel replies: real messages captured from Linux 6.18, then every kind of
/// damage a decoder must reject with a typed error instead of crashing or misreading.
@Suite struct DecodingTests {
    // RTM_NEWADDR for `ip addr add 192.168.0.21/24 dev d0 label d0:vip broadcast 192.168.0.255
    // noprefixroute`, as the kernel dumps it (flags permanent|noprefixroute in IFA_FLAGS).
    static let vipAddress = hex(
        "580000001400020001000000a54a0000021880000300000008000100c0a8001508000200c0a8001508000400c0a800ff0b00030064303a7669700000080008008002000014000600ffffffffffffffff6ff100006ff10000"
    )
    // RTM_NEWADDR for `10.1.1.1 peer 10.1.1.2/32 scope host`.
    static let peerAddress = hex(
        "4c0000001400020001000000a54a0000022080fe03000000080001000a010102080002000a0101010700030064300000080008008000000014000600ffffffffffffffffe7920000e7920000"
    )

    @Test func decodesKernelAddressMessage() throws {
        let msgs = try NetlinkMessage.parseAll(Self.vipAddress)
        #expect(msgs.count == 1)
        let a = try RTNetlinkCodec.decodeAddress(msgs[0])
        #expect(a.interfaceIndex == 3)
        #expect(a.prefix == IPPrefix("192.168.0.21/24"))
        #expect(a.label == "d0:vip")
        #expect(a.scope == .global)
        #expect(a.broadcast == IPv4Address("192.168.0.255"))
        #expect(a.peer == nil)
        #expect(a.flags == [.permanent, .noPrefixRoute])
        #expect(a.preferredLifetime == nil && a.validLifetime == nil)
    }

    @Test func decodesPeerAddress() throws {
        let a = try RTNetlinkCodec.decodeAddress(try NetlinkMessage.parseAll(Self.peerAddress)[0])
        #expect(a.prefix == IPPrefix("10.1.1.1/32"))
        #expect(a.peer == IPAddress("10.1.1.2"))
        #expect(a.scope == .host)
        #expect(a.description == "10.1.1.1 peer 10.1.1.2/32")
    }

    @Test func addressRequestRoundTripsThroughDecoder() throws {
        let a = InterfaceAddress(
            interfaceIndex: 7, prefix: IPPrefix("2001:db8::9/64")!, scope: .global, flags: [.noDAD, .noPrefixRoute],
            preferredLifetime: 30, validLifetime: 60)
        let back = try RTNetlinkCodec.decodeAddress(RTNetlinkCodec.addressRequest(a, delete: false))
        #expect(back == a)
    }

    @Test func everyTruncationIsRejected() {
        // Drip-feed: every strict prefix of a valid message is an error, never a crash or a value.
        for n in 0..<Self.vipAddress.count {
            let cut = Array(Self.vipAddress.prefix(n))
            let result = Result { () throws -> InterfaceAddress in
                let msgs = try NetlinkMessage.parseAll(cut)
                guard let m = msgs.first else { throw NetlinkDecodingError(.truncated, "empty") }
                return try RTNetlinkCodec.decodeAddress(m)
            }
            if case .success = result { Issue.record("prefix of \(n) bytes decoded") }
        }
    }

    @Test func badMessageLengths() {
        var b = Self.vipAddress
        b[0] = 8  // nlmsg_len shorter than the header
        #expect(throws: NetlinkDecodingError.self) { try NetlinkMessage.parseAll(b) }
        do {
            _ = try NetlinkMessage.parseAll(b)
        } catch {
            #expect(error.code == .badLength)
        }
        b[0] = 0x60  // longer than the buffer
        do {
            _ = try NetlinkMessage.parseAll(b)
            Issue.record("accepted overlong nlmsg_len")
        } catch {
            #expect(error.code == .truncated)
            #expect(error.message.contains("exceeds"))
        }
    }

    @Test func trailingBytesAfterMessageAreRejected() {
        let b = Self.vipAddress + [1, 2, 3, 4, 5, 6, 7, 8]
        #expect(throws: NetlinkDecodingError.self) { try NetlinkMessage.parseAll(b) }
        // Zero padding to the 4-byte boundary is fine.
        #expect((try? NetlinkMessage.parseAll(Self.vipAddress + [0, 0]))?.count == 1)
    }

    @Test func badAttributeLengths() throws {
        // IFA_LOCAL with 3 bytes instead of 4 names the attribute.
        var w = ByteWriter()
        w.append(contentsOf: [2, 24, 0, 0, 3, 0, 0, 0])
        w.attribute(2, [10, 0, 0])
        let m = NetlinkMessage(type: RTM.newAddr, flags: [], payload: w.bytes)
        do {
            _ = try RTNetlinkCodec.decodeAddress(m)
            Issue.record("accepted a 3-byte IFA_LOCAL")
        } catch {
            #expect(error.code == .badAttribute)
            #expect(error.message.contains("IFA_LOCAL"))
        }
        // nla_len below 4, and nla_len past the end.
        #expect(throws: NetlinkDecodingError.self) { try NetlinkAttribute.parseList([2, 0, 1, 0], context: "t") }
        #expect(throws: NetlinkDecodingError.self) { try NetlinkAttribute.parseList([12, 0, 1, 0, 0, 0, 0, 0], context: "t") }
        // Fewer than 4 bytes after the last attribute.
        #expect(throws: NetlinkDecodingError.self) { try NetlinkAttribute.parseList([5, 0, 1, 0, 9, 0, 0, 0, 1], context: "t") }
    }

    @Test func unknownAttributesAreSkipped() throws {
        var w = ByteWriter()
        w.append(contentsOf: [2, 32, 0, 0, 5, 0, 0, 0])
        w.attribute(0x3f0, [1, 2, 3, 4, 5, 6, 7])  // unknown, odd length, padded
        w.attribute(2, [10, 0, 0, 9])
        w.attribute(0x8000 | 0x3f1, [4, 0, 1, 0])  // unknown nested
        let a = try RTNetlinkCodec.decodeAddress(NetlinkMessage(type: RTM.newAddr, flags: [], payload: w.bytes))
        #expect(a.prefix == IPPrefix("10.0.0.9/32"))
        #expect(a.interfaceIndex == 5)
    }

    @Test func missingAddressIsNamed() {
        let m = NetlinkMessage(type: RTM.newAddr, flags: [], payload: [2, 24, 0, 0, 3, 0, 0, 0])
        do {
            _ = try RTNetlinkCodec.decodeAddress(m)
            Issue.record("decoded an address without IFA_ADDRESS")
        } catch {
            #expect(error.message.contains("IFA_LOCAL or IFA_ADDRESS"))
        }
    }

    @Test func decodesLink() throws {
        var w = ByteWriter()
        w.append(contentsOf: [0, 0])
        w.appendHost(UInt16(1))  // ARPHRD_ETHER
        w.appendHost(Int32(4))
        w.appendHost(UInt32(0x1 | 0x2 | 0x1000 | 0x10000))  // UP BROADCAST MULTICAST LOWER_UP
        w.appendHost(UInt32(0))
        w.attributeString(3, "vgl0")
        w.attributeHost(4, UInt32(9000))
        w.attribute(1, [0x02, 0x77, 0, 0, 0, 0x0a])
        w.attribute(0x777, [1])  // unknown
        w.nest(18) { $0.attributeString(1, "veth") }
        let info = try RTNetlinkCodec.decodeLink(NetlinkMessage(type: RTM.newLink, flags: [], payload: w.bytes))
        #expect(info == InterfaceInfo(index: 4, name: "vgl0", mac: MACAddress("02:77:00:00:00:0a"), isUp: true, isRunning: true,
                                      mtu: 9000, kind: "veth", flags: 0x11003))
        // Link down, no carrier.
        var d = w.bytes
        d[8] = 0x2
        d[9] = 0x10
        d[10] = 0
        let down = try RTNetlinkCodec.decodeLink(NetlinkMessage(type: RTM.newLink, flags: [], payload: d))
        #expect(!down.isUp && !down.isRunning)
        // No name is an error.
        #expect(throws: NetlinkDecodingError.self) {
            try RTNetlinkCodec.decodeLink(NetlinkMessage(type: RTM.newLink, flags: [], payload: Array(w.bytes.prefix(16))))
        }
    }

    @Test func eventsMapMessageTypes() throws {
        let m = try NetlinkMessage.parseAll(Self.vipAddress)[0]
        var del = m
        del.type = RTM.delAddr
        guard case .addressRemoved(let a) = try RTNetlinkCodec.decodeEvent(del) else {
            Issue.record("RTM_DELADDR is not addressRemoved")
            return
        }
        #expect(a.label == "d0:vip")
        var route = m
        route.type = RTM.newRoute
        #expect(try RTNetlinkCodec.decodeEvent(route) == nil)
    }
}

@Suite struct AckAndTransactionTests {
    /// NLMSG_ERROR with NLM_F_CAPPED|NLM_F_ACK_TLVS: -EEXIST and NLMSGERR_ATTR_MSG.
    static func errorMessage(errno: Int32, sequence: UInt32, text: String?, capped: Bool = true) -> NetlinkMessage {
        var w = ByteWriter()
        w.appendHost(-errno)
        let echoed = NetlinkMessage(type: RTM.newAddr, flags: [.request, .ack], sequence: sequence, payload: capped ? [] : [2, 32, 0, 0, 3, 0, 0, 0])
        var e = echoed.encoded()
        if capped { e.replaceSubrange(0..<4, with: withUnsafeBytes(of: UInt32(16 + 8)) { Array($0) }) }
        w.append(contentsOf: e)
        if let text { w.attributeString(1, text) }
        var flags: NetlinkFlags = []
        if capped { flags.insert(.capped) }
        if text != nil { flags.insert(.ackTLVs) }
        return NetlinkMessage(type: NetlinkConstants.error, flags: flags, sequence: sequence, payload: w.bytes)
    }

    @Test func errorWithExtendedAck() throws {
        var t = NetlinkTransaction(sequence: 9, request: "RTM_NEWADDR 10.0.0.1/32 dev eth0", isDump: false)
        do {
            _ = try t.receive(Self.errorMessage(errno: 17, sequence: 9, text: "Address already assigned"))
            Issue.record("no error")
        } catch let e as NetlinkError {
            #expect(e.code == .exists)
            #expect(e.kernelMessage == "Address already assigned")
            #expect(e.description == "RTM_NEWADDR 10.0.0.1/32 dev eth0: File exists (errno 17); kernel: Address already assigned")
        }
    }

    @Test func uncappedErrorSkipsEchoedRequest() throws {
        let ack = try NetlinkAck(parsing: Self.errorMessage(errno: 22, sequence: 3, text: "bad thing", capped: false))
        #expect(ack.errno == 22)
        #expect(ack.kernelMessage == "bad thing")
        #expect(ack.requestSequence == 3)
    }

    @Test func ackCompletesAndStaleMessagesAreIgnored() throws {
        var t = NetlinkTransaction(sequence: 5, request: "x", isDump: false)
        // An answer to an earlier request (sequence 4) must not complete this one.
        #expect(try t.receive(Self.errorMessage(errno: 17, sequence: 4, text: nil)) == false)
        #expect(try t.receive(NetlinkMessage(type: RTM.newLink, flags: [], sequence: 5, payload: [1])) == false)
        #expect(try t.receive(Self.errorMessage(errno: 0, sequence: 5, text: nil)) == true)
        #expect(t.replies.count == 1)
    }

    @Test func dumpEndsAtDoneAndReportsErrorsInDone() throws {
        var t = NetlinkTransaction(sequence: 1, request: "dump", isDump: true)
        #expect(try t.receive(NetlinkMessage(type: 0x1c, flags: [.multi, .dumpInterrupted], sequence: 1, payload: [0, 0, 0, 0])) == false)
        #expect(try t.receive(NetlinkMessage(type: NetlinkConstants.done, flags: [.multi], sequence: 1, payload: [0, 0, 0, 0])) == true)
        #expect(t.wasInterrupted)
        var u = NetlinkTransaction(sequence: 2, request: "IPVS dump", isDump: true)
        let eperm = withUnsafeBytes(of: Int32(-1)) { Array($0) }
        #expect(throws: NetlinkError(code: .permissionDenied, request: "IPVS dump")) {
            _ = try u.receive(NetlinkMessage(type: NetlinkConstants.done, flags: [.multi], sequence: 2, payload: eperm))
        }
    }

    @Test func truncatedErrorIsADecodingError() {
        var t = NetlinkTransaction(sequence: 1, request: "x", isDump: false)
        #expect(throws: NetlinkDecodingError.self) {
            _ = try t.receive(NetlinkMessage(type: NetlinkConstants.error, flags: [], sequence: 1, payload: [0xef, 0xff, 0xff, 0xff]))
        }
    }
}

@Suite struct RouteAndRuleDecodingTests {
    @Test func routeRequestsDecodeBack() throws {
        let r1 = RouteSpec(destination: IPPrefix("10.20.0.0/16")!, gateway: IPAddress("10.9.0.254"), interfaceIndex: 3,
                           source: IPAddress("10.9.0.1"), table: 100, metric: 50)
        var want1 = r1
        want1.scope = .global  // what the request carries for a gateway route
        #expect(try RTNetlinkCodec.decodeRoute(RTNetlinkCodec.routeRequest(r1, delete: false)) == want1)
        let r2 = RouteSpec(destination: IPPrefix("2001:db8:1::/48")!, table: 1000, type: .blackhole)
        let back = try #require(try RTNetlinkCodec.decodeRoute(RTNetlinkCodec.routeRequest(r2, delete: false)))
        #expect(back.table == 1000 && back.type == .blackhole && back.destination == r2.destination)
        // Default route: no RTA_DST.
        let d = try #require(try RTNetlinkCodec.decodeRoute(RTNetlinkCodec.routeRequest(
            RouteSpec(destination: IPPrefix("0.0.0.0/0")!, gateway: IPAddress("10.0.0.1")), delete: false)))
        #expect(d.destination == IPPrefix("0.0.0.0/0"))
        // Families other than IPv4/IPv6 are skipped; short headers and bad lengths are errors.
        #expect(try RTNetlinkCodec.decodeRoute(NetlinkMessage(type: RTM.newRoute, flags: [], payload: [128] + [UInt8](repeating: 0, count: 11))) == nil)
        #expect(throws: NetlinkDecodingError.self) { try RTNetlinkCodec.decodeRoute(NetlinkMessage(type: RTM.newRoute, flags: [], payload: [2, 16])) }
        #expect(throws: NetlinkDecodingError.self) {
            try RTNetlinkCodec.decodeRoute(NetlinkMessage(type: RTM.newRoute, flags: [], payload: [2, 33] + [UInt8](repeating: 0, count: 10)))
        }
    }

    @Test func ruleRequestsDecodeBack() throws {
        let r = RuleSpec(from: IPPrefix("192.168.0.0/24"), to: IPPrefix("10.0.0.0/8"), table: 1000, priority: 1000, fwmark: 7, fwmask: 0xff,
                         inputInterface: "va", outputInterface: "vb")
        #expect(try RTNetlinkCodec.decodeRule(RTNetlinkCodec.ruleRequest(r, delete: false)) == r)
        let v6 = RuleSpec(from: IPPrefix("2001:db8::/32"), table: 200, action: .lookupTable)
        var want = v6
        want.priority = 0  // no FRA_PRIORITY reads as 0, as the kernel writes priority 0
        #expect(try RTNetlinkCodec.decodeRule(RTNetlinkCodec.ruleRequest(v6, delete: false)) == want)
    }
}
