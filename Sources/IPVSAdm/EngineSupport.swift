#if canImport(Glibc)
import Glibc
#endif
import DataPlane
import NetCore

// What an engine other than kernel IPVS needs to answer ipvsadm like the kernel does.

/// The pure model's existence errors are the kernel's (ipvs.md §3.1): a service or destination
/// that is already there is EEXIST, a missing service ESRCH, a missing destination ENOENT.
extension DataPlaneModelError: ErrnoCarrying {
    public var errno: Int32 {
        switch code {
        case .serviceExists, .destinationExists: EEXIST
        case .serviceNotFound: ESRCH
        case .destinationNotFound: ENOENT
        }
    }
}

/// An errno with more to say than ipvsadm's fixed text, for operations an engine has no
/// equivalent of (e.g. sync daemons on nftables). ipvsadm prints `<text> (<explanation>)`.
public protocol ErrnoExplaining: ErrnoCarrying {
    var explanation: String { get }
}

/// The kernel's argument checks (`ip_vs_ctl.c`), for engines that are not the kernel.
public enum KernelChecks {
    /// Schedulers the IPVS of Linux 6.x ships (an unknown name is ENOENT).
    public static let schedulers: Set<String> = [
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos", "none",
    ]
    public static let persistenceEngines: Set<String> = ["sip"]

    /// Throws the errno the kernel returns for a malformed change, before it looks for the
    /// service or destination: ENOENT (scheduler or persistence engine), EINVAL (netmask,
    /// address family, address not unicast, GUE without port), ERANGE (weight, thresholds).
    public static func check(_ change: DataPlaneChange) throws(KernelError) {
        switch change {
        case .addService(let svc), .editService(let svc):
            if !schedulers.contains(svc.scheduler) { throw KernelError(ENOENT) }
            if let pe = svc.persistenceEngine, !persistenceEngines.contains(pe) { throw KernelError(ENOENT) }
            let full = svc.key.family == .inet6 ? 128 : 32
            let low = svc.key.family == .inet6 ? 1 : 0
            if !(low...full).contains(svc.persistencePrefix) { throw KernelError(EINVAL) }
            for d in svc.destinations { try check(d, service: svc.key) }
        case .addDestination(let key, let d), .editDestination(let key, let d):
            try check(d, service: key)
        case .deleteService, .deleteDestination:
            break
        }
    }

    static func check(_ d: Destination, service: ServiceKey) throws(KernelError) {
        if d.address.address.family != service.family && d.forwarding != .tunnel { throw KernelError(EINVAL) }
        if d.weight < 0 { throw KernelError(ERANGE) }
        if d.lowerThreshold > d.upperThreshold { throw KernelError(ERANGE) }
        if let t = d.tunnel, t.kind == .gue, t.port == 0 { throw KernelError(EINVAL) }
        let a = d.address.address
        if a.isMulticast || a.isUnspecified || a == .v4(IPv4Address(UInt32.max)) { throw KernelError(EINVAL) }
    }
}
