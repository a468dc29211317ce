import NetCore

// The typed keepalived.conf model (keepalived.md §1.3–1.8). Optional fields are nil when the
// keyword was not written: defaults are not invented in the model; the `effective…`/`resolved…`
// accessors apply keepalived's defaults and inheritance (virtual_server → real_server → checker).
// Keywords that Vigil recognises but does not act on are kept verbatim in each block's `other`
// list (and reported by the loader as notes), so nothing is silently dropped.

/// A statement kept as written (after preprocessing): keyword, arguments and optional block.
public struct RawStatement: Sendable, Equatable, Hashable {
    public var keyword: String
    public var arguments: [String]
    public var children: [RawStatement]?

    public init(keyword: String, arguments: [String], children: [RawStatement]? = nil) {
        self.keyword = keyword
        self.arguments = arguments
        self.children = children
    }
}

/// A script to run: the text as configured and its argv (unquoted spaces split, quotes group).
public struct ScriptCommand: Sendable, Equatable, Hashable {
    public var command: String
    public var argv: [String]

    public init(_ command: String) {
        self.command = command
        self.argv = ScriptCommand.split(command)
    }

    /// Splits like keepalived does for script argv: whitespace separates, single or double
    /// quotes group, a backslash escapes the next character.
    public static func split(_ s: String) -> [String] {
        var out: [String] = []
        var cur = ""
        var have = false
        var quote: Character? = nil
        var escape = false
        for ch in s {
            if escape { cur.append(ch); escape = false; continue }
            if ch == "\\" && quote != "'" { escape = true; have = true; continue }
            if let q = quote {
                if ch == q { quote = nil } else { cur.append(ch) }
                continue
            }
            if ch == "'" || ch == "\"" { quote = ch; have = true; continue }
            if ch == " " || ch == "\t" {
                if have { out.append(cur); cur = ""; have = false }
                continue
            }
            cur.append(ch)
            have = true
        }
        if have { out.append(cur) }
        return out
    }

    /// The executable path (first argv element).
    public var path: String { argv.first ?? "" }
}

/// `user [group]` of `script_user` and script `user` keywords.
public struct ScriptUser: Sendable, Equatable, Hashable {
    public var user: String
    public var group: String?
    public init(user: String, group: String? = nil) { self.user = user; self.group = group }
}

/// A FIFO for event lines (keepalived.md §2.8), with the optional reader script.
public struct NotifyFifo: Sendable, Equatable, Hashable {
    public var path: String
    public var user: ScriptUser?
    public var script: ScriptCommand?
    public var scriptUser: ScriptUser?
    public init(path: String, user: ScriptUser? = nil) { self.path = path; self.user = user }
}

/// `lvs_sync_daemon IF [inst VI] [id N] [maxlen N] [port N] [ttl N] [group IP]`.
public struct LVSSyncDaemon: Sendable, Equatable, Hashable {
    public var interface: String
    public var instance: String?
    public var syncID: Int?
    public var maxLength: Int?
    public var port: Int?
    public var ttl: Int?
    public var group: IPAddress?
    public init(interface: String) { self.interface = interface }
}

/// `lvs_timeouts [tcp N] [tcpfin N] [udp N]` (seconds).
public struct LVSTimeouts: Sendable, Equatable, Hashable {
    public var tcp: Int?
    public var tcpFin: Int?
    public var udp: Int?
    public init() {}
}

/// `global_defs` (keepalived.md §1.4).
public struct GlobalDefs: Sendable, Equatable {
    public var routerID: String?
    public var notificationEmails: [String] = []
    public var notificationEmailFrom: String?
    public var smtpServer: String?
    public var smtpServerPort: Int?
    public var smtpConnectTimeout: Duration?
    public var scriptUser: ScriptUser?
    public var enableScriptSecurity = false
    public var startupScript: ScriptCommand?
    public var shutdownScript: ScriptCommand?
    public var vrrpMcastGroup4: IPv4Address?
    public var vrrpMcastGroup6: IPv6Address?
    /// Default VRRP version for instances (2 if unset; IPv6 instances always use 3).
    public var vrrpVersion: Int?
    public var vrrpGarpMasterDelay: Duration?
    public var vrrpGarpMasterRepeat: Int?
    public var vrrpGarpMasterRefresh: Duration?
    public var vrrpGarpMasterRefreshRepeat: Int?
    public var vrrpGarpLowerPrioDelay: Duration?
    public var vrrpGarpLowerPrioRepeat: Int?
    public var vrrpGarpInterval: Duration?
    public var vrrpGnaInterval: Duration?
    public var vrrpMinGarp: Bool?
    public var vrrpDownTimerAdverts: Int?
    public var vrrpLowerPrioNoAdvert: Bool?
    public var vrrpHigherPrioSendAdvert: Bool?
    public var vrrpStrict = false
    public var vrrpSkipCheckAdvAddr: Bool?
    public var vrrpCheckUnicastSrc = false
    public var v3ChecksumAsV2: Bool?
    public var lvsSyncDaemon: LVSSyncDaemon?
    public var lvsTimeouts: LVSTimeouts?
    public var lvsFlush = false
    public var lvsFlushOnStop: String?
    public var notifyFifo: NotifyFifo?
    public var vrrpNotifyFifo: NotifyFifo?
    public var lvsNotifyFifo: NotifyFifo?
    public var vrrpNotifyPriorityChanges: Bool?
    public var dynamicInterfaces: Bool?
    public var defaultInterface: String?
    /// Recognised keywords Vigil does not act on, as written.
    public var other: [RawStatement] = []
    public init() {}
}

public enum InstanceState: String, Sendable, Equatable, Hashable {
    case master = "MASTER"
    case backup = "BACKUP"
}

/// A VIP/eVIP/static address line (keepalived.md §2.9).
public struct VirtualAddress: Sendable, Equatable, Hashable {
    public var address: IPAddress
    /// Prefix length if written (`/N`); keepalived uses a host mask otherwise.
    public var prefixLength: Int?
    public var broadcast: String?
    public var device: String?
    public var scope: String?
    public var label: String?
    public var peer: IPPrefix?
    public var noTrack = false
    public var useVMAC = false
    /// Other flags as written (`home`, `-nodad`, `preferred_lft 0`, …).
    public var flags: [String] = []
    public init(address: IPAddress) { self.address = address }

    public var effectivePrefixLength: Int { prefixLength ?? address.bitWidth }
}

/// A route or rule line of `virtual_routes`/`virtual_rules`/`static_routes`/`static_rules`,
/// in iproute2 syntax, kept as words (the VRRP module hands them to netlink).
public struct RouteSpec: Sendable, Equatable, Hashable {
    public var words: [String]
    public init(words: [String]) { self.words = words }
}

/// `unicast_peer { IP [min_ttl N] [max_ttl N] }` entry.
public struct UnicastPeer: Sendable, Equatable, Hashable {
    public var address: IPAddress
    public var minTTL: Int?
    public var maxTTL: Int?
    public init(address: IPAddress) { self.address = address }
}

/// A tracked object with its weight (keepalived.md §2.6).
public struct TrackedObject: Sendable, Equatable, Hashable {
    public var name: String
    /// nil = not written (0: failure means FAULT).
    public var weight: Int?
    public var reverse = false
    public init(name: String, weight: Int? = nil, reverse: Bool = false) {
        self.name = name
        self.weight = weight
        self.reverse = reverse
    }
}

/// notify scripts of an instance or sync group (keepalived.md §2.7).
public struct NotifyScripts: Sendable, Equatable, Hashable {
    public var master: ScriptCommand?
    public var backup: ScriptCommand?
    public var fault: ScriptCommand?
    public var stop: ScriptCommand?
    public var deleted: ScriptCommand?
    public var masterRxLowerPriority: ScriptCommand?
    /// `notify`: called with `INSTANCE|GROUP name STATE priority` appended.
    public var generic: ScriptCommand?
    public init() {}
    public var all: [ScriptCommand] { [master, backup, fault, stop, deleted, masterRxLowerPriority, generic].compactMap { $0 } }
}

public enum AuthType: String, Sendable, Equatable, Hashable {
    case pass = "PASS"
    case ah = "AH"
}

/// `authentication { auth_type; auth_pass }` (keepalived.md §2.4).
public struct Authentication: Sendable, Equatable, Hashable {
    public var type: AuthType?
    /// As keepalived uses it: at most 8 bytes.
    public var password: String?
    public init() {}
}

/// `vrrp_instance NAME` (keepalived.md §1.5).
public struct VRRPInstance: Sendable, Equatable {
    public var name: String
    public var state: InstanceState?
    public var interface: String?
    public var virtualRouterID: Int?
    public var priority: Int?
    public var advertInterval: Duration?
    public var version: Int?
    /// false after `nopreempt`, true after `preempt`, nil if neither was written.
    public var preempt: Bool?
    public var preemptDelay: Duration?
    public var authentication: Authentication?
    public var mcastSourceIP: IPAddress?
    public var unicastSourceIP: IPAddress?
    public var mcastDestinationIP: IPAddress?
    public var unicastPeers: [UnicastPeer] = []
    public var unicastTTL: Int?
    public var unicastFaultNoPeer: Bool?
    public var checkUnicastSource: Bool?
    public var virtualAddresses: [VirtualAddress] = []
    public var excludedAddresses: [VirtualAddress] = []
    public var virtualRoutes: [RouteSpec] = []
    public var virtualRules: [RouteSpec] = []
    public var trackInterfaces: [TrackedObject] = []
    public var trackScripts: [TrackedObject] = []
    public var trackFiles: [TrackedObject] = []
    public var trackProcesses: [TrackedObject] = []
    public var trackBFD: [TrackedObject] = []
    public var dontTrackPrimary = false
    public var notify = NotifyScripts()
    public var notifyPriorityChanges: Bool?
    public var smtpAlert: Bool?
    public var accept: Bool?
    public var strictMode: Bool?
    public var skipCheckAdvAddr: Bool?
    public var lowerPrioNoAdvert: Bool?
    public var higherPrioSendAdvert: Bool?
    public var promoteSecondaries = false
    public var garpMasterDelay: Duration?
    public var garpMasterRepeat: Int?
    public var garpMasterRefresh: Duration?
    public var garpMasterRefreshRepeat: Int?
    public var garpLowerPrioDelay: Duration?
    public var garpLowerPrioRepeat: Int?
    public var downTimerAdverts: Int?
    public var other: [RawStatement] = []

    public init(name: String) { self.name = name }

    /// keepalived.md §1.5: 100, or 255 for `state MASTER` without a priority.
    public var effectivePriority: Int { priority ?? (state == .master ? 255 : 100) }
    /// Default 1 s.
    public var effectiveAdvertInterval: Duration { advertInterval ?? .seconds(1) }
    /// The initial state: written, else MASTER for the owner (255), else BACKUP.
    public var effectiveState: InstanceState { state ?? (effectivePriority == 255 ? .master : .backup) }
    public var effectivePreempt: Bool { preempt ?? true }
    /// The address family of the advertised VIPs (IPv4 if there are none).
    public var family: AddressFamily { virtualAddresses.first?.address.family ?? .inet }
    public func effectiveVersion(global: GlobalDefs) -> Int { family == .inet6 ? 3 : (version ?? global.vrrpVersion ?? 2) }
    public func isStrict(global: GlobalDefs) -> Bool { strictMode ?? global.vrrpStrict }
}

/// `vrrp_sync_group NAME` (keepalived.md §1.6).
public struct VRRPSyncGroup: Sendable, Equatable {
    public var name: String
    public var members: [String] = []
    public var trackInterfaces: [TrackedObject] = []
    public var trackScripts: [TrackedObject] = []
    public var trackFiles: [TrackedObject] = []
    public var trackProcesses: [TrackedObject] = []
    public var trackBFD: [TrackedObject] = []
    public var notify = NotifyScripts()
    public var smtpAlert: Bool?
    public var notifyPriorityChanges: Bool?
    public var other: [RawStatement] = []
    public init(name: String) { self.name = name }
}

/// `vrrp_script NAME` (keepalived.md §1.7).
public struct VRRPScript: Sendable, Equatable {
    public var name: String
    public var script: ScriptCommand?
    public var interval: Duration?
    public var timeout: Duration?
    public var weight: Int?
    public var weightReverse = false
    public var rise: Int?
    public var fall: Int?
    public var user: ScriptUser?
    public var initFail = false
    public init(name: String) { self.name = name }

    public var effectiveInterval: Duration { interval ?? .seconds(1) }
    public var effectiveTimeout: Duration { timeout ?? effectiveInterval }
    public var effectiveRise: Int { rise ?? 1 }
    public var effectiveFall: Int { fall ?? 1 }
}

/// `track_file NAME` (keepalived.md §1.7).
public struct TrackFile: Sendable, Equatable {
    public var name: String
    public var file: String?
    public var weight: Int?
    public var weightReverse = false
    public var initFile: [String]?
    public init(name: String) { self.name = name }
}

/// `vrrp_track_process NAME` (keepalived.md §1.7).
public struct TrackProcess: Sendable, Equatable {
    public var name: String
    public var process: [String] = []
    public var paramMatch: String?
    public var weight: Int?
    public var weightReverse = false
    public var quorum: Int?
    public var quorumMax: Int?
    /// In effect after the whole block: `delay` sets both, and the last statement wins.
    public var forkDelay: Duration?
    public var terminateDelay: Duration?
    /// `delay` as written (already folded into the two above).
    public var delay: Duration?
    public var fullCommand = false
    public init(name: String) { self.name = name }
}

/// `garp_group` (keepalived.md §2.10).
public struct GARPGroup: Sendable, Equatable {
    public var garpInterval: Duration?
    public var gnaInterval: Duration?
    public var interfaces: [String] = []
    public init() {}
}

/// `bfd_instance NAME` (keepalived.md §1.8). Parsed; Vigil has no BFD yet.
public struct BFDInstance: Sendable, Equatable {
    public var name: String
    public var statements: [RawStatement] = []
    public init(name: String) { self.name = name }
}

/// `track_group NAME { group { VI… } }`.
public struct TrackGroup: Sendable, Equatable {
    public var name: String
    public var members: [String] = []
    public init(name: String) { self.name = name }
}

/// `SSL { password; ca; certificate; key }`.
public struct SSLSettings: Sendable, Equatable {
    public var password: String?
    public var ca: String?
    public var certificate: String?
    public var key: String?
    public init() {}
}

/// One entry of a `virtual_server_group`.
public enum VirtualServerGroupEntry: Sendable, Equatable, Hashable {
    /// `IP [PORT]`, `A.B.C.D-E` (last octet/hextet range) or `IP/len`.
    case addresses(first: IPAddress, last: IPAddress, port: Int?)
    case fwmark(UInt32, family: AddressFamily?)
}

public struct VirtualServerGroup: Sendable, Equatable {
    public var name: String
    public var entries: [VirtualServerGroupEntry] = []
    public init(name: String) { self.name = name }
}

public enum ServiceProtocol: String, Sendable, Equatable, Hashable {
    case tcp = "TCP", udp = "UDP", sctp = "SCTP"
}

/// IPVS forwarding method (`lvs_method`/`lb_kind`).
public enum ForwardingMethod: String, Sendable, Equatable, Hashable {
    case nat = "NAT", dr = "DR", tun = "TUN"
}

/// `lvs_method` with its tunnel options (`TUN type ipip|gue port N|gre [nocsum|csum|remcsum]`).
public struct ForwardingSpec: Sendable, Equatable, Hashable {
    public var method: ForwardingMethod
    public var tunnelOptions: [String] = []
    public init(method: ForwardingMethod, tunnelOptions: [String] = []) {
        self.method = method
        self.tunnelOptions = tunnelOptions
    }
}

/// The address of a virtual server.
public enum VirtualServerKey: Sendable, Equatable, Hashable, CustomStringConvertible {
    case address(IPAddress, port: Int?)
    case fwmark(UInt32, family: AddressFamily?)
    case group(String)

    public var description: String {
        switch self {
        case .address(let a, let p):
            let host = a.family == .inet6 ? "[\(a)]" : "\(a)"
            return p.map { "\(host):\($0)" } ?? host
        case .fwmark(let m, _): return "FWM \(m)"
        case .group(let g): return "group \(g)"
        }
    }
}

/// IPVS schedulers (keepalived.md §1.8).
public let knownSchedulers: Set<String> = ["rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos"]

/// Checker timing keywords shared by virtual_server, real_server and checkers.
public struct CheckTiming: Sendable, Equatable, Hashable {
    public var delayLoop: Duration?
    public var connectTimeout: Duration?
    public var retry: Int?
    public var delayBeforeRetry: Duration?
    public var warmup: Duration?
    public init() {}

    /// Fills unset fields from `outer` (the enclosing level).
    public func inheriting(from outer: CheckTiming) -> CheckTiming {
        var t = self
        t.delayLoop = t.delayLoop ?? outer.delayLoop
        t.connectTimeout = t.connectTimeout ?? outer.connectTimeout
        t.retry = t.retry ?? outer.retry
        t.delayBeforeRetry = t.delayBeforeRetry ?? outer.delayBeforeRetry
        t.warmup = t.warmup ?? outer.warmup
        return t
    }
}

/// Fully resolved checker timing (keepalived.md §4.1).
public struct ResolvedCheckTiming: Sendable, Equatable, Hashable {
    public var delayLoop: Duration
    public var connectTimeout: Duration
    public var retry: Int
    public var delayBeforeRetry: Duration
    public var warmup: Duration
}

public enum CheckerKind: String, Sendable, Equatable, Hashable, CaseIterable {
    case httpGet = "HTTP_GET", sslGet = "SSL_GET", tcp = "TCP_CHECK", misc = "MISC_CHECK"
    case smtp = "SMTP_CHECK", dns = "DNS_CHECK", udp = "UDP_CHECK", ping = "PING_CHECK"
    case file = "FILE_CHECK", bfd = "BFD_CHECK"
}

/// `url { … }` of HTTP_GET/SSL_GET (keepalived.md §4.2).
public struct URLCheck: Sendable, Equatable, Hashable {
    public var path: String?
    /// Lower-case 32 hex characters.
    public var digest: String?
    /// Accepted status codes; empty means the default 200–299.
    public var statusCodes: [ClosedRange<Int>] = []
    public var virtualhost: String?
    public var regex: String?
    public var regexNoMatch = false
    /// `regex_options`, as written (PCRE2 option names).
    public var regexOptions: [String] = []
    /// `regex_min_offset` / `regex_max_offset` (inclusive), in body bytes.
    public var regexMinOffset: Int?
    public var regexMaxOffset: Int?
    public var other: [RawStatement] = []
    public init() {}

    public func accepts(status: Int) -> Bool {
        statusCodes.isEmpty ? (200...299).contains(status) : statusCodes.contains { $0.contains(status) }
    }
}

/// A health checker block inside a real_server.
public struct Checker: Sendable, Equatable {
    public var kind: CheckerKind
    public var timing = CheckTiming()
    public var connectIP: IPAddress?
    public var connectPort: Int?
    public var bindTo: IPAddress?
    public var bindPort: Int?
    public var bindInterface: String?
    public var fwmark: UInt32?
    public var alpha: Bool?
    public var logAllFailures: Bool?
    // HTTP_GET / SSL_GET
    public var urls: [URLCheck] = []
    public var httpProtocol: String?
    public var virtualhost: String?
    public var fastRecovery: Bool?
    public var enableSNI: Bool?
    public var sniName: String?
    // MISC_CHECK
    public var miscPath: ScriptCommand?
    public var miscTimeout: Duration?
    public var miscDynamic = false
    public var user: ScriptUser?
    // SMTP_CHECK
    public var heloName: String?
    // DNS_CHECK
    public var dnsType: String?
    public var dnsName: String?
    // UDP_CHECK
    public var payload: [UInt8]?
    public var requireReply: String?
    public var minReplyLength: Int?
    public var maxReplyLength: Int?
    // FILE_CHECK / BFD_CHECK
    public var trackFile: String?
    public var weight: Int?
    public var weightReverse = false
    public var bfdName: String?
    public var other: [RawStatement] = []

    public init(kind: CheckerKind) { self.kind = kind }

    /// Checker-specific defaults for retry/delay_before_retry (keepalived.md §1.8).
    func defaultRetry() -> Int {
        switch kind {
        case .misc: return 0
        case .dns: return 3
        default: return 1
        }
    }
}

/// `real_server IP [PORT]`.
public struct RealServer: Sendable, Equatable {
    public var address: IPAddress
    public var port: Int?
    public var weight: Int?
    public var forwarding: ForwardingSpec?
    public var upperThreshold: Int?
    public var lowerThreshold: Int?
    public var inhibitOnFailure: Bool?
    public var alpha: Bool?
    public var timing = CheckTiming()
    public var notifyUp: ScriptCommand?
    public var notifyDown: ScriptCommand?
    public var smtpAlert: Bool?
    public var virtualhost: String?
    public var checkers: [Checker] = []
    public var other: [RawStatement] = []
    public init(address: IPAddress, port: Int? = nil) { self.address = address; self.port = port }
}

/// `virtual_server IP PORT | fwmark N | group NAME` (keepalived.md §1.8, §3).
public struct VirtualServer: Sendable, Equatable {
    public var key: VirtualServerKey
    public var scheduler: String?
    public var forwarding: ForwardingSpec?
    public var `protocol`: ServiceProtocol?
    public var persistenceTimeout: Int?
    public var persistenceGranularity: String?
    public var persistenceEngine: String?
    /// Scheduler flags (`ops`, `hashed`, `flag-1`, `sh-port`, …) in order.
    public var schedulerFlags: [String] = []
    public var haSuspend = false
    public var alpha = false
    public var omega = false
    public var quorum: Int?
    public var hysteresis: Int?
    public var quorumUp: ScriptCommand?
    public var quorumDown: ScriptCommand?
    public var sorryServer: RealServer?
    public var sorryServerInhibit = false
    public var virtualhost: String?
    public var weight: Int?
    public var ipFamily: AddressFamily?
    public var inhibitOnFailure: Bool?
    public var timing = CheckTiming()
    public var smtpAlert: Bool?
    public var realServers: [RealServer] = []
    public var other: [RawStatement] = []
    public init(key: VirtualServerKey) { self.key = key }

    /// keepalived defaults: `wlc`, NAT, UDP (each with a warning when unset).
    public var effectiveScheduler: String { scheduler ?? "wlc" }
    public var effectiveForwarding: ForwardingSpec { forwarding ?? ForwardingSpec(method: .nat) }
    public var effectiveProtocol: ServiceProtocol { self.protocol ?? .udp }
    public var effectiveQuorum: Int { quorum ?? 1 }

    /// The weight a real server gets (RS weight, else VS weight, else 1).
    public func effectiveWeight(of rs: RealServer) -> Int { rs.weight ?? weight ?? 1 }
    public func effectiveForwarding(of rs: RealServer) -> ForwardingSpec { rs.forwarding ?? effectiveForwarding }
    public func effectiveInhibitOnFailure(of rs: RealServer) -> Bool { rs.inhibitOnFailure ?? inhibitOnFailure ?? false }

    /// Checker timing after inheritance checker → real_server → virtual_server → defaults.
    public func resolvedTiming(of checker: Checker, in rs: RealServer) -> ResolvedCheckTiming {
        let t = checker.timing.inheriting(from: rs.timing).inheriting(from: timing)
        let delayLoop = t.delayLoop ?? .seconds(60)
        let defaultDBR: Duration
        switch checker.kind {
        case .httpGet, .sslGet: defaultDBR = .seconds(3)
        case .dns: defaultDBR = delayLoop
        default: defaultDBR = .seconds(1)
        }
        return ResolvedCheckTiming(delayLoop: delayLoop, connectTimeout: t.connectTimeout ?? .seconds(5),
                                   retry: t.retry ?? checker.defaultRetry(),
                                   delayBeforeRetry: t.delayBeforeRetry ?? defaultDBR,
                                   warmup: t.warmup ?? delayLoop)
    }

    /// Virtualhost for a URL check (url > checker > RS > VS), keepalived.md §4.2.
    public func effectiveVirtualhost(url: URLCheck, checker: Checker, in rs: RealServer) -> String? {
        url.virtualhost ?? checker.virtualhost ?? rs.virtualhost ?? virtualhost
    }
}

/// A whole keepalived.conf.
public struct KeepalivedConfiguration: Sendable, Equatable {
    /// Top-level keywords before any block (`net_namespace`, `instance`, …), as written.
    public var topLevel: [RawStatement] = []
    public var global = GlobalDefs()
    public var staticAddresses: [VirtualAddress] = []
    public var staticRoutes: [RouteSpec] = []
    public var staticRules: [RouteSpec] = []
    public var linkbeatInterfaces: [String] = []
    public var interfaceUpDownDelays: [RawStatement] = []
    public var trackGroups: [TrackGroup] = []
    public var vrrpScripts: [VRRPScript] = []
    public var trackFiles: [TrackFile] = []
    public var trackProcesses: [TrackProcess] = []
    public var syncGroups: [VRRPSyncGroup] = []
    public var garpGroups: [GARPGroup] = []
    public var instances: [VRRPInstance] = []
    public var bfdInstances: [BFDInstance] = []
    public var virtualServerGroups: [VirtualServerGroup] = []
    public var virtualServers: [VirtualServer] = []
    public var ssl: SSLSettings?
    public init() {}
}
