import DataPlane
import KeepalivedConfig
import NetCore
import VirtualServerCore

/// Turns the `virtual_server` blocks of a configuration into the control loop's pool specs,
/// applying keepalived's defaults (wlc, NAT, UDP, weight 1, quorum 1) and its rules: DR and TUN
/// real servers use the virtual server's port, fwmark services clear it, a group expands to one
/// service per entry (ranges included).
public enum PoolSpecs {
    /// Ranges larger than this are refused by `vigil check`; here they are cut, never looped over.
    static let maxRangeSize = 256

    public static func virtualServers(from config: KeepalivedConfiguration) -> [VirtualServerSpec] {
        var out: [VirtualServerSpec] = []
        var seen = Set<ServiceKey>()
        for vs in config.virtualServers {
            for key in serviceKeys(of: vs, groups: config.virtualServerGroups) where seen.insert(key).inserted {
                out.append(spec(for: vs, key: key))
            }
        }
        return out
    }

    /// The kernel services a `virtual_server` stands for.
    static func serviceKeys(of vs: VirtualServer, groups: [VirtualServerGroup]) -> [ServiceKey] {
        let proto = l4(vs.effectiveProtocol)
        switch vs.key {
        case .address(let a, let port):
            return [.address(proto, SocketAddress(address: a, port: UInt16(clamping: port ?? 0)))]
        case .fwmark(let m, let fam):
            return [.fwmark(m, fam ?? vs.ipFamily ?? .inet)]
        case .group(let name):
            guard let g = groups.first(where: { $0.name == name }) else { return [] }
            var keys: [ServiceKey] = []
            for e in g.entries {
                switch e {
                case .fwmark(let m, let fam):
                    keys.append(.fwmark(m, fam ?? vs.ipFamily ?? .inet))
                case .addresses(let first, let last, let port):
                    for a in expand(first, last) {
                        keys.append(.address(proto, SocketAddress(address: a, port: UInt16(clamping: port ?? 0))))
                    }
                }
            }
            return keys
        }
    }

    static func expand(_ first: IPAddress, _ last: IPAddress) -> [IPAddress] {
        switch (first, last) {
        case (.v4(let a), .v4(let b)) where b.value >= a.value:
            let n = min(UInt32(maxRangeSize), b.value - a.value + 1)
            return (0..<n).map { .v4(IPv4Address(a.value + $0)) }
        case (.v6(let a), .v6(let b)) where a.high == b.high && b.low >= a.low:
            let n = min(UInt64(maxRangeSize), b.low - a.low + 1)
            return (0..<n).map { .v6(IPv6Address(high: a.high, low: a.low + $0)) }
        default:
            return [first]
        }
    }

    static func spec(for vs: VirtualServer, key: ServiceKey) -> VirtualServerSpec {
        var flags = ServiceFlags()
        for f in vs.schedulerFlags {
            switch f {
            case "ops": flags.insert(.onePacket)
            case "flag-1", "sh-fallback", "mh-fallback": flags.insert(.sched1)
            case "flag-2", "sh-port", "mh-port": flags.insert(.sched2)
            case "flag-3": flags.insert(.sched3)
            default: break
            }
        }
        if vs.persistenceTimeout != nil { flags.insert(.persistent) }
        var spec = VirtualServerSpec(
            key: key, scheduler: vs.effectiveScheduler, flags: flags,
            persistenceTimeout: UInt32(clamping: vs.persistenceTimeout ?? 0),
            persistencePrefix: vs.persistenceGranularity.flatMap { prefixLength($0, family: key.family) },
            persistenceEngine: vs.persistenceEngine,
            quorum: vs.effectiveQuorum, hysteresis: vs.hysteresis ?? 0,
            sorryServerInhibit: vs.sorryServerInhibit,
            quorumUp: vs.quorumUp?.command, quorumDown: vs.quorumDown?.command, omega: vs.omega)
        spec.realServers = vs.realServers.map { realServer($0, of: vs, key: key) }
        // keepalived ignores ha_suspend on fwmark services (no address to watch).
        if case .address = key { spec.haSuspend = vs.haSuspend }
        spec.sorryServer = vs.sorryServer.map { realServer($0, of: vs, key: key) }
        return spec
    }

    static func realServer(_ rs: RealServer, of vs: VirtualServer, key: ServiceKey) -> RealServerSpec {
        let fwd = vs.effectiveForwarding(of: rs)
        let method = forwarding(fwd.method)
        var port = UInt16(clamping: rs.port ?? 0)
        switch key {
        case .address(_, let sa):
            // ipvsadm and keepalived force the service port for DR and TUN; NAT may map ports.
            if method != .masquerade || rs.port == nil { port = sa.port }
        case .fwmark:
            if method != .masquerade { port = 0 }
        }
        return RealServerSpec(
            address: SocketAddress(address: rs.address, port: port),
            weight: Int32(clamping: vs.effectiveWeight(of: rs)), forwarding: method,
            upperThreshold: UInt32(clamping: max(0, rs.upperThreshold ?? 0)),
            lowerThreshold: UInt32(clamping: max(0, rs.lowerThreshold ?? 0)),
            tunnel: method == .tunnel ? tunnel(fwd.tunnelOptions) : nil,
            inhibitOnFailure: vs.effectiveInhibitOnFailure(of: rs),
            alpha: rs.alpha ?? vs.alpha,
            notifyUp: rs.notifyUp?.command, notifyDown: rs.notifyDown?.command)
    }

    static func l4(_ p: ServiceProtocol) -> L4Protocol {
        switch p {
        case .tcp: .tcp
        case .udp: .udp
        case .sctp: .sctp
        }
    }

    static func forwarding(_ m: KeepalivedConfig.ForwardingMethod) -> DataPlane.ForwardingMethod {
        switch m {
        case .nat: .masquerade
        case .dr: .directRoute
        case .tun: .tunnel
        }
    }

    /// `TUN type ipip|gue port N|gre [nocsum|csum|remcsum]` options.
    static func tunnel(_ options: [String]) -> TunnelSettings {
        var t = TunnelSettings()
        var i = 0
        while i < options.count {
            switch options[i] {
            case "type" where i + 1 < options.count:
                t.kind = options[i + 1] == "gue" ? .gue : options[i + 1] == "gre" ? .gre : .ipip
                i += 1
            case "port" where i + 1 < options.count:
                t.port = UInt16(options[i + 1]) ?? 0
                i += 1
            case "csum": t.checksum = .csum
            case "remcsum": t.checksum = .remcsum
            case "nocsum": t.checksum = .nocsum
            default: break
            }
            i += 1
        }
        return t
    }

    /// `persistence_granularity`: a dotted IPv4 netmask, or an IPv6 prefix length.
    static func prefixLength(_ text: String, family: AddressFamily) -> Int? {
        if let n = Int(text) { return n }
        guard let mask = IPv4Address(text) else { return nil }
        return family == .inet ? (~mask.value).leadingZeroBitCount : nil
    }
}
