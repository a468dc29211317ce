import NetCore

/// Everything one checker needs, as the config layer resolves it (keepalived.md §1.8): the
/// kind-specific settings, the timing policy and the connection options.
public struct CheckerSpec: Sendable, Hashable {
    /// The kind-specific settings.
    public enum Check: Sendable, Hashable {
        case http(HTTPSpec)
        case tcp
        case smtp(heloName: String)
        case dns(name: String, type: DNSQuery.RecordType)
        case misc(MiscSpec)
        case udp(UDPCheckSpec)
        case ping
        case file(FileSpec)
    }

    public var check: Check
    public var policy: CheckerPolicy
    /// `connect_ip`/`connect_port` (default: the real server's address and port).
    public var connectTo: SocketAddress
    /// `bindto`, `bind_port`.
    public var bindAddress: IPAddress?
    public var bindPort: UInt16?
    /// `fwmark` (SO_MARK on the checker's socket).
    public var fwmark: UInt32?

    public init(
        check: Check, policy: CheckerPolicy, connectTo: SocketAddress, bindAddress: IPAddress? = nil,
        bindPort: UInt16? = nil, fwmark: UInt32? = nil
    ) {
        self.check = check
        self.policy = policy
        self.connectTo = connectTo
        self.bindAddress = bindAddress
        self.bindPort = bindPort
        self.fwmark = fwmark
    }

    public var kind: CheckerKind {
        switch check {
        case .http(let h): h.ssl ? .sslGet : .httpGet
        case .tcp: .tcp
        case .smtp: .smtp
        case .dns: .dns
        case .misc: .misc
        case .udp: .udp
        case .ping: .ping
        case .file: .file
        }
    }

    /// The L4 protocol name used in logs.
    public var protocolName: String {
        switch check {
        case .dns, .udp: "udp"
        case .ping: "icmp"
        default: "tcp"
        }
    }

    /// How logs name the checked endpoint: `[192.168.0.12]:tcp:80`.
    public var target: String {
        switch check {
        case .misc(let m): m.path
        case .file(let f): f.path
        case .ping: "[\(connectTo.address)]"
        default: keepalivedEndpoint(connectTo, protocol: protocolName)
        }
    }

    /// Number of URLs (HTTP), else 1.
    public var urlCount: Int {
        if case .http(let h) = check { return max(1, h.urls.count) }
        return 1
    }
}

/// HTTP_GET / SSL_GET settings.
public struct HTTPSpec: Sendable, Hashable {
    public var urls: [URLCheck]
    public var version: HTTPProtocolVersion
    /// Checker-level `virtualhost` (a url's own wins; the caller folds RS/VS ones in here).
    public var virtualhost: String?
    public var ssl: Bool
    public var enableSNI: Bool
    public var sniName: String?
    public var tls: TLSSettings

    public init(
        urls: [URLCheck], version: HTTPProtocolVersion = .http10, virtualhost: String? = nil, ssl: Bool = false,
        enableSNI: Bool = false, sniName: String? = nil, tls: TLSSettings = TLSSettings()
    ) {
        self.urls = urls
        self.version = version
        self.virtualhost = virtualhost
        self.ssl = ssl
        self.enableSNI = enableSNI
        self.sniName = sniName
        self.tls = tls
    }

    /// The SNI name: `sni_name`, else the virtual host, when `enable_sni` is set.
    public func serverName(for url: URLCheck) -> String? {
        guard enableSNI else { return nil }
        return sniName ?? url.virtualhost ?? virtualhost
    }
}

/// The global `SSL { password; ca; certificate; key }` block.
public struct TLSSettings: Sendable, Hashable {
    /// `ca`: when set, the server certificate is verified against it (keepalived never verifies).
    public var caFile: String?
    public var certificateFile: String?
    public var keyFile: String?
    public var password: String?

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, password: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.password = password
    }
}

/// MISC_CHECK settings.
public struct MiscSpec: Sendable, Hashable {
    /// `misc_path`, as written (split with `MiscCheckRules.splitCommand`).
    public var path: String
    /// `misc_timeout` (default: delay_loop).
    public var timeout: Duration?
    public var dynamic: Bool
    /// `user USERNAME [GROUPNAME]` resolved to ids; nil = run as the daemon's user.
    public var uid: UInt32?
    public var gid: UInt32?

    public init(path: String, timeout: Duration? = nil, dynamic: Bool = false, uid: UInt32? = nil, gid: UInt32? = nil) {
        self.path = path
        self.timeout = timeout
        self.dynamic = dynamic
        self.uid = uid
        self.gid = gid
    }
}

/// FILE_CHECK settings: the file (`track_file` resolved to its path) and `weight N [reverse]`.
public struct FileSpec: Sendable, Hashable {
    public var path: String
    public var weight: Int
    public var reverse: Bool

    public init(path: String, weight: Int = 1, reverse: Bool = false) {
        self.path = path
        self.weight = weight
        self.reverse = reverse
    }
}
