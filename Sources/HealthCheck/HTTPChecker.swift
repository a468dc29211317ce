import Crypto
import HealthCheckCore
import NIOCore
import NIOPosix
import NIOSSL
import NetCore

/// One HTTP(S) GET the keepalived way: send the exact request, read to EOF, split and hash.
public struct HTTPFetch: Sendable {
    public var response: HTTPResponse
    /// MD5 hex of `response.hashedBody`.
    public var digest: String
    /// From connect start to the last byte.
    public var elapsed: Duration
    /// True when the read timed out after some bytes arrived.
    public var timedOut: Bool
}

/// MD5 hex of bytes (lower case), as `md5sum` prints it.
public func md5Hex(_ bytes: some Sequence<UInt8>) -> String {
    Insecure.MD5.hash(data: Array(bytes)).map { b in
        let s = String(b, radix: 16)
        return b < 16 ? "0" + s : s
    }.joined()
}

enum HTTPChecker {
    /// Performs one GET. Throws when the connection or TLS fails, the read times out with nothing
    /// received, or nothing is received at all.
    static func fetch(
        connector: TCPConnector, request: [UInt8], ssl: NIOSSLContext?, serverName: String?,
        bindAddress: IPAddress? = nil, bindPort: UInt16? = nil
    ) async throws(CheckIOError) -> HTTPFetch {
        let clock = ContinuousClock()
        let started = clock.now
        if ssl == nil {
            // Plain HTTP takes the light epoll path (SocketReactor); TLS needs NIOSSL.
            let r = await SocketReactor.shared.run(
                connectTo: connector.connectTo, bindAddress: bindAddress, bindPort: bindPort, fwmark: connector.fwmark,
                timeout: connector.connectTimeout, request: request) { HTTPResponse(raw: $0).isCompleteByLength }
            switch r {
            case .failed(let e): throw e
            case .connected: throw CheckIOError(.noData, reason: "no data", peer: connector.peer)
            case .response(let bytes, let timedOut):
                if bytes.isEmpty {
                    if timedOut { throw CheckIOError(.readTimeout, reason: "no data within \(connector.connectTimeout)", peer: connector.peer) }
                    throw CheckIOError(.noData, reason: "no data", peer: connector.peer)
                }
                let response = HTTPResponse(raw: bytes)
                return HTTPFetch(response: response, digest: md5Hex(response.hashedBody), elapsed: clock.now - started, timedOut: timedOut)
            }
        }
        let loop = connector.group.next()
        let promise = loop.makePromise(of: CollectHandler.Result.self)
        let readTimeout = connector.connectTimeout.timeAmount
        let peer = connector.peer
        let connected: any Channel
        do {
            connected = try await connector.connect(on: loop) { channel in
            channel.eventLoop.makeCompletedFuture {
                if let ssl {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: ssl, serverHostname: serverName))
                }
                try channel.pipeline.syncOperations.addHandler(
                    CollectHandler(request: request, readTimeout: readTimeout, promise: promise) { bytes in
                        // Stop early once Content-Length bytes are in (the digest is the same).
                        HTTPResponse(raw: bytes).isCompleteByLength
                    })
            }
            }
        } catch {
            promise.fail(error)
            throw error
        }
        let result: CollectHandler.Result
        do {
            // A cancelled check (service shutdown) closes its connection instead of waiting out
            // the read timeout.
            result = try await withTaskCancellationHandler {
                try await promise.futureResult.get()
            } onCancel: {
                connected.close(promise: nil)
            }
        } catch {
            throw CheckIOError.from(error, peer: peer, connecting: false)
        }
        if result.bytes.isEmpty {
            if result.timedOut { throw CheckIOError(.readTimeout, reason: "no data within \(connector.connectTimeout)", peer: peer) }
            throw CheckIOError(.noData, reason: "no data", peer: peer)
        }
        let response = HTTPResponse(raw: result.bytes)
        return HTTPFetch(response: response, digest: md5Hex(response.hashedBody), elapsed: clock.now - started, timedOut: result.timedOut)
    }
}
