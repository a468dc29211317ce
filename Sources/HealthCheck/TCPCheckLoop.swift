import CHealthCheckShims
import HealthCheckCore
import NetCore
import SysCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Runs every TCP_CHECK of a service on one thread: a binary heap of due times (the timer
/// wheel), non-blocking connects watched by one epoll set, and the pure `CheckerScheduler`
/// decision inline. No Swift task, timer or continuation per check: at 10,000 checks a second
/// those cost more CPU than the connects themselves (bench/health/RESULTS.md).
///
/// The owner feeds results back through `complete`, which runs on the loop thread.
final class TCPCheckLoop: @unchecked Sendable {
    struct Checker {
        let spec: CheckerSpec
        let server: Int
        let index: Int
        var scheduler: CheckerScheduler
        var fd: Int32 = -1
        var deadline: UInt64 = 0
    }

    /// Called on the loop thread after each check with the checker and its result.
    typealias Completion = (_ checker: inout Checker, _ outcome: CheckOutcome, _ now: Duration) -> Duration
    /// Whether a checker's virtual service is suspended (`ha_suspend`).
    typealias Suspended = (_ checker: Checker) -> Bool

    private var checkers: [Checker]
    /// Min-heap of (due time in ns since `startNs`, checker index).
    private var heap: [(due: UInt64, index: Int)] = []
    private var inflight: [Int] = []
    private let startNs: UInt64
    private let epfd: Int32
    private let stopped = Atomic<Bool>(false)
    private let done = Mutex<(finished: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))
    private let complete: Completion
    private let suspended: Suspended

    /// - Parameter firstChecks: each checker's first due time (since the service's start).
    init(checkers: [Checker], firstChecks: [Duration], startNs: UInt64, suspended: @escaping Suspended, complete: @escaping Completion) throws(SystemError) {
        self.checkers = checkers
        self.startNs = startNs
        self.complete = complete
        self.suspended = suspended
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { throw SystemError.last("epoll_create1") }
        heap.reserveCapacity(checkers.count)
        for (i, d) in firstChecks.enumerated() { push(Self.ns(d), i) }
    }

    static func ns(_ d: Duration) -> UInt64 {
        let c = d.components
        return UInt64(max(0, c.seconds)) &* 1_000_000_000 &+ UInt64(max(0, c.attoseconds) / 1_000_000_000)
    }

    /// Starts the thread.
    func start() throws(SystemError) {
        var tid = pthread_t()
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&tid, nil, { arg in
            let loop = Unmanaged<TCPCheckLoop>.fromOpaque(arg!).takeRetainedValue()
            loop.run()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<TCPCheckLoop>.fromOpaque(box).release()
            throw SystemError(call: "pthread_create(TCPCheckLoop)", errno: rc)
        }
        pthread_detach(tid)
    }

    /// Runs until the calling task is cancelled, then stops the thread and waits for it.
    func runUntilCancelled() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = done.withLock { st -> Bool in
                    if st.finished { return true }
                    st.waiter = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            stop()
        }
    }

    func stop() {
        // The thread sees it within one epoll_wait timeout (25 ms).
        stopped.store(true, ordering: .releasing)
    }

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 512)
        var lastSweep: UInt64 = 0
        while !stopped.load(ordering: .acquiring) {
            var now = monotonicNs() &- startNs
            while let top = heap.first, top.due <= now {
                popMin()
                begin(top.index, now: now)
            }
            var wait: Int32 = 25
            // Rounded up: waking before the due time would spin until it.
            if let top = heap.first { wait = Int32(min(25, (top.due &- now + 999_999) / 1_000_000)) }
            let n = epoll_wait(epfd, &events, Int32(events.count), wait)
            now = monotonicNs() &- startNs
            if n > 0 {
                for k in 0..<Int(n) {
                    connected(Int(events[k].data.u64), flags: events[k].events, now: now)
                }
            }
            if now &- lastSweep >= 25_000_000 {
                lastSweep = now
                sweep(now)
            }
        }
        for i in inflight where checkers[i].fd >= 0 { close(checkers[i].fd) }
        close(epfd)
        let waiter = done.withLock { st -> CheckedContinuation<Void, Never>? in
            st.finished = true
            defer { st.waiter = nil }
            return st.waiter
        }
        waiter?.resume()
    }

    private func begin(_ i: Int, now: UInt64) {
        if suspended(checkers[i]) {
            push(now &+ Self.ns(checkers[i].spec.policy.delayLoop), i)
            return
        }
        let spec = checkers[i].spec
        let fd: Int32
        do {
            fd = try openSocket(family: spec.connectTo.address.family, type: Int32(SOCK_STREAM.rawValue), proto: 0, bindAddress: spec.bindAddress, bindPort: spec.bindPort, fwmark: spec.fwmark, peer: spec.target)
        } catch {
            return finish(i, .failed("TCP connection to \(spec.target) failed: \(error.reason)."), now: now)
        }
        let r = withSockaddr(spec.connectTo) { connect(fd, $0, $1) }
        if r == 0 {
            close(fd)
            return finish(i, .ok(), now: now)
        }
        let e = errno
        guard e == EINPROGRESS else {
            close(fd)
            return finish(i, .failed("TCP connection to \(spec.target) failed: \(String(cString: strerror(e)))."), now: now)
        }
        var ev = epoll_event()
        ev.events = EPOLLOUT.rawValue
        ev.data.u64 = UInt64(i)
        if epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0 {
            let e = errno
            close(fd)
            return finish(i, .failed("TCP connection to \(spec.target) failed: \(SystemError(call: "epoll_ctl", errno: e))."), now: now)
        }
        checkers[i].fd = fd
        checkers[i].deadline = now &+ Self.ns(spec.policy.connectTimeout)
        inflight.append(i)
    }

    private func connected(_ i: Int, flags: UInt32, now: UInt64) {
        let fd = checkers[i].fd
        guard fd >= 0 else { return }
        var err: Int32 = 0
        // Writable without error or hang-up is a completed connect; only a failure needs
        // SO_ERROR (one syscall less per check).
        if flags & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
            var len = socklen_t(4)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            if err == 0 { err = ECONNREFUSED }
        }
        close(fd)  // also leaves the epoll set
        checkers[i].fd = -1
        removeInflight(i)
        if err == 0 {
            finish(i, .ok(), now: now)
        } else {
            finish(i, .failed("TCP connection to \(checkers[i].spec.target) failed: \(String(cString: strerror(err)))."), now: now)
        }
    }

    private func sweep(_ now: UInt64) {
        var k = 0
        while k < inflight.count {
            let i = inflight[k]
            if checkers[i].deadline <= now {
                close(checkers[i].fd)
                checkers[i].fd = -1
                inflight.swapAt(k, inflight.count - 1)
                inflight.removeLast()
                finish(i, .failed("TCP connection to \(checkers[i].spec.target) failed: Connection timed out."), now: now)
            } else {
                k += 1
            }
        }
    }

    private func removeInflight(_ i: Int) {
        if let k = inflight.lastIndex(of: i) {
            inflight.swapAt(k, inflight.count - 1)
            inflight.removeLast()
        }
    }

    private func finish(_ i: Int, _ outcome: CheckOutcome, now: UInt64) {
        let next = complete(&checkers[i], outcome, .nanoseconds(Int64(now)))
        push(max(Self.ns(next), now), i)
    }

    // MARK: heap

    private func push(_ due: UInt64, _ index: Int) {
        heap.append((due, index))
        var c = heap.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            if heap[p].due <= heap[c].due { break }
            heap.swapAt(p, c)
            c = p
        }
    }

    private func popMin() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var p = 0
        let n = heap.count
        while true {
            let l = 2 * p + 1, r = l + 1
            var m = p
            if l < n && heap[l].due < heap[m].due { m = l }
            if r < n && heap[r].due < heap[m].due { m = r }
            if m == p { break }
            heap.swapAt(p, m)
            p = m
        }
    }
}
