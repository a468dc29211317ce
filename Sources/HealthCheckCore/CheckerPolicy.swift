import DataPlane
import NetCore

/// The kind of a checker, with keepalived's keyword as its raw value.
public enum CheckerKind: String, Sendable, Hashable, CaseIterable, Codable {
    case httpGet = "HTTP_GET"
    case sslGet = "SSL_GET"
    case tcp = "TCP_CHECK"
    case smtp = "SMTP_CHECK"
    case dns = "DNS_CHECK"
    case misc = "MISC_CHECK"
    case udp = "UDP_CHECK"
    case ping = "PING_CHECK"
    case file = "FILE_CHECK"

    /// HTTP_GET and SSL_GET share the web-server wording and the 2.0.17 retry spacing.
    public var isHTTP: Bool { self == .httpGet || self == .sslGet }
}

/// Timing and retry settings of one checker (keepalived.conf `delay_loop`, `retry`, …).
///
/// Defaults follow keepalived 2.2.7: `delay_loop` 60 s, `connect_timeout` 5 s, `warmup` = delay_loop,
/// HTTP/SSL retry 1 with `delay_before_retry` 3 s, TCP retry 1 with 1 s, DNS retry 3 with
/// `delay_before_retry` = delay_loop, MISC retry 0.
public struct CheckerPolicy: Sendable, Hashable {
    public var delayLoop: Duration
    public var connectTimeout: Duration
    public var retry: Int
    public var delayBeforeRetry: Duration
    public var warmup: Duration
    /// `alpha`: the checker starts down and the real server is added only after a success.
    public var alpha: Bool
    /// `log_all_failures`: also log failures that do not change the state.
    public var logAllFailures: Bool

    public init(
        delayLoop: Duration = .seconds(60), connectTimeout: Duration = .seconds(5), retry: Int = 1,
        delayBeforeRetry: Duration = .seconds(1), warmup: Duration? = nil, alpha: Bool = false,
        logAllFailures: Bool = false
    ) {
        self.delayLoop = delayLoop
        self.connectTimeout = connectTimeout
        self.retry = max(0, retry)
        self.delayBeforeRetry = delayBeforeRetry
        self.warmup = warmup ?? delayLoop
        self.alpha = alpha
        self.logAllFailures = logAllFailures
    }

    /// keepalived's per-kind defaults for a given `delay_loop`.
    public static func defaults(for kind: CheckerKind, delayLoop: Duration = .seconds(60)) -> CheckerPolicy {
        switch kind {
        case .httpGet, .sslGet:
            CheckerPolicy(delayLoop: delayLoop, retry: 1, delayBeforeRetry: .seconds(3))
        case .dns:
            CheckerPolicy(delayLoop: delayLoop, retry: 3, delayBeforeRetry: delayLoop)
        case .misc, .file:
            CheckerPolicy(delayLoop: delayLoop, retry: 0, delayBeforeRetry: .seconds(1))
        case .tcp, .smtp, .udp, .ping:
            CheckerPolicy(delayLoop: delayLoop, retry: 1, delayBeforeRetry: .seconds(1))
        }
    }
}

/// Identifies a real server the way the control loop needs it: its virtual service and its
/// address:port (keepalived logs it as `[192.168.0.12]:tcp:80`).
public struct RealServerID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var virtualService: ServiceKey
    public var server: SocketAddress

    public init(virtualService: ServiceKey, server: SocketAddress) {
        self.virtualService = virtualService
        self.server = server
    }

    /// The L4 protocol of the service (TCP for fwmark services, as keepalived prints them).
    public var l4: L4Protocol {
        if case .address(let p, _) = virtualService { return p }
        return .tcp
    }

    /// `[192.168.0.12]:tcp:80`: keepalived's spelling of a real server.
    public var serverDescription: String { "[\(server.address)]:\(l4):\(server.port)" }

    public var description: String { "\(serverDescription) VS \(virtualService)" }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.virtualService, lhs.server) < (rhs.virtualService, rhs.server)
    }
}

/// Formats an endpoint like keepalived's `FMT_CHK`: `[192.168.0.12]:tcp:80`.
public func keepalivedEndpoint(_ address: SocketAddress, protocol name: String) -> String {
    "[\(address.address)]:\(name):\(address.port)"
}
