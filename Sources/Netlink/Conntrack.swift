import NetCore
import NetlinkCodec
import SysCore

/// Reads the connection-tracking table over ctnetlink (`NETLINK_NETFILTER`), as `conntrack -L`
/// does, without the conntrack tool.
///
/// The socket lives in the network namespace of the thread that called `init` (see
/// `withNetworkNamespace`). A dump of a few thousand entries takes milliseconds; a kernel that
/// stays silent for 5 s fails the call with `SystemError` EAGAIN.
public final class ConntrackNetlink: Sendable {
    private let client: NetlinkClient

    /// Opens the socket. Fails with `SystemError` EPROTONOSUPPORT when the kernel has no nfnetlink.
    public init() throws(SystemError) {
        client = try NetlinkClient(protocol: Conntrack.netlinkProtocol)
    }

    /// The conntrack entries of `family` (nil: both), in the kernel's hash order.
    /// - Throws: `NetlinkError` (e.g. `.notSupported` without the nf_conntrack_netlink module),
    ///   `NetlinkDecodingError` naming a malformed attribute, or `SystemError`.
    /// With `filter`, kernels since 5.10 (mark: 3.x) send only the matching entries; older ones
    /// send all, so callers match the entries themselves too.
    public func entries(family: AddressFamily?, filter: ConntrackDumpFilter? = nil) throws -> [ConntrackEntry] {
        let name = "IPCTNL_MSG_CT_GET dump" + (family.map { " \($0)" } ?? "") + (filter.map { " \($0)" } ?? "")
        return try client.request(Conntrack.dumpRequest(family: family, filter: filter), name: name)
            .filter { $0.type == Conntrack.messageType(Conntrack.messageNew) }
            .map { m throws(NetlinkDecodingError) in try Conntrack.decode(m) }
    }
}
