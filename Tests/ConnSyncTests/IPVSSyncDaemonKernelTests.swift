import Foundation
import Testing
import TestSupport

/// `lvs_sync_daemon` on the IPVS engine, in the ipvs-vm guest: two director namespaces run
/// `vigil run`; the master's kernel sync daemon runs as master, the backup's as backup; a DR
/// connection through the master appears in the backup's IPVS table (kernel sync); killing the
/// master switches the backup's daemon to master.
@Suite(.enabled(if: getuid() == 0 && ipvsVM != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64")))
struct IPVSSyncDaemonKernelTests {
    @Test func syncDaemonFollowsVRRPAndSyncsConnections() throws {
        let vigil = URL(fileURLWithPath: vigilBinaryPath).resolvingSymlinksInPath().path
        let dir = NSTemporaryDirectory() + "vgx-ipvs-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func conf(_ state: String, _ prio: Int) -> String {
            """
            global_defs {
                router_id D\(prio)
                lvs_sync_daemon eth0 VI_1
            }
            vrrp_instance VI_1 {
                state \(state)
                interface eth0
                virtual_router_id 51
                priority \(prio)
                advert_int 1
                authentication {
                    auth_type PASS
                    auth_pass 1111
                }
                virtual_ipaddress {
                    10.9.0.21
                }
            }
            virtual_server 10.9.0.21 80 {
                lb_algo rr
                lb_kind DR
                protocol TCP
                real_server 10.9.0.12 80 {
                    weight 1
                }
            }

            """
        }
        try conf("MASTER", 150).write(toFile: "\(dir)/d1.conf", atomically: true, encoding: .utf8)
        try conf("BACKUP", 100).write(toFile: "\(dir)/d2.conf", atomically: true, encoding: .utf8)
        let script = """
            V=\(vigil); D=\(dir)
            ip link add br0 type bridge; ip link set br0 up
            n=0
            for h in c:10 d1:11 d2:15 r:12; do
              name=${h%%:*}; last=${h##*:}; n=$((n+1))
              ip netns add $name; ip -n $name link set lo up
              ip link add p$name type veth peer name eth0 netns $name
              ip link set p$name master br0 up
              ip -n $name link set eth0 address 02:09:00:00:00:$last
              ip -n $name addr add 10.9.0.$last/24 dev eth0; ip -n $name link set eth0 up
            done
            ip -n r addr add 10.9.0.21/32 dev lo
            ip netns exec r sh -c 'echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore; echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce'
            (ip netns exec r sh -c 'while true; do nc -l -p 80 >/dev/null; done' &)
            for d in d1 d2; do
              (ip netns exec $d $V run -f $D/$d.conf --status-file $D/$d.status --pid-file $D/$d.pid > $D/$d.log 2>&1 &)
            done
            for i in $(seq 1 150); do ip -n d1 addr show dev eth0 | grep -q 10.9.0.21/ && break; sleep 0.2; done
            sleep 1
            echo "@@ daemons1"; for d in d1 d2; do echo "$d: $(ip netns exec $d ipvsadm -L --daemon | tr '\\n' ' ')"; done; echo "@@rc 0"
            (ip netns exec c sh -c '(echo a; sleep 1; echo b; sleep 1; echo c; sleep 1; echo d; sleep 20) | nc 10.9.0.21 80' >/dev/null 2>&1 &)
            for i in $(seq 1 100); do ip netns exec d2 cat /proc/net/ip_vs_conn | grep -q 0A09000A && break; sleep 0.2; done
            echo "@@ conns"; echo "d1: $(ip netns exec d1 cat /proc/net/ip_vs_conn | grep -c 0A09000A)"; echo "d2: $(ip netns exec d2 cat /proc/net/ip_vs_conn | grep -c 0A09000A)"; echo "@@rc 0"
            kill -9 $(cat $D/d1.pid); ip -n d1 link set eth0 down
            for i in $(seq 1 100); do ip netns exec d2 ipvsadm -L --daemon | grep -q master && break; sleep 0.2; done
            echo "@@ daemons2"; echo "d2: $(ip netns exec d2 ipvsadm -L --daemon | tr '\\n' ' ')"; echo "@@rc 0"
            echo "@@ log2"; cat $D/d2.log; echo "@@rc 0"
            """
        let r = try runCommand([ipvsVM!, "--add", vigil, "--add", dir, "--timeout", "300", "--", script], timeout: 360)
        let out = r.stdout
        func section(_ n: String) -> String {
            guard let a = out.range(of: "@@ \(n)\n"), let b = out.range(of: "@@rc", range: a.upperBound..<out.endIndex) else { return "" }
            return String(out[a.upperBound..<b.lowerBound])
        }
        let dump = "guest output:\n\(out)\n\(r.stderr.suffix(3000))"
        let d1 = section("daemons1")
        #expect(d1.contains("d1: master sync daemon (mcast=eth0, syncid=51,"), "\(dump)")
        #expect(d1.contains("d2: backup sync daemon (mcast=eth0, syncid=51,"), "\(dump)")
        #expect(section("conns").contains("d2: 1"), "the connection through d1 reached d2's table by kernel sync: \(dump)")
        #expect(section("daemons2").contains("d2: master sync daemon"), "\(dump)")
    }
}

let ipvsVM: String? = {
    guard let dir = sharedDirectory else { return nil }
    let p = dir + "/tools/ipvs-vm"
    return FileManager.default.isExecutableFile(atPath: p) ? p : nil
}()
