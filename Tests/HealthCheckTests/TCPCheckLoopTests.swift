import DataPlane
import Foundation
import HealthCheck
import HealthCheckCore
import NetCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// TCP_CHECK through HealthCheckService on the real clock, i.e. on the single-thread check loop.
@Suite(.serialized) struct TCPCheckLoopTests {
    /// A loopback listener that can be closed and reopened on the same port.
    final class Listener: @unchecked Sendable {
        var fd: Int32
        let port: UInt16
        init() {
            (fd, port) = bindLoopback(type: Int32(SOCK_STREAM.rawValue))
            listen(fd, 128)
        }
        func close() { _ = Glibc.close(fd); fd = -1 }
        func reopen() {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            sin.sin_port = port.bigEndian
            _ = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            listen(fd, 128)
        }
        deinit { if fd >= 0 { _ = Glibc.close(fd) } }
    }

    @Test func refusedTakesTheServerDownAndListeningBringsItBack() async throws {
        let l = Listener()
        let s = spec(.tcp, port: l.port, delayLoop: 0.3, retry: 1, timeout: 0.5)
        let id = rsID(l.port)
        try await withService([RealServerSpec(id: id, weight: 2, checkers: [s])]) { service, log in
            try await Task.sleep(for: .milliseconds(1400))  // first check at 1 s succeeds: no event
            #expect(log.events(for: id).isEmpty)
            #expect(service.checksCompleted >= 1)
            let closed = Date()
            l.close()
            // Refused twice (retry 1, 0.3 s apart) after at most one delay_loop.
            #expect(await waitFor(3) { log.events(for: id) == [.down] })
            let downAt = log.firstTime(id, .down, after: closed).map { $0.timeIntervalSince(closed) } ?? -1
            #expect(downAt >= 0.25 && downAt <= 0.3 * 2 + 0.5 + 0.5, "down after \(downAt) s")
            let reopened = Date()
            l.reopen()
            #expect(await waitFor(3) { log.events(for: id) == [.down, .up(weight: 2)] })
            let upAt = log.firstTime(id, .up(weight: 2), after: reopened).map { $0.timeIntervalSince(reopened) } ?? -1
            #expect(upAt >= 0 && upAt <= 0.3 + 0.5, "up after \(upAt) s")
        }
    }

    @Test func suspendedCheckersDoNotRunAndCancellationEndsTheLoop() async throws {
        let l = Listener()
        let id = rsID(l.port)
        let service = HealthCheckService(servers: [RealServerSpec(id: id, checkers: [spec(.tcp, port: l.port, delayLoop: 0.2)])])
        service.setSuspended([id.virtualService])
        let run = Task { await service.run() }
        try await Task.sleep(for: .milliseconds(1600))
        #expect(service.checksCompleted == 0)
        service.setSuspended([])
        #expect(await waitFor(2) { service.checksCompleted >= 2 })
        let cancelled = Date()
        run.cancel()
        await run.value
        #expect(Date().timeIntervalSince(cancelled) < 1)
        let after = service.checksCompleted
        try await Task.sleep(for: .milliseconds(500))
        #expect(service.checksCompleted == after)
    }
}
