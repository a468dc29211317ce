import DataPlane
import NetCore

/// Collects what ipvsadm writes to stdout and stderr.
final class Console {
    var out = ""
    var err = ""
    let program: String

    init(program: String) { self.program = program }

    /// ipvsadm's `fail()`: the message, a newline, exit status.
    func fail(_ message: String, code: Int32 = 2) -> ExitRequest {
        err += message + "\n"
        return ExitRequest(code: code)
    }

    /// `tryhelp_exit(program, -1)`.
    func tryHelp() -> ExitRequest {
        err += "Try `\(program) -h' or '\(program) --help' for more information.\n"
        return ExitRequest(code: 255)
    }
}

/// `parse_service` result bits.
private struct ParsedAddress {
    var af: Int32
    var address: IPAddress
    var port: UInt16?
}

/// ipvsadm's `parse_service`: `host[:port]`, `[v6]:port`, bare IPv6; nil for SERVICE_NONE.
/// `proto` picks the services database for a port name.
private func parseServiceAddress(_ text: String, proto: UInt16) -> ParsedAddress? {
    if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) { return nil }
    if text.isEmpty { return nil }  // str_is_digit("") is true
    var host = Substring(text)
    var portText: Substring?
    if host.first == "[" {
        host = host.dropFirst()
        guard let close = host.firstIndex(of: "]") else { return nil }
        let after = host[host.index(after: close)...]
        guard after.first == ":" else { return nil }
        portText = after.dropFirst()
        host = host[..<close]
    }
    var result: ParsedAddress
    if let v6 = CLib.inetPton6(String(host)) {
        result = ParsedAddress(af: AF_INET6_, address: .v6(v6))
    } else {
        // Like ipvsadm, look for the port again inside what is left: `[1.2.3.4]:80` loses its port.
        portText = nil
        if let colon = host.lastIndex(of: ":") {
            portText = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        if let v4 = CLib.inetAton(String(host)) ?? CLib.hostToAddress(String(host)) {
            result = ParsedAddress(af: AF_INET_, address: .v4(v4))
        } else {
            return nil
        }
    }
    if let p = portText {
        if let n = CLib.stringToNumber(String(p), 0, 65535) {
            result.port = UInt16(n)
        } else {
            let db: String? = proto == IPPROTO_TCP_ ? "tcp" : proto == IPPROTO_UDP_ ? "udp" : proto == IPPROTO_SCTP_ ? "sctp" : nil
            guard let db, let n = CLib.serviceToPort(String(p), proto: db) else { return nil }
            result.port = n
        }
    }
    return result
}

extension Invocation {
    /// ipvsadm's `parse_options` followed by the checks of `process_options`.
    /// `arguments` excludes the program name.
    static func parse(_ arguments: [String], console: Console) throws(ExitRequest) -> Invocation {
        var inv = Invocation()
        var scanner = PoptScanner(arguments)
        var schedFlagsArg: String?

        func setOption(_ o: Opt) throws(ExitRequest) {
            if inv.options & o.bit != 0 { throw console.fail("multiple '\(o.name)' options specified") }
            inv.options |= o.bit
        }

        // The first option must be a command.
        let first: (Tag, String?)?
        do { first = try scanner.nextOption() } catch { throw console.tryHelp() }
        guard let (tag, arg) = first else { throw console.tryHelp() }
        switch tag {
        case .addService: inv.command = .add
        case .editService: inv.command = .edit
        case .deleteService: inv.command = .delete
        case .addServer: inv.command = .addDest
        case .editServer: inv.command = .editDest
        case .deleteServer: inv.command = .deleteDest
        case .clear: inv.command = .flush
        case .list: inv.command = .list
        case .zero: inv.command = .zero
        case .set: inv.command = .setTimeout
        case .restore: inv.command = .restore
        case .save: inv.command = .save
        case .startDaemon, .stopDaemon:
            inv.command = tag == .startDaemon ? .startDaemon : .stopDaemon
            switch arg {
            case "master": inv.daemon.role = .master
            case "backup": inv.daemon.role = .backup
            default:
                throw console.fail(tag == .startDaemon ? "illegal start-daemon parameter specified" : "illegal start_daemon specified")
            }
            inv.daemonRoleGiven = true
        case .help:
            console.out += IPVSAdm.usage(console.program)
            throw ExitRequest(code: 0)
        case .version:
            console.out += IPVSAdm.versionLine + "\n"
            throw ExitRequest(code: 0)
        default: throw console.tryHelp()
        }

        while true {
            let item: (Tag, String?)?
            do {
                item = try scanner.nextOption()
            } catch {
                console.err += error.message + "\n"
                throw ExitRequest(code: 255, returnsOnly: true)
            }
            guard let (tag, optarg) = item else { break }
            let a = optarg ?? ""
            switch tag {
            case .tcp, .udp, .sctp:
                try setOption(.service)
                inv.service.proto = tag == .tcp ? IPPROTO_TCP_ : tag == .udp ? IPPROTO_UDP_ : IPPROTO_SCTP_
                guard let p = parseServiceAddress(a, proto: inv.service.proto) else {
                    throw console.fail("illegal virtual server address[:port] specified")
                }
                inv.service.af = p.af
                inv.service.address = p.address
                if p.af == AF_INET6_ { inv.service.netmask = 128 }
                if let port = p.port { inv.service.port = port }
            case .fwmark:
                try setOption(.service)
                inv.service.af = AF_INET_
                inv.service.proto = IPPROTO_TCP_
                guard let (v, overflow) = CLib.strtolWhole(a), !overflow, v > 0, v <= Int(UInt32.max) else {
                    throw console.fail("invalid fwmark value `\(a)' specified")
                }
                inv.service.fwmark = UInt32(v)
            case .scheduler:
                try setOption(.scheduler)
                inv.service.scheduler = String(a.utf8.prefix(15)) ?? a
            case .persistent:
                try setOption(.persistent)
                inv.service.flags |= ServiceFlags.persistent.rawValue
                inv.service.timeout = try parseTimeout(optarg, 1, maxTimeout, console)
            case .netmask:
                try setOption(.netmask)
                if inv.service.af != AF_INET6_ {
                    guard let m = CLib.inetAton(a) ?? CLib.hostToAddress(a) else {
                        throw console.fail("illegal virtual server persistent mask specified")
                    }
                    inv.service.netmask = m.value
                } else {
                    let m = CLib.atoi(a)
                    guard m >= 1, m <= 128 else { throw console.fail("illegal ipv6 netmask specified") }
                    inv.service.netmask = UInt32(m)
                }
            case .realServer:
                try setOption(.server)
                // ipvsadm parses into a copy of the service so an unparsed port stays the vport.
                let p = parseServiceAddress(a, proto: inv.service.proto)
                inv.dest.af = p?.af ?? inv.service.af
                inv.dest.address = p?.address ?? inv.service.address
                inv.dest.port = p?.port ?? inv.service.port
                guard p != nil else { throw console.fail("illegal real server address[:port] specified") }
            case .ipip:
                try setOption(.forward)
                inv.dest.forwarding = ForwardingMethod.tunnel.rawValue
            case .gatewaying:
                try setOption(.forward)
                inv.dest.forwarding = ForwardingMethod.directRoute.rawValue
            case .masquerading:
                try setOption(.forward)
                inv.dest.forwarding = ForwardingMethod.masquerade.rawValue
            case .weight:
                try setOption(.weight)
                // Debian raises the upstream 65535 limit to INT_MAX.
                guard let w = CLib.stringToNumber(a, 0, Int(Int32.max)) else { throw console.fail("illegal weight specified") }
                inv.dest.weight = w
            case .uThreshold:
                try setOption(.uThreshold)
                guard let v = CLib.stringToNumber(a, 0, Int(Int32.max)) else { throw console.fail("illegal u_threshold specified") }
                inv.dest.uThreshold = UInt32(v)
            case .lThreshold:
                try setOption(.lThreshold)
                guard let v = CLib.stringToNumber(a, 0, Int(Int32.max)) else { throw console.fail("illegal l_threshold specified") }
                inv.dest.lThreshold = UInt32(v)
            case .connection: try setOption(.connection)
            case .numeric:
                try setOption(.numeric)
                inv.format.insert(.numeric)
            case .mcastInterface:
                try setOption(.mcast)
                inv.daemon.interface = String(a.utf8.prefix(15)) ?? a
            case .syncID:
                try setOption(.syncID)
                guard let v = CLib.stringToNumber(a, 0, 255) else { throw console.fail("illegal syncid specified") }
                inv.daemon.syncID = UInt32(v)
            case .timeout: try setOption(.timeout)
            case .daemon: try setOption(.daemon)
            case .stats:
                try setOption(.stats)
                inv.format.insert(.stats)
            case .rate:
                try setOption(.rate)
                inv.format.insert(.rate)
            case .thresholds:
                try setOption(.thresholds)
                inv.format.insert(.thresholds)
            case .persistentConn:
                try setOption(.persistentConn)
                inv.format.insert(.persistentConn)
            case .noSort:
                try setOption(.noSort)
                inv.format.insert(.noSort)
            case .sort: break  // a no-op kept for compatibility, as in ipvsadm
            case .exact:
                try setOption(.exact)
                inv.format.insert(.exact)
            case .ipv6:
                guard inv.service.fwmark != 0 else { throw console.fail("-6 used before -f\n") }
                inv.service.af = AF_INET6_
                inv.service.netmask = 128
            case .ops:
                try setOption(.onePacket)
                inv.service.flags |= ServiceFlags.onePacket.rawValue
            case .pe:
                try setOption(.persistenceEngine)
                inv.service.pe = String(a.utf8.prefix(15)) ?? a
            case .schedFlags:
                try setOption(.schedFlags)
                schedFlagsArg = String(a.utf8.prefix(127)) ?? a
            case .mcastGroup:
                try setOption(.mcastGroup)
                if a.contains(":") {
                    guard let g = CLib.inetPton6(a), g.isMulticast else { throw console.fail("invalid IPv6 mcast-group `\(a)'") }
                    inv.daemon.group = .v6(g)
                } else {
                    guard let g = CLib.inetPton4(a), g.isMulticast else { throw console.fail("invalid IPv4 mcast-group `\(a)'") }
                    inv.daemon.group = .v4(g)
                }
            case .mcastPort:
                try setOption(.mcastPort)
                guard let v = CLib.stringToNumber(a, 1, 65535) else { throw console.fail("illegal mcast-port specified") }
                inv.daemon.port = UInt16(v)
            case .mcastTTL:
                try setOption(.mcastTTL)
                guard let v = CLib.stringToNumber(a, 1, 255) else { throw console.fail("illegal mcast-ttl specified") }
                inv.daemon.ttl = UInt8(v)
            case .syncMaxlen:
                try setOption(.syncMaxlen)
                guard let v = CLib.stringToNumber(a, 1, 65535 - 20 - 8) else { throw console.fail("illegal sync-maxlen specified") }
                inv.daemon.maxLength = UInt16(v)
            case .tunInfo:
                try setOption(.tunInfo)
                inv.format.insert(.tunInfo)
            case .tunType:
                try setOption(.tunType)
                guard let t = ["ipip", "gue", "gre"].firstIndex(of: a) else { throw console.fail("illegal tunnel type specified") }
                inv.dest.tunType = t
            case .tunPort:
                try setOption(.tunPort)
                guard let v = CLib.stringToNumber(a, 1, 65535) else { throw console.fail("illegal tunnel port specified") }
                inv.dest.tunPort = UInt16(v)
            case .tunNoCsum:
                try setOption(.tunNoCsum)
            case .tunCsum:
                try setOption(.tunCsum)
                inv.dest.tunFlags |= 1
            case .tunRemCsum:
                try setOption(.tunRemCsum)
                inv.dest.tunFlags |= 2
            default:
                // A second command (or -h/-v) after the first one.
                throw console.fail("invalid option `\(scanner.currentWord)'")
            }
        }

        if inv.command == .setTimeout {
            if let t = scanner.nextLeftover(), let f = scanner.nextLeftover(), let u = scanner.nextLeftover() {
                inv.timeouts = Timeouts(
                    tcp: try parseTimeout(t, 0, maxTimeout, console), tcpFin: try parseTimeout(f, 0, maxTimeout, console),
                    udp: try parseTimeout(u, 0, maxTimeout, console))
            } else {
                throw console.fail("--set option requires 3 timeout values")
            }
        }
        if let extra = scanner.nextLeftover() { throw console.fail("unexpected argument \(extra)") }

        if let flagsArg = schedFlagsArg {
            inv.service.flags &= ~(ServiceFlags.sched1.rawValue | ServiceFlags.sched2.rawValue | ServiceFlags.sched3.rawValue)
            inv.service.flags |= try parseSchedFlags(inv.service.scheduler, flagsArg, console)
        }
        try inv.check(console)
        return inv
    }

    /// The checks `process_options` makes before talking to the kernel.
    private mutating func check(_ console: Console) throws(ExitRequest) {
        guard let command else { return }
        // generic_opt_check
        let row = Array(commandsVsOptions[command]!)
        var exclusive: Opt?
        for o in Opt.allCases {
            let rule = row[o.rawValue]
            if options & o.bit == 0 {
                if rule == "+" { throw console.fail("You need to supply the '\(o.name)' option for the '\(command.name)' command") }
            } else {
                if rule == "x" { throw console.fail("Illegal '\(o.name)' option with the '\(command.name)' command") }
                if rule == "1" {
                    if let last = exclusive {
                        throw console.fail("The option '\(o.name)' conflicts with the '\(last.name)' option in the '\(command.name)' command")
                    }
                    exclusive = o
                }
            }
        }

        if command == .add || command == .edit {
            if service.fwmark == 0 && service.port == 0 && service.flags & ServiceFlags.persistent.rawValue == 0 {
                throw console.fail("Zero port specified for non-persistent service")
            }
            if service.flags & ServiceFlags.onePacket.rawValue != 0 && service.fwmark == 0 && service.proto != IPPROTO_UDP_ {
                throw console.fail("One-Packet Scheduling is only for UDP virtual services")
            }
            if service.scheduler.isEmpty { service.scheduler = "wlc" }
        }
        if command == .startDaemon && daemon.interface.isEmpty { daemon.interface = "eth0" }

        if command == .addDest || command == .editDest {
            let fwd = dest.forwarding & 7
            let tunnel = ForwardingMethod.tunnel.rawValue
            // DR and TUN cannot change the port (except for fwmark services).
            if service.fwmark == 0 && (fwd == tunnel || fwd == ForwardingMethod.directRoute.rawValue) {
                dest.port = service.port
            }
            if dest.af != service.af && fwd != tunnel {
                throw console.fail("Different address family is allowed only for tunneling servers")
            }
            let tunOpts: [Opt] = [.tunType, .tunPort, .tunNoCsum, .tunCsum, .tunRemCsum]
            if tunOpts.contains(where: has) && fwd != tunnel {
                throw console.fail("Tunnel options conflict with forward method")
            }
            // tunnel_opt_check
            let names = ["ipip", "gue", "gre"]
            let table = ["xxxx", "+111", "x11x"]
            let row = Array(table[dest.tunType])
            var last: Opt?
            for (j, o) in [Opt.tunPort, .tunNoCsum, .tunCsum, .tunRemCsum].enumerated() {
                if !has(o) {
                    if row[j] == "+" { throw console.fail("You need to supply the '\(o.name)' option for the '\(names[dest.tunType])' tunnel type") }
                } else {
                    if row[j] == "x" { throw console.fail("Illegal '\(o.name)' option with the '\(names[dest.tunType])' tunnel type") }
                    if row[j] == "1" {
                        if let l = last {
                            throw console.fail("The option '\(o.name)' conflicts with the '\(l.name)' option in the '\(names[dest.tunType])' tunnel type")
                        }
                        last = o
                    }
                }
            }
        }

        if command == .list {
            let a = options & (Opt.connection.bit | Opt.timeout.bit | Opt.daemon.bit) != 0
            let b = options & (Opt.stats.bit | Opt.rate.bit | Opt.thresholds.bit) != 0
            let c = options & (Opt.timeout.bit | Opt.daemon.bit) != 0
            if (a && b) || (c && has(.persistentConn)) { throw console.fail("options conflicts in the list command") }
        }
    }
}


let maxTimeout = 86400 * 31

/// `parse_timeout`: nil (no argument to `-p`) means the default persistence timeout, 360 s.
private func parseTimeout(_ text: String?, _ min: Int, _ max: Int, _ console: Console) throws(ExitRequest) -> UInt32 {
    guard let text else { return 360 }
    guard let v = CLib.stringToNumber(text, min, max) else { throw console.fail("invalid timeout value `\(text)' specified") }
    return UInt32(v)
}

/// `parse_sched_flags`: a comma list checked against the scheduler (wlc when none was given).
private func parseSchedFlags(_ scheduler: String, _ text: String, _ console: Console) throws(ExitRequest) -> UInt32 {
    let sched = scheduler.isEmpty ? "wlc" : scheduler
    var flags: UInt32 = 0
    let parts = text.split(separator: ",", omittingEmptySubsequences: true)
    // ipvsadm crashes (strtok returns NULL) on an empty list; report it instead.
    if parts.isEmpty { throw console.fail("invalid scheduler flag `\(text)'") }
    for flag in parts {
        switch flag {
        case "flag-1": flags |= 0x8
        case "flag-2": flags |= 0x10
        case "flag-3": flags |= 0x20
        case "sh-fallback", "sh-port", "mh-fallback", "mh-port":
            flags |= flag.hasSuffix("fallback") ? 0x8 : 0x10
            if sched != String(flag.prefix(2)) { throw console.fail("incompatible scheduler flag `\(flag)'") }
        default:
            throw console.fail("invalid scheduler flag `\(flag)'")
        }
    }
    return flags
}
