#if canImport(Glibc)
import Glibc
#endif
@_exported import NetlinkCodec
import Synchronization
import SysCore

/// One `AF_NETLINK` socket. Non-copyable: exactly one owner closes it, once (style.md R4).
///
/// The corresponding calls are `socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, protocol)`,
/// `bind(SocketAddressNetlink{groups})`, `setsockopt(SOL_NETLINK, NETLINK_EXT_ACK/NETLINK_CAP_ACK)` and
/// `sendto`/`recvfrom` to/from port 0 (the kernel).
public struct NetlinkSocket: ~Copyable {
    public let descriptor: Int32
    public let netlinkProtocol: Int32
    /// The port id the kernel assigned at bind().
    public let portID: UInt32

    /// Opens and binds the socket.
    /// - Parameters:
    ///   - netlinkProtocol: `NETLINK_ROUTE` (0) or `NETLINK_GENERIC` (16).
    ///   - groups: `RTMGRP_*` bitmask to subscribe to (0 for a request socket).
    ///   - receiveTimeout: seconds a `receive()` may block before failing with EAGAIN (0 = forever).
    public init(protocol netlinkProtocol: Int32, groups: UInt32 = 0, receiveTimeout: Int = 5) throws(SystemError) {
        let ctx = "netlink protocol \(netlinkProtocol)"
        let fd = try retryingSyscall("socket(AF_NETLINK, SOCK_RAW, \(netlinkProtocol))", context: ctx) {
            socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), netlinkProtocol)
        }
        var assignedPort: UInt32 = 0
        do {
            var one: Int32 = 1
            // Extended acks give the kernel's own error text; capped acks keep error replies small.
            // Both are optional (older kernels), so failures are ignored.
            _ = setsockopt(fd, NetlinkConstants.solNetlink, NetlinkConstants.optExtAck, &one, socklen_t(4))
            _ = setsockopt(fd, NetlinkConstants.solNetlink, NetlinkConstants.optCapAck, &one, socklen_t(4))
            var bufSize: Int32 = 1 << 20
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufSize, socklen_t(4))
            if receiveTimeout > 0 {
                var tv = timeval(tv_sec: receiveTimeout, tv_usec: 0)
                _ = try retryingSyscall("setsockopt(SO_RCVTIMEO)", context: ctx) {
                    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                }
            }
            var addr = SocketAddressNetlink()
            addr.nl_family = UInt16(AF_NETLINK)
            addr.nl_groups = groups
            _ = try retryingSyscall("bind(AF_NETLINK, groups 0x\(String(groups, radix: 16)))", context: ctx) {
                withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(fd, $0, socklen_t(MemoryLayout<SocketAddressNetlink>.size))
                    }
                }
            }
            var len = socklen_t(MemoryLayout<SocketAddressNetlink>.size)
            _ = try retryingSyscall("getsockname(AF_NETLINK)", context: ctx) {
                withUnsafeMutablePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
                }
            }
            assignedPort = addr.nl_pid
        } catch {
            close(fd)
            throw error
        }
        descriptor = fd
        self.netlinkProtocol = netlinkProtocol
        portID = assignedPort
    }

    deinit { close(descriptor) }

    /// Sends one encoded message to the kernel.
    public func send(_ bytes: [UInt8], context: String) throws(SystemError) {
        var addr = SocketAddressNetlink()
        addr.nl_family = UInt16(AF_NETLINK)
        let n = try retryingSyscall("sendto(AF_NETLINK)", context: context) {
            bytes.withUnsafeBytes { buf in
                withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(descriptor, buf.baseAddress, buf.count, 0, $0, socklen_t(MemoryLayout<SocketAddressNetlink>.size))
                    }
                }
            }
        }
        guard n == bytes.count else { throw SystemError(call: "sendto(AF_NETLINK): short write", errno: EMSGSIZE, context: context) }
    }

    /// Receives one datagram from the kernel (datagrams from other ports are skipped) and
    /// returns its raw bytes. The size is peeked first, so no datagram is ever truncated.
    public func receiveDatagram(context: String) throws(SystemError) -> [UInt8] {
        while true {
            let size = try retryingSyscall("recv(AF_NETLINK, MSG_PEEK|MSG_TRUNC)", context: context) {
                recv(descriptor, nil, 0, Int32(MSG_PEEK | MSG_TRUNC))
            }
            var buffer = [UInt8](repeating: 0, count: max(Int(size), 16))
            var from = SocketAddressNetlink()
            var fromLen = socklen_t(MemoryLayout<SocketAddressNetlink>.size)
            let n = try retryingSyscall("recvfrom(AF_NETLINK)", context: context) {
                buffer.withUnsafeMutableBytes { buf in
                    withUnsafeMutablePointer(to: &from) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            recvfrom(descriptor, buf.baseAddress, buf.count, 0, $0, &fromLen)
                        }
                    }
                }
            }
            // Only the kernel (port 0) may answer; anything else is another process's noise.
            guard from.nl_pid == 0 else { continue }
            return Array(buffer.prefix(Int(n)))
        }
    }
}

/// Something that answers netlink requests: the real `NetlinkClient`, or a fake kernel in tests
/// (style.md R10: fake-kernel tests record requests and reply with canned ACKs, dumps, errnos).
public protocol NetlinkRequesting: Sendable {
    /// Sends `message` and returns the reply messages (without the final ACK or NLMSG_DONE).
    /// - Throws: `NetlinkError` for a kernel errno, `NetlinkDecodingError`, `SystemError`.
    func request(_ message: NetlinkMessage, name: String) throws -> [NetlinkMessage]
}

/// A netlink request socket shared by threads: requests are serialised by a lock and replies
/// are matched to requests by sequence number (style.md R4: this class is the socket's only owner).
public final class NetlinkClient: NetlinkRequesting {
    private struct State: ~Copyable {
        var socket: NetlinkSocket
        var sequence: UInt32
    }

    private let state: Mutex<State>
    public let netlinkProtocol: Int32

    /// Opens a request socket for `protocol` (`NetlinkConstants.route` or `.generic`).
    public init(protocol netlinkProtocol: Int32) throws(SystemError) {
        let s = try NetlinkSocket(protocol: netlinkProtocol)
        // Start from the clock so answers meant for an earlier process on a reused port never match.
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        state = Mutex(State(socket: s, sequence: UInt32(truncatingIfNeeded: ts.tv_sec &* 1000 &+ ts.tv_nsec / 1_000_000)))
        self.netlinkProtocol = netlinkProtocol
    }

    /// Sends `message` and returns the reply messages (without the final ACK or NLMSG_DONE).
    ///
    /// A dump that the kernel marks `NLM_F_DUMP_INTR` is repeated (up to 5 times).
    /// - Parameter name: the request as errors should name it (`RTM_NEWADDR 10.0.0.1/32 dev eth0`).
    /// - Throws: `NetlinkError` (kernel errno), `NetlinkDecodingError`, or `SystemError`.
    public func request(_ message: NetlinkMessage, name: String) throws -> [NetlinkMessage] {
        var attempt = 0
        while true {
            attempt += 1
            let t = try state.withLock { (st: inout State) throws -> NetlinkTransaction in
                st.sequence &+= 1
                var m = message
                m.sequence = st.sequence
                m.portID = st.socket.portID
                var t = NetlinkTransaction(sequence: m.sequence, request: name, isDump: m.flags.contains(.dump))
                try st.socket.send(m.encoded(), context: name)
                while !t.isComplete {
                    let datagram = try st.socket.receiveDatagram(context: name)
                    for reply in try NetlinkMessage.parseAll(datagram) {
                        if try t.receive(reply) { break }
                    }
                }
                return t
            }
            if t.wasInterrupted && attempt < 5 { continue }
            return t.replies
        }
    }
}

/// `struct sockaddr_nl` (not imported by the Swift Glibc module); same field order and sizes.
struct SocketAddressNetlink {
    var nl_family: UInt16 = 0
    var nl_pad: UInt16 = 0
    var nl_pid: UInt32 = 0
    var nl_groups: UInt32 = 0
}

/// A generic netlink family resolved by name, with its request socket.
public final class GenericNetlinkClient: Sendable {
    public let client: NetlinkClient
    public let family: GenericNetlink.Family

    /// Opens a `NETLINK_GENERIC` socket and resolves `familyName` with `CTRL_CMD_GETFAMILY`.
    /// - Throws: `NetlinkError` with `.notFound` (ENOENT) when the kernel has no such family
    ///   (e.g. "IPVS" without the ip_vs module), or `SystemError`.
    public init(familyName: String) throws {
        client = try NetlinkClient(protocol: NetlinkConstants.generic)
        let replies = try client.request(GenericNetlink.getFamilyRequest(name: familyName), name: "CTRL_CMD_GETFAMILY \(familyName)")
        guard let reply = replies.first(where: { $0.type == GenericNetlink.controllerID }) else {
            throw NetlinkDecodingError(.unexpectedMessage, "CTRL_CMD_GETFAMILY \(familyName): no family in the answer")
        }
        family = try GenericNetlink.decodeFamily(reply)
    }
}
