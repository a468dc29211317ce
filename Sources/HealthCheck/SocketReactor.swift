import CHealthCheckShims
import HealthCheckCore
import NetCore
import SysCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A single epoll loop for the cheap, frequent plain-TCP checks (TCP_CHECK, HTTP_GET without
/// TLS): non-blocking connect, optional request, read to EOF. Each operation suspends only its
/// own task; one thread serves every checker (never a thread per checker). It exists because a
/// NIO channel per TCP_CHECK costs several times more CPU than a bare connect.
final class SocketReactor: @unchecked Sendable {
    static let shared = SocketReactor()

    enum Outcome: Sendable {
        case connected
        case response([UInt8], timedOut: Bool)
        case failed(CheckIOError)
    }

    private final class Op: @unchecked Sendable {
        let fd: Int32
        let peer: String
        let request: [UInt8]?
        var sent = 0
        var reading = false
        var bytes: [UInt8] = []
        let timeoutNs: UInt64
        var deadline: UInt64
        let isComplete: (@Sendable ([UInt8]) -> Bool)?
        let continuation: CheckedContinuation<Outcome, Never>

        init(fd: Int32, peer: String, request: [UInt8]?, timeoutNs: UInt64, isComplete: (@Sendable ([UInt8]) -> Bool)?, continuation: CheckedContinuation<Outcome, Never>) {
            self.fd = fd
            self.peer = peer
            self.request = request
            self.timeoutNs = timeoutNs
            self.deadline = monotonicNs() + timeoutNs
            self.isComplete = isComplete
            self.continuation = continuation
        }
    }

    private let epfd: Int32
    /// Only the reactor thread reads into it.
    private var readBuffer = [UInt8](repeating: 0, count: 65536)
    private let ops = Mutex<[Int32: Op]>([:])

    private init() {
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epfd >= 0, "epoll_create1: \(SystemError.last("epoll_create1"))")
        let thread = UnsafeMutablePointer<pthread_t>.allocate(capacity: 1)
        let box = Unmanaged.passRetained(self)
        pthread_create(thread, nil, { arg in
            let reactor = Unmanaged<SocketReactor>.fromOpaque(arg!).takeRetainedValue()
            reactor.loop()
            return nil
        }, box.toOpaque())
        pthread_detach(thread.pointee)
        thread.deallocate()
    }

    /// Connects to `spec`'s endpoint; with a `request`, sends it and reads until EOF,
    /// `isComplete`, or no byte for `timeout` (which also bounds the connect).
    func run(connectTo: NetCore.SocketAddress, bindAddress: IPAddress?, bindPort: UInt16?, fwmark: UInt32?, timeout: Duration,
             request: [UInt8]?, isComplete: (@Sendable ([UInt8]) -> Bool)? = nil) async -> Outcome {
        let peer = connectTo.description
        let fd: Int32
        do {
            fd = try openSocket(family: connectTo.address.family, type: Int32(SOCK_STREAM.rawValue), proto: 0, bindAddress: bindAddress, bindPort: bindPort, fwmark: fwmark, peer: peer)
        } catch {
            return .failed(error)
        }
        let r = withSockaddr(connectTo) { connect(fd, $0, $1) }
        if r != 0 && errno != EINPROGRESS {
            let e = errno
            close(fd)
            return .failed(CheckIOError(.connect, reason: String(cString: strerror(e)), peer: peer))
        }
        if r == 0 && request == nil {
            close(fd)
            return .connected
        }
        let c = timeout.components
        let timeoutNs = UInt64(max(0, c.seconds)) * 1_000_000_000 + UInt64(max(0, c.attoseconds) / 1_000_000_000)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: CheckedContinuation<Outcome, Never>) in
                let op = Op(fd: fd, peer: peer, request: request, timeoutNs: timeoutNs, isComplete: isComplete, continuation: cont)
                ops.withLock { $0[fd] = op }
                var ev = epoll_event()
                ev.events = EPOLLOUT.rawValue
                ev.data.fd = fd
                if epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0 {
                    let e = errno
                    if ops.withLock({ $0.removeValue(forKey: fd) }) != nil {
                        close(fd)
                        cont.resume(returning: .failed(CheckIOError(.socket, reason: SystemError(call: "epoll_ctl", errno: e).description, peer: peer)))
                    }
                }
            }
        } onCancel: {
            // The next deadline sweep ends it.
            ops.withLock { ops in for (_, op) in ops where op.fd == fd { op.deadline = 0 } }
        }
    }

    private func loop() {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var lastSweep = monotonicNs()
        while true {
            let n = epoll_wait(epfd, &events, Int32(events.count), 25)
            if n > 0 {
                for i in 0..<Int(n) { handle(fd: events[i].data.fd, flags: events[i].events) }
            }
            let now = monotonicNs()
            if now - lastSweep >= 25_000_000 {
                lastSweep = now
                sweep(now)
            }
        }
    }

    private func handle(fd: Int32, flags: UInt32) {
        guard let op = ops.withLock({ $0[fd] }) else { return }
        if !op.reading {
            var err: Int32 = 0
            var len = socklen_t(4)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            if err != 0 {
                return finish(op, .failed(CheckIOError(.connect, reason: String(cString: strerror(err)), peer: op.peer)))
            }
            guard let req = op.request else { return finish(op, .connected) }
            while op.sent < req.count {
                let w = req[op.sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if w > 0 { op.sent += w; continue }
                if w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }  // wait for EPOLLOUT again
                return finish(op, .failed(CheckIOError(.send, reason: String(cString: strerror(errno)), peer: op.peer)))
            }
            op.reading = true
            op.deadline = monotonicNs() + op.timeoutNs
            var ev = epoll_event()
            ev.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
            ev.data.fd = fd
            epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev)
            return
        }
        while true {
            let r = readBuffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if r > 0 {
                op.bytes += readBuffer[..<r]
                op.deadline = monotonicNs() + op.timeoutNs
                if let done = op.isComplete, done(op.bytes) { return finish(op, .response(op.bytes, timedOut: false)) }
                continue
            }
            if r == 0 { return finish(op, .response(op.bytes, timedOut: false)) }
            if errno == EAGAIN || errno == EWOULDBLOCK { return }
            if errno == EINTR { continue }
            // A reset after data still leaves a response to judge, as keepalived reads what came.
            if !op.bytes.isEmpty { return finish(op, .response(op.bytes, timedOut: false)) }
            return finish(op, .failed(CheckIOError(.send, reason: String(cString: strerror(errno)), peer: op.peer)))
        }
    }

    private func sweep(_ now: UInt64) {
        let expired = ops.withLock { ops in ops.values.filter { $0.deadline <= now } }
        for op in expired {
            if op.reading {
                finish(op, .response(op.bytes, timedOut: true))
            } else {
                finish(op, .failed(CheckIOError(.connectTimeout, reason: "Connection timed out", peer: op.peer)))
            }
        }
    }

    private func finish(_ op: Op, _ outcome: Outcome) {
        guard ops.withLock({ $0.removeValue(forKey: op.fd) }) != nil else { return }
        close(op.fd)  // also leaves the epoll set
        op.continuation.resume(returning: outcome)
    }
}

func monotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Opens a non-blocking socket with the checker's bind address/port and SO_MARK.
func openSocket(family: AddressFamily, type: Int32, proto: Int32, bindAddress: IPAddress?, bindPort: UInt16?, fwmark: UInt32?, peer: String) throws(CheckIOError) -> Int32 {
    let af = family == .inet ? AF_INET : AF_INET6
    let s = socket(af, type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), proto)
    guard s >= 0 else { throw CheckIOError(.socket, reason: SystemError.last("socket").description, peer: peer) }
    if var mark = fwmark, setsockopt(s, SOL_SOCKET, SO_MARK, &mark, socklen_t(MemoryLayout<UInt32>.size)) != 0 {
        let e = SystemError.last("setsockopt(SO_MARK)")
        close(s)
        throw CheckIOError(.socket, reason: e.description, peer: peer)
    }
    if bindAddress != nil || bindPort != nil {
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        let local = NetCore.SocketAddress(address: bindAddress ?? (family == .inet ? IPAddress("0.0.0.0")! : IPAddress("::")!), port: bindPort ?? 0)
        if withSockaddr(local, { bind(s, $0, $1) }) != 0 {
            let e = SystemError.last("bind", context: local.description)
            close(s)
            throw CheckIOError(.socket, reason: e.description, peer: peer)
        }
    }
    return s
}
