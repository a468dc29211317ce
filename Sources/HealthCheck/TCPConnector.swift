import HealthCheckCore
import NIOCore
import NIOPosix
import NIOSSL
import NetCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Opens checker connections with the checker's connection options (bindto, bind_port, fwmark,
/// connect_timeout) on a NIO event loop.
struct TCPConnector: Sendable {
    var group: any EventLoopGroup
    var connectTo: NetCore.SocketAddress
    var bindAddress: IPAddress?
    var bindPort: UInt16?
    var fwmark: UInt32?
    var connectTimeout: Duration

    init(group: any EventLoopGroup, spec: CheckerSpec) {
        self.group = group
        self.connectTo = spec.connectTo
        self.bindAddress = spec.bindAddress
        self.bindPort = spec.bindPort
        self.fwmark = spec.fwmark
        self.connectTimeout = spec.policy.connectTimeout
    }

    init(group: any EventLoopGroup, connectTo: NetCore.SocketAddress, connectTimeout: Duration, fwmark: UInt32? = nil) {
        self.group = group
        self.connectTo = connectTo
        self.connectTimeout = connectTimeout
        self.fwmark = fwmark
    }

    var peer: String { connectTo.description }

    /// Connects with `initializer` installing the handlers; returns the channel.
    func connect(on loop: any EventLoop, _ initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>) async throws(CheckIOError) -> any Channel {
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout.timeAmount)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer(initializer)
        if let mark = fwmark {
            bootstrap = bootstrap.channelOption(ChannelOptions.Types.SocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_MARK)), value: SocketOptionValue(Int32(bitPattern: mark)))
        }
        if bindAddress != nil || bindPort != nil {
            let local = bindAddress ?? (connectTo.address.family == .inet ? IPAddress("0.0.0.0")! : IPAddress("::")!)
            do {
                bootstrap = bootstrap.bind(to: try NIOCore.SocketAddress(ipAddress: local.description, port: Int(bindPort ?? 0)))
            } catch {
                throw CheckIOError(.socket, reason: "bad bind address \(local)", peer: peer)
            }
        }
        let address: NIOCore.SocketAddress
        do {
            address = try NIOCore.SocketAddress(ipAddress: connectTo.address.description, port: Int(connectTo.port))
        } catch {
            throw CheckIOError(.socket, reason: "bad address", peer: peer)
        }
        do {
            return try await bootstrap.connect(to: address).get()
        } catch {
            throw CheckIOError.from(error, peer: peer, connecting: true)
        }
    }
}

/// Builds and caches TLS client contexts (one per distinct `SSL` block and SNI use).
final class TLSContextCache: Sendable {
    private let cache = Mutex<[TLSSettings: NIOSSLContext]>([:])

    func context(for settings: TLSSettings) throws(CheckIOError) -> NIOSSLContext {
        if let c = cache.withLock({ $0[settings] }) { return c }
        var config = TLSConfiguration.makeClientConfiguration()
        // keepalived never verifies; Vigil verifies when a CA is configured (docs/genhash.md).
        if let ca = settings.caFile {
            config.trustRoots = .file(ca)
            config.certificateVerification = .noHostnameVerification
        } else {
            config.certificateVerification = .none
        }
        do {
            if let cert = settings.certificateFile {
                config.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
            }
            if let key = settings.keyFile {
                if let pw = settings.password {
                    let k = try NIOSSLPrivateKey(file: key, format: .pem) { cb in cb(Array(pw.utf8)) }
                    config.privateKey = .privateKey(k)
                } else {
                    config.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                }
            }
            let ctx = try NIOSSLContext(configuration: config)
            cache.withLock { $0[settings] = ctx }
            return ctx
        } catch {
            throw CheckIOError(.tls, reason: "cannot set up TLS: \(error)", peer: "SSL block")
        }
    }
}
