import NetCore
import NetlinkCodec

/// A virtual address as configured in `virtual_ipaddress` (keepalived.conf(5) §2.9 syntax:
/// `IP[/MASK] [brd IP] [dev IF] [scope S] [label L]`).
public struct VirtualIP: Hashable, Sendable, CustomStringConvertible {
    public enum Scope: String, Hashable, Sendable { case global, site, link, host, nowhere }

    public var prefix: IPPrefix
    public var device: String
    public var label: String?
    public var scope: Scope?
    public var broadcast: IPv4Address?

    public init(prefix: IPPrefix, device: String, label: String? = nil, scope: Scope? = nil, broadcast: IPv4Address? = nil) {
        self.prefix = prefix
        self.device = device
        self.label = label
        self.scope = scope
        self.broadcast = broadcast
    }

    public var address: IPAddress { prefix.address }
    public var description: String { "\(prefix) dev \(device)" }
}

/// Adds and removes virtual addresses. The daemon's implementation uses rtnetlink; the
/// protocol is the seam that lets the runner be tested and lets the backend change.
public protocol VIPManager: Sendable {
    /// Adds each address; one that is already present is not an error.
    func add(_ vips: [VirtualIP]) async throws
    /// Removes each address; one that is already gone is not an error.
    func remove(_ vips: [VirtualIP]) async throws
    /// virtual_routes, added after the VIPs on entering MASTER. Default: unsupported.
    func addRoutes(_ routes: [VirtualRoute]) async throws
    func removeRoutes(_ routes: [VirtualRoute]) async throws
    /// virtual_rules, added after the routes. Default: unsupported.
    func addRules(_ rules: [RuleSpec]) async throws
    func removeRules(_ rules: [RuleSpec]) async throws
}
