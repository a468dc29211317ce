import DataPlane
import DataPlaneIPVS
import IPVSAdm
import NetCore
import NetlinkCodec
import Testing
import TestSupport

func wire(_ m: NetlinkMessage, sequence: UInt32 = 1) -> [UInt8] {
    var m = m
    m.sequence = sequence
    return m.encoded()
}

let vip80 = ServiceKey.address(.tcp, SocketAddress(address: IPAddress("192.168.0.21")!, port: 80))
let fam: UInt16 = 0x1c

/// Requests compared byte for byte with what ipvsadm 1.31 (libipvs + libnl) sends (ipvs.md §4.4).
@Suite struct IPVSRequestTests {
    // The SERVICE nest of §4.4 with a scheduler name attribute `sched` (already padded to 8 bytes).
    static func serviceNest(sched: String) -> String {
        """
        54 00 01 00
        06 00 01 00 02 00 00 00
        06 00 02 00 06 00 00 00
        14 00 03 00 c0 a8 00 15 00 00 00 00 00 00 00 00 00 00 00 00
        06 00 04 00 00 50 00 00
        \(sched)
        0c 00 07 00 00 00 00 00 ff ff ff ff
        08 00 08 00 00 00 00 00
        08 00 09 00 ff ff ff ff
        """
    }

    @Test func addServiceMatchesIpvsadmByteForByte() {
        // ipvsadm -A -t 192.168.0.21:80 -s rr (ipvs.md §4.4, family 0x1c, seq 1, pid 0)
        let m = IPVSCodec.newService(VirtualService(key: vip80, scheduler: "rr"), family: fam)
        #expect(wire(m) == hex("68 00 00 00 1c 00 05 00 01 00 00 00 00 00 00 00  01 01 00 00" + Self.serviceNest(sched: "07 00 06 00 72 72 00 00")))
    }

    @Test func addDestinationMatchesIpvsadmByteForByte() {
        // ipvsadm -a -t 192.168.0.21:80 -r 10.0.1.11:80 -g -w 1: 200 bytes; the service nest has an
        // empty scheduler name, as ipvsadm sets the default scheduler only for -A/-E.
        let d = Destination(address: SocketAddress(address: IPAddress("10.0.1.11")!, port: 80), forwarding: .directRoute, weight: 1)
        let m = IPVSCodec.newDestination(d, in: vip80, family: fam)
        let expected = hex(
            "c8 00 00 00 1c 00 05 00 01 00 00 00 00 00 00 00  05 01 00 00" + Self.serviceNest(sched: "05 00 06 00 00 00 00 00")
                + """
                60 00 02 00
                06 00 0b 00 02 00 00 00
                14 00 01 00 0a 00 01 0b 00 00 00 00 00 00 00 00 00 00 00 00
                06 00 02 00 00 50 00 00
                08 00 03 00 03 00 00 00
                08 00 04 00 01 00 00 00
                05 00 0d 00 00 00 00 00
                06 00 0e 00 00 00 00 00
                06 00 0f 00 00 00 00 00
                08 00 05 00 00 00 00 00
                08 00 06 00 00 00 00 00
                """)
        #expect(expected.count == 200)
        #expect(wire(m) == expected)
        // -e and -d use the same layout with commands 6 and 7.
        #expect(wire(IPVSCodec.setDestination(d, in: vip80, family: fam))[16] == 6)
        let del = wire(IPVSCodec.deleteDestination(d.address, in: vip80, family: fam))
        #expect(del[16] == 7 && del.count == 200 && Array(del[20...]) == Array(expected[20...]))
    }

    @Test func editAndGetService() {
        // ipvsadm -E -t 192.168.0.21:80 -s rr: SET_SERVICE with the full nest
        let e = IPVSCodec.setService(VirtualService(key: vip80, scheduler: "rr"), family: fam)
        #expect(wire(e) == hex("68 00 00 00 1c 00 05 00 01 00 00 00 00 00 00 00  02 01 00 00" + Self.serviceNest(sched: "07 00 06 00 72 72 00 00")))
        // ipvsadm -L -t 192.168.0.21:80: GET_SERVICE do (not a dump) with the nest ipvsadm builds
        let g = IPVSCodec.getService(vip80, family: fam)
        #expect(wire(g) == hex("68 00 00 00 1c 00 05 00 01 00 00 00 00 00 00 00  04 01 00 00" + Self.serviceNest(sched: "05 00 06 00 00 00 00 00")))
        // ipvsadm -Z -t 192.168.0.21:80
        let z = IPVSCodec.zero(vip80, family: fam)
        #expect(wire(z) == hex("68 00 00 00 1c 00 05 00 01 00 00 00 00 00 00 00  10 01 00 00" + Self.serviceNest(sched: "05 00 06 00 00 00 00 00")))
    }

    @Test func deleteServiceSendsTheFullNestWithEmptyScheduler() {
        let m = IPVSCodec.deleteService(vip80, family: fam)
        #expect(wire(m) == hex("68 00 00 00 1c 00 05 00 01 00 00 00 00 00 00 00  03 01 00 00" + Self.serviceNest(sched: "05 00 06 00 00 00 00 00")))
    }

    @Test func persistentServiceWithNetmaskFlagsAndPE() throws {
        // ipvsadm -A -u 192.168.0.21:5060 -s sh -p 50 -M 255.255.255.0 --pe sip -o -b sh-fallback,sh-port
        let key = ServiceKey.address(.udp, SocketAddress(address: IPAddress("192.168.0.21")!, port: 5060))
        let s = VirtualService(key: key, scheduler: "sh", flags: [.persistent, .onePacket, .sched1, .sched2, .hashed],
                               persistenceTimeout: 50, persistencePrefix: 24, persistenceEngine: "sip")
        let b = wire(IPVSCodec.newService(s, family: fam))
        let attrs = try NetlinkAttribute.parseList(Array(b[20...]), context: "t")
        let svc = try attrs[0].nested(context: "svc")
        #expect(svc.map(\.type) == [1, 2, 3, 4, 6, 11, 7, 8, 9])
        #expect(svc[1].payload == [17, 0])
        #expect(svc[3].payload == [0x13, 0xc4])  // 5060 big-endian
        #expect(svc[4].payload == Array("sh".utf8) + [0])
        #expect(svc[5].payload == Array("sip".utf8) + [0])
        // The kernel-internal HASHED flag is never sent; the mask is all ones.
        #expect(svc[6].payload == [0x1d, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])
        #expect(svc[7].payload == [50, 0, 0, 0])
        #expect(svc[8].payload == [0xff, 0xff, 0xff, 0x00])
    }

    @Test func ipv6FwmarkServiceUsesU32MarkAndPrefixLength() throws {
        // ipvsadm -A -f 7 -6 -s mh -p 360 -M 64: FWMARK must be a u32 (a u16 gets EINVAL, ipvs.md §4.5)
        let s = VirtualService(key: .fwmark(7, .inet6), scheduler: "mh", flags: [.persistent], persistenceTimeout: 360, persistencePrefix: 64)
        let b = wire(IPVSCodec.newService(s, family: fam))
        #expect(b == hex("""
            4c 00 00 00 1c 00 05 00 01 00 00 00 00 00 00 00  01 01 00 00
            38 00 01 00
            06 00 01 00 0a 00 00 00
            08 00 05 00 07 00 00 00
            07 00 06 00 6d 68 00 00
            0c 00 07 00 01 00 00 00 ff ff ff ff
            08 00 08 00 68 01 00 00
            08 00 09 00 40 00 00 00
            """))
        // An IPv6 service without persistence sends prefix 128.
        let plain = wire(IPVSCodec.deleteService(.address(.tcp, SocketAddress(address: IPAddress("2001:db8::1")!, port: 80)), family: fam))
        #expect(Array(plain.suffix(8)) == [8, 0, 9, 0, 128, 0, 0, 0])
    }

    @Test func tunnelDestinations() throws {
        // -a ... -i --tun-type gue --tun-port 6080 --tun-csum -w 3 -x 100 -y 50
        let d = Destination(address: SocketAddress(address: IPAddress("2001:db8::a")!, port: 0), forwarding: .tunnel, weight: 3,
                            upperThreshold: 100, lowerThreshold: 50, tunnel: TunnelSettings(kind: .gue, port: 6080, checksum: .csum))
        let b = wire(IPVSCodec.newDestination(d, in: .fwmark(7, .inet), family: fam))
        let attrs = try NetlinkAttribute.parseList(Array(b[20...]), context: "t")
        let dest = try attrs[1].nested(context: "dest")
        #expect(dest.map(\.type) == [11, 1, 2, 3, 4, 13, 14, 15, 5, 6])
        #expect(dest[0].payload == [10, 0])
        #expect(dest[1].payload == IPAddress("2001:db8::a")!.bytes)
        #expect(dest[3].payload == [2, 0, 0, 0])
        #expect(dest[5].payload == [1])
        #expect(dest[6].payload == [0x17, 0xc0])  // 6080 big-endian
        #expect(dest[7].payload == [1, 0])
        #expect(dest[8].payload == [100, 0, 0, 0] && dest[9].payload == [50, 0, 0, 0])
        // A tunnel without settings is IPIP; a non-tunnel destination never sends tunnel settings.
        var g = d
        g.forwarding = .directRoute
        let gb = try NetlinkAttribute.parseList(Array(wire(IPVSCodec.newDestination(g, in: vip80, family: fam))[20...]), context: "t")
        let gd = try gb[1].nested(context: "dest")
        #expect(gd[5].payload == [0] && gd[6].payload == [0, 0] && gd[7].payload == [0, 0])
    }

    @Test func globalCommands() {
        #expect(wire(IPVSCodec.flush(family: fam)) == hex("14 00 00 00 1c 00 05 00 01 00 00 00 00 00 00 00 11 01 00 00"))
        #expect(wire(IPVSCodec.zero(nil, family: fam)) == hex("14 00 00 00 1c 00 05 00 01 00 00 00 00 00 00 00 10 01 00 00"))
        #expect(wire(IPVSCodec.getInfo(family: fam)) == hex("14 00 00 00 1c 00 05 00 01 00 00 00 00 00 00 00 0f 01 00 00"))
        #expect(wire(IPVSCodec.getConfig(family: fam)) == hex("14 00 00 00 1c 00 05 00 01 00 00 00 00 00 00 00 0d 01 00 00"))
        // ipvsadm --set 3600 120 300
        #expect(wire(IPVSCodec.setConfig(Timeouts(tcp: 3600, tcpFin: 120, udp: 300), family: fam)) == hex("""
            2c 00 00 00 1c 00 05 00 01 00 00 00 00 00 00 00 0c 01 00 00
            08 00 04 00 10 0e 00 00  08 00 05 00 78 00 00 00  08 00 06 00 2c 01 00 00
            """))
        // Dumps: NLM_F_REQUEST|NLM_F_ACK|NLM_F_DUMP.
        #expect(wire(IPVSCodec.dumpServices(family: fam)) == hex("14 00 00 00 1c 00 05 03 01 00 00 00 00 00 00 00 04 01 00 00"))
        #expect(wire(IPVSCodec.dumpDaemons(family: fam)) == hex("14 00 00 00 1c 00 05 03 01 00 00 00 00 00 00 00 0b 01 00 00"))
        // GET_DEST dump carries only the service identity.
        #expect(wire(IPVSCodec.dumpDestinations(of: vip80, family: fam)) == hex("""
            44 00 00 00 1c 00 05 03 01 00 00 00 00 00 00 00 08 01 00 00
            30 00 01 00
            06 00 01 00 02 00 00 00
            06 00 02 00 06 00 00 00
            14 00 03 00 c0 a8 00 15 00 00 00 00 00 00 00 00 00 00 00 00
            06 00 04 00 00 50 00 00
            """))
    }

    @Test func daemonCommands() {
        // ipvsadm --start-daemon master --mcast-interface eth0 --syncid 5 --sync-maxlen 1400
        //   --mcast-group 224.0.0.82 --mcast-port 8849 --mcast-ttl 2
        let d = SyncDaemon(role: .master, interface: "eth0", syncID: 5, maxLength: 1400, group: IPAddress("224.0.0.82"), port: 8849, ttl: 2)
        #expect(wire(IPVSCodec.newDaemon(d, family: fam)) == hex("""
            54 00 00 00 1c 00 05 00 01 00 00 00 00 00 00 00 09 01 00 00
            40 00 03 00
            08 00 01 00 01 00 00 00
            09 00 02 00 65 74 68 30 00 00 00 00
            08 00 03 00 05 00 00 00
            06 00 04 00 78 05 00 00
            06 00 07 00 91 22 00 00
            05 00 08 00 02 00 00 00
            08 00 05 00 e0 00 00 52
            """))
        // Defaults are left out; an IPv6 group uses GROUP6.
        let b = SyncDaemon(role: .backup, interface: "eth1", syncID: 0, group: IPAddress("ff02::81"))
        let bytes = wire(IPVSCodec.newDaemon(b, family: fam))
        #expect(bytes.count == 20 + 4 + 8 + 12 + 8 + 20)
        #expect(Array(bytes.suffix(20)) == [20, 0, 6, 0] + IPAddress("ff02::81")!.bytes)
        // ipvsadm --stop-daemon backup
        #expect(wire(IPVSCodec.deleteDaemon(role: .backup, family: fam)) == hex("""
            30 00 00 00 1c 00 05 00 01 00 00 00 00 00 00 00 0a 01 00 00
            1c 00 03 00
            08 00 01 00 02 00 00 00
            05 00 02 00 00 00 00 00
            08 00 03 00 00 00 00 00
            """))
    }

    @Test func familyResolutionMatchesLibnl() {
        // libnl genl_ctrl_resolve("IPVS"), captured with strace from ipvsadm on this host.
        #expect(wire(GenericNetlink.getFamilyRequest(name: "IPVS"), sequence: 0x6b08_755d) == hex("""
            20 00 00 00 10 00 05 00 5d 75 08 6b 00 00 00 00
            03 01 00 00 09 00 02 00 49 50 56 53 00 00 00 00
            """))
    }

    @Test func errorTextFollowsIpvsadm() {
        #expect(IPVSCodec.errorText(17, command: .newService) == "Service already exists")
        #expect(IPVSCodec.errorText(17, command: .newDestination) == "Destination already exists")
        #expect(IPVSCodec.errorText(3, command: .newDestination) == "Service not defined")
        #expect(IPVSCodec.errorText(3, command: .deleteService) == "No such service")
        #expect(IPVSCodec.errorText(2, command: .setService) == "Scheduler or persistence engine not found")
        #expect(IPVSCodec.errorText(2, command: .deleteDestination) == "No such destination")
        #expect(IPVSCodec.errorText(3, command: .deleteDaemon) == "No daemon is running")
        #expect(IPVSCodec.errorText(1, command: .flush) == "Permission denied (you must be root)")
        #expect(IPVSCodec.errorText(34, command: .newDestination) == "Numerical result out of range")
    }
}
