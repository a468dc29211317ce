import NetCore
import NetlinkCodec
import Testing
import TestSupport

func wire(_ m: NetlinkMessage, sequence: UInt32) -> [UInt8] {
    var m = m
    m.sequence = sequence
    return m.encoded()
}

/// Every expected byte string below was captured from iproute2 6.x with
/// `strace -e trace=sendmsg -e write=3 -xx ip ...` inside a namespace where `d0` has index 3.
@Suite struct RTNetlinkRequestTests {
    let seqA: UInt32 = 0x6b08_730c
    let seqR: UInt32 = 0x6b08_7311
    let seqL: UInt32 = 0x6b08_731d

    @Test func addIPv4AddressWithLabelBroadcastAndNoPrefixRoute() {
        // ip addr add 192.168.0.21/24 dev d0 label d0:vip scope global broadcast 192.168.0.255 noprefixroute
        let a = InterfaceAddress(
            interfaceIndex: 3, prefix: IPPrefix("192.168.0.21/24")!, label: "d0:vip", scope: .global,
            broadcast: IPv4Address("192.168.0.255"), flags: .noPrefixRoute)
        #expect(wire(RTNetlinkCodec.addressRequest(a, delete: false), sequence: seqA) == hex("""
            44 00 00 00 14 00 05 06  0c 73 08 6b 00 00 00 00
            02 18 00 00 03 00 00 00  08 00 02 00 c0 a8 00 15
            0b 00 03 00 64 30 3a 76  69 70 00 00 08 00 04 00
            c0 a8 00 ff 08 00 08 00  00 02 00 00 08 00 01 00
            c0 a8 00 15
            """))
    }

    @Test func deleteIPv4Address() {
        // ip addr del 192.168.0.21/24 dev d0 (label, broadcast and flags are not sent)
        let a = InterfaceAddress(
            interfaceIndex: 3, prefix: IPPrefix("192.168.0.21/24")!, label: "d0:vip", broadcast: IPv4Address("192.168.0.255"),
            flags: .noPrefixRoute)
        #expect(wire(RTNetlinkCodec.addressRequest(a, delete: true), sequence: seqA) == hex("""
            28 00 00 00 15 00 05 00  0c 73 08 6b 00 00 00 00
            02 18 00 00 03 00 00 00  08 00 02 00 c0 a8 00 15
            08 00 01 00 c0 a8 00 15
            """))
    }

    @Test func addIPv6AddressNoDADLinkScope() {
        // ip -6 addr add 2001:db8::5/64 dev d0 nodad scope link: flags fit in ifa_flags
        let a = InterfaceAddress(interfaceIndex: 3, prefix: IPPrefix("2001:db8::5/64")!, scope: .link, flags: .noDAD)
        #expect(wire(RTNetlinkCodec.addressRequest(a, delete: false), sequence: seqA) == hex("""
            40 00 00 00 14 00 05 06  0c 73 08 6b 00 00 00 00
            0a 40 02 fd 03 00 00 00  14 00 02 00 20 01 0d b8
            00 00 00 00 00 00 00 00  00 00 00 05 14 00 01 00
            20 01 0d b8 00 00 00 00  00 00 00 00 00 00 00 05
            """))
    }

    @Test func addPointToPointAddressHostScope() {
        // ip addr add 10.1.1.1/32 peer 10.1.1.2/32 dev d0 scope host
        let a = InterfaceAddress(interfaceIndex: 3, prefix: IPPrefix("10.1.1.1/32")!, scope: .host, peer: IPAddress("10.1.1.2"))
        #expect(wire(RTNetlinkCodec.addressRequest(a, delete: false), sequence: seqA) == hex("""
            28 00 00 00 14 00 05 06  0c 73 08 6b 00 00 00 00
            02 20 00 fe 03 00 00 00  08 00 02 00 0a 01 01 01
            08 00 01 00 0a 01 01 02
            """))
    }

    @Test func addIPv6AddressWithFlagsAndLifetimes() {
        // ip -6 addr add 2001:db8::7/64 dev d0 noprefixroute nodad home mngtmpaddr valid_lft 100 preferred_lft 50
        let a = InterfaceAddress(
            interfaceIndex: 3, prefix: IPPrefix("2001:db8::7/64")!,
            flags: [.noPrefixRoute, .noDAD, .homeAddress, .manageTempAddress], preferredLifetime: 50, validLifetime: 100)
        #expect(wire(RTNetlinkCodec.addressRequest(a, delete: false), sequence: seqL) == hex("""
            5c 00 00 00 14 00 05 06  1d 73 08 6b 00 00 00 00
            0a 40 00 00 03 00 00 00  14 00 02 00 20 01 0d b8
            00 00 00 00 00 00 00 00  00 00 00 07 08 00 08 00
            12 03 00 00 14 00 01 00  20 01 0d b8 00 00 00 00
            00 00 00 00 00 00 00 07  14 00 06 00 32 00 00 00
            64 00 00 00 00 00 00 00  00 00 00 00
            """))
        // ip -6 addr del 2001:db8::7/64 dev d0
        #expect(wire(RTNetlinkCodec.addressRequest(a, delete: true), sequence: seqL) == hex("""
            40 00 00 00 15 00 05 00  1d 73 08 6b 00 00 00 00
            0a 40 00 00 03 00 00 00  14 00 02 00 20 01 0d b8
            00 00 00 00 00 00 00 00  00 00 00 07 14 00 01 00
            20 01 0d b8 00 00 00 00  00 00 00 00 00 00 00 07
            """))
    }

    @Test func routeViaGatewayInTableWithSourceAndMetric() {
        // ip route add 10.20.0.0/16 via 10.9.0.254 dev d0 src 10.9.0.1 table 100 metric 50
        let r = RouteSpec(
            destination: IPPrefix("10.20.0.0/16")!, gateway: IPAddress("10.9.0.254"), interfaceIndex: 3,
            source: IPAddress("10.9.0.1"), table: 100, metric: 50)
        #expect(wire(RTNetlinkCodec.routeRequest(r, delete: false), sequence: seqR) == hex("""
            44 00 00 00 18 00 05 06  11 73 08 6b 00 00 00 00
            02 10 00 00 64 03 00 01  00 00 00 00 08 00 01 00
            0a 14 00 00 08 00 05 00  0a 09 00 fe 08 00 07 00
            0a 09 00 01 08 00 06 00  32 00 00 00 08 00 04 00
            03 00 00 00
            """))
        // ip route del (same arguments): protocol 0, scope nowhere, type unset
        #expect(wire(RTNetlinkCodec.routeRequest(r, delete: true), sequence: seqR) == hex("""
            44 00 00 00 19 00 05 00  11 73 08 6b 00 00 00 00
            02 10 00 00 64 00 ff 00  00 00 00 00 08 00 01 00
            0a 14 00 00 08 00 05 00  0a 09 00 fe 08 00 07 00
            0a 09 00 01 08 00 06 00  32 00 00 00 08 00 04 00
            03 00 00 00
            """))
    }

    @Test func routeInMainTable() {
        // ip route add 10.20.0.0/16 via 10.9.0.254 dev d0
        let r = RouteSpec(destination: IPPrefix("10.20.0.0/16")!, gateway: IPAddress("10.9.0.254"), interfaceIndex: 3)
        #expect(wire(RTNetlinkCodec.routeRequest(r, delete: false), sequence: seqR) == hex("""
            34 00 00 00 18 00 05 06  11 73 08 6b 00 00 00 00
            02 10 00 00 fe 03 00 01  00 00 00 00 08 00 01 00
            0a 14 00 00 08 00 05 00  0a 09 00 fe 08 00 04 00
            03 00 00 00
            """))
    }

    @Test func onlinkRouteSetsTheNexthopFlag() {
        // ip route add 10.20.0.0/16 via 10.9.0.254 dev d0 onlink: rtm_flags = RTNH_F_ONLINK (4)
        var r = RouteSpec(destination: IPPrefix("10.20.0.0/16")!, gateway: IPAddress("10.9.0.254"), interfaceIndex: 3)
        r.onLink = true
        #expect(wire(RTNetlinkCodec.routeRequest(r, delete: false), sequence: seqR) == hex("""
            34 00 00 00 18 00 05 06  11 73 08 6b 00 00 00 00
            02 10 00 00 fe 03 00 01  04 00 00 00 08 00 01 00
            0a 14 00 00 08 00 05 00  0a 09 00 fe 08 00 04 00
            03 00 00 00
            """))
    }

    @Test func blackholeRouteInLargeTable() {
        // ip route add blackhole 10.30.0.0/16 table 1000: rtm_table 0 + RTA_TABLE
        let r = RouteSpec(destination: IPPrefix("10.30.0.0/16")!, table: 1000, type: .blackhole)
        #expect(wire(RTNetlinkCodec.routeRequest(r, delete: false), sequence: seqR) == hex("""
            2c 00 00 00 18 00 05 06  11 73 08 6b 00 00 00 00
            02 10 00 00 00 03 00 06  00 00 00 00 08 00 01 00
            0a 1e 00 00 08 00 0f 00  e8 03 00 00
            """))
        // ip route del blackhole 10.30.0.0/16 table 1000
        #expect(wire(RTNetlinkCodec.routeRequest(r, delete: true), sequence: seqR) == hex("""
            2c 00 00 00 19 00 05 00  11 73 08 6b 00 00 00 00
            02 10 00 00 00 00 ff 06  00 00 00 00 08 00 01 00
            0a 1e 00 00 08 00 0f 00  e8 03 00 00
            """))
    }

    @Test func unreachableRoute() {
        // ip route add unreachable 10.31.0.0/16
        let r = RouteSpec(destination: IPPrefix("10.31.0.0/16")!, type: .unreachable)
        #expect(wire(RTNetlinkCodec.routeRequest(r, delete: false), sequence: seqR) == hex("""
            24 00 00 00 18 00 05 06  11 73 08 6b 00 00 00 00
            02 10 00 00 fe 03 00 07  00 00 00 00 08 00 01 00
            0a 1f 00 00
            """))
    }

    @Test func deviceRouteGetsLinkScope() {
        // ip route add 10.32.0.0/16 dev d0 scope link proto static
        let r = RouteSpec(destination: IPPrefix("10.32.0.0/16")!, interfaceIndex: 3, routeProtocol: 4)
        #expect(RTNetlinkCodec.routeRequest(r, delete: false).payload[6] == AddressScope.link.rawValue)
        #expect(wire(RTNetlinkCodec.routeRequest(r, delete: false), sequence: seqR) == hex("""
            2c 00 00 00 18 00 05 06  11 73 08 6b 00 00 00 00
            02 10 00 00 fe 04 fd 01  00 00 00 00 08 00 01 00
            0a 20 00 00 08 00 04 00  03 00 00 00
            """))
    }

    @Test func ipv6DeviceRouteWithMetric() {
        // ip -6 route add 2001:db8:1::/48 dev d0 metric 10: IPv6 keeps scope universe
        let r = RouteSpec(destination: IPPrefix("2001:db8:1::/48")!, interfaceIndex: 3, metric: 10)
        #expect(wire(RTNetlinkCodec.routeRequest(r, delete: false), sequence: seqR) == hex("""
            40 00 00 00 18 00 05 06  11 73 08 6b 00 00 00 00
            0a 30 00 00 fe 03 00 01  00 00 00 00 14 00 01 00
            20 01 0d b8 00 01 00 00  00 00 00 00 00 00 00 00
            08 00 06 00 0a 00 00 00  08 00 04 00 03 00 00 00
            """))
    }

    @Test func ruleWithEverySelector() {
        // ip rule add from 192.168.0.0/24 to 10.0.0.0/8 table 100 priority 1000 fwmark 7 iif d0 oif d1
        let r = RuleSpec(
            from: IPPrefix("192.168.0.0/24"), to: IPPrefix("10.0.0.0/8"), table: 100, priority: 1000, fwmark: 7,
            inputInterface: "d0", outputInterface: "d1")
        #expect(wire(RTNetlinkCodec.ruleRequest(r, delete: false), sequence: seqR) == hex("""
            4c 00 00 00 20 00 05 06  11 73 08 6b 00 00 00 00
            02 08 18 00 64 00 00 01  00 00 00 00 08 00 02 00
            c0 a8 00 00 08 00 01 00  0a 00 00 00 08 00 06 00
            e8 03 00 00 08 00 0a 00  07 00 00 00 07 00 03 00
            64 30 00 00 07 00 11 00  64 31 00 00
            """))
        // ip rule del (same arguments): action left unset
        #expect(wire(RTNetlinkCodec.ruleRequest(r, delete: true), sequence: seqR) == hex("""
            4c 00 00 00 21 00 05 00  11 73 08 6b 00 00 00 00
            02 08 18 00 64 00 00 00  00 00 00 00 08 00 02 00
            c0 a8 00 00 08 00 01 00  0a 00 00 00 08 00 06 00
            e8 03 00 00 08 00 0a 00  07 00 00 00 07 00 03 00
            64 30 00 00 07 00 11 00  64 31 00 00
            """))
    }

    @Test func ruleToLargeTable() {
        // ip rule add table 1000 pref 1001 (iproute2 adds an empty FRA_SRC for "from all"; Vigil omits it)
        let r = RuleSpec(table: 1000, priority: 1001)
        #expect(wire(RTNetlinkCodec.ruleRequest(r, delete: false), sequence: seqR) == hex("""
            2c 00 00 00 20 00 05 06  11 73 08 6b 00 00 00 00
            02 00 00 00 00 00 00 01  00 00 00 00
            08 00 0f 00 e8 03 00 00  08 00 06 00 e9 03 00 00
            """))
    }

    @Test func linkRequests() {
        // ip link show dev d0 (RTM_GETLINK with IFLA_EXT_MASK VF|SKIP_STATS then IFLA_IFNAME); ip sends
        // NLM_F_REQUEST only, Vigil adds NLM_F_ACK so every non-dump request ends with an ACK.
        let m = RTNetlinkCodec.getLinkRequest(name: "d0")
        #expect(wire(m, sequence: 0x6b08_7308) == hex("""
            30 00 00 00 12 00 05 00  08 73 08 6b 00 00 00 00
            00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
            08 00 1d 00 09 00 00 00  07 00 03 00 64 30 00 00
            """))
        // Dumps: RTM_GETLINK with IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS; RTM_GETADDR per family.
        #expect(wire(RTNetlinkCodec.dumpLinksRequest(), sequence: 1) == hex("""
            28 00 00 00 12 00 01 03  01 00 00 00 00 00 00 00
            00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
            08 00 1d 00 08 00 00 00
            """))
        #expect(wire(RTNetlinkCodec.dumpAddressesRequest(family: .inet6), sequence: 1) == hex("""
            18 00 00 00 16 00 01 03  01 00 00 00 00 00 00 00
            0a 00 00 00 00 00 00 00
            """))
        #expect(RTNetlinkCodec.dumpAddressesRequest(family: nil).payload[0] == 0)
    }
}
