import DataPlane
import Foundation
import HealthCheck
import HealthCheckCore
import NetCore
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

let loopback = IPAddress("127.0.0.1")!

func spec(_ check: CheckerSpec.Check, port: UInt16, delayLoop: Double = 0.3, retry: Int = 1, timeout: Double = 0.5) -> CheckerSpec {
    CheckerSpec(
        check: check,
        policy: CheckerPolicy(
            delayLoop: .milliseconds(Int64(delayLoop * 1000)), connectTimeout: .milliseconds(Int64(timeout * 1000)), retry: retry,
            delayBeforeRetry: .milliseconds(100), warmup: .zero),
        connectTo: SocketAddress(address: loopback, port: port))
}

func rsID(_ port: UInt16) -> RealServerID {
    RealServerID(virtualService: .address(.tcp, SocketAddress(address: IPAddress("10.0.0.1")!, port: 80)), server: SocketAddress(address: loopback, port: port))
}

/// Collects a service's events with their arrival time.
final class EventLog: Sendable {
    let items = Mutex<[(Date, HealthChange)]>([])
    func events(for id: RealServerID) -> [HealthEvent] { items.withLock { $0.filter { $0.1.server == id }.map(\.1.event) } }
    func firstTime(_ id: RealServerID, _ e: HealthEvent, after: Date) -> Date? {
        items.withLock { $0.first { $0.1.server == id && $0.1.event == e && $0.0 >= after }?.0 }
    }
}

/// Runs `service` in the background for the duration of `body`.
func withService(_ servers: [RealServerSpec], _ body: (HealthCheckService<ContinuousClock>, EventLog) async throws -> Void) async throws {
    let service = HealthCheckService(servers: servers)
    let log = EventLog()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await service.run() }
        group.addTask {
            for await e in service.events { log.items.withLock { $0.append((Date(), e)) } }
        }
        try await body(service, log)
        group.cancelAll()
    }
}

func waitFor(_ seconds: Double, _ cond: () -> Bool) async -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if cond() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return cond()
}

@Suite struct CheckRunnerTests {
    let runner = CheckRunner()

    @Test func httpStatusDigestRefusedAndTimeout() async throws {
        let server = TestTCPServer()
        defer { server.stop() }
        server.set("/ok", body: Array("abc".utf8))
        server.set("/missing", status: "404 Not Found", body: [])
        let md5abc = "900150983cd24fb0d6963f7d28e17f72"
        let good = spec(.http(HTTPSpec(urls: [try URLCheck(path: "/ok", digest: md5abc)])), port: server.port)
        #expect(await runner.perform(good).success)
        let wrongDigest = spec(.http(HTTPSpec(urls: [try URLCheck(path: "/ok", digest: String(repeating: "0", count: 32))])), port: server.port)
        let d = await runner.perform(wrongDigest)
        #expect(!d.success && d.detail!.hasPrefix("MD5 digest error to [127.0.0.1]:tcp:\(server.port) url[/ok], MD5SUM [\(md5abc)]"))
        let nf = await runner.perform(spec(.http(HTTPSpec(urls: [try URLCheck(path: "/missing")])), port: server.port))
        #expect(nf.detail == "HTTP status code error to [127.0.0.1]:tcp:\(server.port) url(/missing), status_code [404].")
        let accepted404 = spec(.http(HTTPSpec(urls: [try URLCheck(path: "/missing", statusCodes: StatusCodeSet(parsing: ["404"]))])), port: server.port)
        #expect(await runner.perform(accepted404).success)
        let port = closedPort()
        let refused = await runner.perform(spec(.http(HTTPSpec(urls: [try URLCheck(path: "/")])), port: port))
        #expect(refused.detail == "Error connecting server [127.0.0.1]:tcp:\(port): Connection refused.")
        let t0 = Date()
        let hang = await runner.perform(spec(.http(HTTPSpec(urls: [try URLCheck(path: "/hang")])), port: server.port, timeout: 0.4))
        let took = Date().timeIntervalSince(t0)
        #expect(!hang.success && hang.detail == "Timeout reading data to remote server [127.0.0.1]:tcp:\(server.port).")
        #expect(took >= 0.35 && took < 2)
    }

    @Test func tcpCheck() async {
        let server = TestTCPServer()
        defer { server.stop() }
        #expect(await runner.perform(spec(.tcp, port: server.port)).success)
        let port = closedPort()
        let r = await runner.perform(spec(.tcp, port: port))
        #expect(r.detail == "TCP connection to [127.0.0.1]:tcp:\(port) failed: Connection refused.")
    }

    @Test func sslGetWithSelfSignedCertificate() async throws {
        guard let tls = try makeSelfSignedCert() else { return }
        defer { try? FileManager.default.removeItem(atPath: tls.dir) }
        try "tls body\n".write(toFile: tls.dir + "/x.html", atomically: true, encoding: .utf8)
        let port = closedPort()
        let p = try startTLSFileServer(tls, port: port)
        defer { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        #expect(await waitFor(10) { tcpOpen(port) })
        let digest = md5Hex(Array("tls body\n".utf8))
        let ok = spec(.http(HTTPSpec(urls: [try URLCheck(path: "/x.html", digest: digest)], ssl: true)), port: port, timeout: 2)
        #expect(ok.kind == .sslGet)
        #expect(await runner.perform(ok).success)
        // With the CA set, an untrusted (self-signed, other) certificate fails; with its own cert as CA it passes.
        guard let other = try makeSelfSignedCert() else { return }
        defer { try? FileManager.default.removeItem(atPath: other.dir) }
        let verifyingWrong = spec(.http(HTTPSpec(urls: [try URLCheck(path: "/x.html")], ssl: true, tls: TLSSettings(caFile: other.cert))), port: port, timeout: 2)
        #expect(!(await runner.perform(verifyingWrong).success))
        let verifyingRight = spec(.http(HTTPSpec(urls: [try URLCheck(path: "/x.html")], ssl: true, tls: TLSSettings(caFile: tls.cert))), port: port, timeout: 2)
        #expect(await runner.perform(verifyingRight).success)
    }

    @Test func miscCheckExitCodesAndHangKilledAtTimeout() async throws {
        let dir = NSTemporaryDirectory() + "vgh-misc-\(getpid())-\(UInt16.random(in: 0...9999))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/pid"
        let hang = dir + "/hang.sh"
        try "#!/bin/sh\necho $$ > \(pidFile)\nexec sleep 30\n".write(toFile: hang, atomically: true, encoding: .utf8)
        chmod(hang, 0o755)
        let id = rsID(80)
        let t0 = Date()
        let r = await runner.perform(spec(.misc(MiscSpec(path: hang, timeout: .milliseconds(400))), port: 0), server: id)
        let took = Date().timeIntervalSince(t0)
        #expect(r.detail == "Misc check for [\(id)] by [\(hang)] timed out.")
        #expect(took >= 0.39 && took < 3)
        let pid = Int32((try String(contentsOfFile: pidFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines))!
        #expect(kill(pid, 0) != 0)  // gone
        #expect(await runner.perform(spec(.misc(MiscSpec(path: "/bin/sh -c 'exit 0'")), port: 0)).success)
        let f = await runner.perform(spec(.misc(MiscSpec(path: "/bin/sh -c 'exit 1'")), port: 0), server: id)
        #expect(f.detail == "Misc check for [\(id)] by [/bin/sh -c 'exit 1'] failed (exited with status 1).")
        let dyn = await runner.perform(spec(.misc(MiscSpec(path: "/bin/sh -c 'exit 7'", dynamic: true)), port: 0))
        #expect(dyn.success && dyn.weight == 5)
        #expect(!(await runner.perform(spec(.misc(MiscSpec(path: "/nonexistent/script")), port: 0)).success))
        if getuid() == 0 {
            // Run as nobody: the script sees uid 65534.
            let me = dir + "/uid"
            chmod(dir, 0o777)
            let r = await runner.perform(spec(.misc(MiscSpec(path: "/bin/sh -c 'test $(id -u) = 65534 && touch \(me)'", uid: 65534, gid: 65534)), port: 0))
            #expect(r.success)
        }
    }

    @Test func smtpDialogue() async throws {
        let good = TestTCPServer(greeting: "220 mx.test ESMTP\r\n")
        defer { good.stop() }
        good.lineReplies.withLock { $0["HELO"] = "250 mx.test\r\n"; $0["QUIT"] = "221 bye\r\n" }
        #expect(await runner.perform(spec(.smtp(heloName: "vgh.example"), port: good.port)).success)
        #expect(await waitFor(2) { good.requests.withLock { $0 } == ["HELO vgh.example", "QUIT"] })
        let busy = TestTCPServer(greeting: "554 no service\r\n")
        defer { busy.stop() }
        let r = await runner.perform(spec(.smtp(heloName: "x"), port: busy.port))
        #expect(r.detail == "SMTP_CHECK to [127.0.0.1]:tcp:\(busy.port): SMTP greeting code 554, expected 220.")
        let silent = TestTCPServer(greeting: "")
        defer { silent.stop() }
        #expect(!(await runner.perform(spec(.smtp(heloName: "x"), port: silent.port, timeout: 0.3)).success))
    }

    @Test func dnsCheck() async throws {
        let ok = TestUDPServer { q in
            guard q.count >= 12 else { return nil }
            return [q[0], q[1], 0x81, 0x80] + Array(q[4..<12]) + Array(q[12...])
        }
        defer { ok.stop() }
        #expect(await runner.perform(spec(.dns(name: "example.com", type: .a), port: ok.port)).success)
        let nx = TestUDPServer { q in [q[0], q[1], 0x81, 0x83, 0, 0, 0, 0, 0, 0, 0, 0] }
        defer { nx.stop() }
        let r = await runner.perform(spec(.dns(name: "example.com", type: .a), port: nx.port))
        #expect(r.detail == "DNS_CHECK to [127.0.0.1]:udp:\(nx.port) failed: DNS reply rcode is 3.")
        let silent = TestUDPServer { _ in nil }
        defer { silent.stop() }
        #expect(await runner.perform(spec(.dns(name: ".", type: .soa), port: silent.port, timeout: 0.3)).detail == "DNS_CHECK to [127.0.0.1]:udp:\(silent.port) timed out.")
    }

    @Test func udpCheck() async throws {
        let echo = TestUDPServer { $0 }
        defer { echo.stop() }
        let match = UDPCheckSpec(payload: [0xca, 0xfe, 0x01], requireReply: try HexPattern("cafexx"))
        #expect(await runner.perform(spec(.udp(match), port: echo.port)).success)
        let mismatch = UDPCheckSpec(payload: [0xca, 0xfe], requireReply: try HexPattern("beef"))
        #expect(await runner.perform(spec(.udp(mismatch), port: echo.port)).detail == "UDP check to [127.0.0.1]:udp:\(echo.port) reply data mismatch.")
        // A closed port answers with ICMP port unreachable.
        let port = closedUDPPort()
        let r = await runner.perform(spec(.udp(UDPCheckSpec()), port: port))
        #expect(r.detail == "UDP check to [127.0.0.1]:udp:\(port) failed: Connection refused.")
    }

    @Test func pingLoopback() async {
        #expect(await runner.perform(spec(.ping, port: 0)).success)
    }

    @Test func fileCheck() async throws {
        let path = NSTemporaryDirectory() + "vgh-file-\(getpid())"
        try "4\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let r = await runner.perform(spec(.file(FileSpec(path: path, weight: 3)), port: 0))
        #expect(r.success && r.weight == 12)
        #expect(!(await runner.perform(spec(.file(FileSpec(path: path + ".absent", weight: 3)), port: 0)).success))
    }
}

func closedUDPPort() -> UInt16 {
    let (fd, port) = bindLoopback(type: Int32(SOCK_DGRAM.rawValue))
    close(fd)
    return port
}

@Suite(.serialized) struct HealthCheckServiceTests {
    @Test func bodyChangeTakesServerDownAndRestoreBringsItBack() async throws {
        let server = TestTCPServer()
        defer { server.stop() }
        server.set("/", body: Array("version 1".utf8))
        let digest = md5Hex(Array("version 1".utf8))
        let delayLoop = 0.3, retry = 1, timeout = 0.5
        let s = spec(.http(HTTPSpec(urls: [try URLCheck(path: "/", digest: digest)])), port: server.port, delayLoop: delayLoop, retry: retry, timeout: timeout)
        let id = rsID(server.port)
        try await withService([RealServerSpec(id: id, weight: 3, checkers: [s])]) { service, log in
            try await Task.sleep(for: .milliseconds(1300))  // first check at 1 s, success: no event
            #expect(log.events(for: id).isEmpty)
            #expect(service.snapshot()[id]?.alive == true)
            let changed = Date()
            server.set("/", body: Array("version 2".utf8))
            let bound = delayLoop * Double(retry + 1) + timeout + 0.3
            #expect(await waitFor(bound + 1) { log.events(for: id) == [.down] })
            let downAt = log.firstTime(id, .down, after: changed)
            #expect(downAt.map { $0.timeIntervalSince(changed) <= bound } == true, "down after \(downAt.map { $0.timeIntervalSince(changed) } ?? -1) s, bound \(bound)")
            let restored = Date()
            server.set("/", body: Array("version 1".utf8))
            // HTTP: after a failure the next try waits max(delay_before_retry, delay_loop).
            #expect(await waitFor(delayLoop + 1) { log.events(for: id) == [.down, .up(weight: 3)] })
            let upAt = log.firstTime(id, .up(weight: 3), after: restored)
            #expect(upAt.map { $0.timeIntervalSince(restored) <= delayLoop + 0.25 } == true)
        }
    }

    @Test func slowServerDoesNotDelayOthers() async throws {
        let fast = TestTCPServer()
        defer { fast.stop() }
        fast.set("/", body: Array("A".utf8))
        let slow = TestTCPServer()
        defer { slow.stop() }
        let fastID = rsID(fast.port), slowID = rsID(slow.port)
        // The slow server hangs every request for up to 10 s.
        let hanging = spec(.http(HTTPSpec(urls: [try URLCheck(path: "/hang")])), port: slow.port, delayLoop: 0.2, retry: 0, timeout: 10)
        let quick = spec(.http(HTTPSpec(urls: [try URLCheck(path: "/", digest: md5Hex(Array("A".utf8)))])), port: fast.port, delayLoop: 0.2, retry: 0, timeout: 0.5)
        let servers = [RealServerSpec(id: slowID, checkers: [hanging]), RealServerSpec(id: fastID, checkers: [quick])]
        try await withService(servers) { service, log in
            try await Task.sleep(for: .milliseconds(1200))
            let checksBefore = service.checksCompleted
            try await Task.sleep(for: .milliseconds(1000))
            // About 5 fast checks a second, while the slow one has not finished any.
            #expect(service.checksCompleted - checksBefore >= 3)
            let changed = Date()
            fast.set("/", body: Array("B".utf8))
            #expect(await waitFor(2) { log.events(for: fastID) == [.down] })
            #expect(log.firstTime(fastID, .down, after: changed).map { $0.timeIntervalSince(changed) < 1 } == true)
            #expect(log.events(for: slowID).isEmpty)
        }
    }

    @Test func alphaServerComesUpAndMiscDynamicChangesWeight() async throws {
        let dir = NSTemporaryDirectory() + "vgh-svc-\(getpid())-\(UInt16.random(in: 0...9999))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let code = dir + "/code"
        try "9".write(toFile: code, atomically: true, encoding: .utf8)
        var misc = spec(.misc(MiscSpec(path: "/bin/sh -c 'exit $(cat \(code))'", timeout: .seconds(2), dynamic: true)), port: 0, delayLoop: 0.2, retry: 0)
        misc.policy.alpha = true
        let id = rsID(9999)
        try await withService([RealServerSpec(id: id, weight: 1, checkers: [misc])]) { service, log in
            #expect(service.snapshot()[id]?.alive == false)
            #expect(await waitFor(3) { log.events(for: id) == [.up(weight: 7)] })
            try "12".write(toFile: code, atomically: true, encoding: .utf8)
            #expect(await waitFor(2) { log.events(for: id) == [.up(weight: 7), .weight(10)] })
            try "1".write(toFile: code, atomically: true, encoding: .utf8)
            #expect(await waitFor(2) { log.events(for: id).last == .down })
        }
    }
}

@Suite(.serialized, .enabled(if: getuid() == 0)) struct NamespacePingTests {
    @Test func pingPeerInNamespace() async throws {
        let lab = NetnsLab(prefix: "vgh")
        defer { lab.teardown() }
        let ns = try lab.addNamespace("p")
        let third = Int.random(in: 0...255)
        let host = "vghh\(UInt16.random(in: 0...9999))"
        try lab.sh(nil, "ip link add \(host) type veth peer name eth0 netns \(ns) && ip addr add 198.18.\(third).1/30 dev \(host) && ip link set \(host) up")
        defer { _ = try? runCommand(["ip", "link", "del", host]) }
        try lab.sh(ns, "ip addr add 198.18.\(third).2/30 dev eth0 && ip link set eth0 up")
        var s = spec(.ping, port: 0, timeout: 1)
        s.connectTo = SocketAddress(address: IPAddress("198.18.\(third).2")!, port: 0)
        let runner = CheckRunner()
        #expect(await waitFor(5) { true })
        var ok = false
        for _ in 0..<10 where !ok {
            ok = await runner.perform(s).success
        }
        #expect(ok)
        try lab.sh(ns, "ip link set eth0 down")
        let r = await runner.perform(s)
        #expect(r.detail == "PING_CHECK to [198.18.\(third).2] timed out.")
    }
}
