import Testing
import NetCore

@Suite struct AddressTests {
    @Test func parsesAndPrintsIPv4() throws {
        let a = try #require(IPv4Address("192.168.0.21"))
        #expect(a.value == 0xC0A8_0015)
        #expect(a.description == "192.168.0.21")
        #expect(a.bytes == [192, 168, 0, 21])
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "01234.1.1.1", " 1.2.3.4", "1.2.3.4 ", "a.b.c.d", "1.2.3.-4"])
    func rejectsMalformedIPv4(_ text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test func parsesAndPrintsIPv6() throws {
        let a = try #require(IPAddress("2001:DB8:0:0:0:0:0:1"))
        #expect(a.description == "2001:db8::1")
        #expect(a.family == .inet6)
        #expect(IPAddress("fe80::1%eth0") == nil)
        #expect(IPAddress("::ffff:1.2.3.4")?.description == "::ffff:1.2.3.4")
    }

    @Test func prefixes() throws {
        let p = try #require(IPPrefix("192.168.0.21/24"))
        #expect(p.network.description == "192.168.0.0")
        #expect(p.netmask?.description == "255.255.255.0")
        #expect(p.contains(IPAddress("192.168.0.200")!))
        #expect(!p.contains(IPAddress("192.168.1.1")!))
        #expect(IPPrefix("10.0.0.1/33") == nil)
        #expect(IPPrefix("10.0.0.1/") == nil)
        #expect(IPPrefix("2001:db8::1/64")?.network.description == "2001:db8::")
        #expect(IPPrefix("10.0.0.1")?.length == 32)
    }

    @Test func macAndSocketAddress() throws {
        let m = try #require(MACAddress("02:77:00:00:00:0A"))
        #expect(m.description == "02:77:00:00:00:0a")
        #expect(MACAddress("02:77:00:00:00") == nil)
        #expect(SocketAddress(address: IPAddress("2001:db8::a")!, port: 80).description == "[2001:db8::a]:80")
        #expect(SocketAddress(address: IPAddress("10.0.1.11")!, port: 8080).description == "10.0.1.11:8080")
    }
}

import TestSupport

@Suite struct LabHelperTests {
    @Test(.enabled(if: isRoot)) func namespacesAreCreatedAndRemoved() throws {
        let lab = NetnsLab(prefix: "vgn")
        let a = try lab.addNamespace("a")
        let b = try lab.addNamespace("br")
        try lab.addBridge("br0", in: b)
        try lab.attach(a, ifname: "eth0", bridge: "br0", in: b, port: "pa", addresses: ["10.99.0.1/24"])
        #expect(try lab.sh(a, "ip -4 addr show dev eth0").contains("10.99.0.1/24"))
        lab.teardown()
        let list = try runCommand(["ip", "netns", "list"]).stdout
        #expect(!list.contains(a))
    }
}
