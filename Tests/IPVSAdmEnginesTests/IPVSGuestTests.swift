import Foundation
import Testing
import TestSupport

/// Kernel IPVS in one boot of `tools/ipvs-vm` (the host has no IPVS):
/// (a) the built `vigil`, as `vigil ipvsadm` and as a binary named `ipvsadm`, programs the
///     kernel and prints every listing format; each is compared with Debian's ipvsadm 1.31 on
///     the same kernel state;
/// (b) `vigil run --dataplane ipvs` forwards for real in namespaces inside the guest: DR, NAT
///     and TUN, 30 requests → 10 per real server each time.
enum Guest {
    static var vmPath: String? { ipvsVMPath }

    static var available: Bool {
        ipvsVMAvailable
            && FileManager.default.isExecutableFile(atPath: vigilBinaryPath)
    }

    /// Listing formats compared with the real ipvsadm (name → arguments).
    static let listings: [(String, String)] = [
        ("list", "-Ln"), ("names", "-L"), ("stats", "-Ln --stats"), ("exactStats", "-Ln --stats --exact"),
        ("rate", "-Ln --rate"), ("exactRate", "-Ln --rate --exact"), ("thresholds", "-Ln --thresholds"),
        ("persistent", "-Ln --persistent-conn"), ("tunInfo", "-Ln --tun-info"), ("sorted", "-Ln --sort"),
        ("one", "-Ln -t 10.0.0.1:80 --stats"), ("oneFwmark", "-Ln -f 7"), ("timeout", "-L --timeout"), ("daemon", "-L --daemon"),
        ("conns", "-Lnc"), ("connsPersistent", "-Lnc --persistent-conn"), ("save", "-S -n"), ("saveNames", "-S"),
        ("noService", "-Ln -t 10.9.9.9:80"),
    ]

    /// Commands that must fail the same way on both (the state is unchanged by them).
    static let errors: [(String, String)] = [
        ("errDup", "-A -t 10.0.0.1:80 -s rr"), ("errNoSvc", "-a -t 10.9.9.9:80 -r 10.0.1.11"),
        ("errSched", "-A -t 10.0.0.9:80 -s nosuch"), ("errDupDest", "-a -t 10.0.0.1:80 -r 10.0.1.11:80 -g"),
        ("errNoDest", "-d -t 10.0.0.1:80 -r 10.0.9.9:80"), ("errRange", "-a -t 10.0.0.1:80 -r 10.0.1.19:80 -x 5 -y 10"),
        ("errDaemon", "--start-daemon master --mcast-interface v0"), ("errUsage", "-A -t"),
    ]

    static func config(_ kind: String, _ servers: [String], vip: String) -> String {
        """
        global_defs {
            router_id vge-\(kind)
        }
        virtual_server \(vip) 80 {
            delay_loop 5
            lb_algo rr
            lb_kind \(kind)
            protocol TCP
        \(servers.map { "    real_server \($0) 80 {\n        weight 1\n    }" }.joined(separator: "\n"))
        }

        """
    }

    static func script(vigil: String, dir: String) -> String {
        let compare = listings.map { name, args in
            "sec \(name).real ipvsadm \(args); sec \(name).sym $I \(args)"
        }.joined(separator: "\n")
        let errors = errors.map { name, args in "sec \(name).real ipvsadm \(args); sec \(name).sym $I \(args)" }.joined(separator: "\n")
        return """
            V=\(vigil); D=\(dir); I=/tmp/bin/ipvsadm
            mkdir -p /tmp/bin && ln -s $V $I
            sec() { n=$1; shift; echo "@@ $n"; "$@" 2>&1; echo "@@rc $?"; }
            T0=$(date +%s)
            # (a) vigil programs the kernel (both names), then every listing is printed by both.
            sec setup bash -c "set -e
              $I -A -t 10.0.0.1:80 -s wrr -p 300 -M 255.255.255.0
              $I -a -t 10.0.0.1:80 -r 10.0.1.11:80 -g -w 2 -x 100 -y 10
              $I -a -t 10.0.0.1:80 -r 10.0.1.12:8080 -m -w 1
              $I -a -t 10.0.0.1:80 -r 10.0.1.13 -i -w 3
              $V ipvsadm -A -u 10.0.0.1:53 -s rr
              $V ipvsadm -a -u 10.0.0.1:53 -r 10.0.1.11:53 -m
              $I -A -f 7 -s sh -b sh-port
              $I -a -f 7 -r 10.0.1.14 -g
              $I -A -t [2001:db8::1]:80 -s mh -b mh-port,mh-fallback
              $I -a -t [2001:db8::1]:80 -r [2001:db8::11]:80 -m -w 5
              $I -A -t 10.0.0.2:443 -s lc
              $I -a -t 10.0.0.2:443 -r 10.0.1.11:443 -i --tun-type gue --tun-port 6080 --tun-nocsum
              $I -e -t 10.0.0.1:80 -r 10.0.1.12:8080 -m -w 4
              $I --set 1000 60 200
              ip link add v0 type veth peer name v1; ip addr add 10.0.1.1/24 dev v0; ip link set v0 up; ip link set v1 up
              ip addr add 10.0.0.1/32 dev lo
              $I --start-daemon master --mcast-interface v0 --syncid 5"
            # Traffic: SYNs that nobody answers make connections, templates and counters.
            for p in 1 2 3; do (nc -w 1 10.0.0.1 80 </dev/null >/dev/null 2>&1 &); done
            (echo x | nc -u -w 1 10.0.0.1 53 >/dev/null 2>&1 &)
            sleep 1.5
            for i in $(seq 1 60); do
              [ "$(ipvsadm -Ln --stats -t 10.0.0.1:80 | awk '$1 == "TCP" && $3 >= 3' | wc -l)" -ge 1 ] && break; sleep 0.2
            done
            # The kernel folds counters into what it reports every 2 s: wait until two reports agree.
            prev=""; for i in $(seq 1 10); do cur=$(ipvsadm -Ln --stats --exact); [ "$cur" = "$prev" ] && break; prev=$cur; sleep 2.1; done
            sec vigilList $V ipvsadm -Ln
            sec vigilConns $V ipvsadm -Lnc
            \(compare)
            \(errors)
            sec zero $I -Z -t 10.0.0.1:80
            sec zeroed.real ipvsadm -Ln --stats -t 10.0.0.1:80
            sec zeroed.sym $I -Ln --stats -t 10.0.0.1:80
            $I --stop-daemon master; $I -C
            sec cleared.real ipvsadm -Ln
            sec cleared.sym $I -Ln
            echo "@@ timeA"; echo $(( $(date +%s) - T0 )); echo "@@rc 0"
            # (b) vigil run --dataplane ipvs (busybox wget segfaults with -T: timeout(1) bounds it;
            # it runs inside `ip netns exec`, else busybox would take `ip` for its own applet) forwarding through namespaces: DR, NAT, TUN.
            T1=$(date +%s)
            ip link add br0 type bridge; ip link set br0 up; ip link add br1 type bridge; ip link set br1 up
            attach() { ip link add $4 type veth peer name $2 netns $1; ip link set $4 master $3 up; ip -n $1 addr add $5 dev $2; ip -n $1 link set $2 up; ip -n $1 link set lo up; }
            ip netns add c; ip netns add d
            attach c eth0 br0 pc 10.77.0.10/24
            attach d eth0 br0 pd 10.77.0.11/24
            attach d eth1 br1 bd 10.78.0.1/24
            # One VIP per method, so connections left by one run (TIME_WAIT) never meet the next.
            for v in 21 22 23; do ip -n d addr add 10.77.0.$v/32 dev eth0; done
            ip netns exec d sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
            for i in 1 2 3; do
              ip netns add r$i
              attach r$i eth0 br0 pr$i 10.77.0.1$((i+1))/24
              attach r$i eth1 br1 bk$i 10.78.0.1$((i+1))/24
              ip -n r$i addr add 10.77.0.21/32 dev lo
              ip -n r$i link set tunl0 up; ip -n r$i addr add 10.77.0.23/32 dev tunl0
              ip netns exec r$i sh -c 'for k in all eth0; do echo 1 > /proc/sys/net/ipv4/conf/$k/arp_ignore; echo 2 > /proc/sys/net/ipv4/conf/$k/arp_announce; done
                for k in all default eth0 tunl0; do echo 0 > /proc/sys/net/ipv4/conf/$k/rp_filter; done'
              ip -n r$i route add default via 10.78.0.1 dev eth1 table 78
              ip -n r$i rule add from 10.78.0.0/24 lookup 78 pref 100
              mkdir -p /www/r$i; echo rs$i > /www/r$i/index.html
              ip netns exec r$i httpd -p 80 -h /www/r$i
            done
            for kv in dr:21 nat:22 tun:23; do
              kind=${kv%:*}; vip=10.77.0.${kv#*:}
              ip netns exec d $V run -f $D/$kind.conf --dataplane ipvs -C --status-file /tmp/$kind.status > /tmp/$kind.log 2>&1 &
              pid=$!
              for i in $(seq 1 150); do [ "$(ip netns exec d ipvsadm -Ln | grep -c '^  -> 10.7')" -ge 3 ] && break; sleep 0.2; done
              echo "@@ $kind.table"; ip netns exec d ipvsadm -Ln; echo "@@rc 0"
              echo "@@ $kind"
              for i in $(seq 1 30); do ip netns exec c timeout 5 wget -q -O - http://$vip/ 2>/dev/null || echo fail; done
              echo "@@rc 0"
              kill $pid; wait $pid
              echo "@@ $kind.log"; cat /tmp/$kind.log; echo "@@rc 0"
              ip netns exec d ipvsadm -C
            done
            echo "@@ timeB"; echo $(( $(date +%s) - T1 )); echo "@@rc 0"
            """
    }

    /// `-Lnc` with the expire column (4..<10) blanked: the two programs run seconds apart.
    static func maskExpire(_ s: String) -> String {
        s.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.count > 10, ["TCP", "UDP", "IP "].contains(String(line.prefix(3))) else { return String(line) }
            return String(line.prefix(4)) + "XX:XX " + line.dropFirst(10)
        }.joined(separator: "\n")
    }

    /// Rates move between two runs (the kernel's estimator decays every 2 s): numbers blanked
    /// and blanks collapsed, so the layout, the addresses and which lines exist still count.
    static func maskNumbers(_ s: String) -> String {
        s.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("TCP") || line.hasPrefix("UDP") || line.hasPrefix("FWM") || line.hasPrefix("  ->") else { return String(line) }
            let f = line.split(separator: " ").map(String.init)
            return f.enumerated().map { i, w in i >= 2 && w.allSatisfy({ $0.isNumber || $0 == "K" || $0 == "M" || $0 == "G" }) ? "N" : w }.joined(separator: " ")
        }.joined(separator: "\n")
    }
}

@Suite(.serialized, .enabled(if: Guest.available))
struct IPVSGuestTests {
    @Test func vigilIPVSAdmMatchesIPVSAdmAndVigilRunForwardsDRNATTUN() throws {
        let vigil = URL(fileURLWithPath: vigilBinaryPath).resolvingSymlinksInPath().path
        let dir = NSTemporaryDirectory() + "vge-guest-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let front = ["10.77.0.12", "10.77.0.13", "10.77.0.14"], back = ["10.78.0.12", "10.78.0.13", "10.78.0.14"]
        try Guest.config("DR", front, vip: "10.77.0.21").write(toFile: "\(dir)/dr.conf", atomically: true, encoding: .utf8)
        try Guest.config("NAT", back, vip: "10.77.0.22").write(toFile: "\(dir)/nat.conf", atomically: true, encoding: .utf8)
        try Guest.config("TUN", front, vip: "10.77.0.23").write(toFile: "\(dir)/tun.conf", atomically: true, encoding: .utf8)

        let started = Date()
        let r = try runCommand(
            [Guest.vmPath!, "--add", vigil, "--add", dir, "--timeout", "280", "--", Guest.script(vigil: vigil, dir: dir)], timeout: 320)
        let elapsed = Date().timeIntervalSince(started)
        if let path = ProcessInfo.processInfo.environment["VGE_GUEST_DUMP"] { try? r.stdout.write(toFile: path, atomically: true, encoding: .utf8) }
        let s = GuestSections(r.stdout)
        try #require(r.status == 0 && s.status["setup"] != nil, "ipvs-vm failed (\(r.status)):\n\(r.stdout)\n\(r.stderr)")
        #expect(s.status["setup"] == 0, "setup:\n\(s.text["setup"] ?? "")")
        print("ipvs-vm guest: \(Int(elapsed)) s in all; part a \(s.text["timeA"] ?? "?")s, part b \(s.text["timeB"] ?? "?")s")

        // (a) Byte for byte, except where the kernel's clock moves between the two runs.
        #expect(s.text["vigilList"] == s.text["list.real"], "vigil ipvsadm -Ln")
        #expect(Guest.maskExpire(s.text["vigilConns"] ?? "") == Guest.maskExpire(s.text["conns.real"] ?? ""), "vigil ipvsadm -Lnc")
        for (name, args) in Guest.listings + Guest.errors {
            let real = s.text["\(name).real"], sym = s.text["\(name).sym"]
            #expect(real != nil && s.status["\(name).real"] == s.status["\(name).sym"], "ipvsadm \(args): exit status")
            switch name {
            case "conns", "connsPersistent":
                #expect(Guest.maskExpire(sym ?? "") == Guest.maskExpire(real ?? ""), "ipvsadm \(args)\nreal:\n\(real ?? "")\nvigil:\n\(sym ?? "")")
            case "rate", "exactRate":
                #expect(Guest.maskNumbers(sym ?? "") == Guest.maskNumbers(real ?? ""), "ipvsadm \(args)\nreal:\n\(real ?? "")\nvigil:\n\(sym ?? "")")
            case "errUsage":
                // ipvsadm names itself by argv[0]; both binaries are called `ipvsadm` here, at different paths.
                #expect(sym?.replacingOccurrences(of: "/tmp/bin/ipvsadm", with: "ipvsadm") == real, "ipvsadm \(args)\nreal:\n\(real ?? "")\nvigil:\n\(sym ?? "")")
            default:
                #expect(sym == real, "ipvsadm \(args)\nreal:\n\(real ?? "")\nvigil:\n\(sym ?? "")")
            }
        }
        // The listings are not trivially equal: the state has every kind of service and traffic.
        #expect((s.text["conns.real"] ?? "").contains("NONE"), "persistence templates listed:\n\(s.text["conns.real"] ?? "")")
        let statsRow = (s.text["stats.real"] ?? "").split(separator: "\n").map { $0.split(separator: " ") }.first { $0.first == "TCP" && $0.dropFirst().first == "10.0.0.1:80" }
        #expect(statsRow.flatMap { Int($0[2]) }.map { $0 >= 3 } == true, "counters moved:\n\(s.text["stats.real"] ?? "")")
        #expect((s.text["daemon.real"] ?? "").contains("master sync daemon (mcast=v0, syncid=5"), "\(s.text["daemon.real"] ?? "")")
        #expect(s.text["zeroed.sym"] == s.text["zeroed.real"])
        #expect(s.text["cleared.sym"] == s.text["cleared.real"])

        // (b) Real forwarding by `vigil run` on IPVS: exact rr rotation for each method.
        for kind in ["dr", "nat", "tun"] {
            let bodies = (s.text[kind] ?? "").split(separator: "\n").map(String.init)
            let counts = ["rs1", "rs2", "rs3"].map { n in bodies.filter { $0 == n }.count }
            #expect(counts == [10, 10, 10], "\(kind): \(bodies)\ntable:\n\(s.text["\(kind).table"] ?? "")\nlog:\n\(s.text["\(kind).log"] ?? "")")
            if bodies.count == 30 { for i in 3..<30 { #expect(bodies[i] == bodies[i - 3], "\(kind) rotation") } }
        }
    }
}
