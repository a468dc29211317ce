import DataPlane
import Foundation
import DataPlaneIPVS
import IPVSAdm
import NetCore
import NetlinkCodec
import Testing

/// Replies laid out as the kernel's fill functions write them (ip_vs_ctl.c, ipvs.md §4.3 "Reply
/// attribute order"), with the §4.5 pitfalls: 16-byte IPv4 addresses, PAD inside stats, no
/// NLA_F_NESTED, old kernels without STATS64 or ADDR_FAMILY, unknown attributes.
enum KernelReply {
    static func genl(_ cmd: UInt8, _ body: (inout ByteWriter) -> Void) -> NetlinkMessage {
        var w = ByteWriter()
        body(&w)
        return GenericNetlink.message(family: 0x1c, command: cmd, version: 1, flags: [.multi], attributes: w.bytes)
    }

    static func stats(_ w: inout ByteWriter, type: UInt16, base: UInt64) {
        w.nest(type) { n in
            n.attributeHost(1, UInt32(base + 1))
            n.attributeHost(2, UInt32(base + 2))
            n.attributeHost(3, UInt32(base + 3))
            n.attributeHost(4, base + 4)
            n.attributeHost(5, base + 5)
            for i in 6...10 { n.attributeHost(UInt16(i), UInt32(base + UInt64(i))) }
        }
    }

    static func stats64(_ w: inout ByteWriter, type: UInt16, base: UInt64) {
        w.nest(type) { n in
            for i in 1...10 {
                n.attribute(11, [])  // PAD, as nla_put_u64_64bit may add
                n.attributeHost(UInt16(i), base + UInt64(i))
            }
        }
    }

    static func service(af: UInt16 = 2, fwmark: UInt32? = nil, proto: UInt16 = 6, addr: [UInt8] = [192, 168, 0, 21] + [UInt8](repeating: 0, count: 12),
                        port: UInt16 = 80, sched: String = "rr", pe: String? = nil, flags: UInt32 = 0x2, timeout: UInt32 = 0,
                        netmask: [UInt8] = [0xff, 0xff, 0xff, 0xff], withStats64: Bool = true, extra: Bool = false) -> NetlinkMessage {
        genl(1) { w in
            w.nest(1) { n in
                n.attributeHost(1, af)
                if let fwmark { n.attributeHost(5, fwmark) } else {
                    n.attributeHost(2, proto)
                    n.attribute(3, addr)
                    n.attributeBigEndian(4, port)
                }
                n.attributeString(6, sched)
                if let pe { n.attributeString(11, pe) }
                var f = ByteWriter()
                f.appendHost(flags)
                f.appendHost(UInt32.max)
                n.attribute(7, f.bytes)
                n.attributeHost(8, timeout)
                n.attribute(9, netmask)
                stats(&n, type: 10, base: 100)
                if withStats64 { stats64(&n, type: 12, base: 1_000_000_000_000) }
                if extra { n.attribute(40, [9, 9, 9]) }
            }
        }
    }

    static func dest(addr: [UInt8] = [10, 0, 1, 11] + [UInt8](repeating: 0, count: 12), af: UInt16? = 2, port: UInt16 = 80, fwd: UInt32 = 3,
                     weight: UInt32 = 1, tun: (UInt8, UInt16, UInt16)? = (0, 0, 0), u: UInt32 = 0, l: UInt32 = 0,
                     withStats64: Bool = true) -> NetlinkMessage {
        genl(5) { w in
            w.nest(2) { n in
                n.attribute(1, addr)
                n.attributeBigEndian(2, port)
                n.attributeHost(3, fwd)
                n.attributeHost(4, weight)
                if let tun {
                    n.attributeU8(13, tun.0)
                    n.attributeBigEndian(14, tun.1)
                    n.attributeHost(15, tun.2)
                }
                n.attributeHost(5, u)
                n.attributeHost(6, l)
                n.attributeHost(7, UInt32(12))
                n.attributeHost(8, UInt32(3))
                n.attributeHost(9, UInt32(1))
                if let af { n.attributeHost(11, af) }
                stats(&n, type: 10, base: 200)
                if withStats64 { stats64(&n, type: 12, base: 2_000_000_000_000) }
            }
        }
    }
}

@Suite struct IPVSDecodingTests {
    @Test func decodesServiceWithStats64AndDropsHashed() throws {
        let s = try IPVSCodec.decodeService(KernelReply.service(flags: 0x2 | 0x1, timeout: 300, netmask: [255, 255, 255, 0], extra: true))
        #expect(s.key == .address(.tcp, SocketAddress(address: IPAddress("192.168.0.21")!, port: 80)))
        #expect(s.scheduler == "rr")
        #expect(s.flags == .persistent)
        #expect(s.persistenceTimeout == 300)
        #expect(s.persistencePrefix == 24)
        #expect(s.persistenceEngine == nil)
        #expect(s.counters.connections == 1_000_000_000_001)
        #expect(s.counters.inBytes == 1_000_000_000_004)
        #expect(s.counters.outBPS == 1_000_000_000_010)
    }

    @Test func fallsBackToLegacyStats() throws {
        let s = try IPVSCodec.decodeService(KernelReply.service(withStats64: false))
        #expect(s.counters.connections == 101)
        #expect(s.counters.inBytes == 104)
        #expect(s.counters.cps == 106)
        let d = try IPVSCodec.decodeDestination(KernelReply.dest(withStats64: false), serviceFamily: .inet)
        #expect(d.counters.outPackets == 203 && d.counters.outBytes == 205)
    }

    @Test func decodesFwmarkIPv6ServiceWithPE() throws {
        let s = try IPVSCodec.decodeService(KernelReply.service(af: 10, fwmark: 0xdead_beef, sched: "mh", pe: "sip", flags: 0x13,
                                                                 timeout: 360, netmask: [64, 0, 0, 0]))
        #expect(s.key == .fwmark(0xdead_beef, .inet6))
        #expect(s.flags == [.persistent, .sched2])
        #expect(s.persistencePrefix == 64)
        #expect(s.persistenceEngine == "sip")
    }

    @Test func sixteenByteIPv4AddressIsNotReadAsIPv6() throws {
        // moby/ipvs PR #19: decide by AF, not by attribute length.
        let s = try IPVSCodec.decodeService(KernelReply.service())
        guard case .address(_, let sa) = s.key else { Issue.record("not an address service"); return }
        #expect(sa.address == IPAddress("192.168.0.21"))
        let d = try IPVSCodec.decodeDestination(KernelReply.dest(), serviceFamily: .inet)
        #expect(d.address == SocketAddress(address: IPAddress("10.0.1.11")!, port: 80))
        #expect(d.forwarding == .directRoute && d.weight == 1)
        #expect(d.activeConnections == 12 && d.inactiveConnections == 3 && d.persistentConnections == 1)
        #expect(d.counters.connections == 2_000_000_000_001)
        #expect(d.tunnel == nil)
    }

    @Test func destinationFamilyFallsBackToService() throws {
        // Kernels before ≈3.18 send no ADDR_FAMILY.
        let v6 = IPAddress("2001:db8::a")!
        let d = try IPVSCodec.decodeDestination(KernelReply.dest(addr: v6.bytes, af: nil, tun: nil), serviceFamily: .inet6)
        #expect(d.address.address == v6)
        // A mixed-family tunnel destination: IPv6 real server under an IPv4 service.
        let t = try IPVSCodec.decodeDestination(KernelReply.dest(addr: v6.bytes, af: 10, fwd: 2, tun: (1, 6080, 2)), serviceFamily: .inet)
        #expect(t.address.address == v6)
        #expect(t.forwarding == .tunnel)
        #expect(t.tunnel == TunnelSettings(kind: .gue, port: 6080, checksum: .remcsum))
        // Default tunnel settings read back as nil, like a tunnel configured without them.
        let ipip = try IPVSCodec.decodeDestination(KernelReply.dest(fwd: 2), serviceFamily: .inet)
        #expect(ipip.tunnel == nil && ipip.forwarding == .tunnel)
    }

    @Test func weightAndThresholds() throws {
        let d = try IPVSCodec.decodeDestination(KernelReply.dest(fwd: 0, weight: 65535, u: 100, l: 50), serviceFamily: .inet)
        #expect(d.forwarding == .masquerade && d.weight == 65535 && d.upperThreshold == 100 && d.lowerThreshold == 50)
    }

    @Test func malformedRepliesAreTypedErrors() throws {
        // A u16 FWMARK (the cloudflare/ipvs bug) is rejected, naming the attribute.
        let badMark = KernelReply.genl(1) { w in
            w.nest(1) { n in
                n.attributeHost(1, UInt16(2))
                n.attributeHost(5, UInt16(7))
            }
        }
        do {
            _ = try IPVSCodec.decodeService(badMark)
            Issue.record("accepted a u16 fwmark")
        } catch {
            #expect(error.code == .badAttribute && error.message.contains("FWMARK"))
        }
        // Unknown address family, protocol, missing nest, wrong command, short header.
        #expect(throws: NetlinkDecodingError.self) { try IPVSCodec.decodeService(KernelReply.service(af: 7)) }
        #expect(throws: NetlinkDecodingError.self) { try IPVSCodec.decodeService(KernelReply.service(proto: 47)) }
        #expect(throws: NetlinkDecodingError.self) { try IPVSCodec.decodeService(KernelReply.genl(1) { _ in }) }
        #expect(throws: NetlinkDecodingError.self) { try IPVSCodec.decodeService(KernelReply.dest()) }
        #expect(throws: NetlinkDecodingError.self) {
            try IPVSCodec.decodeService(NetlinkMessage(type: 0x1c, flags: [], payload: [1, 1]))
        }
        // Non-contiguous IPv4 netmask.
        #expect(throws: NetlinkDecodingError.self) { try IPVSCodec.decodeService(KernelReply.service(netmask: [255, 0, 255, 0])) }
        // IPv6 dest address cut short.
        #expect(throws: NetlinkDecodingError.self) {
            try IPVSCodec.decodeDestination(KernelReply.dest(addr: [0x20, 1, 0xd, 0xb8], af: 10), serviceFamily: .inet6)
        }
        // Every truncation of a valid reply's payload (with a consistent nlmsg_len) fails cleanly:
        // each cut either splits an attribute or drops a required one (stats come last, so cuts
        // inside them are checked up to the end of the legacy STATS nest).
        let full = KernelReply.service(withStats64: false)
        for n in 0..<(full.payload.count - 1) {
            var m = full
            m.payload = Array(full.payload.prefix(n))
            if (try? IPVSCodec.decodeService(m)) != nil { Issue.record("a \(n)-byte payload prefix decoded") }
        }
    }

    @Test func infoConfigAndDaemons() throws {
        let info = KernelReply.genl(14) { w in
            w.attributeHost(1, UInt32(0x010201))
            w.attributeHost(2, UInt32(4096))
        }
        #expect(try IPVSCodec.decodeInfo(info) == IPVSInfo(version: 0x010201, connectionTableSize: 4096))
        let cfg = KernelReply.genl(12) { w in
            w.attributeHost(4, UInt32(900))
            w.attributeHost(5, UInt32(120))
            w.attributeHost(6, UInt32(300))
        }
        #expect(try IPVSCodec.decodeConfig(cfg) == Timeouts(tcp: 900, tcpFin: 120, udp: 300))
        let daemon = KernelReply.genl(9) { w in
            w.nest(3) { n in
                n.attributeHost(1, UInt32(1))
                n.attributeString(2, "eth0")
                n.attributeHost(3, UInt32(5))
                n.attributeHost(4, UInt16(1472))
                n.attributeHost(7, UInt16(8848))
                n.attributeU8(8, 1)
                n.attribute(5, [224, 0, 0, 81])
            }
        }
        #expect(try IPVSCodec.decodeDaemon(daemon)
            == SyncDaemon(role: .master, interface: "eth0", syncID: 5, maxLength: 1472, group: IPAddress("224.0.0.81"), port: 8848, ttl: 1))
        #expect(throws: NetlinkDecodingError.self) { try IPVSCodec.decodeInfo(KernelReply.genl(14) { $0.attributeHost(1, UInt32(1)) }) }
        #expect(throws: NetlinkDecodingError.self) {
            try IPVSCodec.decodeDaemon(KernelReply.genl(9) { w in w.nest(3) { $0.attributeHost(1, UInt32(3)) } })
        }
    }

    @Test func requestsRoundTripThroughTheDecoder() throws {
        // What Vigil sends for a service decodes back to the same settings (the kernel echoes
        // the same attributes in the same encodings).
        for s in [
            VirtualService(key: .address(.sctp, SocketAddress(address: IPAddress("2001:db8::1")!, port: 443)), scheduler: "wlc",
                           flags: [.persistent], persistenceTimeout: 60, persistencePrefix: 48),
            VirtualService(key: .fwmark(42, .inet), scheduler: "sh", flags: [.sched1, .sched2], persistencePrefix: 16),
        ] {
            let m = IPVSCodec.newService(s, family: 0x1c)
            #expect(try IPVSCodec.decodeService(m).sameSettings(as: s))
        }
    }
}

@Suite struct ConnectionTableTests {
    @Test func parsesProcFormat() throws {
        let text = """
            Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
            TCP 0A090807 C822 C0A80015 0050 0A00010B 0050 ESTABLISHED     896
            UDP 0A090807 9C40 C0A80015 0035 0A00010D 0035 UDP             271
            IP  0A090800 0000 00000007 0000 0A00010E 0000 NONE            352
            UDP 0A090807 13C4 C0A80015 13C4 0A00010B 13C4 UDP             100 sip abc@host
            TCP 2001:0db8:0000:0000:0000:0000:0000:0009 C822 2001:0db8:0000:0000:0000:0000:0000:0001 0050 2001:0db8:0000:0000:0000:0000:0000:000a 0050 SYN_RECV         55

            """
        let e = try IPVSConnectionTable.parse(text)
        #expect(e.count == 5)
        #expect(e[0] == ConnectionEntry(
            protocolName: "TCP", client: SocketAddress(address: IPAddress("10.9.8.7")!, port: 51234),
            virtual: SocketAddress(address: IPAddress("192.168.0.21")!, port: 80),
            destination: SocketAddress(address: IPAddress("10.0.1.11")!, port: 80), state: "ESTABLISHED", expires: 896))
        #expect(e[2].protocolName == "IP" && e[2].virtual.address == IPAddress("0.0.0.7") && e[2].state == "NONE")
        #expect(e[3].persistenceEngine == "sip" && e[3].persistenceData == "abc@host")
        #expect(e[4].client.address == IPAddress("2001:db8::9") && e[4].state == "SYN_RECV")
    }

    @Test func badLinesNameTheLine() {
        do {
            _ = try IPVSConnectionTable.parse("Pro FromIP\nTCP 0A09080 C822 C0A80015 0050 0A00010B 0050 ESTABLISHED 896\n")
            Issue.record("accepted a 7-digit address")
        } catch {
            #expect(error.line == 2)
            #expect(error.description.contains("client address"))
        }
        #expect(throws: IPVSConnectionTable.ParseError.self) { try IPVSConnectionTable.parse("TCP 1 2 3\n") }
    }
}

@Suite struct IPVSFamilyTests {
    /// On a kernel without IPVS (like this project's machines) the backend says so with ENOENT
    /// from the generic netlink controller, which callers use to fall back to nftables.
    @Test(.enabled(if: !FileManager.default.fileExists(atPath: "/proc/net/ip_vs")))
    func missingIPVSIsNotFound() {
        do {
            _ = try IPVSBackend()
            Issue.record("IPVSBackend() succeeded without /proc/net/ip_vs")
        } catch let e as NetlinkError {
            #expect(e.code == .notFound)
            #expect(e.request == "CTRL_CMD_GETFAMILY IPVS")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
