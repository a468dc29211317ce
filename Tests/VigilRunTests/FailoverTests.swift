import Foundation
import TestSupport
import Testing

/// One pairing's protocol settings and the bounds the issue sets for it.
struct Pairing {
    var vip: String
    /// Configs for the higher (150) and lower (100) priority director.
    var high: String
    var low: String
    var instance: String
    /// Master_Down_Interval of the lower director (3 × interval + skew), seconds.
    var lowMasterDown: Double
    var highMasterDown: Double
    var advert: Double

    /// The reference scenario: VRRPv2, PASS auth, advert_int 1, the seed files unchanged.
    static func reference() throws -> Pairing {
        Pairing(
            vip: "192.168.0.21", high: try seedConfig("keepalived-V11-master.conf"), low: try seedConfig("keepalived-V15-backup.conf"),
            instance: "LVSha", lowMasterDown: 3.609, highMasterDown: 3.414, advert: 1)
    }

    static func instance(
        name: String, priority: Int, version: Int, advert: String, vrid: Int, vip: String, extra: String = ""
    ) -> String {
        """
        global_defs {
          router_id vgr\(priority)
        }
        vrrp_instance \(name) {
          state BACKUP
          interface eth0
          version \(version)
          virtual_router_id \(vrid)
          priority \(priority)
          advert_int \(advert)
        \(extra)
          virtual_ipaddress {
            \(vip)
          }
        }

        """
    }

    /// VRRPv3 at 100 ms adverts: master-down 3 × 0.1 + skew (whole centiseconds).
    static let v3Fast = Pairing(
        vip: "192.168.0.21", high: instance(name: "V3", priority: 150, version: 3, advert: "0.1", vrid: 61, vip: "192.168.0.21"),
        low: instance(name: "V3", priority: 100, version: 3, advert: "0.1", vrid: 61, vip: "192.168.0.21"),
        instance: "V3", lowMasterDown: 0.36, highMasterDown: 0.34, advert: 0.1)

    /// IPv6 (VRRPv3, ff02::12, link-local sources) at 500 ms adverts: master-down
    /// 3 × 0.5 + skew (156 × 50 / 256 → 30 cs; 106 × 50 / 256 → 20 cs).
    static let ipv6 = Pairing(
        vip: "2001:db8::21", high: instance(name: "V6", priority: 150, version: 3, advert: "0.5", vrid: 71, vip: "2001:db8::21/64"),
        low: instance(name: "V6", priority: 100, version: 3, advert: "0.5", vrid: 71, vip: "2001:db8::21/64"),
        instance: "V6", lowMasterDown: 1.8, highMasterDown: 1.7, advert: 0.5)

    /// Unicast peers (no multicast), VRRPv2 with PASS auth as in the reference instance.
    static let unicast: Pairing = {
        func extra(_ me: Int, _ peer: Int) -> String {
            "  authentication {\n    auth_type PASS\n    auth_pass 1111\n  }\n  unicast_src_ip 192.168.0.\(me)\n  unicast_peer {\n    192.168.0.\(peer)\n  }"
        }
        return Pairing(
            vip: "192.168.0.21",
            high: instance(name: "UC", priority: 150, version: 2, advert: "1", vrid: 81, vip: "192.168.0.21", extra: extra(11, 15)),
            low: instance(name: "UC", priority: 100, version: 2, advert: "1", vrid: 81, vip: "192.168.0.21", extra: extra(15, 11)),
            instance: "UC", lowMasterDown: 3.609, highMasterDown: 3.414, advert: 1)
    }()
}

/// The issue's assertions for one pairing, with `high` (priority 150) in d1 and `low` (100)
/// in d2: election, the VIP on exactly one director, the client's TCP service on the VIP,
/// kill -9 takeover within master-down + 0.5 s, preemption back, graceful-stop takeover.
/// Returns the measured times for the report.
@discardableResult
func failover(_ lab: RunLab, high highKind: Director.Kind, low lowKind: Director.Kind, _ p: Pairing) async throws -> [String: Double] {
    let high = try lab.director(highKind, lab.d1, "d1", config: p.high)
    let low = try lab.director(lowKind, lab.d2, "d2", config: p.low)
    let tag = "\(highKind)/\(lowKind) \(p.instance)"
    var times: [String: Double] = [:]
    try await high.start()
    try await low.start()
    // Election: both start as BACKUP; the higher priority's down timer runs out first (the
    // lower one starts second so that at 100 ms adverts its timer cannot win the race).
    let elected = await lab.measure(timeout: p.highMasterDown * 2 + 3) { lab.hasAddress(lab.d1, p.vip) }
    #expect(elected != nil, "\(tag): d1 never took the VIP\n\(high.log)")
    // Give the lower one time to have heard the master, then check exactly one holds the VIP.
    await pause(p.advert * 2)
    #expect(lab.hasAddress(lab.d1, p.vip) && !lab.hasAddress(lab.d2, p.vip), "\(tag): the VIP must be on d1 only")
    #expect(await lab.clientReaches(p.vip, "d1"), "\(tag): the client does not reach d1 on the VIP")
    #expect(high.log.contains("(\(p.instance)) Entering MASTER STATE"), "\(tag)\n\(high.log)")
    #expect(!low.log.contains("(\(p.instance)) Entering MASTER STATE"), "\(tag)\n\(low.log)")

    // kill -9 of the master: the backup takes the VIP within its master-down interval + 0.5 s.
    high.kill9()
    let t0 = Date()
    let killTakeover = await lab.measure(timeout: p.lowMasterDown + 5, since: t0) { lab.hasAddress(lab.d2, p.vip) }
    #expect(killTakeover != nil, "\(tag): d2 never took the VIP after kill -9\n\(low.log)")
    if let t = killTakeover {
        times["kill"] = t
        #expect(t < p.lowMasterDown + 0.5, "\(tag): takeover after kill -9 took \(t) s")
    }
    // The dead director's kernel still has the address; a rebooted host would not.
    _ = try? lab.lab.run(lab.d1, ["ip", "addr", "del", "\(p.vip)/\(p.vip.contains(":") ? 64 : 32)", "dev", "eth0"])
    #expect(await lab.clientReaches(p.vip, "d2"), "\(tag): the client does not reach d2 after failover")
    #expect(low.log.contains("(\(p.instance)) Entering MASTER STATE"), "\(tag)\n\(low.log)")

    // The higher priority comes back and preempts.
    try await high.start()
    let back = await lab.measure(timeout: p.highMasterDown + 5) { lab.hasAddress(lab.d1, p.vip) && !lab.hasAddress(lab.d2, p.vip) }
    #expect(back != nil, "\(tag): d1 did not preempt\n\(high.log)\n\(low.log)")
    if let back { times["preempt"] = back }
    #expect(await lab.clientReaches(p.vip, "d1"), "\(tag): the client does not reach d1 after preemption")

    // Graceful stop: priority 0 makes the backup take over after its skew time.
    await pause(p.advert * 1.5)
    let t1 = Date()
    high.terminate()
    let graceful = await lab.measure(timeout: 5, since: t1) { lab.hasAddress(lab.d2, p.vip) }
    await high.waitForExit()
    #expect(graceful != nil, "\(tag): d2 did not take over after SIGTERM")
    if let g = graceful {
        times["graceful"] = g
        #expect(g < p.advert + 0.5, "\(tag): takeover after graceful stop took \(g) s")
    }
    #expect(!lab.hasAddress(lab.d1, p.vip), "\(tag): a stopped director must drop the VIP")
    #expect(await lab.clientReaches(p.vip, "d2"), "\(tag): the client does not reach d2 after the graceful stop")
    await low.stop()
    print("vgr \(tag): \(times.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.3f", $0.value)) s" }.joined(separator: ", "))")
    return times
}

@Suite(.serialized, .enabled(if: isRoot && socatInstalled))
struct VigilRunPairTests {
    @Test func referenceScenarioFailoverThroughVigilRun() async throws {
        let lab = try RunLab()
        defer { lab.teardown() }
        try await failover(lab, high: .vigil, low: .vigil, try .reference())
        let d1 = lab.directors[0]
        // --log-file got keepalived's wording; --pid-file was written and removed at exit.
        let log = (try? String(contentsOfFile: d1.logFile, encoding: .utf8)) ?? ""
        #expect(log.contains("(LVSha) Entering MASTER STATE"))
        #expect(log.contains("(LVSha) sent 0 priority"))
        #expect(!FileManager.default.fileExists(atPath: d1.pidFile))
    }

    @Test func pidFileAndStatus() async throws {
        let lab = try RunLab()
        defer { lab.teardown() }
        let d1 = try lab.director(.vigil, lab.d1, "d1", config: try seedConfig("keepalived-V11-master.conf"))
        try await d1.start()
        let pid = try String(contentsOfFile: d1.pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(pid == String(d1.process!.processIdentifier))
        #expect(await poll(timeout: 6) { lab.hasAddress(lab.d1, "192.168.0.21") })
        #expect(await poll(timeout: 3) {
            ((try? runCommand([vigilBinaryPath, "status", "--status-file", d1.statusFile]).stdout) ?? "")
                .contains("(LVSha) MASTER on eth0, VRID 51, priority 150")
        })
        // A second daemon with the same pid file refuses to start.
        let second = try runCommand(["ip", "netns", "exec", lab.d2, vigilBinaryPath, "run", "-f", d1.configPath, "-P", "-p", d1.pidFile, "--status-file", "\(lab.dir)/x.json"], timeout: 10)
        #expect(second.status != 0)
        await d1.stop()
        #expect(!FileManager.default.fileExists(atPath: d1.pidFile))
    }

    @Test func nopreemptKeepsTheCurrentMaster() async throws {
        let lab = try RunLab()
        defer { lab.teardown() }
        let high = try seedConfig("keepalived-V11-master.conf")
            .replacingOccurrences(of: "state MASTER", with: "state BACKUP")
            .replacingOccurrences(of: "    priority 150\n", with: "    priority 150\n    nopreempt\n")
        let low = try seedConfig("keepalived-V15-backup.conf")
        #expect(high.contains("nopreempt") && !high.contains("state MASTER"))
        let d2 = try lab.director(.vigil, lab.d2, "d2", config: low)
        try await d2.start()
        #expect(await poll(timeout: 8) { lab.hasAddress(lab.d2, "192.168.0.21") })
        let d1 = try lab.director(.vigil, lab.d1, "d1", config: high)
        try await d1.start()
        // Well past d1's master-down interval (3.41 s): d2 stays master.
        await pause(5)
        #expect(lab.hasAddress(lab.d2, "192.168.0.21"))
        #expect(!lab.hasAddress(lab.d1, "192.168.0.21"))
        #expect(d1.log.contains("(LVSha) Entering BACKUP STATE"))
        #expect(!d1.log.contains("(LVSha) Entering MASTER STATE"))
        #expect(await lab.clientReaches("192.168.0.21", "d2"))
        // nopreempt does not stop d1 from taking over when d2 leaves.
        await d2.stop()
        #expect(await poll(timeout: 2) { lab.hasAddress(lab.d1, "192.168.0.21") })
    }
}

@Suite(.serialized, .enabled(if: isRoot && socatInstalled))
struct VigilRunReloadTests {
    static let second = """

        vrrp_instance VI_2 {
            state BACKUP
            interface eth0
            virtual_router_id 52
            priority PRIO
            advert_int 1
            virtual_ipaddress {
                192.168.0.31
            }
        }

        """

    @Test func sighupKeepsMastershipAndAppliesChanges() async throws {
        let lab = try RunLab()
        defer { lab.teardown() }
        let master = try seedConfig("keepalived-V11-master.conf")
        let highText = master + Self.second.replacingOccurrences(of: "PRIO", with: "150")
        let lowText = try seedConfig("keepalived-V15-backup.conf") + Self.second.replacingOccurrences(of: "PRIO", with: "100")
        let d2 = try lab.director(.vigil, lab.d2, "d2", config: lowText)
        let d1 = try lab.director(.vigil, lab.d1, "d1", config: highText)
        try await d2.start()
        try await d1.start()
        #expect(await poll(timeout: 8) { lab.hasAddress(lab.d1, "192.168.0.21") && lab.hasAddress(lab.d1, "192.168.0.31") })
        await pause(1.5)
        #expect(d1.count("Entering MASTER STATE") == 2)

        // Changed priority and an added VIP on LVSha; VI_2 unchanged.
        let changed = highText
            .replacingOccurrences(of: "    priority 150\n    advert_int 1\n    authentication", with: "    priority 160\n    advert_int 1\n    authentication")
            .replacingOccurrences(of: "        192.168.0.21\n", with: "        192.168.0.21\n        192.168.0.22\n")
        #expect(changed.contains("priority 160") && changed.contains("192.168.0.22"))
        try changed.write(toFile: d1.configPath, atomically: true, encoding: .utf8)
        d1.reload()
        var vipsStayed = true
        let applied = await poll(timeout: 5) {
            vipsStayed = vipsStayed && lab.hasAddress(lab.d1, "192.168.0.21") && lab.hasAddress(lab.d1, "192.168.0.31")
            return d1.log.contains("Reload complete")
        }
        #expect(applied, "\(d1.log)")
        #expect(vipsStayed, "the VIPs must stay during the reload")
        #expect(lab.hasAddress(lab.d1, "192.168.0.22"))
        #expect(d1.log.contains("VRRP reload: 1 unchanged, 1 updated"), "\(d1.log)")
        #expect(d1.log.contains("(LVSha) Changing effective priority from 150 to 160"))
        #expect(d1.count("Entering MASTER STATE") == 2, "no state change on reload")
        #expect(d1.count("Entering BACKUP STATE") == 2, "no state change on reload")
        #expect(await lab.clientReaches("192.168.0.22", "d1"))
        #expect(await lab.clientReaches("192.168.0.21", "d1"))
        #expect(await poll(timeout: 3) {
            ((try? runCommand([vigilBinaryPath, "status", "--status-file", d1.statusFile]).stdout) ?? "")
                .contains("(LVSha) MASTER on eth0, VRID 51, priority 160")
        })
        await pause(1.2)
        #expect(!lab.hasAddress(lab.d2, "192.168.0.21") && !lab.hasAddress(lab.d2, "192.168.0.31"))

        // A file that cannot be read: the running configuration stays.
        try FileManager.default.removeItem(atPath: d1.configPath)
        d1.reload()
        #expect(await poll(timeout: 3) { d1.log.contains("Reload failed") }, "\(d1.log)")
        #expect(lab.hasAddress(lab.d1, "192.168.0.21") && lab.hasAddress(lab.d1, "192.168.0.22") && lab.hasAddress(lab.d1, "192.168.0.31"))

        // VI_2 removed: d1 stops it (priority 0), d2 takes its VIP at once; LVSha stays.
        try master.write(toFile: d1.configPath, atomically: true, encoding: .utf8)
        d1.reload()
        let t0 = Date()
        let moved = await lab.measure(timeout: 3, since: t0) { lab.hasAddress(lab.d2, "192.168.0.31") }
        #expect(moved != nil && moved! < 1.5, "VI_2's VIP should move to d2 after the reload removed it\n\(d1.log)")
        #expect(!lab.hasAddress(lab.d1, "192.168.0.31"))
        #expect(d1.log.contains("(VI_2) removed from the configuration, stopping"))
        #expect(lab.hasAddress(lab.d1, "192.168.0.21"))
        // LVSha is back at priority 150 with one VIP: .22 is gone.
        #expect(!lab.hasAddress(lab.d1, "192.168.0.22"))
        #expect(d1.count("(LVSha) Entering MASTER STATE") == 1)
    }
}

extension VigilRunReloadTests {
    /// keepalived starts its checker process when a reload brings the first virtual server;
    /// Vigil starts its LVS side (data plane, pool, checkers) then too.
    @Test func reloadThatAddsTheFirstVirtualServerStartsTheCheckers() async throws {
        let lab = try RunLab()
        defer { lab.teardown() }
        let vrrpOnly = """
            vrrp_instance VI_1 {
                state MASTER
                interface eth0
                virtual_router_id 61
                priority 150
                advert_int 1
                virtual_ipaddress {
                    192.168.0.41
                }
            }

            """
        let d1 = try lab.director(.vigil, lab.d1, "d1", config: vrrpOnly)
        d1.modeArguments = ["--dataplane", "none"]
        try await d1.start()
        #expect(await poll(timeout: 8) { lab.hasAddress(lab.d1, "192.168.0.41") })
        #expect(!d1.log.contains("Data plane: none"), "no virtual server yet: \(d1.log)")

        // d2's service on 8080 answers; nothing listens on the client's 8080.
        let withServers = vrrpOnly + """
            virtual_server 192.168.0.41 8080 {
                delay_loop 1
                lb_algo rr
                lb_kind DR
                protocol TCP
                real_server 192.168.0.15 8080 {
                    TCP_CHECK {
                        connect_timeout 1
                    }
                }
                real_server 192.168.0.10 8080 {
                    TCP_CHECK {
                        connect_timeout 1
                        retry 0
                    }
                }
            }

            """
        try withServers.write(toFile: d1.configPath, atomically: true, encoding: .utf8)
        d1.reload()
        #expect(await poll(timeout: 5) { d1.log.contains("Reload complete") }, "\(d1.log)")
        #expect(d1.log.contains("Reload: starting the data plane and checkers for 1 new virtual service(s)"), "\(d1.log)")
        #expect(d1.log.contains("Data plane: none"))
        // The checker runs: the dead port is found down and leaves the pool.
        #expect(await poll(timeout: 8) {
            d1.log.contains("Removing service [192.168.0.10]:tcp:8080 from VS [192.168.0.41]:tcp:8080")
        }, "\(d1.log)")
        #expect(!d1.log.contains("Removing service [192.168.0.15]:tcp:8080"))
        #expect(!d1.log.contains("error"), "the configuration is clean: \(d1.log)")
        #expect(lab.hasAddress(lab.d1, "192.168.0.41"), "VRRP unaffected")
    }
}

@Suite(.serialized, .enabled(if: isRoot && socatInstalled))
struct VigilRunTrackingTests {
    @Test func trackedInterfaceDownMovesTheVIP() async throws {
        let lab = try RunLab()
        defer { lab.teardown() }
        try lab.lab.sh(lab.d1, "ip link add eth1 type veth peer name eth1p && ip link set eth1p up && ip link set eth1 up")
        let high = try seedConfig("keepalived-V11-master.conf")
            .replacingOccurrences(of: "    priority 150\n", with: "    priority 150\n    track_interface {\n        eth1\n    }\n")
        let d2 = try lab.director(.vigil, lab.d2, "d2", config: try seedConfig("keepalived-V15-backup.conf"))
        let d1 = try lab.director(.vigil, lab.d1, "d1", config: high)
        try await d2.start()
        try await d1.start()
        #expect(await poll(timeout: 8) { lab.hasAddress(lab.d1, "192.168.0.21") })
        await pause(1.2)
        try lab.lab.sh(lab.d1, "ip link set eth1 down")
        let t = await lab.measure(timeout: 4) { lab.hasAddress(lab.d2, "192.168.0.21") && !lab.hasAddress(lab.d1, "192.168.0.21") }
        #expect(t != nil && t! < 1.5, "\(d1.log)")
        #expect(d1.log.contains("(LVSha) Entering FAULT STATE"))
        #expect(await lab.clientReaches("192.168.0.21", "d2"))
        // Link back: d1 leaves FAULT and preempts.
        try lab.lab.sh(lab.d1, "ip link set eth1 up")
        #expect(await poll(timeout: 6) { lab.hasAddress(lab.d1, "192.168.0.21") && !lab.hasAddress(lab.d2, "192.168.0.21") })
    }

    @Test func failingTrackScriptHandsOver() async throws {
        let lab = try RunLab()
        defer { lab.teardown() }
        let flag = "\(lab.dir)/healthy"
        FileManager.default.createFile(atPath: flag, contents: Data())
        let high = try seedConfig("keepalived-V11-master.conf")
            .replacingOccurrences(of: "vrrp_instance LVSha", with: "vrrp_script chk_flag {\n    script \"/usr/bin/test -f \(flag)\"\n    interval 1\n    weight -60\n    fall 1\n    rise 1\n}\n\nvrrp_instance LVSha")
            .replacingOccurrences(of: "    priority 150\n", with: "    priority 150\n    track_script {\n        chk_flag\n    }\n")
        let d2 = try lab.director(.vigil, lab.d2, "d2", config: try seedConfig("keepalived-V15-backup.conf"))
        let d1 = try lab.director(.vigil, lab.d1, "d1", config: high)
        try await d2.start()
        try await d1.start()
        #expect(await poll(timeout: 8) { lab.hasAddress(lab.d1, "192.168.0.21") })
        await pause(1.2)
        try FileManager.default.removeItem(atPath: flag)
        // Script interval 1 s, then d2 (100) outranks d1 (90) and takes over after its
        // master-down interval (3.61 s).
        let t = await lab.measure(timeout: 8) { lab.hasAddress(lab.d2, "192.168.0.21") && !lab.hasAddress(lab.d1, "192.168.0.21") }
        #expect(t != nil && t! < 1 + 3.61 + 1, "\(d1.log)\n\(d2.log)")
        #expect(d1.log.contains("VRRP_Script(chk_flag) failed"))
        #expect(d1.log.contains("(LVSha) Changing effective priority from 150 to 90"))
        #expect(await lab.clientReaches("192.168.0.21", "d2"))
    }
}

extension VigilRunTrackingTests {
    /// Starts a process whose comm is "vgtrackedproc" (a copy of sleep).
    func trackedProcessLauncher(_ lab: RunLab) throws -> () throws -> Process {
        let exe = "\(lab.dir)/vgtrackedproc"
        try FileManager.default.copyItem(atPath: "/bin/sleep", toPath: exe)
        return {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = ["600"]
            try p.run()
            return p
        }
    }

    /// d1 (the seed master, priority 150) tracks vgtrackedproc with weight -60 and `extra`
    /// tracker lines; d2 is the seed backup (100). Returns once d1 has been master a moment.
    func startTrackingPair(_ lab: RunLab, extra: String = "") async throws -> (d1: Director, d2: Director) {
        let high = try seedConfig("keepalived-V11-master.conf")
            .replacingOccurrences(of: "vrrp_instance LVSha", with: "vrrp_track_process web {\n    process vgtrackedproc\n    weight -60\n\(extra)}\n\nvrrp_instance LVSha")
            .replacingOccurrences(of: "    priority 150\n", with: "    priority 150\n    track_process {\n        web\n    }\n")
        let d2 = try lab.director(.vigil, lab.d2, "d2", config: try seedConfig("keepalived-V15-backup.conf"))
        let d1 = try lab.director(.vigil, lab.d1, "d1", config: high)
        try await d2.start()
        try await d1.start()
        #expect(await poll(timeout: 8) { lab.hasAddress(lab.d1, "192.168.0.21") })
        await pause(1.2)
        return (d1, d2)
    }

    /// `vrrp_track_process`: the tracked process ends, the priority drops by its weight and the
    /// other director takes over.
    @Test func endedTrackedProcessHandsOver() async throws {
        let lab = try RunLab()
        defer { lab.teardown() }
        let tracked = try trackedProcessLauncher(lab)()
        defer { if tracked.isRunning { kill(tracked.processIdentifier, SIGKILL); tracked.waitUntilExit() } }
        let (d1, d2) = try await startTrackingPair(lab)
        kill(tracked.processIdentifier, SIGKILL)
        tracked.waitUntilExit()
        // /proc is read once a second, then d2 (100) outranks d1 (90) after its master-down interval.
        let t = await lab.measure(timeout: 8) { lab.hasAddress(lab.d2, "192.168.0.21") && !lab.hasAddress(lab.d1, "192.168.0.21") }
        #expect(t != nil && t! < 1 + 3.61 + 1.5, "\(d1.log)\n\(d2.log)")
        #expect(d1.log.contains("Quorum lost for tracked process web"))
        #expect(d1.log.contains("(LVSha) Changing effective priority from 150 to 90"))
    }

    /// `terminate_delay`: a tracked process restarted within the delay costs nothing; one that
    /// stays away is declared lost once the delay has run.
    @Test func terminateDelayRidesOutARestart() async throws {
        let lab = try RunLab()
        defer { lab.teardown() }
        let start = try trackedProcessLauncher(lab)
        var tracked = try start()
        defer { if tracked.isRunning { kill(tracked.processIdentifier, SIGKILL); tracked.waitUntilExit() } }
        let (d1, _) = try await startTrackingPair(lab, extra: "    terminate_delay 4\n")
        // Restart within the delay: nothing is reported and d1 stays master.
        kill(tracked.processIdentifier, SIGKILL)
        tracked.waitUntilExit()
        await pause(1.5)
        tracked = try start()
        await pause(4.5)
        #expect(lab.hasAddress(lab.d1, "192.168.0.21"))
        #expect(!d1.log.contains("Quorum lost for tracked process web"), "\(d1.log)")
        // Gone for good: lost after the delay (4 s), then d2 takes over after its master-down
        // interval (3.61 s); without the delay it would be about 3.6-4.6 s.
        kill(tracked.processIdentifier, SIGKILL)
        tracked.waitUntilExit()
        let t = await lab.measure(timeout: 14) { lab.hasAddress(lab.d2, "192.168.0.21") && !lab.hasAddress(lab.d1, "192.168.0.21") }
        #expect(t != nil && t! > 7 && t! < 4 + 1 + 3.61 + 2, "\(String(describing: t))\n\(d1.log)")
        #expect(d1.log.contains("Quorum lost for tracked process web"))
    }
}

/// Vigil (through `vigil run`) against Debian's keepalived 2.2.7, both ways round.
@Suite(.serialized, .enabled(if: isRoot && socatInstalled && keepalivedInstalled))
struct VigilRunInteropTests {
    @Test(arguments: [Director.Kind.vigil, .keepalived])
    func referenceV2Pass(master: Director.Kind) async throws {
        let lab = try RunLab()
        defer { lab.teardown() }
        try await failover(lab, high: master, low: master == .vigil ? .keepalived : .vigil, try .reference())
    }

    @Test(arguments: [Director.Kind.vigil, .keepalived])
    func v3FastAdverts(master: Director.Kind) async throws {
        let lab = try RunLab()
        defer { lab.teardown() }
        try await failover(lab, high: master, low: master == .vigil ? .keepalived : .vigil, .v3Fast)
    }

    @Test(arguments: [Director.Kind.vigil, .keepalived])
    func ipv6(master: Director.Kind) async throws {
        let lab = try RunLab()
        defer { lab.teardown() }
        try await failover(lab, high: master, low: master == .vigil ? .keepalived : .vigil, .ipv6)
    }

    @Test(arguments: [Director.Kind.vigil, .keepalived])
    func unicastPeers(master: Director.Kind) async throws {
        let lab = try RunLab()
        defer { lab.teardown() }
        try await failover(lab, high: master, low: master == .vigil ? .keepalived : .vigil, .unicast)
    }
}
