import DataPlane
import DataPlaneIPVS
import Foundation
import IPVSAdm
import NetCore
import Testing
import TestSupport

/// IPVS against a real kernel: the host has no IPVS, so one guest boot of `tools/ipvs-vm` runs
/// the built `ipvs-probe` (which programs and reads IPVS only through `IPVSBackend`) next to
/// Debian's ipvsadm 1.31, and each side checks the other (reference/ipvs.md §3.2, §4).
enum KernelLab {
    static var vmPath: String? { ipvsVMPath }

    static var available: Bool {
        ipvsVMAvailable
    }

    /// `.build/debug/ipvs-probe`, resolved (ipvs-vm copies the real file, not the symlink).
    static var probePath: String {
        let p = URL(fileURLWithPath: vigilBinaryPath).deletingLastPathComponent().appendingPathComponent("ipvs-probe").path
        return URL(fileURLWithPath: p).resolvingSymlinksInPath().path
    }

    static func json(_ v: some Encodable) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: try e.encode(v), as: UTF8.self)
    }

    /// `ipvsadm -L` body (after the 3 header lines) as service line → set of its destination
    /// lines, blanks collapsed.
    static func listBlocks(_ lines: [String]) -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        var current: String?
        for l in lines {
            let norm = l.split(separator: " ").joined(separator: " ")
            if norm.hasPrefix("-> "), let c = current {
                out[c, default: []].insert(norm)
            } else {
                current = norm
                out[norm] = []
            }
        }
        return out
    }

    /// `ipvsadm -S` output as service line → set of its destination lines.
    static func saveBlocks(_ lines: [String]) -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        var current: String?
        for l in lines {
            if l.hasPrefix("-A ") {
                current = l
                out[l] = []
            } else if l.hasPrefix("-a "), let c = current {
                out[c, default: []].insert(l)
            }
        }
        return out
    }
}

func sa(_ s: String, _ port: UInt16) -> SocketAddress { SocketAddress(address: IPAddress(s)!, port: port) }

@Suite(.serialized, .enabled(if: KernelLab.available)) struct IPVSKernelTests {
    static let schedulers = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"]

    /// State A, programmed by Vigil, with the `ipvsadm-save -n` lines and the `ipvsadm -Ln`
    /// lines (blanks collapsed) it must produce.
    static func stateA() -> (DataPlaneState, save: [String: Set<String>], list: [String: Set<String>]) {
        var services: [VirtualService] = []
        var save: [String: Set<String>] = [:]
        var list: [String: Set<String>] = [:]
        func add(_ s: VirtualService, _ line: String, _ dests: [String], list l: String, _ ldests: [String]) {
            services.append(s)
            save[line] = Set(dests)
            list[l] = Set(ldests)
        }
        let v80 = ServiceKey.address(.tcp, sa("192.168.0.21", 80))
        add(VirtualService(key: v80, scheduler: "rr", destinations: [
            Destination(address: sa("10.0.1.11", 80), forwarding: .directRoute, weight: 1),
            Destination(address: sa("10.0.1.12", 8080), forwarding: .masquerade, weight: 2),
        ]), "-A -t 192.168.0.21:80 -s rr", [
            "-a -t 192.168.0.21:80 -r 10.0.1.11:80 -g -w 1", "-a -t 192.168.0.21:80 -r 10.0.1.12:8080 -m -w 2",
        ], list: "TCP 192.168.0.21:80 rr", ["-> 10.0.1.11:80 Route 1 0 0", "-> 10.0.1.12:8080 Masq 2 0 0"])
        for (i, name) in schedulers.enumerated() {
            let n = i + 1
            add(VirtualService(key: .address(.tcp, sa("10.10.0.\(n)", 80)), scheduler: name, destinations: [
                Destination(address: sa("10.0.2.\(n)", 80), weight: Int32(n)),
            ]), "-A -t 10.10.0.\(n):80 -s \(name)", ["-a -t 10.10.0.\(n):80 -r 10.0.2.\(n):80 -g -w \(n)"],
                list: "TCP 10.10.0.\(n):80 \(name)", ["-> 10.0.2.\(n):80 Route \(n) 0 0"])
        }
        add(VirtualService(key: .address(.tcp, sa("192.168.0.21", 443)), scheduler: "wlc", flags: .persistent, persistenceTimeout: 50,
                           persistencePrefix: 24, destinations: [
            Destination(address: sa("10.0.1.11", 443), forwarding: .masquerade, weight: 1, upperThreshold: 100, lowerThreshold: 50),
        ]), "-A -t 192.168.0.21:443 -s wlc -p 50 -M 255.255.255.0", ["-a -t 192.168.0.21:443 -r 10.0.1.11:443 -m -w 1"],
            list: "TCP 192.168.0.21:443 wlc persistent 50 mask 255.255.255.0", ["-> 10.0.1.11:443 Masq 1 0 0"])
        add(VirtualService(key: .address(.udp, sa("192.168.0.21", 53)), scheduler: "sh", flags: [.onePacket, .sched1, .sched2], destinations: [
            Destination(address: sa("10.0.1.13", 53), forwarding: .masquerade, weight: 0),
        ]), "-A -u 192.168.0.21:53 -s sh -o -b sh-fallback,sh-port", ["-a -u 192.168.0.21:53 -r 10.0.1.13:53 -m -w 0"],
            list: "UDP 192.168.0.21:53 sh (sh-fallback,sh-port) ops", ["-> 10.0.1.13:53 Masq 0 0 0"])
        add(VirtualService(key: .address(.tcp, sa("2001:db8::1", 80)), scheduler: "rr", destinations: [
            Destination(address: sa("2001:db8::a", 80), forwarding: .masquerade, weight: 1),
        ]), "-A -t [2001:db8::1]:80 -s rr", ["-a -t [2001:db8::1]:80 -r [2001:db8::a]:80 -m -w 1"],
            list: "TCP [2001:db8::1]:80 rr", ["-> [2001:db8::a]:80 Masq 1 0 0"])
        add(VirtualService(key: .fwmark(7, .inet), scheduler: "mh", flags: [.persistent, .sched2], persistenceTimeout: 360, destinations: [
            Destination(address: sa("10.0.1.14", 0), forwarding: .tunnel, weight: 1),
            Destination(address: sa("2001:db8::d", 0), forwarding: .tunnel, weight: 1),  // mixed family: TUN only
        ]), "-A -f 7 -s mh -p 360 -b mh-port", [
            "-a -f 7 -r 10.0.1.14:0 -i -w 1 --tun-type ipip", "-a -f 7 -r [2001:db8::d]:0 -i -w 1 --tun-type ipip",
        ], list: "FWM 7 mh (mh-port) persistent 360", ["-> 10.0.1.14:0 Tunnel 1 0 0", "-> [2001:db8::d]:0 Tunnel 1 0 0"])
        add(VirtualService(key: .fwmark(8, .inet6), scheduler: "wrr", flags: .persistent, persistenceTimeout: 120, persistencePrefix: 64,
                           destinations: [
            Destination(address: sa("2001:db8::b", 0), forwarding: .tunnel, weight: 3, tunnel: TunnelSettings(kind: .gue, port: 6080, checksum: .csum)),
            Destination(address: sa("2001:db8::c", 0), forwarding: .tunnel, weight: 2, tunnel: TunnelSettings(kind: .gre, checksum: .nocsum)),
            Destination(address: sa("2001:db8::e", 0), forwarding: .tunnel, weight: 1, tunnel: TunnelSettings(kind: .gue, port: 6081, checksum: .remcsum)),
        ]), "-A -f 8 -6 -s wrr -p 120 -M 64", [
            "-a -f 8 -6 -r [2001:db8::b]:0 -i -w 3 --tun-type gue --tun-port 6080 --tun-csum",
            "-a -f 8 -6 -r [2001:db8::c]:0 -i -w 2 --tun-type gre --tun-nocsum",
            "-a -f 8 -6 -r [2001:db8::e]:0 -i -w 1 --tun-type gue --tun-port 6081 --tun-remcsum",
        ], list: "FWM 8 IPv6 wrr persistent 120 mask 64",
            ["-> [2001:db8::b]:0 Tunnel 3 0 0", "-> [2001:db8::c]:0 Tunnel 2 0 0", "-> [2001:db8::e]:0 Tunnel 1 0 0"])
        add(VirtualService(key: .address(.sctp, sa("192.168.0.21", 3868)), scheduler: "rr", destinations: [
            Destination(address: sa("10.0.1.15", 3868), weight: 1),
        ]), "-A --sctp-service 192.168.0.21:3868 -s rr", ["-a --sctp-service 192.168.0.21:3868 -r 10.0.1.15:3868 -g -w 1"],
            list: "SCTP 192.168.0.21:3868 rr", ["-> 10.0.1.15:3868 Route 1 0 0"])
        return (DataPlaneState(services: services), save, list)
    }

    /// State B, programmed with `ipvsadm -R`, and what IPVSBackend must read back.
    static let restoreB = """
        -A -t 192.168.0.21:80 -s wrr
        -a -t 192.168.0.21:80 -r 10.0.1.11:80 -g -w 4
        -a -t 192.168.0.21:80 -r 10.0.1.12:80 -g -w 3
        -a -t 192.168.0.21:80 -r 10.0.1.13:80 -m -w 2 -x 10 -y 5
        -A -u 192.168.0.21:53 -s sh -b sh-fallback -o
        -a -u 192.168.0.21:53 -r 10.0.1.13:5353 -m -w 0
        -A -t [2001:db8::1]:443 -s lc -p 600 -M 64
        -a -t [2001:db8::1]:443 -r [2001:db8::a]:443 -m -w 1
        -A -f 9 -s dh
        -a -f 9 -r 10.0.1.14:0 -i -w 5 --tun-type gue --tun-port 5555 --tun-remcsum
        -a -f 9 -r [2001:db8::f]:0 -i -w 1 --tun-type ipip
        -A --sctp-service 10.20.0.1:9 -s nq
        -A -t 10.20.0.2:0 -s ovf -p 30
        -a -t 10.20.0.2:0 -r 10.0.3.1:0 -g -w 7
        """

    static func stateB() -> DataPlaneState {
        // Destinations newest first: the kernel adds at the head of the list.
        let s = [
            VirtualService(key: .address(.tcp, sa("192.168.0.21", 80)), scheduler: "wrr", destinations: [
                Destination(address: sa("10.0.1.13", 80), forwarding: .masquerade, weight: 2, upperThreshold: 10, lowerThreshold: 5),
                Destination(address: sa("10.0.1.12", 80), forwarding: .directRoute, weight: 3),
                Destination(address: sa("10.0.1.11", 80), forwarding: .directRoute, weight: 4),
            ]),
            VirtualService(key: .address(.udp, sa("192.168.0.21", 53)), scheduler: "sh", flags: [.onePacket, .sched1], destinations: [
                Destination(address: sa("10.0.1.13", 5353), forwarding: .masquerade, weight: 0),
            ]),
            VirtualService(key: .address(.tcp, sa("2001:db8::1", 443)), scheduler: "lc", flags: .persistent, persistenceTimeout: 600,
                           persistencePrefix: 64, destinations: [Destination(address: sa("2001:db8::a", 443), forwarding: .masquerade, weight: 1)]),
            VirtualService(key: .fwmark(9, .inet), scheduler: "dh", destinations: [
                Destination(address: sa("2001:db8::f", 0), forwarding: .tunnel, weight: 1),
                Destination(address: sa("10.0.1.14", 0), forwarding: .tunnel, weight: 5, tunnel: TunnelSettings(kind: .gue, port: 5555, checksum: .remcsum)),
            ]),
            VirtualService(key: .address(.sctp, sa("10.20.0.1", 9)), scheduler: "nq"),
            VirtualService(key: .address(.tcp, sa("10.20.0.2", 0)), scheduler: "ovf", flags: .persistent, persistenceTimeout: 30, destinations: [
                Destination(address: sa("10.0.3.1", 0), forwarding: .directRoute, weight: 7),
            ]),
        ]
        return DataPlaneState(services: s.sorted { $0.key < $1.key })
    }

    @Test func vigilAndIpvsadmAgreeOnARealKernel() throws {
        let probe = KernelLab.probePath
        try #require(FileManager.default.isExecutableFile(atPath: probe), "build ipvs-probe first (swift build): \(probe)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vglipvs-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func write(_ name: String, _ text: String) throws { try text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8) }

        let (a, saveA, listA) = Self.stateA()
        try write("a.json", try KernelLab.json(a))
        let v80 = ServiceKey.address(.tcp, sa("192.168.0.21", 80))
        try write("edit.json", try KernelLab.json([
            DataPlaneChange.editService(VirtualService(key: v80, scheduler: "wlc", flags: .persistent, persistenceTimeout: 100)),
            .editDestination(v80, Destination(address: sa("10.0.1.12", 8080), forwarding: .masquerade, weight: 5)),
            .deleteDestination(v80, sa("10.0.1.11", 80)),
            .deleteService(.address(.sctp, sa("192.168.0.21", 3868))),
        ]))
        let newKey = ServiceKey.address(.tcp, sa("10.30.0.1", 80))
        try write("err-dup.json", try KernelLab.json([DataPlaneChange.addService(VirtualService(key: newKey, scheduler: "rr")),
                                                     .addService(VirtualService(key: v80, scheduler: "rr"))]))
        try write("err-nosvc.json", try KernelLab.json([DataPlaneChange.addDestination(.fwmark(99, .inet), Destination(address: sa("10.0.9.9", 0)))]))
        try write("err-sched.json", try KernelLab.json([DataPlaneChange.addService(VirtualService(key: .address(.tcp, sa("10.30.0.2", 80)), scheduler: "nosuch"))]))
        try write("err-range.json", try KernelLab.json([DataPlaneChange.addDestination(newKey, Destination(address: sa("10.0.9.9", 80), upperThreshold: 5, lowerThreshold: 10))]))
        try write("err-dupdest.json", try KernelLab.json([DataPlaneChange.addDestination(v80, Destination(address: sa("10.0.1.12", 8080)))]))
        try write("b.restore", Self.restoreB + "\n")
        let trafficKey = ServiceKey.address(.tcp, sa("192.168.0.21", 80))
        try write("traffic.json", try KernelLab.json(DataPlaneState(services: [
            VirtualService(key: trafficKey, scheduler: "rr", destinations: [Destination(address: sa("10.0.1.11", 80), forwarding: .masquerade)]),
            VirtualService(key: .address(.tcp, sa("192.168.0.21", 81)), scheduler: "rr", destinations: [Destination(address: sa("10.0.1.11", 81), forwarding: .masquerade)]),
        ])))
        try write("key80.json", try KernelLab.json(trafficKey))
        try write("daemon.json", try KernelLab.json(SyncDaemon(role: .master, interface: "v0", syncID: 5, maxLength: 1400,
                                                               group: IPAddress("224.0.0.82"), port: 8849, ttl: 2)))

        let script = """
            P=\(probe); D=\(dir)
            sec() { n=$1; shift; echo "@@ $n"; "$@" 2>&1; echo "@@rc $?"; }
            sec applyA $P apply $D/a.json
            sec saveA ipvsadm-save -n
            sec listA ipvsadm -L -n
            sec thresholdsA ipvsadm -L -n --thresholds
            sec tuninfoA ipvsadm -L -n --tun-info
            sec stateA $P state
            sec edit $P changes $D/edit.json
            sec saveEdit ipvsadm -S -n
            sec errDup $P changes $D/err-dup.json
            sec errNoSvc $P changes $D/err-nosvc.json
            sec errSched $P changes $D/err-sched.json
            sec errRange $P changes $D/err-range.json
            sec errDupDest $P changes $D/err-dupdest.json
            sec saveAfterErrors ipvsadm -S -n
            sec flush $P flush
            sec saveFlushed ipvsadm -S -n
            sec restoreB sh -c "ipvsadm -R < $D/b.restore"
            sec stateB $P state
            sec setTimeouts $P set-timeouts 3600 60 600
            sec ipvsadmTimeouts ipvsadm -L --timeout
            sec ipvsadmSet ipvsadm --set 1000 0 200
            sec timeouts $P timeouts
            sec info $P info
            ipvsadm -C
            ip link add v0 type veth peer name v1; ip addr add 10.0.1.1/24 dev v0; ip link set v0 up; ip link set v1 up
            ip addr add 192.168.0.21/32 dev lo
            sec applyTraffic $P apply $D/traffic.json
            (nc -w 5 192.168.0.21 80 </dev/null >/dev/null 2>&1 &); (nc -w 5 192.168.0.21 81 </dev/null >/dev/null 2>&1 &)
            for i in $(seq 1 100); do [ "$(grep -c '^TCP' /proc/net/ip_vs_conn)" -ge 2 ] && break; sleep 0.1; done
            # Counters are summed by the kernel's 2-second estimator: wait until ipvsadm shows both.
            for i in $(seq 1 100); do
              [ "$(ipvsadm -L -n --stats | awk '$2 ~ /^192.168.0.21:8[01]$/ && $3 >= 1' | wc -l)" -ge 2 ] && break; sleep 0.1
            done
            sec connections $P connections
            sec ipvsadmConnections ipvsadm -L -n -c
            sec statsBefore $P state
            sec zeroOne $P zero $D/key80.json
            sec statsAfterZeroOne $P state
            sec zeroAll $P zero
            sec statsAfterZeroAll $P state
            sec startDaemon $P start-daemon $D/daemon.json
            sec ipvsadmStartBackup ipvsadm --start-daemon backup --mcast-interface v1 --syncid 9
            sec ipvsadmDaemons ipvsadm -L --daemon
            sec daemons $P daemons
            sec stopMaster $P stop-daemon master
            sec ipvsadmStopBackup ipvsadm --stop-daemon backup
            sec daemonsAfter $P daemons
            sec stopAgain $P stop-daemon master
            """
        let r = try runCommand([KernelLab.vmPath!, "--add", probe, "--add", dir, "--timeout", "400", "--", script], timeout: 450)
        // VGL_IPVS_DUMP=FILE keeps the guest's output for inspection.
        if let path = ProcessInfo.processInfo.environment["VGL_IPVS_DUMP"] { try? r.stdout.write(toFile: path, atomically: true, encoding: .utf8) }
        let s = GuestSections(r.stdout)
        let dump = "guest output:\n\(r.stdout)\n\(r.stderr)"
        try #require(r.status == 0 && s.status["applyA"] != nil, "ipvs-vm failed: \(dump)")

        // A: what Vigil programmed is exactly what ipvsadm shows.
        #expect(s.status["applyA"] == 0, "\(s.text["applyA"] ?? "")")
        #expect(KernelLab.saveBlocks(s.lines("saveA")) == saveA, "ipvsadm-save -n:\n\(s.text["saveA"] ?? "")")
        let list = s.lines("listA")
        #expect(list.prefix(3) == ["IP Virtual Server version 1.2.1 (size=4096)", "Prot LocalAddress:Port Scheduler Flags",
                                   "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"])
        #expect(KernelLab.listBlocks(Array(list.dropFirst(3))) == listA, "ipvsadm -Ln:\n\(s.text["listA"] ?? "")")
        let words = { (l: String) in l.split(separator: " ").map(String.init) }
        #expect(s.lines("thresholdsA").map(words).contains(["->", "10.0.1.11:443", "100", "50", "0", "0"]), "\(s.text["thresholdsA"] ?? "")")
        let tun = s.lines("tuninfoA").map(words)
        #expect(tun.contains(["->", "[2001:db8::b]:0", "Tunnel", "gue:6080:+c", "3", "0", "0"]), "\(s.text["tuninfoA"] ?? "")")
        #expect(tun.contains(["->", "[2001:db8::c]:0", "Tunnel", "gre:-c", "2", "0", "0"]))
        #expect(tun.contains(["->", "[2001:db8::e]:0", "Tunnel", "gue:6081:r+c", "1", "0", "0"]))
        #expect(tun.contains(["->", "10.0.1.14:0", "Tunnel", "ipip", "1", "0", "0"]))
        // IPVSBackend reads back what it programmed (destinations in the order given).
        let readA = try JSONDecoder().decode(DataPlaneState.self, from: Data((s.text["stateA"] ?? "").utf8))
        #expect(readA == DataPlaneState(services: a.services.sorted { $0.key < $1.key }))

        // Edits through IPVSBackend.
        #expect(s.status["edit"] == 0, "\(s.text["edit"] ?? "")")
        let edited = KernelLab.saveBlocks(s.lines("saveEdit"))
        #expect(edited["-A -t 192.168.0.21:80 -s wlc -p 100"] == ["-a -t 192.168.0.21:80 -r 10.0.1.12:8080 -m -w 5"], "\(s.text["saveEdit"] ?? "")")
        #expect(!edited.keys.contains { $0.contains("3868") })

        // Failures name the change and use ipvsadm's words; earlier changes stay applied.
        #expect(s.status["errDup"] == 1)
        #expect(s.text["errDup"]?.contains("change 2 of 2: IPVS_CMD_NEW_SERVICE [192.168.0.21]:tcp:80: Service already exists") == true,
                "\(s.text["errDup"] ?? "")")
        #expect(KernelLab.saveBlocks(s.lines("saveAfterErrors")).keys.contains("-A -t 10.30.0.1:80 -s rr"))
        #expect(s.text["errNoSvc"]?.contains("Service not defined") == true, "\(s.text["errNoSvc"] ?? "")")
        #expect(s.text["errSched"]?.contains("Scheduler or persistence engine not found") == true, "\(s.text["errSched"] ?? "")")
        #expect(s.text["errRange"]?.contains("Numerical result out of range") == true, "\(s.text["errRange"] ?? "")")
        #expect(s.text["errDupDest"]?.contains("Destination already exists") == true, "\(s.text["errDupDest"] ?? "")")
        #expect(s.status["flush"] == 0 && s.lines("saveFlushed").isEmpty, "\(s.text["saveFlushed"] ?? "")")

        // B: what ipvsadm programmed, IPVSBackend reads exactly.
        #expect(s.status["restoreB"] == 0, "\(s.text["restoreB"] ?? "")")
        let readB = try JSONDecoder().decode(DataPlaneState.self, from: Data((s.text["stateB"] ?? "").utf8))
        #expect(readB == Self.stateB(), "read back:\n\(s.text["stateB"] ?? "")")

        // Timeouts both ways; 0 keeps a value.
        #expect(s.lines("ipvsadmTimeouts") == ["Timeout (tcp tcpfin udp): 3600 60 600"], "\(s.text["ipvsadmTimeouts"] ?? "")")
        #expect(try JSONDecoder().decode(Timeouts.self, from: Data((s.text["timeouts"] ?? "").utf8)) == Timeouts(tcp: 1000, tcpFin: 60, udp: 200))
        #expect(try JSONDecoder().decode(IPVSInfo.self, from: Data((s.text["info"] ?? "").utf8)) == IPVSInfo(version: 0x010201, connectionTableSize: 4096))

        // Connections: the same entries ipvsadm -Lnc lists.
        let conns = try JSONDecoder().decode([ConnectionEntry].self, from: Data((s.text["connections"] ?? "[]").utf8))
        let ipvsadmConns = s.lines("ipvsadmConnections").dropFirst(2).map(words)
        #expect(conns.count == 2 && ipvsadmConns.count == 2, "\(s.text["connections"] ?? "")\n\(s.text["ipvsadmConnections"] ?? "")")
        for c in conns {
            #expect(ipvsadmConns.contains { $0.count == 6 && $0[0] == c.protocolName && $0[2] == c.state && $0[3] == "\(c.client)"
                && $0[4] == "\(c.virtual)" && $0[5] == "\(c.destination)" })
        }
        // Counters, then ZERO of one service and of all.
        func counters(_ name: String) throws -> [ServiceKey: UInt64] {
            let st = try JSONDecoder().decode(DataPlaneState.self, from: Data((s.text[name] ?? "").utf8))
            return Dictionary(uniqueKeysWithValues: st.services.map { ($0.key, $0.counters.connections) })
        }
        let other = ServiceKey.address(.tcp, sa("192.168.0.21", 81))
        let before = try counters("statsBefore")
        #expect(before[trafficKey] == 1 && before[other] == 1, "\(s.text["statsBefore"] ?? "")")
        let afterOne = try counters("statsAfterZeroOne")
        #expect(afterOne[trafficKey] == 0 && afterOne[other] == 1)
        #expect(try counters("statsAfterZeroAll")[other] == 0)

        // Sync daemons both ways.
        #expect(s.status["startDaemon"] == 0 && s.status["ipvsadmStartBackup"] == 0, "\(s.text["startDaemon"] ?? "")")
        #expect(s.lines("ipvsadmDaemons").contains("master sync daemon (mcast=v0, syncid=5, maxlen=1400, group=224.0.0.82, port=8849, ttl=2)"),
                "\(s.text["ipvsadmDaemons"] ?? "")")
        let daemons = try JSONDecoder().decode([SyncDaemon].self, from: Data((s.text["daemons"] ?? "[]").utf8))
        #expect(daemons.contains(SyncDaemon(role: .master, interface: "v0", syncID: 5, maxLength: 1400, group: IPAddress("224.0.0.82"), port: 8849, ttl: 2)))
        #expect(daemons.contains { $0.role == .backup && $0.interface == "v1" && $0.syncID == 9 }, "\(s.text["daemons"] ?? "")")
        #expect(s.status["stopMaster"] == 0 && s.status["ipvsadmStopBackup"] == 0)
        #expect(s.text["daemonsAfter"]?.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        #expect(s.status["stopAgain"] == 1 && s.text["stopAgain"]?.contains("No daemon is running") == true, "\(s.text["stopAgain"] ?? "")")
    }
}
