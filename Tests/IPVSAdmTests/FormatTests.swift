import DataPlane
import IPVSAdm
import NetCore
import Testing

private func sa(_ s: String, _ port: UInt16) -> SocketAddress { SocketAddress(address: IPAddress(s)!, port: port) }

private func run(_ args: String, _ backend: MemoryBackend, stdin: String = "") async -> IPVSAdmResult {
    await IPVSAdm.run(arguments: args.split(separator: " ").map(String.init), standardInput: stdin, backend: backend)
}

@Suite struct LargeNumberTests {
    @Test(arguments: [
        (UInt64(0), "        0"), (99_999_999, " 99999999"), (100_000_000, "  100000K"), (999_999_999, "  999999K"),
        (1_000_000_000, "    1000M"), (99_999_999_999, "   99999M"), (100_000_000_000, "     100G"),
        (123_456_789_012, "     123G"), (99_999_999_999_999, "   99999G"), (100_000_000_000_000, "     100T"),
        (UInt64.max, "18446744T"),
    ])
    func scaled(value: UInt64, text: String) {
        #expect(formatLargeNumber(value, exact: false) == text)
    }

    @Test func exactWidensPastEightDigits() {
        #expect(formatLargeNumber(12_345_678, exact: true) == " 12345678")
        #expect(formatLargeNumber(123_456_789_012, exact: true) == " 123456789012")
        #expect(formatLargeNumber(0, exact: true) == "        0")
    }
}

@Suite struct ListingTests {
    /// Counters and connection counts only come from a kernel; set them directly.
    private func backendWithTraffic() async throws -> MemoryBackend {
        var svc = VirtualService(key: .address(.tcp, sa("192.168.0.21", 80)), scheduler: "rr")
        var d1 = Destination(address: sa("10.0.1.11", 80))
        d1.activeConnections = 12
        d1.inactiveConnections = 3
        d1.persistentConnections = 4
        d1.counters.connections = 61728
        d1.counters.inPackets = 49_382_716
        d1.counters.inBytes = 61_728_000_000
        d1.counters.cps = 6
        d1.counters.inPPS = 170
        d1.counters.inBPS = 13600
        svc.destinations = [d1]
        svc.counters.connections = 123_456
        svc.counters.inPackets = 98_765_432
        svc.counters.inBytes = 123_456_789_012
        svc.counters.cps = 12
        svc.counters.inPPS = 340
        svc.counters.inBPS = 27200
        var state = MemoryBackend.State()
        state.services = [svc]
        return MemoryBackend(state: state)
    }

    @Test func statsScaleAndExact() async throws {
        let b = try await backendWithTraffic()
        let r = await run("-Ln --stats", b)
        #expect(r.stdout == """
            IP Virtual Server version 1.2.1 (size=4096)
            Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
              -> RemoteAddress:Port
            TCP  192.168.0.21:80                123456 98765432        0     123G        0
              -> 10.0.1.11:80                    61728 49382716        0   61728M        0

            """)
        let x = await run("-Ln --stats --exact", b)
        #expect(x.stdout.contains("TCP  192.168.0.21:80                123456 98765432        0 123456789012        0\n"))
    }

    @Test func rateColumns() async throws {
        let r = await run("-Ln --rate", try await backendWithTraffic())
        #expect(r.stdout.hasSuffix("""
            Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
              -> RemoteAddress:Port
            TCP  192.168.0.21:80                    12      340        0    27200        0
              -> 10.0.1.11:80                        6      170        0    13600        0

            """))
    }

    @Test func activeAndPersistentCounts() async throws {
        let b = try await backendWithTraffic()
        #expect(await run("-Ln", b).stdout.contains("  -> 10.0.1.11:80                 Route   1      12         3         \n"))
        #expect(await run("-Ln --persistent-conn", b).stdout.contains("  -> 10.0.1.11:80                 1         4           12         3         \n"))
    }

    @Test func connectionListing() async throws {
        let b = MemoryBackend()
        await b.setConnections([
            ConnectionEntry(protocolName: "TCP", client: sa("10.9.8.7", 51234), virtual: sa("192.168.0.21", 80), destination: sa("10.0.1.11", 80), state: "ESTABLISHED", expires: 896),
            ConnectionEntry(protocolName: "UDP", client: sa("10.9.8.7", 40000), virtual: sa("192.168.0.21", 53), destination: sa("10.0.1.13", 53), state: "UDP", expires: 271),
            ConnectionEntry(protocolName: "TCP", client: sa("10.9.8.0", 0), virtual: sa("192.168.0.21", 443), destination: sa("10.0.1.11", 443), state: "NONE", expires: 6000),
            ConnectionEntry(protocolName: "UDP", client: sa("2001:db8::7", 5060), virtual: sa("2001:db8::1", 5060), destination: sa("2001:db8::a", 5060), state: "UDP", expires: 5, persistenceEngine: "sip", persistenceData: "abc@host"),
        ])
        let r = await run("-Lnc", b)
        #expect(r.stdout == """
            IPVS connection entries
            pro expire state       source             virtual            destination
            TCP 14:56  ESTABLISHED 10.9.8.7:51234     192.168.0.21:80    10.0.1.11:80
            UDP 04:31  UDP         10.9.8.7:40000     192.168.0.21:53    10.0.1.13:53
            TCP 100:00 NONE        10.9.8.0:0         192.168.0.21:443   10.0.1.11:443
            UDP 00:05  UDP         [2001:db8::7]:5060 [2001:db8::1]:5060 [2001:db8::a]:5060

            """)
        let p = await run("-Lnc --persistent-conn", b)
        #expect(p.stdout.hasSuffix("UDP 00:05  UDP         [2001:db8::7]:5060 [2001:db8::1]:5060 [2001:db8::a]:5060 sip                abc@host\n"))
    }

    @Test func daemonListing() async throws {
        let b = MemoryBackend()
        #expect(await run("--start-daemon master --mcast-interface eth1 --syncid 5", b).exitCode == 0)
        #expect(await run("--start-daemon backup --mcast-interface eth1 --syncid 7 --mcast-group 239.1.1.1 --mcast-port 9000 --mcast-ttl 3 --sync-maxlen 1400", b).exitCode == 0)
        #expect(await run("-L --daemon", b).stdout == """
            master sync daemon (mcast=eth1, syncid=5, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)
            backup sync daemon (mcast=eth1, syncid=7, maxlen=1400, group=239.1.1.1, port=9000, ttl=3)

            """)
        let again = await run("--start-daemon master", b)
        #expect(again.stderr == "Daemon has already run\n" && again.exitCode == 255)
        #expect(await run("--stop-daemon master", b).exitCode == 0)
        #expect(await run("--stop-daemon master", b).stderr == "No daemon is running\n")
    }

    @Test func longestNumericNamesFitTheColumns() async throws {
        let b = MemoryBackend()
        _ = await run("-A --sctp-service 255.255.255.254:65535 -p", b)
        _ = await run("-a --sctp-service 255.255.255.254:65535 -r 200.200.200.200 -m", b)
        let stats = await run("-Ln --stats", b).stdout
        #expect(stats.contains("\nSCTP 255.255.255.254:65535" + String(repeating: " ", count: 7) + String(repeating: "        0", count: 5) + "\n"))
        #expect(await run("-Ln", b).stdout.contains("\n  -> 200.200.200.200:65535        Masq    1      0          0         \n"))
    }
}

@Suite struct SortTests {
    @Test func wrapAroundPutsHighAddressesFirst() async throws {
        let b = MemoryBackend()
        for a in ["10.0.0.1:80", "192.168.1.1:80", "1.2.3.4:80", "172.16.0.1:80"] { _ = await run("-A -t \(a)", b) }
        for m in ["1", "3000000000", "4294967295"] { _ = await run("-A -f \(m)", b) }
        let out = await run("-S -n", b).stdout
        #expect(out == """
            -A -f -1294967296 -s wlc
            -A -f -1 -s wlc
            -A -t 172.16.0.1:80 -s wlc
            -A -t 192.168.1.1:80 -s wlc
            -A -t 1.2.3.4:80 -s wlc
            -A -t 10.0.0.1:80 -s wlc
            -A -f 1 -s wlc

            """)
    }

    @Test func nosortKeepsKernelOrderNewestDestinationFirst() async throws {
        let b = MemoryBackend()
        _ = await run("-A -t 10.0.0.1:80", b)
        for r in ["10.0.0.3", "10.0.0.2", "10.0.0.4"] { _ = await run("-a -t 10.0.0.1:80 -r \(r)", b) }
        let sorted = await run("-Ln -t 10.0.0.1:80", b).stdout.split(separator: "\n").filter { $0.contains("->") && $0.contains("Route") }
        let unsorted = await run("-Ln --nosort -t 10.0.0.1:80", b).stdout.split(separator: "\n").filter { $0.contains("->") && $0.contains("Route") }
        #expect(sorted.map { $0.split(separator: " ")[1] } == ["10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"])
        #expect(unsorted.map { $0.split(separator: " ")[1] } == ["10.0.0.4:80", "10.0.0.2:80", "10.0.0.3:80"])
    }
}
