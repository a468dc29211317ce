import CVigilShims
import Foundation
import NetCore
import SysCore

#if canImport(Glibc)
import Glibc
#endif

/// One received VRRP packet with the IP facts the checks need.
public struct ReceivedPacket: Sendable {
    public var payload: [UInt8]
    public var source: IPAddress
    public var destination: IPAddress
    /// TTL / hop limit; -1 when unknown.
    public var ttl: Int
}

private func setOption<T>(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: T, _ call: String, _ ifname: String) throws(SystemError) {
    var v = value
    _ = try retryingSyscall("setsockopt(\(call))", context: ifname) {
        setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<T>.size))
    }
}

func sockaddr4(_ a: IPv4Address) -> sockaddr_in {
    var s = sockaddr_in()
    s.sin_family = sa_family_t(AF_INET)
    s.sin_addr.s_addr = a.value.bigEndian
    return s
}

func in6(_ a: IPv6Address) -> in6_addr {
    var r = in6_addr()
    let b = a.bytes
    withUnsafeMutableBytes(of: &r) { for i in 0..<16 { $0[i] = b[i] } }
    return r
}

func sockaddr6(_ a: IPv6Address, scope: UInt32) -> sockaddr_in6 {
    var s = sockaddr_in6()
    s.sin6_family = sa_family_t(AF_INET6)
    s.sin6_addr = in6(a)
    s.sin6_scope_id = a.isLinkLocal || a.isMulticast ? scope : 0
    return s
}

func withSockaddr<R>(_ addr: IPAddress, scope: UInt32, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    switch addr {
    case .v4(let a):
        var s = sockaddr4(a)
        return withUnsafePointer(to: &s) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    case .v6(let a):
        var s = sockaddr6(a, scope: scope)
        return withUnsafePointer(to: &s) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
    }
}

/// Facts about a network interface, read in the caller's network namespace.
public struct LinkFacts: Sendable, Hashable {
    public var name: String
    public var index: UInt32
    public var mac: MACAddress?
    public var ipv4: [IPv4Address]
    public var ipv6LinkLocal: [IPv6Address]

    /// Reads index, MAC and addresses of `name` (`if_nametoindex`, `SIOCGIFHWADDR`, `getifaddrs`).
    public static func read(_ name: String) throws(SystemError) -> LinkFacts {
        let index = if_nametoindex(name)
        if index == 0 { throw SystemError.last("if_nametoindex", context: name) }
        var raw = [UInt8](repeating: 0, count: 6)
        let mac = vigil_if_hwaddr(name, &raw) == 0 ? MACAddress(bytes: raw) : nil
        var v4: [IPv4Address] = []
        var v6: [IPv6Address] = []
        var list: UnsafeMutablePointer<ifaddrs>?
        if getifaddrs(&list) == 0 {
            var p = list
            while let e = p {
                defer { p = e.pointee.ifa_next }
                guard let sa = e.pointee.ifa_addr, String(cString: e.pointee.ifa_name) == name else { continue }
                if Int32(sa.pointee.sa_family) == AF_INET {
                    sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4.append(IPv4Address(UInt32(bigEndian: $0.pointee.sin_addr.s_addr))) }
                } else if Int32(sa.pointee.sa_family) == AF_INET6 {
                    sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                        let a = withUnsafeBytes(of: $0.pointee.sin6_addr) { IPv6Address(bytes: $0)! }
                        if a.isLinkLocal { v6.append(a) }
                    }
                }
            }
            freeifaddrs(list)
        }
        return LinkFacts(name: name, index: index, mac: mac, ipv4: v4, ipv6LinkLocal: v6)
    }
}

/// The raw VRRP sockets (IP protocol 112) of one interface and family: one for receiving
/// (bound to the device, member of the multicast group) and one for sending (bound to the
/// advert source). Owned by exactly one `VRRPService`; nobody else sees the descriptors.
final class InterfaceSockets: @unchecked Sendable {
    let interface: LinkFacts
    let family: AddressFamily
    let receiveFD: Int32
    /// One send socket per source address (mcast_src_ip / unicast_src_ip may differ per instance).
    private var sendFDs: [IPAddress: Int32] = [:]
    /// For GARP (AF_PACKET) and unsolicited NA (ICMPv6).
    private var arpFD: Int32 = -1
    private var ndFD: Int32 = -1
    /// A plain socket for SIOCGIFFLAGS polls in the right namespace.
    private var ioctlFD: Int32 = -1
    private let lock = NSLock()
    private var closed = false
    private var joined: Set<IPAddress> = []

    /// Opens the receive socket and joins `groups`.
    ///
    /// The corresponding calls are `socket(AF_INET[6], SOCK_RAW, 112)`,
    /// `setsockopt(SOL_SOCKET, SO_BINDTODEVICE)`, `IP_ADD_MEMBERSHIP` / `IPV6_JOIN_GROUP`,
    /// `IP_RECVTTL` / `IPV6_RECVHOPLIMIT` + `IPV6_RECVPKTINFO`.
    init(interface: LinkFacts, family: AddressFamily, groups: [IPAddress]) throws(SystemError) {
        self.interface = interface
        self.family = family
        let domain = family == .inet ? AF_INET : AF_INET6
        let fd = try retryingSyscall("socket(\(family == .inet ? "AF_INET" : "AF_INET6"), SOCK_RAW, 112)", context: interface.name) {
            socket(domain, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 112)
        }
        receiveFD = fd
        do {
            try Self.bindToDevice(fd, interface.name)
            if family == .inet {
                try setOption(fd, Int32(IPPROTO_IP), IP_RECVTTL, Int32(1), "IP_RECVTTL", interface.name)
                for g in groups { try join(g) }
            } else {
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_RECVHOPLIMIT, Int32(1), "IPV6_RECVHOPLIMIT", interface.name)
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_RECVPKTINFO, Int32(1), "IPV6_RECVPKTINFO", interface.name)
                for g in groups { try join(g) }
            }
            ioctlFD = socket(domain, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { closeAll() }

    /// Joins multicast group `g` on the receive socket (once; non-multicast addresses and the
    /// other family are ignored): `IP_ADD_MEMBERSHIP` / `IPV6_JOIN_GROUP`.
    func join(_ g: IPAddress) throws(SystemError) {
        guard lock.withLock({ joined.insert(g).inserted }) else { return }
        switch g {
        case .v4(let a):
            guard family == .inet, a.isMulticast else { return }
            var m = ip_mreqn()
            m.imr_multiaddr.s_addr = a.value.bigEndian
            m.imr_ifindex = Int32(interface.index)
            try setOption(receiveFD, Int32(IPPROTO_IP), IP_ADD_MEMBERSHIP, m, "IP_ADD_MEMBERSHIP \(a)", interface.name)
        case .v6(let a):
            guard family == .inet6, a.isMulticast else { return }
            var m = ipv6_mreq()
            m.ipv6mr_multiaddr = in6(a)
            m.ipv6mr_interface = interface.index
            try setOption(receiveFD, Int32(IPPROTO_IPV6), IPV6_ADD_MEMBERSHIP, m, "IPV6_JOIN_GROUP \(a)", interface.name)
        }
    }

    static func bindToDevice(_ fd: Int32, _ name: String) throws(SystemError) {
        _ = try retryingSyscall("setsockopt(SO_BINDTODEVICE)", context: name) {
            name.withCString { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(strlen($0) + 1)) }
        }
    }

    /// Opens (once) the send socket for `source`: TTL / hop limit 255, multicast loop off,
    /// multicast interface set, bound to the device and to `source`.
    func prepareSender(source: IPAddress) throws(SystemError) {
        if lock.withLock({ sendFDs[source] != nil }) { return }
        let name = interface.name
        let fd = try retryingSyscall("socket(SOCK_RAW, 112) for sending", context: name) {
            socket(family == .inet ? AF_INET : AF_INET6, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 112)
        }
        do {
            try Self.bindToDevice(fd, name)
            if family == .inet {
                try setOption(fd, Int32(IPPROTO_IP), IP_MULTICAST_TTL, Int32(255), "IP_MULTICAST_TTL", name)
                try setOption(fd, Int32(IPPROTO_IP), IP_TTL, Int32(255), "IP_TTL", name)
                try setOption(fd, Int32(IPPROTO_IP), IP_MULTICAST_LOOP, Int32(0), "IP_MULTICAST_LOOP", name)
                var m = ip_mreqn()
                m.imr_ifindex = Int32(interface.index)
                try setOption(fd, Int32(IPPROTO_IP), IP_MULTICAST_IF, m, "IP_MULTICAST_IF", name)
            } else {
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_HOPS, Int32(255), "IPV6_MULTICAST_HOPS", name)
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_UNICAST_HOPS, Int32(255), "IPV6_UNICAST_HOPS", name)
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_LOOP, UInt32(0), "IPV6_MULTICAST_LOOP", name)
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_IF, UInt32(interface.index), "IPV6_MULTICAST_IF", name)
            }
            _ = try retryingSyscall("bind(\(source))", context: name) {
                withSockaddr(source, scope: interface.index) { bind(fd, $0, $1) }
            }
        } catch {
            close(fd)
            throw error
        }
        lock.withLock { sendFDs[source] = fd }
    }

    /// Sends one VRRP packet (the kernel adds the IP header).
    func send(_ bytes: [UInt8], from source: IPAddress, to destination: IPAddress) throws(SystemError) {
        try prepareSender(source: source)
        guard let fd = lock.withLock({ sendFDs[source] }) else { return }
        _ = try retryingSyscall("sendto(\(destination))", context: interface.name) {
            withSockaddr(destination, scope: interface.index) { sa, len in bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, len) } }
        }
    }

    /// Waits up to `timeoutMs` for one packet. Returns nil on timeout.
    func receive(timeoutMs: Int32) throws(SystemError) -> ReceivedPacket? {
        var pfd = pollfd(fd: receiveFD, events: Int16(POLLIN), revents: 0)
        let r = poll(&pfd, 1, timeoutMs)
        if r < 0 {
            if errno == EINTR { return nil }
            throw SystemError.last("poll", context: interface.name)
        }
        if r == 0 { return nil }
        var buf = [UInt8](repeating: 0, count: 2048)
        if family == .inet {
            var from = sockaddr_in()
            var ttl: Int32 = -1
            let n = vigil_recv4(receiveFD, &buf, buf.count, &from, &ttl)
            if n < 0 { throw SystemError.last("recvmsg", context: interface.name) }
            let b = buf.prefix(n)
            guard n >= 20 else { return nil }
            let ihl = Int(b[0] & 0x0f) * 4
            let total = Int(b[2]) << 8 | Int(b[3])
            guard ihl >= 20, n >= ihl else { return nil }
            let src = IPAddress(bytes: b[12..<16], family: .inet)!
            let dst = IPAddress(bytes: b[16..<20], family: .inet)!
            let end = min(n, max(ihl, total))
            return ReceivedPacket(payload: Array(b[ihl..<end]), source: src, destination: dst, ttl: ttl >= 0 ? Int(ttl) : Int(b[8]))
        } else {
            var from = sockaddr_in6()
            var dst = in6_addr()
            var hops: Int32 = -1
            let n = vigil_recv6(receiveFD, &buf, buf.count, &from, &dst, &hops)
            if n < 0 { throw SystemError.last("recvmsg", context: interface.name) }
            let src = withUnsafeBytes(of: from.sin6_addr) { IPAddress(bytes: $0, family: .inet6)! }
            let d = withUnsafeBytes(of: dst) { IPAddress(bytes: $0, family: .inet6)! }
            return ReceivedPacket(payload: Array(buf.prefix(n)), source: src, destination: d, ttl: Int(hops))
        }
    }

    /// Whether the interface is administratively and operationally up (`SIOCGIFFLAGS`).
    func linkIsUp(_ name: String) -> Bool? {
        let flags = name.withCString { vigil_if_flags(ioctlFD, $0) }
        if flags < 0 { return nil }
        return flags & Int32(IFF_UP) != 0 && flags & Int32(IFF_RUNNING) != 0
    }

    /// Opens the GARP / NA sockets; called once, in the right namespace.
    func prepareGratuitous() throws(SystemError) {
        let name = interface.name
        if family == .inet {
            let fd = try retryingSyscall("socket(AF_PACKET, SOCK_RAW, ETH_P_ARP)", context: name) {
                socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(UInt16(0x0806).bigEndian))
            }
            lock.withLock { arpFD = fd }
        } else {
            let fd = try retryingSyscall("socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)", context: name) {
                socket(AF_INET6, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_ICMPV6))
            }
            try Self.bindToDevice(fd, name)
            try setOption(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_HOPS, Int32(255), "IPV6_MULTICAST_HOPS", name)
            try setOption(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_IF, UInt32(interface.index), "IPV6_MULTICAST_IF", name)
            lock.withLock { ndFD = fd }
        }
    }

    /// Sends one gratuitous ARP (IPv4) or unsolicited neighbour advertisement (IPv6) for `vip`.
    func sendGratuitous(for vip: IPAddress) throws(SystemError) {
        guard let mac = interface.mac?.bytes else { return }
        switch vip {
        case .v4(let a):
            let frame = GratuitousPackets.arp(mac: mac, address: a)
            var ll = sockaddr_ll()
            ll.sll_family = UInt16(AF_PACKET)
            ll.sll_protocol = UInt16(0x0806).bigEndian
            ll.sll_ifindex = Int32(interface.index)
            ll.sll_halen = 6
            withUnsafeMutableBytes(of: &ll.sll_addr) { for i in 0..<6 { $0[i] = 0xff } }
            let fd = lock.withLock { arpFD }
            _ = try retryingSyscall("sendto(AF_PACKET ARP \(a))", context: interface.name) {
                withUnsafePointer(to: &ll) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                        frame.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, socklen_t(MemoryLayout<sockaddr_ll>.size)) }
                    }
                }
            }
        case .v6(let a):
            let msg = GratuitousPackets.neighbourAdvert(mac: mac, target: a)
            let fd = lock.withLock { ndFD }
            let allNodes = IPAddress("ff02::1")!
            _ = try retryingSyscall("sendto(ICMPv6 NA \(a))", context: interface.name) {
                withSockaddr(allNodes, scope: interface.index) { sa, len in msg.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, len) } }
            }
        }
    }

    func closeAll() {
        let fds: [Int32] = lock.withLock {
            guard !closed else { return [] }
            closed = true
            return [receiveFD, arpFD, ndFD, ioctlFD] + Array(sendFDs.values)
        }
        for fd in fds where fd >= 0 { close(fd) }
    }
}

/// Frame builders for gratuitous ARP and unsolicited NA (pure, tested byte by byte).
public enum GratuitousPackets {
    /// Ethernet broadcast ARP request announcing `address` at `mac` (RFC 5227 §3 style:
    /// sender and target protocol address both the VIP).
    public static func arp(mac: [UInt8], address: IPv4Address) -> [UInt8] {
        var f: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] + mac + [0x08, 0x06]
        f += [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]
        f += mac + address.bytes
        f += [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] + address.bytes
        return f
    }

    /// ICMPv6 Neighbor Advertisement (RFC 4861 §4.4) with the Override flag and a target
    /// link-layer address option; the kernel fills in the checksum.
    public static func neighbourAdvert(mac: [UInt8], target: IPv6Address) -> [UInt8] {
        var m: [UInt8] = [136, 0, 0, 0, 0x20, 0, 0, 0]
        m += target.bytes
        m += [2, 1] + mac
        return m
    }
}

extension LinkFacts {
    /// The default advert source when neither `mcast_src_ip` nor `unicast_src_ip` is set:
    /// the interface's first IPv4 address, or its first IPv6 link-local address (keepalived's
    /// rule). Reads the interface in `namespace` (nil = current).
    public static func primaryAddress(of interface: String, family: AddressFamily, namespace: String? = nil) throws -> IPAddress? {
        let facts = try inNetworkNamespace(namespace) { try LinkFacts.read(interface) }
        switch family {
        case .inet: return facts.ipv4.first.map(IPAddress.v4)
        case .inet6: return facts.ipv6LinkLocal.first.map(IPAddress.v6)
        }
    }
}
