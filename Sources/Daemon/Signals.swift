import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// The signals the daemon acts on, delivered as an async sequence (one owner: the daemon).
public enum DaemonSignal: Sendable, Equatable {
    /// SIGTERM / SIGINT: graceful stop (priority-0 adverts, VIPs removed).
    case stop
    /// SIGHUP: reload the configuration.
    case reload

    /// Installs handlers for SIGTERM, SIGINT and SIGHUP and yields them in order.
    public static func stream() -> AsyncStream<DaemonSignal> {
        AsyncStream { continuation in
            let sources = [(SIGTERM, DaemonSignal.stop), (SIGINT, .stop), (SIGHUP, .reload)].map { sig, what in
                signal(sig, SIG_IGN)
                let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                src.setEventHandler { continuation.yield(what) }
                src.resume()
                return src
            }
            let box = SignalSources(sources)
            continuation.onTermination = { _ in box.cancel() }
        }
    }
}

/// Keeps the dispatch sources alive for the stream's lifetime; cancelled once, when it ends.
private final class SignalSources: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    init(_ sources: [any DispatchSourceSignal]) { self.sources = sources }
    func cancel() { for s in sources { s.cancel() } }
}
