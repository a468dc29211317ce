import NetCore

/// The gratuitous ARP / unsolicited NA schedule (keepalived `garp_*` keywords).
public struct GratuitousSchedule: Hashable, Sendable {
    /// Second burst this long after entering MASTER (`garp_master_delay`, default 5 s; 0 = none).
    public var masterDelay: Duration = .seconds(5)
    /// Packets per burst (`garp_master_repeat`, default 5).
    public var masterRepeat: Int = 5
    /// Periodic refresh while MASTER (`garp_master_refresh`, default 0 = off).
    public var masterRefresh: Duration = .zero
    /// Packets per refresh (`garp_master_refresh_repeat`, default 1).
    public var masterRefreshRepeat: Int = 1
    /// After a lower-priority advert is seen by the master (`garp_lower_prio_delay`, default = master delay).
    public var lowerPriorityDelay: Duration? = nil
    /// `garp_lower_prio_repeat`, default = master repeat.
    public var lowerPriorityRepeat: Int? = nil

    public init() {}
}

/// What a `vrrp_instance` block configures, in protocol terms (keepalived.conf(5), RFC 5798 §6.1).
///
/// The config module maps its parsed model onto this; the I/O layer uses the address and
/// interface fields to open sockets.
public struct VRRPInstanceConfig: Hashable, Sendable {
    /// The instance name as logged: `(LVSha) Entering MASTER STATE`.
    public var name: String
    public var interface: String
    public var vrid: UInt8
    public var version: VRRPVersion
    /// Configured (base) priority 1...255; 255 = address owner.
    public var priority: UInt8
    /// `advert_int`: whole seconds for v2, centiseconds for v3.
    public var advertInterval: Duration
    public var preempt: Bool = true
    public var preemptDelay: Duration = .zero
    /// v2 PASS authentication (`auth_type PASS; auth_pass X`).
    public var authentication: Advertisement.Authentication = .none
    /// The advert source (`mcast_src_ip`/`unicast_src_ip`, else the interface's primary address;
    /// for IPv6 the link-local one). Also the tie-breaker on equal priority.
    public var primaryAddress: IPAddress
    /// Addresses carried in adverts (`virtual_ipaddress`, not the excluded ones).
    public var virtualAddresses: [IPAddress]
    /// Multicast destination (`mcast_dst_ip` or `vrrp_mcast_group4/6`).
    public var multicastGroup: IPAddress
    /// `unicast_peer`: send a copy to each instead of multicasting.
    public var unicastPeers: [IPAddress] = []
    /// `check_unicast_src`: drop adverts from addresses that are not peers.
    public var checkUnicastSource: Bool = false
    /// `down_timer_adverts` (default 3).
    public var downTimerAdverts: Int = 3
    public var gratuitous = GratuitousSchedule()
    public var lowerPriorityNoAdvert = false
    public var higherPrioritySendAdvert = false
    /// `vrrp_strict`/`strict_mode`: here the runtime parts (owner ignores adverts, lower_prio_no_advert).
    public var strict = false
    public var skipCheckAdvertAddresses = false
    public var v3ChecksumAsV2 = false
    public var ownerIgnoresAdverts = false
    public var trackers: [Tracker] = []

    public init(
        name: String, interface: String, vrid: UInt8, version: VRRPVersion = .v2, priority: UInt8 = 100,
        advertInterval: Duration = .seconds(1), primaryAddress: IPAddress, virtualAddresses: [IPAddress],
        multicastGroup: IPAddress? = nil
    ) {
        self.name = name
        self.interface = interface
        self.vrid = vrid
        self.version = primaryAddress.family == .inet6 ? .v3 : version
        self.priority = priority
        self.advertInterval = advertInterval
        self.primaryAddress = primaryAddress
        self.virtualAddresses = virtualAddresses
        self.multicastGroup =
            multicastGroup ?? (primaryAddress.family == .inet ? IPAddress("224.0.0.18")! : IPAddress("ff02::12")!)
    }

    public var family: AddressFamily { primaryAddress.family }

    /// The advertised interval as the version can carry it.
    public var wireInterval: UInt16 { Advertisement.intervalField(for: advertInterval, version: version) }

    /// Where adverts go: the peers, or the multicast group.
    public var destinations: [IPAddress] { unicastPeers.isEmpty ? [multicastGroup] : unicastPeers }
}
