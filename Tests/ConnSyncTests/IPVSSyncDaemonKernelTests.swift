import Foundation
import Testing
import TestSupport

/// `lvs_sync_daemon` on the IPVS engine, in the ipvs-vm guest: two director namespaces run
/// `vigil run`; the master's kernel sync daemon runs as master, the backup's as backup; 10 long
/// DR downloads through the master appear in the backup's IPVS table (kernel sync); killing the
/// master switches the backup's daemon to master, and every download completes byte-exact.
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
        let flows = 10
        var bytes = [UInt8](repeating: 0, count: 5 * 1024 * 1024)
        var x: UInt32 = 88_172_645
        for i in bytes.indices {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5
            bytes[i] = UInt8(truncatingIfNeeded: x)
        }
        try FileManager.default.createDirectory(atPath: "\(dir)/www", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: "\(dir)/www/big.bin", contents: Data(bytes))
        for rs in ["r1", "r2"] {
            try """
                worker_processes 1;
                user root;
                pid \(dir)/\(rs).pid;
                error_log \(dir)/\(rs).err warn;
                events { worker_connections 1024; }
                http {
                  access_log off; sendfile on; default_type text/plain;
                  client_body_temp_path /tmp/\(rs)cb; proxy_temp_path /tmp/\(rs)px; fastcgi_temp_path /tmp/\(rs)fc;
                  uwsgi_temp_path /tmp/\(rs)uw; scgi_temp_path /tmp/\(rs)sc;
                  server { listen 80; root \(dir)/www; location /slow/ { alias \(dir)/www/; limit_rate 512k; } }
                }

                """.write(toFile: "\(dir)/\(rs).nginx", atomically: true, encoding: .utf8)
        }
        // 10 downloads of 5 MiB at 512 KiB/s (10 s each) through the VIP; the master dies at t = 3 s.
        let script = """
            V=\(vigil); D=\(dir)
            ip link add br0 type bridge; ip link set br0 up
            for h in c:10 d1:11 d2:15 r1:12 r2:13; do
              name=${h%%:*}; last=${h##*:}
              ip netns add $name; ip -n $name link set lo up
              ip link add p$name type veth peer name eth0 netns $name
              ip link set p$name master br0 up
              ip -n $name link set eth0 address 02:09:00:00:00:$last
              ip -n $name addr add 10.9.0.$last/24 dev eth0; ip -n $name link set eth0 up
            done
            for r in r1 r2; do
              ip -n $r addr add 10.9.0.21/32 dev lo
              ip netns exec $r sh -c 'echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore; echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce'
              ip netns exec $r nginx -c $D/$r.nginx -e $D/$r.err
            done
            ip netns exec c sh -c 'echo "4096 65536 131072" > /proc/sys/net/ipv4/tcp_rmem'
            for d in d1 d2; do
              (ip netns exec $d $V run -f $D/$d.conf --status-file $D/$d.status --pid-file $D/$d.pid > $D/$d.log 2>&1 &)
            done
            for i in $(seq 1 150); do ip -n d1 addr show dev eth0 | grep -q 10.9.0.21/ && break; sleep 0.2; done
            sleep 1
            echo "@@ daemons1"; for d in d1 d2; do echo "$d: $(ip netns exec $d ipvsadm -L --daemon | tr '\\n' ' ')"; done; echo "@@rc 0"
            for i in $(seq \(flows)); do
              ( ip netns exec c curl -sS -m 90 http://10.9.0.21/slow/big.bin 2>/dev/null | cmp -s - $D/www/big.bin; echo "flow $i ${PIPESTATUS[0]} ${PIPESTATUS[1]}" >> $D/flows ) &
            done
            sleep 2
            for i in $(seq 1 50); do [ "$(ip netns exec d2 cat /proc/net/ip_vs_conn | grep -c 0A09000A)" -ge \(flows) ] && break; sleep 0.2; done
            echo "@@ conns"; echo "d1: $(ip netns exec d1 cat /proc/net/ip_vs_conn | grep -c 0A09000A)"; echo "d2: $(ip netns exec d2 cat /proc/net/ip_vs_conn | grep -c 0A09000A)"; echo "@@rc 0"
            kill -9 $(cat $D/d1.pid); ip -n d1 link set eth0 down
            for i in $(seq 1 100); do ip netns exec d2 ipvsadm -L --daemon | grep -q master && break; sleep 0.2; done
            echo "@@ daemons2"; echo "d2: $(ip netns exec d2 ipvsadm -L --daemon | tr '\\n' ' ')"; echo "@@rc 0"
            wait
            echo "@@ flows"; cat $D/flows; echo "@@rc 0"
            echo "@@ log2"; cat $D/d2.log; echo "@@rc 0"
            """
        let r = try runCommand(
            [ipvsVM!, "--add", vigil, "--add", "/usr/sbin/nginx", "--add", "/usr/bin/curl", "--add", "/usr/bin/cmp", "--add", "/etc/passwd", "--add", "/etc/group",
             "--add", dir, "--timeout", "300", "--", script], timeout: 360)
        let out = r.stdout
        func section(_ n: String) -> String {
            guard let a = out.range(of: "@@ \(n)\n"), let b = out.range(of: "@@rc", range: a.upperBound..<out.endIndex) else { return "" }
            return String(out[a.upperBound..<b.lowerBound])
        }
        let dump = "guest output:\n\(out)\n\(r.stderr.suffix(3000))"
        let d1 = section("daemons1")
        #expect(d1.contains("d1: master sync daemon (mcast=eth0, syncid=51,"), "\(dump)")
        #expect(d1.contains("d2: backup sync daemon (mcast=eth0, syncid=51,"), "\(dump)")
        #expect(section("conns").contains("d2: \(flows)"), "the connections through d1 reached d2's table by kernel sync: \(dump)")
        #expect(section("daemons2").contains("d2: master sync daemon"), "\(dump)")
        let results = section("flows").split(separator: "\n").filter { $0.hasPrefix("flow ") }
        #expect(results.count == flows && results.allSatisfy { $0.hasSuffix(" 0 0") }, "all downloads complete and byte-exact across the failover: \(results)\n\(dump)")
    }
}

let ipvsVM: String? = {
    guard let dir = sharedDirectory else { return nil }
    let p = dir + "/tools/ipvs-vm"
    return FileManager.default.isExecutableFile(atPath: p) ? p : nil
}()
