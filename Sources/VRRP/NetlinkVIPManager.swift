import NetCore
import Netlink
import NetlinkCodec

/// A `virtual_routes` entry: a route plus the device it names (resolved when applied).
public struct VirtualRoute: Hashable, Sendable, CustomStringConvertible {
    public var spec: RouteSpec
    public var device: String?

    public init(spec: RouteSpec, device: String? = nil) {
        self.spec = spec
        self.device = device
    }

    public var description: String { spec.description + (device.map { " dev \($0)" } ?? "") }
}

extension VIPManager {
    /// virtual_routes: added on entering MASTER, after the VIPs.
    public func addRoutes(_ routes: [VirtualRoute]) async throws {
        if !routes.isEmpty { throw VIPManagerUnsupported(what: "virtual_routes") }
    }
    public func removeRoutes(_ routes: [VirtualRoute]) async throws {
        if !routes.isEmpty { throw VIPManagerUnsupported(what: "virtual_routes") }
    }
    /// virtual_rules: added on entering MASTER, after the routes.
    public func addRules(_ rules: [RuleSpec]) async throws {
        if !rules.isEmpty { throw VIPManagerUnsupported(what: "virtual_rules") }
    }
    public func removeRules(_ rules: [RuleSpec]) async throws {
        if !rules.isEmpty { throw VIPManagerUnsupported(what: "virtual_rules") }
    }
}

/// A backend that cannot do routes or rules says so instead of ignoring them.
public struct VIPManagerUnsupported: Error, CustomStringConvertible {
    public var what: String
    public var description: String { "this VIP manager cannot apply \(what)" }
}

/// A device name that does not exist in the namespace.
public struct UnknownDevice: Error, CustomStringConvertible {
    public var name: String
    public var description: String { "no interface named \(name)" }
}

/// The daemon's `VIPManager`: VIPs, virtual_routes and virtual_rules over rtnetlink (the
/// `Netlink` module's `RTNetlink`), in the namespace it was created for.
///
/// Adding something already present and removing something already gone are not errors,
/// so a restart after a crash (VIPs left behind) converges.
public final class NetlinkVIPManager: VIPManager {
    private let rt: RTNetlink

    public init(namespace: String? = nil) throws {
        if let namespace {
            rt = try withNetworkNamespace(namespace) { try RTNetlink() }
        } else {
            rt = try RTNetlink()
        }
    }

    private func index(_ device: String) throws -> Int32 {
        guard let i = try rt.interface(named: device)?.index else { throw UnknownDevice(name: device) }
        return i
    }

    func address(_ v: VirtualIP) throws -> InterfaceAddress {
        let scope: AddressScope =
            switch v.scope {
            case nil, .global: .global
            case .site: .site
            case .link: .link
            case .host: .host
            case .nowhere: .nowhere
            }
        return InterfaceAddress(
            interfaceIndex: try index(v.device), prefix: v.prefix, label: v.label, scope: scope, broadcast: v.broadcast,
            flags: v.address.family == .inet6 ? [.noDAD] : [])
    }

    public func add(_ vips: [VirtualIP]) async throws {
        for v in vips {
            do { try rt.addAddress(try address(v)) } catch let e as NetlinkError where e.code == .exists {}
        }
    }

    public func remove(_ vips: [VirtualIP]) async throws {
        for v in vips {
            do { try rt.deleteAddress(try address(v)) } catch let e as NetlinkError where e.code == .addressNotAvailable {}
        }
    }

    private func resolved(_ r: VirtualRoute) throws -> RouteSpec {
        var s = r.spec
        if let d = r.device { s.interfaceIndex = try index(d) }
        return s
    }

    public func addRoutes(_ routes: [VirtualRoute]) async throws {
        for r in routes {
            do { try rt.addRoute(try resolved(r)) } catch let e as NetlinkError where e.code == .exists {}
        }
    }

    public func removeRoutes(_ routes: [VirtualRoute]) async throws {
        for r in routes {
            do { try rt.deleteRoute(try resolved(r)) } catch let e as NetlinkError where e.code == .noSuchProcess {}
        }
    }

    public func addRules(_ rules: [RuleSpec]) async throws {
        for r in rules {
            do { try rt.addRule(r) } catch let e as NetlinkError where e.code == .exists {}
        }
    }

    public func removeRules(_ rules: [RuleSpec]) async throws {
        for r in rules {
            do { try rt.deleteRule(r) } catch let e as NetlinkError where e.code == .notFound {}
        }
    }
}
