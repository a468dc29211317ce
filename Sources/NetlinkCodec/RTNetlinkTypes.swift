import NetCore

/// rtnetlink message types and attribute numbers from `<linux/rtnetlink.h>`, `<linux/if_link.h>`,
/// `<linux/if_addr.h>` and `<linux/fib_rules.h>`.
public enum RTM {
    public static let newLink: UInt16 = 16
    public static let delLink: UInt16 = 17
    public static let getLink: UInt16 = 18
    public static let newAddr: UInt16 = 20
    public static let delAddr: UInt16 = 21
    public static let getAddr: UInt16 = 22
    public static let newRoute: UInt16 = 24
    public static let delRoute: UInt16 = 25
    public static let getRoute: UInt16 = 26
    public static let newRule: UInt16 = 32
    public static let delRule: UInt16 = 33
    public static let getRule: UInt16 = 34

    /// Multicast groups as bind() bitmask (`RTMGRP_*`).
    public static let groupLink: UInt32 = 0x1
    public static let groupIPv4Address: UInt32 = 0x10
    public static let groupIPv6Address: UInt32 = 0x100

    public static func name(_ type: UInt16) -> String {
        switch type {
        case newLink: "RTM_NEWLINK"
        case delLink: "RTM_DELLINK"
        case getLink: "RTM_GETLINK"
        case newAddr: "RTM_NEWADDR"
        case delAddr: "RTM_DELADDR"
        case getAddr: "RTM_GETADDR"
        case newRoute: "RTM_NEWROUTE"
        case delRoute: "RTM_DELROUTE"
        case getRoute: "RTM_GETROUTE"
        case newRule: "RTM_NEWRULE"
        case delRule: "RTM_DELRULE"
        case getRule: "RTM_GETRULE"
        default: "RTM_\(type)"
        }
    }
}

enum IFLA {
    static let address: UInt16 = 1
    static let ifname: UInt16 = 3
    static let mtu: UInt16 = 4
    static let operstate: UInt16 = 16
    static let linkinfo: UInt16 = 18
    static let extMask: UInt16 = 29
    static let infoKind: UInt16 = 1
}

enum IFA {
    static let address: UInt16 = 1
    static let local: UInt16 = 2
    static let label: UInt16 = 3
    static let broadcast: UInt16 = 4
    static let cacheinfo: UInt16 = 6
    static let flags: UInt16 = 8
}

enum RTA {
    static let dst: UInt16 = 1
    static let src: UInt16 = 2
    static let oif: UInt16 = 4
    static let gateway: UInt16 = 5
    static let priority: UInt16 = 6
    static let prefsrc: UInt16 = 7
    static let table: UInt16 = 15
}

enum FRA {
    static let dst: UInt16 = 1
    static let src: UInt16 = 2
    static let iifname: UInt16 = 3
    static let priority: UInt16 = 6
    static let fwmark: UInt16 = 10
    static let table: UInt16 = 15
    static let fwmask: UInt16 = 16
    static let oifname: UInt16 = 17
}

/// Address scope (`RT_SCOPE_*`, the `scope` of `ip addr` and `ip route`).
public enum AddressScope: UInt8, Sendable, Hashable, Codable, CustomStringConvertible {
    case global = 0
    case site = 200
    case link = 253
    case host = 254
    case nowhere = 255

    public var description: String {
        switch self {
        case .global: "global"
        case .site: "site"
        case .link: "link"
        case .host: "host"
        case .nowhere: "nowhere"
        }
    }
}

/// Interface address flags (`IFA_F_*`). The first four are what `ip addr add` accepts.
public struct AddressFlags: OptionSet, Sendable, Hashable, Codable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let secondary = AddressFlags(rawValue: 0x01)
    /// `nodad`: no duplicate address detection (IPv6).
    public static let noDAD = AddressFlags(rawValue: 0x02)
    public static let optimistic = AddressFlags(rawValue: 0x04)
    public static let dadFailed = AddressFlags(rawValue: 0x08)
    /// `home`: mobile IPv6 home address.
    public static let homeAddress = AddressFlags(rawValue: 0x10)
    public static let deprecated = AddressFlags(rawValue: 0x20)
    public static let tentative = AddressFlags(rawValue: 0x40)
    public static let permanent = AddressFlags(rawValue: 0x80)
    /// `mngtmpaddr`: manage temporary addresses from this one (IPv6).
    public static let manageTempAddress = AddressFlags(rawValue: 0x100)
    /// `noprefixroute`: do not add the prefix route.
    public static let noPrefixRoute = AddressFlags(rawValue: 0x200)
}

/// A network interface as `RTM_NEWLINK` describes it.
public struct InterfaceInfo: Sendable, Hashable, Codable {
    public var index: Int32
    public var name: String
    /// The link-layer address when it is 6 bytes long (Ethernet, veth, loopback's zeros).
    public var mac: MACAddress?
    /// Administratively up (`IFF_UP`).
    public var isUp: Bool
    /// Carrier present and running (`IFF_LOWER_UP` or `IFF_RUNNING`).
    public var isRunning: Bool
    public var mtu: Int
    /// `IFLA_INFO_KIND` ("veth", "bridge", "dummy"); nil for physical devices and loopback.
    public var kind: String?
    /// The raw `ifi_flags` (`IFF_*`).
    public var flags: UInt32

    public init(index: Int32, name: String, mac: MACAddress? = nil, isUp: Bool = false, isRunning: Bool = false,
                mtu: Int = 1500, kind: String? = nil, flags: UInt32 = 0) {
        self.index = index
        self.name = name
        self.mac = mac
        self.isUp = isUp
        self.isRunning = isRunning
        self.mtu = mtu
        self.kind = kind
        self.flags = flags
    }
}

/// An address on an interface (`ip addr add PREFIX [peer P] [broadcast B] [label L] [scope S]
/// [FLAGS] [valid_lft V preferred_lft P] dev IFINDEX`).
///
/// Read back from the kernel, an address carries what the kernel adds: `.permanent` in `flags`
/// for addresses without lifetimes, the interface name as `label` for IPv4 addresses added
/// without one, and the computed scope for IPv6. Compare on `prefix` (and `peer`) to find one.
public struct InterfaceAddress: Sendable, Hashable, Codable, CustomStringConvertible {
    public var interfaceIndex: Int32
    /// The local address with the prefix length (`ifa_prefixlen`).
    public var prefix: IPPrefix
    /// IPv4 label (`eth0:vip`); the kernel reports the interface name when none was set.
    public var label: String?
    public var scope: AddressScope
    public var broadcast: IPv4Address?
    /// Point-to-point peer (`IFA_ADDRESS` differing from `IFA_LOCAL`). Its length is the prefix length.
    public var peer: IPAddress?
    public var flags: AddressFlags
    /// Seconds; nil = forever.
    public var preferredLifetime: UInt32?
    /// Seconds; nil = forever.
    public var validLifetime: UInt32?

    public init(interfaceIndex: Int32, prefix: IPPrefix, label: String? = nil, scope: AddressScope = .global,
                broadcast: IPv4Address? = nil, peer: IPAddress? = nil, flags: AddressFlags = [],
                preferredLifetime: UInt32? = nil, validLifetime: UInt32? = nil) {
        self.interfaceIndex = interfaceIndex
        self.prefix = prefix
        self.label = label
        self.scope = scope
        self.broadcast = broadcast
        self.peer = peer
        self.flags = flags
        self.preferredLifetime = preferredLifetime
        self.validLifetime = validLifetime
    }

    public var family: AddressFamily { prefix.address.family }

    /// `192.168.0.21/32` or `10.1.1.1 peer 10.1.1.2/32`.
    public var description: String {
        if let peer { return "\(prefix.address) peer \(peer)/\(prefix.length)" }
        return prefix.description
    }
}

/// Route type (`RTN_*`).
public enum RouteType: UInt8, Sendable, Hashable, Codable {
    case unicast = 1
    case local = 2
    case broadcast = 3
    case anycast = 4
    case multicast = 5
    case blackhole = 6
    case unreachable = 7
    case prohibit = 8
    case `throw` = 9

    var keyword: String {
        switch self {
        case .unicast: ""
        case .local: "local "
        case .broadcast: "broadcast "
        case .anycast: "anycast "
        case .multicast: "multicast "
        case .blackhole: "blackhole "
        case .unreachable: "unreachable "
        case .prohibit: "prohibit "
        case .throw: "throw "
        }
    }
}

/// Routing table ids with names (`RT_TABLE_*`).
public enum RouteTable {
    public static let main: UInt32 = 254
    public static let local: UInt32 = 255
    public static let `default`: UInt32 = 253
}

/// A route to add or delete (`ip route add|del [TYPE] PREFIX [via GW] [src SRC] [table T]
/// [metric M] [dev IF] [scope S] [proto P]`).
public struct RouteSpec: Sendable, Hashable, Codable, CustomStringConvertible {
    public var destination: IPPrefix
    public var gateway: IPAddress?
    public var interfaceIndex: Int32?
    /// Preferred source (`src`, `RTA_PREFSRC`).
    public var source: IPAddress?
    public var table: UInt32
    /// `metric` (`RTA_PRIORITY`).
    public var metric: UInt32?
    /// nil picks what `ip route` picks: link for an IPv4 unicast route without gateway, host for
    /// local routes, otherwise global.
    public var scope: AddressScope?
    public var type: RouteType
    /// `rtm_protocol`; 3 = boot (what `ip route add` uses), 4 = static.
    public var routeProtocol: UInt8
    /// `onlink`: the gateway is on the link even if no prefix of the interface covers it
    /// (`RTNH_F_ONLINK` in `rtm_flags`).
    public var onLink = false

    public init(destination: IPPrefix, gateway: IPAddress? = nil, interfaceIndex: Int32? = nil, source: IPAddress? = nil,
                table: UInt32 = RouteTable.main, metric: UInt32? = nil, scope: AddressScope? = nil,
                type: RouteType = .unicast, routeProtocol: UInt8 = 3) {
        self.destination = destination
        self.gateway = gateway
        self.interfaceIndex = interfaceIndex
        self.source = source
        self.table = table
        self.metric = metric
        self.scope = scope
        self.type = type
        self.routeProtocol = routeProtocol
    }

    public var description: String {
        var s = "\(type.keyword)\(destination)"
        if let gateway { s += " via \(gateway)" }
        if let interfaceIndex { s += " dev #\(interfaceIndex)" }
        if let source { s += " src \(source)" }
        if table != RouteTable.main { s += " table \(table)" }
        if let metric { s += " metric \(metric)" }
        return s
    }
}

/// What a rule does with matching packets (`FR_ACT_*`).
public enum RuleAction: UInt8, Sendable, Hashable, Codable {
    case lookupTable = 1
    case blackhole = 6
    case unreachable = 7
    case prohibit = 8
}

/// A policy-routing rule (`ip rule add|del [from P] [to P] [fwmark M[/MASK]] [iif I] [oif O]
/// [priority N] table T`).
public struct RuleSpec: Sendable, Hashable, Codable, CustomStringConvertible {
    public var family: AddressFamily
    public var from: IPPrefix?
    public var to: IPPrefix?
    public var table: UInt32
    /// `priority` / `preference` (`FRA_PRIORITY`); nil lets the kernel choose.
    public var priority: UInt32?
    public var fwmark: UInt32?
    public var fwmask: UInt32?
    public var inputInterface: String?
    public var outputInterface: String?
    public var action: RuleAction

    public init(family: AddressFamily? = nil, from: IPPrefix? = nil, to: IPPrefix? = nil, table: UInt32 = RouteTable.main,
                priority: UInt32? = nil, fwmark: UInt32? = nil, fwmask: UInt32? = nil, inputInterface: String? = nil,
                outputInterface: String? = nil, action: RuleAction = .lookupTable) {
        self.family = family ?? from?.address.family ?? to?.address.family ?? .inet
        self.from = from
        self.to = to
        self.table = table
        self.priority = priority
        self.fwmark = fwmark
        self.fwmask = fwmask
        self.inputInterface = inputInterface
        self.outputInterface = outputInterface
        self.action = action
    }

    public var description: String {
        var s = "from \(from?.description ?? "all")"
        if let to { s += " to \(to)" }
        if let fwmark { s += " fwmark \(fwmark)" + (fwmask.map { "/\($0)" } ?? "") }
        if let inputInterface { s += " iif \(inputInterface)" }
        if let outputInterface { s += " oif \(outputInterface)" }
        if let priority { s += " priority \(priority)" }
        s += action == .lookupTable ? " table \(table)" : " \(action)"
        return s
    }
}

/// A change seen on an `RTNLGRP_LINK` / `RTNLGRP_IPV4_IFADDR` / `RTNLGRP_IPV6_IFADDR` socket.
public enum LinkEvent: Sendable, Hashable {
    /// `RTM_NEWLINK`: a link appeared or changed (up/down, carrier, MTU, name).
    case linkChanged(InterfaceInfo)
    /// `RTM_DELLINK`.
    case linkRemoved(InterfaceInfo)
    case addressAdded(InterfaceAddress)
    case addressRemoved(InterfaceAddress)
    /// The socket overflowed (ENOBUFS) and events were dropped: re-read the state you track.
    case eventsLost
}
