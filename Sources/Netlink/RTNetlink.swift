import NetCore
import NetlinkCodec
import SysCore

/// rtnetlink requests (interfaces, addresses, routes, rules) over one `NETLINK_ROUTE` socket.
///
/// Thread-safe: requests are serialised on the socket and matched by sequence number. The
/// socket lives in the network namespace of the thread that called `init` (see
/// `withNetworkNamespace`). Every method is a blocking request/ACK round trip of well under a
/// millisecond; a kernel that stays silent for 5 s fails the call with `SystemError` EAGAIN.
///
/// Errors: `NetlinkError` carries the errno as `code` (`.exists` for `ip addr add` of an address
/// already there, `.addressNotAvailable` when deleting one that is not), the request spelled like
/// the `ip` command, and the kernel's extended-ack text.
public final class RTNetlink: Sendable {
    private let client: NetlinkClient

    public init() throws(SystemError) {
        client = try NetlinkClient(protocol: NetlinkConstants.route)
    }

    /// All interfaces (`ip link show`), in kernel (index) order.
    public func interfaces() throws -> [InterfaceInfo] {
        try client.request(RTNetlinkCodec.dumpLinksRequest(), name: "RTM_GETLINK dump")
            .filter { $0.type == RTM.newLink }
            .map { try RTNetlinkCodec.decodeLink($0) }
    }

    /// The interface called `name`, or nil when there is none (ENODEV).
    public func interface(named name: String) throws -> InterfaceInfo? {
        do {
            let replies = try client.request(RTNetlinkCodec.getLinkRequest(name: name), name: "RTM_GETLINK dev \(name)")
            return try replies.first { $0.type == RTM.newLink }.map { try RTNetlinkCodec.decodeLink($0) }
        } catch let e as NetlinkError where e.code == .noDevice {
            return nil
        }
    }

    /// The interface with `index`, or nil.
    public func interface(index: Int32) throws -> InterfaceInfo? {
        try interfaces().first { $0.index == index }
    }

    /// Addresses (`ip addr show`), optionally only of one interface and/or family.
    public func addresses(interfaceIndex: Int32? = nil, family: AddressFamily? = nil) throws -> [InterfaceAddress] {
        try client.request(RTNetlinkCodec.dumpAddressesRequest(family: family), name: "RTM_GETADDR dump")
            .filter { $0.type == RTM.newAddr }
            .map { try RTNetlinkCodec.decodeAddress($0) }
            .filter { a in
                (interfaceIndex == nil || a.interfaceIndex == interfaceIndex) && (family == nil || a.family == family)
            }
    }

    /// Routes of every table (`ip route show table all`), optionally only of `table`.
    /// Read-back routes carry what the kernel fills in (protocol, scope, `metric` 0 for IPv4
    /// routes added without one, 1024 for IPv6).
    public func routes(table: UInt32? = nil, family: AddressFamily? = nil) throws -> [RouteSpec] {
        try client.request(RTNetlinkCodec.dumpRoutesRequest(family: family), name: "RTM_GETROUTE dump")
            .filter { $0.type == RTM.newRoute }
            .compactMap { try RTNetlinkCodec.decodeRoute($0) }
            .filter { r in (table == nil || r.table == table) && (family == nil || r.destination.address.family == family) }
    }

    /// Policy-routing rules (`ip rule show`), kernel order.
    public func rules(family: AddressFamily? = nil) throws -> [RuleSpec] {
        try client.request(RTNetlinkCodec.dumpRulesRequest(family: family), name: "RTM_GETRULE dump")
            .filter { $0.type == RTM.newRule }
            .compactMap { try RTNetlinkCodec.decodeRule($0) }
            .filter { family == nil || $0.family == family }
    }

    /// `ip addr add` (NLM_F_CREATE|NLM_F_EXCL). An address already present fails with `.exists`.
    public func addAddress(_ address: InterfaceAddress) throws {
        try perform(RTNetlinkCodec.addressRequest(address, delete: false)) {
            "RTM_NEWADDR \(address) dev \(self.deviceName(address.interfaceIndex))"
        }
    }

    /// `ip addr del`. An address that is not there fails with `.addressNotAvailable`.
    public func deleteAddress(_ address: InterfaceAddress) throws {
        try perform(RTNetlinkCodec.addressRequest(address, delete: true)) {
            "RTM_DELADDR \(address) dev \(self.deviceName(address.interfaceIndex))"
        }
    }

    /// `ip route add` (NLM_F_CREATE|NLM_F_EXCL): an existing route fails with `.exists`.
    public func addRoute(_ route: RouteSpec) throws {
        try perform(RTNetlinkCodec.routeRequest(route, delete: false)) { "RTM_NEWROUTE \(self.routeText(route))" }
    }

    /// `ip route del`: a missing route fails with `.noSuchProcess` (ESRCH).
    public func deleteRoute(_ route: RouteSpec) throws {
        try perform(RTNetlinkCodec.routeRequest(route, delete: true)) { "RTM_DELROUTE \(self.routeText(route))" }
    }

    /// `ip rule add` (NLM_F_CREATE|NLM_F_EXCL): an identical rule fails with `.exists`.
    public func addRule(_ rule: RuleSpec) throws {
        try perform(RTNetlinkCodec.ruleRequest(rule, delete: false)) { "RTM_NEWRULE \(rule)" }
    }

    /// `ip rule del`: a missing rule fails with `.notFound` (ENOENT).
    public func deleteRule(_ rule: RuleSpec) throws {
        try perform(RTNetlinkCodec.ruleRequest(rule, delete: true)) { "RTM_DELRULE \(rule)" }
    }

    /// Sends a request and, on failure, names it with `describe` (called only then, because
    /// naming a device costs a dump).
    private func perform(_ message: NetlinkMessage, _ describe: () -> String) throws {
        do {
            _ = try client.request(message, name: RTM.name(message.type))
        } catch var e as NetlinkError {
            e.request = describe()
            throw e
        }
    }

    private func deviceName(_ index: Int32) -> String {
        (try? interface(index: index))?.name ?? "#\(index)"
    }

    private func routeText(_ r: RouteSpec) -> String {
        var spec = r
        spec.interfaceIndex = nil
        return spec.description + (r.interfaceIndex.map { " dev \(deviceName($0))" } ?? "")
    }
}
