#if canImport(Glibc)
import Glibc
#endif
import NetlinkCodec
import Synchronization
import SysCore

/// Link and address events (`RTNLGRP_LINK`, `RTNLGRP_IPV4_IFADDR`, `RTNLGRP_IPV6_IFADDR`) as an
/// `AsyncStream`, e.g. `ip link set eth0 down` arrives as `.linkChanged` with `isUp == false`.
///
/// The monitor owns its subscription socket and one reader thread that blocks in `poll`; the
/// thread ends, and the socket is closed, when `stop()` is called, when the stream's consumer
/// goes away, or when the monitor is deinitialised. The socket belongs to the network namespace
/// of the thread that called `init` (see `withNetworkNamespace`).
///
/// Events are delivered in kernel order. If the consumer falls behind the kernel's socket buffer,
/// `.eventsLost` is delivered and the consumer should re-read what it tracks.
public final class LinkMonitor: Sendable {
    /// The events; there is one stream per monitor (iterate it once).
    public let events: AsyncStream<LinkEvent>
    private let wake: WakePipe
    private let stopped = Atomic<Bool>(false)

    /// Subscribes to link events, plus IPv4 and IPv6 address events when `addresses` is true.
    public init(addresses: Bool = true) throws(SystemError) {
        let groups = RTM.groupLink | (addresses ? RTM.groupIPv4Address | RTM.groupIPv6Address : 0)
        let socket = try NetlinkSocket(protocol: NetlinkConstants.route, groups: groups, receiveTimeout: 0)
        // A socket pair wakes the reader thread out of poll() when the monitor stops. (Not a
        // pipe: a wake-up after the thread closed its end must not raise SIGPIPE.)
        var pipeFDs: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pipeFDs) == 0 else {
            throw SystemError.last("socketpair(LinkMonitor)")
        }
        let wake = WakePipe(writeFD: pipeFDs[1])
        self.wake = wake
        let (stream, continuation) = AsyncStream.makeStream(of: LinkEvent.self, bufferingPolicy: .unbounded)
        events = stream
        let reader = Reader(socket: socket, wakeFD: pipeFDs[0], continuation: continuation)
        // The consumer going away (cancellation, stream released) also stops the thread. The
        // closure keeps the pipe's write end open for as long as it can be called.
        continuation.onTermination = { _ in wake.signal() }
        do throws(SystemError) {
            try reader.start()
        } catch {
            close(pipeFDs[0])
            throw error
        }
    }

    /// Stops the reader thread and finishes the stream. Safe to call more than once.
    public func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
    }

    deinit { stop() }
}

/// The write end of the wake-up socket pair, closed when the last holder (monitor or stream) is gone,
/// so a late `signal()` can never write into a descriptor number reused by someone else.
private final class WakePipe: Sendable {
    let writeFD: Int32
    init(writeFD: Int32) { self.writeFD = writeFD }
    func signal() {
        var one: UInt8 = 1
        _ = send(writeFD, &one, 1, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
    }
    deinit { close(writeFD) }
}

/// The reader thread's state: the only owner of the subscription socket.
private final class Reader: @unchecked Sendable {
    // Touched only by the reader thread after start().
    private var socket: NetlinkSocket?
    private let wakeFD: Int32
    private let continuation: AsyncStream<LinkEvent>.Continuation

    init(socket: consuming NetlinkSocket, wakeFD: Int32, continuation: AsyncStream<LinkEvent>.Continuation) {
        self.socket = consume socket
        self.wakeFD = wakeFD
        self.continuation = continuation
    }

    func start() throws(SystemError) {
        var tid = pthread_t()
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&tid, nil, { arg in
            let r = Unmanaged<Reader>.fromOpaque(arg!).takeRetainedValue()
            r.run()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<Reader>.fromOpaque(box).release()
            throw SystemError(call: "pthread_create(LinkMonitor)", errno: rc)
        }
        pthread_detach(tid)
    }

    private func run() {
        guard let fd = socket?.descriptor else { return }
        defer {
            continuation.finish()
            socket = nil  // closes the netlink socket
            close(wakeFD)
        }
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            let n = poll(&fds, 2, -1)
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            let datagram: [UInt8]
            do {
                datagram = try socket!.receiveDatagram(context: "LinkMonitor")
            } catch {
                if error.errno == ENOBUFS {
                    continuation.yield(.eventsLost)
                    continue
                }
                return
            }
            guard let messages = try? NetlinkMessage.parseAll(datagram) else { continue }
            for m in messages {
                // A malformed event is skipped rather than ending the stream.
                if let e = try? RTNetlinkCodec.decodeEvent(m) { continuation.yield(e) }
            }
        }
    }
}
