import HealthCheckCore
import NIOCore
import NIOPosix
import NIOSSL
import NetCore

/// Runs single check attempts. Stateless apart from a TLS context cache; safe to share.
public final class CheckRunner: Sendable {
    let group: any EventLoopGroup
    let tls = TLSContextCache()

    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.group = group
    }

    /// One attempt of `spec` (URL `urlIndex` for HTTP), judged with keepalived's rules.
    /// `sequence` numbers ping probes; `server` names the real server in MISC_CHECK logs.
    public func perform(_ spec: CheckerSpec, urlIndex: Int = 0, sequence: UInt16 = 0, server: RealServerID? = nil) async -> CheckOutcome {
        let target = spec.target
        switch spec.check {
        case .tcp:
            let r = await SocketReactor.shared.run(
                connectTo: spec.connectTo, bindAddress: spec.bindAddress, bindPort: spec.bindPort, fwmark: spec.fwmark,
                timeout: spec.policy.connectTimeout, request: nil)
            switch r {
            case .failed(let e): return .failed("TCP connection to \(target) failed: \(e.reason).")
            default: return .ok()
            }
        case .http(let h):
            guard !h.urls.isEmpty else { return .failed("\(spec.kind.rawValue) to \(target): no url configured.") }
            let url = h.urls[urlIndex % h.urls.count]
            do {
                let request: [UInt8]
                do {
                    request = try httpRequest(path: url.path, virtualhost: url.virtualhost ?? h.virtualhost, server: spec.connectTo, version: h.version)
                } catch { return .failed("\(spec.kind.rawValue) to \(target): \(error.message)") }
                let ctx = h.ssl ? try tls.context(for: h.tls) : nil
                let fetch = try await HTTPChecker.fetch(
                    connector: TCPConnector(group: group, spec: spec), request: request, ssl: ctx, serverName: h.serverName(for: url),
                    bindAddress: spec.bindAddress, bindPort: spec.bindPort)
                return url.evaluate(fetch.response, bodyDigest: fetch.digest, target: target)
            } catch {
                switch error.code {
                case .connect, .connectTimeout: return .failed("Error connecting server \(target): \(error.reason).")
                case .readTimeout: return .failed("Timeout reading data to remote server \(target).")
                case .noData: return .failed("Read, no data received from \(target) url(\(url.path)).")
                default: return .failed("\(spec.kind.rawValue) to \(target): \(error)")
                }
            }
        case .smtp(let helo):
            let connector = TCPConnector(group: group, spec: spec)
            let loop = group.next()
            let promise = loop.makePromise(of: String?.self)
            let timeout = spec.policy.connectTimeout.timeAmount
            do {
                _ = try await connector.connect(on: loop) { ch in
                    ch.eventLoop.makeCompletedFuture {
                        try ch.pipeline.syncOperations.addHandler(SMTPHandler(heloName: helo, readTimeout: timeout, promise: promise))
                    }
                }
            } catch {
                promise.succeed(nil)
                return .failed("SMTP connection to \(target) failed: \(error.reason).")
            }
            let failure: String?
            do { failure = try await promise.futureResult.get() } catch { failure = "\(error)" }
            return failure.map { .failed("SMTP_CHECK to \(target): \($0).") } ?? .ok()
        case .dns(let name, let type):
            return await DatagramChecks.dns(spec, name: name, type: type)
        case .udp(let u):
            return await DatagramChecks.udp(spec, u)
        case .ping:
            return await DatagramChecks.ping(spec, sequence: sequence)
        case .misc(let m):
            return await ProcessChecks.misc(m, policy: spec.policy, target: server?.description ?? target)
        case .file(let f):
            return ProcessChecks.file(f, target: target)
        }
    }
}
