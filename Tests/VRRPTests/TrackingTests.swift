import Foundation
import NetCore
import NetlinkCodec
import TestSupport
import Testing
import VRRPCore

@testable @_spi(Testing) import VRRP

@Suite(.serialized, .enabled(if: isRoot))
struct TrackingAndNotifyTests {
    /// track_interface (weight −60), vrrp_script (weight −60), virtual_routes, notify scripts
    /// and notify_fifo on the priority-150 director, against a priority-100 Vigil.
    @Test func trackersMoveMastershipAndNotifiesRun() async throws {
        let topo = try Topology()
        defer { topo.teardown() }
        try topo.lab.sh(topo.a, "ip link add trk0 type veth peer name trk1 && ip link set trk1 up && ip link set trk0 up")
        let okFile = "\(topo.dir)/ok"
        FileManager.default.createFile(atPath: okFile, contents: Data())
        let notifyOut = "\(topo.dir)/notify.out"
        let script = "\(topo.dir)/notify.sh"
        try "#!/bin/sh\necho \"$@\" >> \(notifyOut)\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        // A real FIFO with a reader, as notify_fifo users have.
        let fifo = "\(topo.dir)/fifo"
        let fifoOut = "\(topo.dir)/fifo.out"
        #expect(mkfifo(fifo, 0o600) == 0)
        try topo.lab.spawn(nil, ["/bin/sh", "-c", "exec cat \(fifo) > \(fifoOut)"])

        var setupA = referenceSetup("192.168.0.11", priority: 150) {
            $0.trackers = [Tracker(name: "trk0", kind: .interface, weight: -60), Tracker(name: "chk_ok", kind: .script, weight: -60)]
        }
        setupA.routes = [VirtualRoute(spec: RouteSpec(destination: IPPrefix("10.77.0.0/24")!, gateway: IPAddress("192.168.0.1")), device: "eth0")]
        setupA.notify.notify = ScriptCommand("\(script) R")
        setupA.notify.master = ScriptCommand("\(script) became-master")
        var options = VRRPService<ContinuousClock>.Options()
        options.notifyFIFO = fifo
        var chk = VRRPScriptConfig(name: "chk_ok", command: ScriptCommand("/usr/bin/test -f \(okFile)"))
        chk.interval = .milliseconds(200)
        options.scripts = [chk]
        let a = try Router(topo.a, [setupA], options: options)
        let b = try Router(topo.b, [referenceSetup("192.168.0.15", priority: 100)])
        #expect(await wait(8) { a.state == .master && b.state == .backup })
        #expect(await wait(2) { (try? topo.lab.run(topo.a, ["ip", "route", "show", "10.77.0.0/24"]).stdout.contains("via 192.168.0.1")) == true })
        let notes = { (try? String(contentsOfFile: notifyOut, encoding: .utf8)) ?? "" }
        #expect(await wait(2) { notes().contains("R INSTANCE LVSha MASTER 150") && notes().contains("became-master") })
        #expect(notes().contains("R INSTANCE LVSha BACKUP 150"))
        let fifoLines = { (try? String(contentsOfFile: fifoOut, encoding: .utf8)) ?? "" }
        #expect(await wait(2) { fifoLines().contains("INSTANCE \"LVSha\" BACKUP 150\nINSTANCE \"LVSha\" MASTER 150\n") })

        // track_interface: trk0 down → 150 − 60 = 90 < 100, so the backup preempts.
        try topo.lab.sh(topo.a, "ip link set trk0 down")
        #expect(await wait(10) { b.state == .master && a.state == .backup })
        #expect(a.logs.contains("(LVSha) Changing effective priority from 150 to 90"))
        #expect(topo.hasAddress(topo.b, "192.168.0.21") && !topo.hasAddress(topo.a, "192.168.0.21"))
        // The virtual route left with mastership.
        #expect((try topo.lab.run(topo.a, ["ip", "route", "show", "10.77.0.0/24"]).stdout).isEmpty)
        try topo.lab.sh(topo.a, "ip link set trk0 up")
        #expect(await wait(10) { a.state == .master && b.state == .backup })

        // vrrp_script: the check fails → 90 again → the backup takes over; passes → back.
        try FileManager.default.removeItem(atPath: okFile)
        #expect(await wait(10) { b.state == .master })
        #expect(a.logs.contains("VRRP_Script(chk_ok) failed"))
        FileManager.default.createFile(atPath: okFile, contents: Data())
        #expect(await wait(10) { a.state == .master })
        #expect(a.logs.contains("VRRP_Script(chk_ok) succeeded"))

        // Interface of the instance down → FAULT; up → back to MASTER by preemption.
        try topo.lab.sh(topo.a, "ip link set eth0 down")
        #expect(await wait(3) { a.state == .fault })
        #expect(a.logs.contains("(LVSha): entering FAULT state (interface eth0 down)"))
        #expect(await wait(10) { b.state == .master })
        try topo.lab.sh(topo.a, "ip link set eth0 up")
        #expect(await wait(8) { a.state == .master && b.state == .backup })
        await a.stop()
        #expect(await wait(2) { notes().contains("R INSTANCE LVSha STOP 150") })
        await b.stop()
    }

    @Test func scriptTimeoutKillsTheScript() async throws {
        let start = ContinuousClock.now
        let r = await ScriptRunner.run(ScriptCommand("/bin/sleep 30"), timeout: .milliseconds(300))
        #expect(r == .timedOut)
        #expect(ContinuousClock.now - start < .seconds(3))
        #expect(await ScriptRunner.run(ScriptCommand("/bin/sh -c 'exit 3'"), timeout: .seconds(5)) == .exited(3))
        #expect(await ScriptRunner.run(ScriptCommand("/nonexistent/x"), timeout: .seconds(5)) == .exited(127))
        if let nobody = ScriptUser(name: "nobody") {
            let dir = NSTemporaryDirectory() + "vgv-user-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            chmod(dir, 0o777)
            _ = await ScriptRunner.run(ScriptCommand("/bin/sh -c 'id -u > \(dir)/uid'"), user: nobody, timeout: .seconds(5))
            let uid = try String(contentsOfFile: "\(dir)/uid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(uid == String(nobody.uid))
        }
    }
}

@Suite struct ScriptCommandTests {
    @Test func splitsLikeKeepalived() {
        #expect(ScriptCommand("/x/notify.sh R").argv == ["/x/notify.sh", "R"])
        #expect(ScriptCommand("/bin/sh -c 'echo a  b'").argv == ["/bin/sh", "-c", "echo a  b"])
        #expect(ScriptCommand("  a   \"b c\"d ").argv == ["a", "b cd"])
    }

    @Test func notifyCommands() {
        var n = NotifyConfig()
        n.master = ScriptCommand("/m")
        n.notify = ScriptCommand("/n R")
        let cmds = n.commands(for: .init(name: "VI_1", state: .master, priority: 100))
        #expect(cmds.map(\.argv) == [["/m"], ["/n", "R", "INSTANCE", "VI_1", "MASTER", "100"]])
        #expect(n.commands(for: .init(name: "VI_1", state: .backup, priority: 100)).map(\.argv) == [["/n", "R", "INSTANCE", "VI_1", "BACKUP", "100"]])
    }

    @Test func gratuitousFrames() {
        let mac: [UInt8] = [2, 0, 0, 0, 0, 0x0b]
        let arp = GratuitousPackets.arp(mac: mac, address: IPv4Address(192, 168, 0, 21))
        #expect(arp.count == 42)
        #expect(Array(arp[12..<14]) == [0x08, 0x06])
        #expect(Array(arp[28..<32]) == [192, 168, 0, 21] && Array(arp[38..<42]) == [192, 168, 0, 21])
        let na = GratuitousPackets.neighbourAdvert(mac: mac, target: IPv6Address("2001:db8::21")!)
        #expect(na.count == 32 && na[0] == 136 && na[4] == 0x20 && Array(na[26..<32]) == mac)
    }

    @Test func trackFileValue() throws {
        let p = NSTemporaryDirectory() + "vgv-tf-\(getpid())"
        try " -42 rest\n".write(toFile: p, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: p) }
        #expect(TrackFileConfig.value(of: p) == -42)
        #expect(TrackFileConfig.value(of: p + ".missing") == 0)
    }
}

@Suite(.serialized, .enabled(if: isRoot))
struct SyncGroupServiceTests {
    /// Two instances in one vrrp_sync_group on each director: when one instance of the master
    /// loses its tracked interface, both instances move to the other director together.
    @Test func groupMovesTogether() async throws {
        let topo = try Topology()
        defer { topo.teardown() }
        try topo.lab.sh(topo.a, "ip link add trk0 type veth peer name trk1 && ip link set trk1 up && ip link set trk0 up")
        func pair(_ addr: String, _ prio: UInt8, track: Bool) -> [VRRPInstanceSetup] {
            var one = referenceSetup(addr, priority: prio) { $0.name = "VI_1"; $0.vrid = 51 }
            if track { one.config.trackers = [Tracker(name: "trk0", kind: .interface)] }
            var two = referenceSetup(addr, priority: prio) {
                $0.name = "VI_2"
                $0.vrid = 52
                $0.virtualAddresses = [IPAddress("192.168.0.22")!]
            }
            two.vips = [VirtualIP(prefix: IPPrefix("192.168.0.22/32")!, device: "eth0")]
            return [one, two]
        }
        let group = SyncGroupSetup(group: SyncGroup(name: "G1", members: ["VI_1", "VI_2"]))
        let a = try Router(topo.a, pair("192.168.0.11", 150, track: true), syncGroups: [group])
        let b = try Router(topo.b, pair("192.168.0.15", 100, track: false), syncGroups: [group])
        func states(_ r: Router) -> [VRRPState] { r.service.status().map(\.state) }
        #expect(await wait(8) { states(a) == [.master, .master] && states(b) == [.backup, .backup] })
        #expect(topo.hasAddress(topo.a, "192.168.0.21") && topo.hasAddress(topo.a, "192.168.0.22"))
        // trk0 (weight 0) down: VI_1 faults, the group pulls VI_2 into FAULT too.
        try topo.lab.sh(topo.a, "ip link set trk0 down")
        #expect(await wait(3) { states(a) == [.fault, .fault] })
        #expect(a.logs.contains("VRRP_Group(G1) Syncing instances to FAULT state"))
        #expect(await wait(3) { states(b) == [.master, .master] })
        #expect(topo.hasAddress(topo.b, "192.168.0.21") && topo.hasAddress(topo.b, "192.168.0.22"))
        #expect(!topo.hasAddress(topo.a, "192.168.0.21") && !topo.hasAddress(topo.a, "192.168.0.22"))
        try topo.lab.sh(topo.a, "ip link set trk0 up")
        #expect(await wait(8) { states(a) == [.master, .master] && states(b) == [.backup, .backup] })
        await a.stop()
        await b.stop()
    }
}
