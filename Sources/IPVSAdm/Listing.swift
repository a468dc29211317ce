#if canImport(Glibc)
import Glibc
#endif
import DataPlane
import NetCore

/// A service as ipvsadm's listing code sees it (`ipvs_service_entry_t`).
struct ServiceRow: Sendable {
    var af: Int32
    /// 0 for fwmark services (libipvs leaves it unset).
    var proto: UInt16
    var address: IPAddress
    var port: UInt16
    var fwmark: UInt32
    var scheduler: String
    var flags: UInt32
    var timeout: UInt32
    var netmask: UInt32
    var pe: String
    var counters: Counters
    var dests: [DestRow]

    init(_ s: VirtualService) {
        switch s.key {
        case .address(let p, let sa):
            af = sa.address.family == .inet ? AF_INET_ : AF_INET6_
            proto = p.rawValue
            address = sa.address
            port = sa.port
            fwmark = 0
        case .fwmark(let m, let fam):
            af = fam == .inet ? AF_INET_ : AF_INET6_
            proto = 0
            address = fam == .inet ? .v4(IPv4Address(0)) : .v6(IPv6Address(high: 0, low: 0))
            port = 0
            fwmark = m
        }
        scheduler = s.scheduler
        flags = s.flags.rawValue
        timeout = s.persistenceTimeout
        if af == AF_INET_ {
            let len = max(0, min(32, s.persistencePrefix))
            netmask = len == 0 ? 0 : UInt32.max << UInt32(32 - len)
        } else {
            netmask = UInt32(s.persistencePrefix)
        }
        pe = s.persistenceEngine ?? ""
        counters = s.counters
        dests = s.destinations.map(DestRow.init)
    }
}

/// A destination as ipvsadm's listing code sees it (`ipvs_dest_entry_t`).
struct DestRow: Sendable {
    var af: Int32
    var address: IPAddress
    var port: UInt16
    var forwarding: UInt32
    var weight: Int32
    var uThreshold: UInt32
    var lThreshold: UInt32
    var active: UInt32
    var inactive: UInt32
    var persistent: UInt32
    var counters: Counters
    var tunType: Int
    var tunPort: UInt16
    var tunFlags: Int

    init(_ d: Destination) {
        af = d.address.address.family == .inet ? AF_INET_ : AF_INET6_
        address = d.address.address
        port = d.address.port
        forwarding = d.forwarding.rawValue
        weight = d.weight
        uThreshold = d.upperThreshold
        lThreshold = d.lowerThreshold
        active = d.activeConnections
        inactive = d.inactiveConnections
        persistent = d.persistentConnections
        counters = d.counters
        tunType = Int(d.tunnel?.kind.rawValue ?? 0)
        tunPort = d.tunnel?.port ?? 0
        tunFlags = Int(d.tunnel?.checksum.rawValue ?? 0)
    }
}

// MARK: - Sorting (libipvs comparators + glibc's merge sort)

/// The 32-bit words of an address as libipvs compares them (`ntohl` of each `s6_addr32`; IPv4 is
/// the first word, the rest of the 16-byte union is zero).
private func words(_ a: IPAddress) -> [UInt32] {
    switch a {
    case .v4(let v4): [v4.value, 0, 0, 0]
    case .v6(let v6): [UInt32(v6.high >> 32), UInt32(truncatingIfNeeded: v6.high), UInt32(v6.low >> 32), UInt32(truncatingIfNeeded: v6.low)]
    }
}

/// C's `int r = a - b` for unsigned 32-bit operands: the difference wraps into the sign.
@inline(__always) private func wrapDiff(_ a: UInt32, _ b: UInt32) -> Int32 { Int32(bitPattern: a &- b) }

/// `ipvs_cmp_services`, including its wrap-around quirk (192.168.x sorts before 10.x).
func compareServices(_ s1: ServiceRow, _ s2: ServiceRow) -> Int32 {
    var r = wrapDiff(s1.fwmark, s2.fwmark)
    if r != 0 { return r }
    r = s1.af - s2.af
    if r != 0 { return r }
    r = Int32(s1.proto) - Int32(s2.proto)
    if r != 0 { return r }
    let w1 = words(s1.address), w2 = words(s2.address)
    if s1.af == AF_INET6_ {
        for i in 0..<4 where r == 0 { r = wrapDiff(w1[i], w2[i]) }
    } else {
        r = wrapDiff(w1[0], w2[0])
    }
    if r != 0 { return r }
    return Int32(s1.port) - Int32(s2.port)
}

/// `ipvs_cmp_dests` (decides IPv6 or IPv4 by the first dest's family only, as libipvs does).
func compareDests(_ d1: DestRow, _ d2: DestRow) -> Int32 {
    var r: Int32 = 0
    let w1 = words(d1.address), w2 = words(d2.address)
    if d1.af == AF_INET6_ {
        for i in 0..<4 where r == 0 { r = wrapDiff(w1[i], w2[i]) }
    } else {
        r = wrapDiff(w1[0], w2[0])
    }
    if r != 0 { return r }
    return Int32(d1.port) - Int32(d2.port)
}

/// glibc's `qsort` (a top-down merge sort, `msort_with_tmp`). With a non-transitive comparator
/// the result depends on the algorithm, so ipvsadm's order is reproduced only by the same one.
func glibcMergeSort<T>(_ items: [T], _ cmp: (T, T) -> Int32) -> [T] {
    if items.count <= 1 { return items }
    let n1 = items.count / 2
    let b1 = glibcMergeSort(Array(items[..<n1]), cmp)
    let b2 = glibcMergeSort(Array(items[n1...]), cmp)
    var out: [T] = []
    out.reserveCapacity(items.count)
    var i = 0, j = 0
    while i < b1.count && j < b2.count {
        if cmp(b1[i], b2[j]) <= 0 {
            out.append(b1[i]); i += 1
        } else {
            out.append(b2[j]); j += 1
        }
    }
    out.append(contentsOf: b1[i...])
    out.append(contentsOf: b2[j...])
    return out
}

// MARK: - printf helpers

func padRight(_ s: String, _ width: Int) -> String {
    let n = s.utf8.count
    return n >= width ? s : s + String(repeating: " ", count: width - n)
}

func padLeft(_ s: String, _ width: Int) -> String {
    let n = s.utf8.count
    return n >= width ? s : String(repeating: " ", count: width - n) + s
}

/// `print_largenum`: a 9-column number, scaled with K/M/G/T (decimal, truncated) unless exact.
public func formatLargeNumber(_ i: UInt64, exact: Bool) -> String {
    if exact {
        let s = String(i)
        return padLeft(s, s.count <= 8 ? 9 : s.count + 1)
    }
    if i < 100_000_000 { return padLeft(String(i), 9) }
    if i < 1_000_000_000 { return padLeft(String(i / 1000), 8) + "K" }
    if i < 100_000_000_000 { return padLeft(String(i / 1_000_000), 8) + "M" }
    if i < 100_000_000_000_000 { return padLeft(String(i / 1_000_000_000), 8) + "G" }
    return padLeft(String(i / 1_000_000_000_000), 8) + "T"
}

func protocolDatabase(_ proto: UInt16) -> String? {
    switch proto {
    case IPPROTO_TCP_: "tcp"
    case IPPROTO_UDP_: "udp"
    case IPPROTO_SCTP_: "sctp"
    default: nil
    }
}

/// `addrport_to_anyname`: `addr:port`, `[v6]:port`; names unless numeric.
func addressPortName(_ af: Int32, _ address: IPAddress, _ port: UInt16, proto: UInt16, numeric: Bool) -> String {
    let open = af == AF_INET_ ? "" : "["
    let close = af == AF_INET_ ? "" : "]"
    if numeric { return "\(open)\(CLib.ntop(address))\(close):\(port)" }
    let host = CLib.addressToHost(address) ?? CLib.ntop(address)
    let portName = protocolDatabase(proto).flatMap { CLib.portToService(port, proto: $0) } ?? String(port)
    return "\(open)\(host)\(close):\(portName)"
}

/// C `buf[n] = '\0'` on a UTF-8 string.
func truncateBytes(_ s: String, _ n: Int) -> String {
    let u = Array(s.utf8)
    return u.count > n ? String(decoding: u[..<n], as: UTF8.self) : s
}

private func schedFlagsText(_ s: ServiceRow) -> String {
    var parts: [String] = []
    if s.scheduler == "sh" {
        if s.flags & 0x8 != 0 { parts.append("sh-fallback") }
        if s.flags & 0x10 != 0 { parts.append("sh-port") }
    } else if s.scheduler == "mh" {
        if s.flags & 0x8 != 0 { parts.append("mh-fallback") }
        if s.flags & 0x10 != 0 { parts.append("mh-port") }
    } else {
        if s.flags & 0x8 != 0 { parts.append("flag-1") }
        if s.flags & 0x10 != 0 { parts.append("flag-2") }
        if s.flags & 0x20 != 0 { parts.append("flag-3") }
    }
    return parts.joined(separator: ",")
}

private func ipv4MaskText(_ m: UInt32) -> String { CLib.ntop(.v4(IPv4Address(m))) }

private let forwardNames = ["Masq", "Local", "Tunnel", "Route"]
private let tunnelNames = ["ipip", "gue", "gre"]
private let tunnelFlagShort = ["-c", "+c", "r+c"]
private let tunnelFlagOptions = ["--tun-nocsum", "--tun-csum", "--tun-remcsum"]

private func forwardName(_ f: UInt32) -> String { Int(f & 7) < forwardNames.count ? forwardNames[Int(f & 7)] : "(null)" }

private func forwardSwitch(_ f: UInt32) -> String {
    switch f & 7 {
    case 0: "-m"
    case 2: "-i"
    case 1, 3: "-g"
    default: "(null)"
    }
}

private func tunnelInfo(_ d: DestRow) -> String? {
    guard d.forwarding & 7 == ForwardingMethod.tunnel.rawValue else { return nil }
    let flag = d.tunFlags < 3 ? tunnelFlagShort[d.tunFlags] : "(null)"
    let text: String
    switch d.tunType {
    case 0: text = "ipip"
    case 1: text = "gue:\(d.tunPort):\(flag)"
    case 2: text = "gre:\(flag)"
    default: return nil
    }
    return truncateBytes(text, 15)  // snprintf(info, 16, ...)
}

// MARK: - Listing

/// The title lines (`print_title`).
func listingTitle(_ format: Format) -> String {
    if format.contains(.stats) {
        return padRight("Prot LocalAddress:Port", 33) + " " + ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"].map { padLeft($0, 8) }.joined(separator: " ") + "\n  -> RemoteAddress:Port\n"
    } else if format.contains(.rate) {
        return padRight("Prot LocalAddress:Port", 33) + " " + ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"].map { padLeft($0, 8) }.joined(separator: " ") + "\n  -> RemoteAddress:Port\n"
    } else if format.contains(.thresholds) {
        return padRight("Prot LocalAddress:Port", 33) + " " + ["Uthreshold", "Lthreshold", "ActiveConn", "InActConn"].map { padRight($0, 10) }.joined(separator: " ") + "\n  -> RemoteAddress:Port\n"
    } else if format.contains(.persistentConn) {
        return padRight("Prot LocalAddress:Port", 33) + " " + padRight("Weight", 9) + " " + padRight("PersistConn", 11) + " " + padRight("ActiveConn", 10) + " " + padRight("InActConn", 10) + "\n  -> RemoteAddress:Port\n"
    } else if format.contains(.tunInfo) {
        return "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n"
    } else if !format.contains(.rule) {
        return "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
    }
    return ""
}

/// One service and its destinations (`print_service_entry`).
func formatService(_ se: ServiceRow, _ format: Format) -> String {
    var out = ""
    let numeric = format.contains(.numeric)
    let rule = format.contains(.rule)
    var svcName: String
    if se.fwmark != 0 {
        // Debian 1.31 prints the mark with %d.
        let mark = Int32(bitPattern: se.fwmark)
        if rule {
            svcName = se.af == AF_INET6_ ? "-f \(mark) -6" : "-f \(mark)"
        } else {
            svcName = se.af == AF_INET6_ ? "FWM  \(mark) IPv6" : "FWM  \(mark)"
        }
    } else {
        let vname = addressPortName(se.af, se.address, se.port, proto: se.proto, numeric: numeric)
        if rule {
            let stype: String
            switch se.proto {
            case IPPROTO_TCP_: stype = "-t"
            case IPPROTO_UDP_: stype = "-u"
            case IPPROTO_SCTP_: stype = "--sctp-service"
            default: stype = "--xxx-service"
            }
            svcName = truncateBytes("\(stype) \(vname)", 1023)
        } else {
            let ptype: String
            switch se.proto {
            case IPPROTO_TCP_: ptype = "TCP"
            case IPPROTO_UDP_: ptype = "UDP"
            case IPPROTO_SCTP_: ptype = "SCTP"
            default: ptype = "?"
            }
            svcName = truncateBytes(padRight(ptype, 4) + " " + vname, 1023)
            if se.af != AF_INET6_ { svcName = truncateBytes(svcName, 33) }
        }
    }

    let schedBits: UInt32 = 0x8 | 0x10 | 0x20
    let persistent = se.flags & ServiceFlags.persistent.rawValue != 0
    if rule {
        out += "-A \(svcName) -s \(se.scheduler)"
        if persistent {
            out += " -p \(se.timeout)"
            if se.af == AF_INET_ && se.netmask != 0xffff_ffff { out += " -M \(ipv4MaskText(se.netmask))" }
            if se.af == AF_INET6_ && se.netmask != 128 { out += " -M \(Int32(bitPattern: se.netmask))" }
        }
        if !se.pe.isEmpty { out += " --pe \(se.pe)" }
        if se.flags & ServiceFlags.onePacket.rawValue != 0 { out += " -o" }
        if se.flags & schedBits != 0 { out += " -b " + schedFlagsText(se) }
    } else if format.contains(.stats) {
        out += padRight(svcName, 33)
        let c = se.counters
        for v in [c.connections, c.inPackets, c.outPackets, c.inBytes, c.outBytes] { out += formatLargeNumber(v, exact: format.contains(.exact)) }
    } else if format.contains(.rate) {
        out += padRight(svcName, 33)
        let c = se.counters
        for v in [c.cps, c.inPPS, c.outPPS, c.inBPS, c.outBPS] { out += formatLargeNumber(v, exact: format.contains(.exact)) }
    } else {
        out += "\(svcName) \(se.scheduler)"
        if se.flags & schedBits != 0 { out += " (" + schedFlagsText(se) + ")" }
        if persistent {
            out += " persistent \(se.timeout)"
            if se.af == AF_INET_ && se.netmask != 0xffff_ffff { out += " mask \(ipv4MaskText(se.netmask))" }
            if se.af == AF_INET6_ && se.netmask != 128 { out += " mask \(Int32(bitPattern: se.netmask))" }
            if !se.pe.isEmpty { out += " pe \(se.pe)" }
        }
        if se.flags & ServiceFlags.onePacket.rawValue != 0 { out += " ops" }
    }
    out += "\n"

    let dests = format.contains(.noSort) ? se.dests : glibcMergeSort(se.dests, compareDests)
    for e in dests {
        var dname = addressPortName(e.af, e.address, e.port, proto: se.proto, numeric: numeric)
        if !rule && e.af != AF_INET6_ { dname = truncateBytes(dname, 28) }
        let d28 = padRight(dname, 28)
        if rule {
            var line = "-a \(svcName) -r \(dname) \(forwardSwitch(e.forwarding)) -w \(e.weight)"
            if e.forwarding & 7 == ForwardingMethod.tunnel.rawValue {
                let flagOpt = e.tunFlags < 3 ? tunnelFlagOptions[e.tunFlags] : "(null)"
                switch e.tunType {
                case 2: line += " --tun-type gre \(flagOpt)"
                case 1: line += " --tun-type gue --tun-port \(e.tunPort) \(flagOpt)"
                case 0: line += " --tun-type ipip"
                default: break
                }
            }
            out += line + "\n"
        } else if format.contains(.stats) {
            out += "  -> " + d28
            let c = e.counters
            for v in [c.connections, c.inPackets, c.outPackets, c.inBytes, c.outBytes] { out += formatLargeNumber(v, exact: format.contains(.exact)) }
            out += "\n"
        } else if format.contains(.rate) {
            let c = e.counters
            out += "  -> " + d28 + " " + padLeft(String(c.cps), 8) + " " + padLeft(String(c.inPPS), 8) + " " + padLeft(String(c.outPPS), 8)
            out += formatLargeNumber(c.inBPS, exact: format.contains(.exact)) + formatLargeNumber(c.outBPS, exact: format.contains(.exact)) + "\n"
        } else if format.contains(.thresholds) {
            out += "  -> " + d28 + " " + [e.uThreshold, e.lThreshold, e.active, e.inactive].map { padRight(String($0), 10) }.joined(separator: " ") + "\n"
        } else if format.contains(.persistentConn) {
            out += "  -> " + d28 + " " + padRight(String(UInt32(bitPattern: e.weight)), 9) + " " + padRight(String(e.persistent), 11) + " "
                + padRight(String(e.active), 10) + " " + padRight(String(e.inactive), 10) + "\n"
        } else if format.contains(.tunInfo) {
            out += "  -> " + d28 + " " + padRight(forwardName(e.forwarding), 7) + " " + padRight(tunnelInfo(e) ?? "n/a", 13) + " "
                + padRight(String(e.weight), 6) + " " + padRight(String(e.active), 10) + " " + padRight(String(e.inactive), 10) + "\n"
        } else {
            out += "  -> " + d28 + " " + padRight(forwardName(e.forwarding), 7) + " " + padRight(String(e.weight), 6) + " "
                + padRight(String(e.active), 10) + " " + padRight(String(e.inactive), 10) + "\n"
        }
    }
    return out
}

// MARK: - Connections, timeouts, daemons

/// `-Lc`: the header and one line per entry, as `list_conn`/`print_conn` print them.
func formatConnections(_ entries: [ConnectionEntry], _ format: Format) -> String {
    var out = "IPVS connection entries\n"
    if format.contains(.persistentConn) {
        out += "pro expire " + padRight("state", 11) + " " + padRight("source", 18) + " " + padRight("virtual", 18) + " "
            + padRight("destination", 18) + " " + padRight("pe name", 16) + " pe_data\n"
    } else {
        out += "pro expire " + padRight("state", 11) + " " + padRight("source", 18) + " " + padRight("virtual", 18) + " destination\n"
    }
    let numeric = format.contains(.numeric)
    for c in entries {
        let proto: UInt16
        switch c.protocolName {
        case "TCP": proto = IPPROTO_TCP_
        case "UDP": proto = IPPROTO_UDP_
        case "SCTP": proto = IPPROTO_SCTP_
        default: proto = 0
        }
        // The client's family decides for client and virtual; the destination has its own.
        let af = c.client.address.family == .inet6 ? AF_INET6_ : AF_INET_
        let daf = c.destination.address.family == .inet6 ? AF_INET6_ : AF_INET_
        let cname = addressPortName(af, c.client.address, c.client.port, proto: proto, numeric: numeric)
        let vname = addressPortName(af, c.virtual.address, c.virtual.port, proto: proto, numeric: numeric)
        let dname = addressPortName(daf, c.destination.address, c.destination.port, proto: proto, numeric: numeric)
        let minutes = c.expires / 60, seconds = c.expires % 60
        let expire = (minutes < 10 ? "0" : "") + String(minutes) + ":" + (seconds < 10 ? "0" : "") + String(seconds)
        var line = padRight(c.protocolName, 3) + " " + padRight(expire, 6) + " " + padRight(c.state, 11) + " " + padRight(cname, 18) + " " + padRight(vname, 18) + " "
        if format.contains(.persistentConn), let pe = c.persistenceEngine, let data = c.persistenceData {
            line += padRight(dname, 16) + " " + padRight(pe, 18) + " " + data
        } else {
            line += dname
        }
        out += line + "\n"
    }
    return out
}

func formatTimeouts(_ t: Timeouts) -> String {
    "Timeout (tcp tcpfin udp): \(Int32(bitPattern: t.tcp)) \(Int32(bitPattern: t.tcpFin)) \(Int32(bitPattern: t.udp))\n"
}

func formatDaemons(_ daemons: [SyncDaemon]) -> String {
    var out = ""
    for role in [SyncDaemon.Role.master, .backup] {
        guard let d = daemons.first(where: { $0.role == role }) else { continue }
        out += "\(role.name) sync daemon (mcast=\(d.interface), syncid=\(Int32(bitPattern: d.syncID))"
        if d.maxLength != 0 { out += ", maxlen=\(d.maxLength)" }
        if let g = d.group { out += ", group=\(CLib.ntop(g))" }
        if d.port != 0 { out += ", port=\(d.port)" }
        if d.ttl != 0 { out += ", ttl=\(d.ttl)" }
        out += ")\n"
    }
    return out
}
