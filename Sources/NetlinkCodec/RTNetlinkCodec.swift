import NetCore

/// Builds rtnetlink requests and decodes rtnetlink replies and events.
///
/// Requests carry the same header fields and attributes, in the same order, as iproute2's `ip`
/// sends for the equivalent command, so they can be compared byte for byte with
/// `strace -e trace=sendmsg -e write=3 ip ...`. `sequence` is filled in by the socket layer.
public enum RTNetlinkCodec {
    static let infinity: UInt32 = 0xffff_ffff

    // MARK: Requests

    /// `RTM_GETLINK` dump of all interfaces (without statistics).
    public static func dumpLinksRequest() -> NetlinkMessage {
        var w = ByteWriter()
        appendIfinfomsg(&w, index: 0)
        w.attributeHost(IFLA.extMask, UInt32(1 << 3))  // RTEXT_FILTER_SKIP_STATS
        return NetlinkMessage(type: RTM.getLink, flags: [.request, .dump], payload: w.bytes)
    }

    /// `RTM_GETLINK` for one interface by name (as `ip link show dev NAME` asks).
    public static func getLinkRequest(name: String) -> NetlinkMessage {
        var w = ByteWriter()
        appendIfinfomsg(&w, index: 0)
        w.attributeHost(IFLA.extMask, UInt32(1 | 1 << 3))  // RTEXT_FILTER_VF | SKIP_STATS
        w.attributeString(IFLA.ifname, name)
        return NetlinkMessage(type: RTM.getLink, flags: [.request, .ack], payload: w.bytes)
    }

    /// `RTM_GETADDR` dump; `family` nil asks for all families.
    public static func dumpAddressesRequest(family: AddressFamily?) -> NetlinkMessage {
        var w = ByteWriter()
        w.append(UInt8(family?.rawValue ?? 0))
        w.append(contentsOf: [0, 0, 0])
        w.appendHost(UInt32(0))
        return NetlinkMessage(type: RTM.getAddr, flags: [.request, .dump], payload: w.bytes)
    }

    /// `RTM_NEWADDR` with `NLM_F_CREATE|NLM_F_EXCL` (`ip addr add`), or `RTM_DELADDR` (`ip addr del`).
    ///
    /// Flags that fit in 8 bits go in `ifa_flags`; larger sets go in `IFA_FLAGS` instead, as
    /// iproute2 does. Lifetimes become `IFA_CACHEINFO` (the missing one is forever).
    public static func addressRequest(_ a: InterfaceAddress, delete: Bool) -> NetlinkMessage {
        var w = ByteWriter()
        let fam = a.prefix.address.family
        w.append(UInt8(fam.rawValue))
        w.append(UInt8(a.prefix.length))
        let headerFlags = !delete && a.flags.rawValue <= 0xff ? UInt8(a.flags.rawValue) : 0
        w.append(headerFlags)
        w.append(delete ? 0 : a.scope.rawValue)
        w.appendHost(UInt32(bitPattern: a.interfaceIndex))
        w.attribute(IFA.local, a.prefix.address.bytes)
        if !delete {
            if fam == .inet, let label = a.label { w.attributeString(IFA.label, label) }
            if let b = a.broadcast { w.attribute(IFA.broadcast, b.bytes) }
            if a.flags.rawValue > 0xff { w.attributeHost(IFA.flags, a.flags.rawValue) }
        }
        w.attribute(IFA.address, (a.peer ?? a.prefix.address).bytes)
        if !delete, a.preferredLifetime != nil || a.validLifetime != nil {
            var c = ByteWriter()
            c.appendHost(a.preferredLifetime ?? infinity)
            c.appendHost(a.validLifetime ?? infinity)
            c.appendHost(UInt32(0))
            c.appendHost(UInt32(0))
            w.attribute(IFA.cacheinfo, c.bytes)
        }
        return NetlinkMessage(
            type: delete ? RTM.delAddr : RTM.newAddr,
            flags: delete ? [.request, .ack] : [.request, .ack, .exclusive, .create], payload: w.bytes)
    }

    /// `RTM_NEWROUTE` with `NLM_F_CREATE|NLM_F_EXCL` (`ip route add`) or `RTM_DELROUTE`.
    public static func routeRequest(_ r: RouteSpec, delete: Bool) -> NetlinkMessage {
        var w = ByteWriter()
        let fam = r.destination.address.family
        w.append(UInt8(fam.rawValue))
        w.append(UInt8(r.destination.length))
        w.append(0)  // src_len
        w.append(0)  // tos
        w.append(r.table < 256 ? UInt8(r.table) : 0)
        w.append(delete ? 0 : r.routeProtocol)
        w.append((r.scope ?? defaultScope(r, delete: delete)).rawValue)
        w.append(delete && r.type == .unicast ? 0 : r.type.rawValue)
        w.appendHost(UInt32(r.onLink ? 4 : 0))  // rtm_flags: RTNH_F_ONLINK
        if r.destination.length > 0 { w.attribute(RTA.dst, r.destination.network.bytes) }
        if let g = r.gateway { w.attribute(RTA.gateway, g.bytes) }
        if let s = r.source { w.attribute(RTA.prefsrc, s.bytes) }
        if r.table >= 256 { w.attributeHost(RTA.table, r.table) }
        if let m = r.metric { w.attributeHost(RTA.priority, m) }
        if let i = r.interfaceIndex { w.attributeHost(RTA.oif, UInt32(bitPattern: i)) }
        return NetlinkMessage(
            type: delete ? RTM.delRoute : RTM.newRoute,
            flags: delete ? [.request, .ack] : [.request, .ack, .exclusive, .create], payload: w.bytes)
    }

    static func defaultScope(_ r: RouteSpec, delete: Bool) -> AddressScope {
        if delete { return .nowhere }
        if r.destination.address.family == .inet6 { return .global }
        switch r.type {
        case .local: return .host
        case .broadcast, .multicast, .anycast: return .link
        case .unicast: return r.gateway == nil ? .link : .global
        default: return .global
        }
    }

    /// `RTM_NEWRULE` with `NLM_F_CREATE|NLM_F_EXCL` (`ip rule add`) or `RTM_DELRULE`.
    public static func ruleRequest(_ r: RuleSpec, delete: Bool) -> NetlinkMessage {
        var w = ByteWriter()
        w.append(UInt8(r.family.rawValue))
        w.append(UInt8(r.to?.length ?? 0))
        w.append(UInt8(r.from?.length ?? 0))
        w.append(0)  // tos
        w.append(r.action == .lookupTable && r.table < 256 ? UInt8(r.table) : 0)
        w.append(0)
        w.append(0)
        // iproute2 leaves the action unset when deleting a table rule; the kernel then matches any.
        w.append(delete && r.action == .lookupTable ? 0 : r.action.rawValue)
        w.appendHost(UInt32(0))  // flags
        if let f = r.from { w.attribute(FRA.src, f.network.bytes) }
        if let t = r.to { w.attribute(FRA.dst, t.network.bytes) }
        if r.action == .lookupTable, r.table >= 256 { w.attributeHost(FRA.table, r.table) }
        if let p = r.priority { w.attributeHost(FRA.priority, p) }
        if let m = r.fwmark { w.attributeHost(FRA.fwmark, m) }
        if let m = r.fwmask { w.attributeHost(FRA.fwmask, m) }
        if let i = r.inputInterface { w.attributeString(FRA.iifname, i) }
        if let o = r.outputInterface { w.attributeString(FRA.oifname, o) }
        return NetlinkMessage(
            type: delete ? RTM.delRule : RTM.newRule,
            flags: delete ? [.request, .ack] : [.request, .ack, .exclusive, .create], payload: w.bytes)
    }

    private static func appendIfinfomsg(_ w: inout ByteWriter, index: Int32) {
        w.append(0)  // AF_UNSPEC
        w.append(0)
        w.appendHost(UInt16(0))  // ifi_type
        w.appendHost(index)
        w.appendHost(UInt32(0))  // flags
        w.appendHost(UInt32(0))  // change
    }

    // MARK: Replies and events

    /// Decodes an `RTM_NEWLINK` / `RTM_DELLINK` payload.
    public static func decodeLink(_ m: NetlinkMessage) throws(NetlinkDecodingError) -> InterfaceInfo {
        let name = RTM.name(m.type)
        let p = m.payload[...]
        guard p.count >= 16 else {
            throw NetlinkDecodingError(.truncated, "\(name): ifinfomsg needs 16 bytes, got \(p.count)")
        }
        let index = ByteLoad.host(Int32.self, p, at: 4)!
        let flags = ByteLoad.host(UInt32.self, p, at: 8)!
        let r = try AttributeReader(parsing: Array(p.dropFirst(16)), context: "\(name) index \(index)")
        let ifname = try r.required(r.string(IFLA.ifname), "IFLA_IFNAME")
        var kind: String?
        if let li = try r.nested(IFLA.linkinfo, "IFLA_LINKINFO") { kind = li.string(IFLA.infoKind) }
        let mtu = try r.u32(IFLA.mtu, "IFLA_MTU")
        return InterfaceInfo(
            index: index, name: ifname, mac: r.first(IFLA.address).flatMap { MACAddress(bytes: $0.payload) },
            isUp: flags & 0x1 != 0, isRunning: flags & (0x40 | 0x10000) != 0,
            mtu: Int(mtu ?? 0), kind: kind, flags: flags)
    }

    /// Decodes an `RTM_NEWADDR` / `RTM_DELADDR` payload.
    public static func decodeAddress(_ m: NetlinkMessage) throws(NetlinkDecodingError) -> InterfaceAddress {
        let name = RTM.name(m.type)
        let p = m.payload[...]
        guard p.count >= 8 else {
            throw NetlinkDecodingError(.truncated, "\(name): ifaddrmsg needs 8 bytes, got \(p.count)")
        }
        let famRaw = UInt16(p[p.startIndex])
        guard let fam = AddressFamily(rawValue: famRaw) else {
            throw NetlinkDecodingError(.unexpectedMessage, "\(name): address family \(famRaw) is neither AF_INET nor AF_INET6")
        }
        let prefixLen = Int(p[p.startIndex + 1])
        let headerFlags = UInt32(p[p.startIndex + 2])
        let scopeRaw = p[p.startIndex + 3]
        let index = Int32(bitPattern: ByteLoad.host(UInt32.self, p, at: 4)!)
        let width = fam == .inet ? 4 : 16
        guard prefixLen <= width * 8 else {
            throw NetlinkDecodingError(.badAttribute, "\(name) index \(index): prefix length \(prefixLen) too long for \(fam)")
        }
        let r = try AttributeReader(parsing: Array(p.dropFirst(8)), context: "\(name) index \(index)")
        let addr = try r.bytes(IFA.address, "IFA_ADDRESS", exactly: width).flatMap { IPAddress(bytes: $0, family: fam) }
        let local = try r.bytes(IFA.local, "IFA_LOCAL", exactly: width).flatMap { IPAddress(bytes: $0, family: fam) }
        let mine = try r.required(local ?? addr, "IFA_LOCAL or IFA_ADDRESS")
        let peer = local != nil && addr != nil && addr != local ? addr : nil
        let bcast = try r.bytes(IFA.broadcast, "IFA_BROADCAST", exactly: 4).flatMap { IPv4Address(bytes: $0) }
        let flags = try r.u32(IFA.flags, "IFA_FLAGS") ?? headerFlags
        var preferred: UInt32?
        var valid: UInt32?
        if let ci = r.first(IFA.cacheinfo) {
            guard ci.payload.count >= 8 else {
                throw NetlinkDecodingError(.badAttribute, "IFA_CACHEINFO in \(name) index \(index): \(ci.payload.count) bytes, expected 16")
            }
            let pr = ByteLoad.host(UInt32.self, ci.payload[...], at: 0)!
            let va = ByteLoad.host(UInt32.self, ci.payload[...], at: 4)!
            preferred = pr == infinity ? nil : pr
            valid = va == infinity ? nil : va
        }
        return InterfaceAddress(
            interfaceIndex: index, prefix: IPPrefix(address: mine, length: prefixLen), label: r.string(IFA.label),
            scope: AddressScope(rawValue: scopeRaw) ?? .global, broadcast: bcast, peer: peer,
            flags: AddressFlags(rawValue: flags), preferredLifetime: preferred, validLifetime: valid)
    }

    /// `RTM_GETROUTE` dump (`ip route show table all`); filter the result by table yourself.
    public static func dumpRoutesRequest(family: AddressFamily?) -> NetlinkMessage {
        var w = ByteWriter()
        w.append(UInt8(family?.rawValue ?? 0))
        w.append(contentsOf: [UInt8](repeating: 0, count: 11))
        return NetlinkMessage(type: RTM.getRoute, flags: [.request, .dump], payload: w.bytes)
    }

    /// `RTM_GETRULE` dump (`ip rule show`).
    public static func dumpRulesRequest(family: AddressFamily?) -> NetlinkMessage {
        var w = ByteWriter()
        w.append(UInt8(family?.rawValue ?? 0))
        w.append(contentsOf: [UInt8](repeating: 0, count: 11))
        return NetlinkMessage(type: RTM.getRule, flags: [.request, .dump], payload: w.bytes)
    }

    /// Decodes an `RTM_NEWROUTE` payload. Nil for families other than IPv4/IPv6 (e.g. multicast
    /// routing tables share the dump).
    public static func decodeRoute(_ m: NetlinkMessage) throws(NetlinkDecodingError) -> RouteSpec? {
        let name = RTM.name(m.type)
        let p = m.payload[...]
        guard p.count >= 12 else { throw NetlinkDecodingError(.truncated, "\(name): rtmsg needs 12 bytes, got \(p.count)") }
        guard let fam = AddressFamily(rawValue: UInt16(p[p.startIndex])) else { return nil }
        let dstLen = Int(p[p.startIndex + 1])
        let width = fam == .inet ? 4 : 16
        guard dstLen <= width * 8 else { throw NetlinkDecodingError(.badAttribute, "\(name): prefix length \(dstLen) too long for \(fam)") }
        let r = try AttributeReader(parsing: Array(p.dropFirst(12)), context: name)
        func addr(_ t: UInt16, _ n: String) throws(NetlinkDecodingError) -> IPAddress? {
            try r.bytes(t, n, exactly: width).flatMap { IPAddress(bytes: $0, family: fam) }
        }
        let dst = try addr(RTA.dst, "RTA_DST") ?? (fam == .inet ? .v4(IPv4Address(0)) : .v6(IPv6Address(high: 0, low: 0)))
        let typeRaw = p[p.startIndex + 7]
        guard let type = RouteType(rawValue: typeRaw) else { return nil }
        return RouteSpec(
            destination: IPPrefix(address: dst, length: dstLen), gateway: try addr(RTA.gateway, "RTA_GATEWAY"),
            interfaceIndex: try r.u32(RTA.oif, "RTA_OIF").map { Int32(bitPattern: $0) }, source: try addr(RTA.prefsrc, "RTA_PREFSRC"),
            table: try r.u32(RTA.table, "RTA_TABLE") ?? UInt32(p[p.startIndex + 4]), metric: try r.u32(RTA.priority, "RTA_PRIORITY"),
            scope: AddressScope(rawValue: p[p.startIndex + 6]), type: type, routeProtocol: p[p.startIndex + 5])
    }

    /// Decodes an `RTM_NEWRULE` payload. Nil for families other than IPv4/IPv6. The kernel omits
    /// FRA_PRIORITY for priority 0 (the local-table rule), so a missing one reads as 0.
    public static func decodeRule(_ m: NetlinkMessage) throws(NetlinkDecodingError) -> RuleSpec? {
        let name = RTM.name(m.type)
        let p = m.payload[...]
        guard p.count >= 12 else { throw NetlinkDecodingError(.truncated, "\(name): fib_rule_hdr needs 12 bytes, got \(p.count)") }
        guard let fam = AddressFamily(rawValue: UInt16(p[p.startIndex])) else { return nil }
        let width = fam == .inet ? 4 : 16
        let dstLen = Int(p[p.startIndex + 1])
        let srcLen = Int(p[p.startIndex + 2])
        guard dstLen <= width * 8, srcLen <= width * 8 else {
            throw NetlinkDecodingError(.badAttribute, "\(name): prefix length \(max(dstLen, srcLen)) too long for \(fam)")
        }
        let r = try AttributeReader(parsing: Array(p.dropFirst(12)), context: name)
        func prefix(_ t: UInt16, _ n: String, _ len: Int) throws(NetlinkDecodingError) -> IPPrefix? {
            try r.bytes(t, n, exactly: width).flatMap { IPAddress(bytes: $0, family: fam) }.map { IPPrefix(address: $0, length: len) }
        }
        return RuleSpec(
            family: fam, from: try prefix(FRA.src, "FRA_SRC", srcLen), to: try prefix(FRA.dst, "FRA_DST", dstLen),
            table: try r.u32(FRA.table, "FRA_TABLE") ?? UInt32(p[p.startIndex + 4]), priority: try r.u32(FRA.priority, "FRA_PRIORITY") ?? 0,
            fwmark: try r.u32(FRA.fwmark, "FRA_FWMARK"), fwmask: try r.u32(FRA.fwmask, "FRA_FWMASK"),
            inputInterface: r.string(FRA.iifname), outputInterface: r.string(FRA.oifname),
            action: RuleAction(rawValue: p[p.startIndex + 7]) ?? .lookupTable)
    }

    /// Turns a multicast message from a link/address group socket into an event; nil for
    /// message types the groups may carry but Vigil does not track.
    public static func decodeEvent(_ m: NetlinkMessage) throws(NetlinkDecodingError) -> LinkEvent? {
        switch m.type {
        case RTM.newLink: .linkChanged(try decodeLink(m))
        case RTM.delLink: .linkRemoved(try decodeLink(m))
        case RTM.newAddr: .addressAdded(try decodeAddress(m))
        case RTM.delAddr: .addressRemoved(try decodeAddress(m))
        default: nil
        }
    }
}
