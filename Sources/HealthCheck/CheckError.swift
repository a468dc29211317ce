import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// Why a single check attempt failed at the I/O level, with a message naming the peer.
public struct CheckIOError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable { case connect, connectTimeout, readTimeout, send, tls, noData, socket, spawn }
    public var code: Code
    /// The system's wording for the cause, e.g. `Connection refused`.
    public var reason: String
    /// `192.168.0.12:80`.
    public var peer: String

    public init(_ code: Code, reason: String, peer: String) {
        self.code = code
        self.reason = reason
        self.peer = peer
    }

    public var description: String {
        switch code {
        case .connect, .connectTimeout: "cannot connect to \(peer): \(reason)"
        case .readTimeout: "timeout reading from \(peer): \(reason)"
        case .send: "cannot send to \(peer): \(reason)"
        case .tls: "TLS error with \(peer): \(reason)"
        case .noData: "no data received from \(peer)"
        case .socket: "socket for \(peer): \(reason)"
        case .spawn: "cannot run \(peer): \(reason)"
        }
    }

    /// Maps NIO/NIOSSL errors to a typed error.
    static func from(_ error: any Error, peer: String, connecting: Bool) -> CheckIOError {
        if let e = error as? CheckIOError { return e }
        if let io = error as? IOError {
            return CheckIOError(connecting ? .connect : .send, reason: String(cString: strerror(io.errnoCode)), peer: peer)
        }
        if let c = error as? ChannelError {
            if case .connectTimeout = c { return CheckIOError(.connectTimeout, reason: "Connection timed out", peer: peer) }
            return CheckIOError(connecting ? .connect : .send, reason: "\(c)", peer: peer)
        }
        if let n = error as? NIOConnectionError, let first = n.connectionErrors.first {
            return from(first.error, peer: peer, connecting: true)
        }
        if error is NIOSSLError || error is BoringSSLError {
            return CheckIOError(.tls, reason: "\(error)", peer: peer)
        }
        return CheckIOError(connecting ? .connect : .send, reason: "\(error)", peer: peer)
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        let c = components
        return .nanoseconds(c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000)
    }

    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
