import HealthCheckCore
import NetCore

// LVS side of the builder (keepalived.md §1.8) and the remaining top-level blocks.

extension Builder {
    mutating func unsupportedBlock(_ node: SyntaxNode, _ what: String) {
        diags.note(.unsupportedKeyword, node.loc, "keyword '\(node.keyword)' is recognised but not supported by Vigil (\(what)); it has no effect")
    }

    mutating func otherTopLevel(_ node: SyntaxNode) -> Bool {
        let kids = node.children ?? []
        switch node.keyword {
        case "linkbeat_interfaces":
            unsupportedBlock(node, "link-beat polling")
            config.linkbeatInterfaces += kids.flatMap { $0.words.map(\.text) }
        case "interface_up_down_delays":
            unsupportedBlock(node, "interface debouncing")
            config.interfaceUpDownDelays += kids.map(raw)
        case "track_group":
            unsupportedBlock(node, "static tracking groups")
            var g = TrackGroup(name: name(node))
            _ = each(kids, .trackGroup) { b, n, _ in
                g.members += (n.children ?? []).flatMap { $0.words.map(\.text) }
            }
            config.trackGroups.append(g)
        case "vrrp_track_process":
            var p = TrackProcess(name: name(node))
            _ = each(kids, .trackProcess) { b, n, _ in
                switch n.keyword {
                case "process": p.process = n.args.map(\.text)
                case "param_match": p.paramMatch = b.arg(n)?.text
                case "weight": if let (w, r) = b.weight(n, -254...254) { p.weight = w; p.weightReverse = r }
                case "quorum": p.quorum = b.int(n, 0...65535)
                case "quorum_max": p.quorumMax = b.int(n, 0...65535)
                case "fork_delay": p.forkDelay = b.timer(n)
                case "terminate_delay": p.terminateDelay = b.timer(n)
                case "delay":
                    // keepalived: `delay` sets both, so the last of the three statements wins.
                    p.delay = b.timer(n)
                    if let d = p.delay { p.forkDelay = d; p.terminateDelay = d }
                case "full_command": p.fullCommand = true
                default: break
                }
            }
            config.trackProcesses.append(p)
        case "garp_group":
            unsupportedBlock(node, "GARP rate groups")
            var g = GARPGroup()
            _ = each(kids, .garpGroup) { b, n, _ in
                switch n.keyword {
                case "garp_interval": g.garpInterval = b.timer(n)
                case "gna_interval": g.gnaInterval = b.timer(n)
                case "interface": if let w = b.arg(n) { g.interfaces.append(w.text) }
                case "interfaces": g.interfaces += (n.children ?? []).flatMap { $0.words.map(\.text) }
                default: break
                }
            }
            config.garpGroups.append(g)
        case "bfd_instance":
            unsupportedBlock(node, "BFD")
            var bfd = BFDInstance(name: name(node))
            _ = each(kids, .bfdInstance) { b, n, _ in bfd.statements.append(b.raw(n)) }
            config.bfdInstances.append(bfd)
        case "SSL":
            var s = SSLSettings()
            _ = each(kids, .ssl) { b, n, _ in
                let v = b.arg(n)?.text
                switch n.keyword {
                case "password": s.password = v
                case "ca": s.ca = v
                case "certificate": s.certificate = v
                case "key": s.key = v
                default: break
                }
            }
            config.ssl = s
        default:
            return false
        }
        return true
    }

    // MARK: - virtual_server_group

    mutating func vsGroup(_ node: SyntaxNode) {
        var g = VirtualServerGroup(name: name(node))
        for n in node.children ?? [] {
            if n.children != nil {
                diags.error(.unexpectedBrace, n.openLoc ?? n.loc, "virtual_server_group entries do not take a block; ignored")
            }
            let w = n.words[0]
            if w.text == "fwmark" {
                guard let m = arg(n, 1, what: "a mark"), let v = int(m, 1...Int(UInt32.max), "fwmark") else { continue }
                var fam: AddressFamily? = nil
                if n.words.count > 2 {
                    switch n.words[2].text {
                    case "inet": fam = .inet
                    case "inet6": fam = .inet6
                    default: diags.error(.invalidValue, n.words[2].loc, "fwmark: unknown family '\(n.words[2].text)'")
                    }
                }
                extra(n, max: 2)
                g.entries.append(.fwmark(UInt32(v), family: fam))
                continue
            }
            guard let (first, last) = addressRange(w) else { continue }
            var port: Int? = nil
            if n.words.count > 1 { port = self.port(n.words[1], "virtual_server_group") }
            extra(n, max: 2)
            g.entries.append(.addresses(first: first, last: last, port: port))
        }
        config.virtualServerGroups.append(g)
    }

    /// `IP`, `A.B.C.D-E`, `A.B.C.D-W.X.Y.Z`, `IP/len`.
    mutating func addressRange(_ w: Word) -> (IPAddress, IPAddress)? {
        let t = w.text
        if let dash = t.firstIndex(of: "-") {
            let lhs = t[..<dash], rhs = t[t.index(after: dash)...]
            guard let a = IPAddress(lhs) else { diags.error(.invalidAddress, w.loc, "invalid address range '\(t)'"); return nil }
            if let b = IPAddress(rhs), b.family == a.family {
                guard a <= b else { diags.error(.invalidValue, w.loc, "address range '\(t)' ends before it starts"); return nil }
                return (a, b)
            }
            let isV6 = a.family == .inet6
            guard let end = isV6 ? Int(rhs, radix: 16) : Int(rhs), end >= 0, end <= (isV6 ? 0xffff : 255) else {
                diags.error(.invalidAddress, w.loc, "invalid address range '\(t)'")
                return nil
            }
            var bytes = a.bytes
            if isV6 {
                let cur = Int(bytes[14]) << 8 | Int(bytes[15])
                guard end >= cur else { diags.error(.invalidValue, w.loc, "address range '\(t)' ends before it starts"); return nil }
                bytes[14] = UInt8(end >> 8); bytes[15] = UInt8(end & 0xff)
            } else {
                guard end >= Int(bytes[3]) else { diags.error(.invalidValue, w.loc, "address range '\(t)' ends before it starts"); return nil }
                bytes[3] = UInt8(end)
            }
            return (a, IPAddress(bytes: bytes)!)
        }
        if t.contains("/") {
            guard let p = IPPrefix(t) else { diags.error(.invalidAddress, w.loc, "invalid prefix '\(t)'"); return nil }
            let net = p.network
            var bytes = net.bytes
            let host = net.bitWidth - p.length
            for bit in 0..<host {
                let idx = bytes.count - 1 - bit / 8
                bytes[idx] |= UInt8(1 << (bit % 8))
            }
            return (net, IPAddress(bytes: bytes)!)
        }
        guard let a = IPAddress(t) else { diags.error(.invalidAddress, w.loc, "invalid address '\(t)'"); return nil }
        return (a, a)
    }

    // MARK: - virtual_server

    mutating func forwarding(_ n: SyntaxNode) -> ForwardingSpec? {
        guard let w = arg(n, 1, what: "NAT, DR or TUN") else { return nil }
        guard let m = ForwardingMethod(rawValue: w.text.uppercased()) else {
            diags.error(.invalidValue, w.loc, "invalid \(n.keyword) '\(w.text)'", hint: "use NAT, DR or TUN")
            return nil
        }
        let opts = n.words.dropFirst(2).map(\.text)
        if m != .tun && !opts.isEmpty {
            diags.error(.extraArgument, n.words[2].loc, "\(n.keyword) \(m.rawValue) takes no options")
        }
        return ForwardingSpec(method: m, tunnelOptions: m == .tun ? opts : [])
    }

    /// Timing keywords common to virtual_server, real_server and checkers.
    mutating func timingKeyword(_ n: SyntaxNode, _ t: inout CheckTiming) -> Bool {
        switch n.keyword {
        case "delay_loop": t.delayLoop = timer(n, min: .microseconds(1))
        case "connect_timeout": t.connectTimeout = timer(n, min: .microseconds(1))
        case "retry", "nb_get_retry": t.retry = int(n, 0...Int(UInt32.max))
        case "delay_before_retry": t.delayBeforeRetry = timer(n)
        case "warmup": t.warmup = timer(n)
        default: return false
        }
        return true
    }

    mutating func virtualServer(_ node: SyntaxNode) {
        let words = node.words
        var key: VirtualServerKey?
        if words.count >= 2 {
            switch words[1].text {
            case "fwmark":
                if words.count >= 3, let v = int(words[2], 1...Int(UInt32.max), "virtual_server fwmark") {
                    var fam: AddressFamily? = nil
                    if words.count >= 4 { fam = words[3].text == "inet6" ? .inet6 : words[3].text == "inet" ? .inet : nil }
                    key = .fwmark(UInt32(v), family: fam)
                    extra(node, max: 3)
                } else if words.count < 3 { diags.error(.missingArgument, node.loc, "virtual_server fwmark needs a mark") }
            case "group":
                if words.count >= 3 { key = .group(words[2].text); extra(node, max: 2) } else { diags.error(.missingArgument, node.loc, "virtual_server group needs a name") }
            default:
                if let a = ip(words[1], "virtual_server") {
                    var p: Int? = nil
                    if words.count >= 3 { p = port(words[2], "virtual_server") }
                    key = .address(a, port: p)
                    extra(node, max: 2)
                }
            }
        } else {
            diags.error(.missingArgument, node.loc, "virtual_server needs 'IP PORT', 'fwmark N' or 'group NAME'")
        }
        var vs = VirtualServer(key: key ?? .group(""))
        var keys: [String: Loc] = [:]
        var rsLocs: [Loc] = []
        let other = each(node.children ?? [], .virtualServer) { b, n, _ in
            keys[n.keyword] = n.loc
            if b.timingKeyword(n, &vs.timing) {
                if ["connect_timeout", "retry", "delay_before_retry", "warmup"].contains(n.keyword) {
                    let since = n.keyword == "connect_timeout" ? "2.0.13" : "1.3.7"
                    b.diags.warning(.legacyPlacement, n.loc,
                                    "'\(n.keyword)' at virtual_server level is a default for its real servers' checkers; keepalived before \(since) rejected it here",
                                    hint: "for older keepalived put it inside each checker block (e.g. HTTP_GET)")
                }
                return
            }
            switch n.keyword {
            case "lb_algo", "lvs_sched":
                if let w = b.arg(n) {
                    if knownSchedulers.contains(w.text) { vs.scheduler = w.text } else {
                        b.diags.error(.invalidValue, w.loc, "Invalid lvs_scheduler '\(w.text)'", hint: "known schedulers: " + knownSchedulers.sorted().joined(separator: " "))
                    }
                }
            case "lb_kind", "lvs_method": vs.forwarding = b.forwarding(n)
            case "protocol":
                if let w = b.arg(n) {
                    if let p = ServiceProtocol(rawValue: w.text.uppercased()) { vs.protocol = p } else {
                        b.diags.error(.invalidValue, w.loc, "unknown protocol '\(w.text)'", hint: "use TCP, UDP or SCTP")
                    }
                }
            case "ip_family":
                if let w = b.arg(n) {
                    if w.text == "inet" { vs.ipFamily = .inet } else if w.text == "inet6" { vs.ipFamily = .inet6 } else {
                        b.diags.error(.invalidValue, w.loc, "unknown ip_family '\(w.text)'", hint: "use inet or inet6")
                    }
                }
            case "hashed", "ops", "flag-1", "flag-2", "flag-3", "sh-fallback", "sh-port", "mh-fallback", "mh-port":
                let family = n.keyword.hasPrefix("sh-") ? "sh" : n.keyword.hasPrefix("mh-") ? "mh" : nil
                if let family, vs.scheduler != family {
                    b.diags.error(.conflict, n.loc, "'\(n.keyword)' only applies to the \(family) scheduler",
                                  hint: "keepalived accepts it only after 'lb_algo \(family)' earlier in the block")
                    return
                }
                if n.keyword == "ops" && vs.protocol != nil && vs.protocol != .udp {
                    b.diags.error(.conflict, n.loc, "'ops' (one-packet scheduling) is only for UDP services")
                }
                vs.schedulerFlags.append(n.keyword)
            case "persistence_timeout":
                vs.persistenceTimeout = n.words.count > 1 ? b.int(n, 1...(86400 * 31)) : 360
            case "persistence_granularity":
                if let w = b.arg(n) {
                    if let v = Int(w.text), (1...128).contains(v) { vs.persistenceGranularity = w.text } else if let m = IPv4Address(w.text), (~m.value &+ 1) & ~m.value == 0 || m.value == 0xffff_ffff {
                        vs.persistenceGranularity = w.text
                    } else {
                        b.diags.error(.invalidValue, w.loc, "invalid persistence_granularity '\(w.text)'", hint: "use an IPv4 netmask or an IPv6 prefix length")
                    }
                }
            case "ha_suspend": vs.haSuspend = true
            case "virtualhost": vs.virtualhost = b.arg(n)?.text
            case "alpha": vs.alpha = true
            case "omega": vs.omega = true
            case "quorum_up": vs.quorumUp = b.script(n)
            case "quorum_down": vs.quorumDown = b.script(n)
            case "quorum": vs.quorum = b.int(n, 1...Int(UInt32.max))
            case "hysteresis": vs.hysteresis = b.int(n, 0...Int(UInt32.max))
            case "weight": vs.weight = b.int(n, 0...65535)
            case "inhibit_on_failure": vs.inhibitOnFailure = b.bool(n)
            case "smtp_alert": vs.smtpAlert = b.bool(n)
            case "sorry_server":
                if let w = b.arg(n, 1, what: "an address"), let a = b.ip(w, "sorry_server") {
                    var rs = vs.sorryServer ?? RealServer(address: a)
                    rs.address = a
                    rs.port = n.words.count > 2 ? b.port(n.words[2], "sorry_server") : nil
                    vs.sorryServer = rs
                }
            case "sorry_server_inhibit": vs.sorryServerInhibit = true
            case "sorry_server_lvs_method":
                if vs.sorryServer == nil {
                    b.diags.error(.conflict, n.loc, "sorry_server_lvs_method needs a sorry_server before it")
                } else { vs.sorryServer?.forwarding = b.forwarding(n) }
            case "real_server":
                if let rs = b.realServer(n, vs: vs) { vs.realServers.append(rs); rsLocs.append(n.loc) }
            default: break
            }
        }
        vs.other += other
        locations.virtualServers.append(node.loc)
        locations.realServers.append(rsLocs)
        locations.vsKeys.append(keys)
        config.virtualServers.append(vs)
    }

    mutating func realServer(_ node: SyntaxNode, vs: VirtualServer) -> RealServer? {
        let words = node.words
        guard words.count >= 2 else {
            diags.error(.missingArgument, node.loc, "real_server needs an address")
            return nil
        }
        guard let a = ip(words[1], "real_server") else { return nil }
        var rs = RealServer(address: a)
        if words.count >= 3 { rs.port = port(words[2], "real_server") }
        let other = each(node.children ?? [], .realServer) { b, n, spec in
            if b.timingKeyword(n, &rs.timing) { return }
            switch n.keyword {
            case "weight": rs.weight = b.int(n, 0...65535)
            case "lvs_method": rs.forwarding = b.forwarding(n)
            case "uthreshold": rs.upperThreshold = b.int(n, 0...Int(UInt32.max))
            case "lthreshold": rs.lowerThreshold = b.int(n, 0...Int(UInt32.max))
            case "inhibit_on_failure": rs.inhibitOnFailure = b.bool(n)
            case "alpha": rs.alpha = b.bool(n)
            case "notify_up": rs.notifyUp = b.script(n)
            case "notify_down": rs.notifyDown = b.script(n)
            case "smtp_alert": rs.smtpAlert = b.bool(n)
            case "virtualhost": rs.virtualhost = b.arg(n)?.text
            default:
                if let block = spec.block, let c = b.checker(n, block) { rs.checkers.append(c) }
            }
        }
        rs.other += other
        return rs
    }

    mutating func checker(_ node: SyntaxNode, _ block: BlockKind) -> Checker? {
        guard let kind = CheckerKind(rawValue: node.keyword) else { return nil }
        var c = Checker(kind: kind)
        c.other = each(node.children ?? [], block) { b, n, _ in
            if b.timingKeyword(n, &c.timing) { return }
            switch n.keyword {
            case "connect_ip": if let w = b.arg(n) { c.connectIP = b.ip(w, "connect_ip") }
            case "connect_port": if let w = b.arg(n) { c.connectPort = b.port(w, "connect") }
            case "bindto": if let w = b.arg(n) { c.bindTo = b.ip(w, "bindto") }
            case "bind_port": if let w = b.arg(n) { c.bindPort = b.port(w, "bind") }
            case "bind_if": if let w = b.arg(n) { c.bindInterface = w.text; b.locations.interfaces.append((w.text, w.loc)) }
            case "fwmark": if let v = b.int(n, 0...Int(UInt32.max)) { c.fwmark = UInt32(v) }
            case "alpha": c.alpha = b.bool(n)
            case "log_all_failures": c.logAllFailures = b.bool(n)
            case "virtualhost": c.virtualhost = b.arg(n)?.text
            case "http_protocol":
                if let w = b.arg(n) {
                    if ["1.0", "1.0C", "1.0c", "1.1"].contains(w.text) { c.httpProtocol = w.text.uppercased() } else {
                        b.diags.error(.invalidValue, w.loc, "invalid http_protocol '\(w.text)'", hint: "use 1.0, 1.0C or 1.1")
                    }
                }
            case "fast_recovery": c.fastRecovery = b.bool(n)
            case "enable_sni": c.enableSNI = b.bool(n)
            case "url": c.urls.append(b.url(n))
            case "misc_path": c.miscPath = b.script(n, user: c.user)
            case "misc_timeout": c.miscTimeout = b.timer(n, min: .microseconds(1))
            case "misc_dynamic": c.miscDynamic = true
            case "user": c.user = b.scriptUser(n)
            case "helo_name": c.heloName = b.arg(n)?.text
            case "host": c.other.append(b.raw(n))
            case "type":
                if let w = b.arg(n) {
                    let t = w.text.uppercased()
                    if ["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY"].contains(t) { c.dnsType = t } else {
                        b.diags.error(.invalidValue, w.loc, "DNS_CHECK: unknown type '\(w.text)'", hint: "use A, NS, CNAME, SOA, MX, TXT, AAAA, RRSIG or DNSKEY")
                    }
                }
            case "name": c.dnsName = b.arg(n)?.text
            case "payload":
                if let w = b.arg(n) {
                    if let bytes = hexBytes(w.text) { c.payload = bytes } else {
                        b.diags.error(.invalidValue, w.loc, "UDP_CHECK: payload '\(w.text)' is not hexadecimal")
                    }
                }
            case "require_reply": c.requireReply = n.words.count > 1 ? n.words[1].text : ""
            case "min_reply_length": c.minReplyLength = b.int(n, 0...65535)
            case "max_reply_length": c.maxReplyLength = b.int(n, 0...65535)
            case "track_file":
                if let w = b.arg(n) { c.trackFile = w.text; b.locations.trackFileRefs.append((w.text, w.loc)) }
            case "weight": if let (w, r) = b.weight(n, -254...254) { c.weight = w; c.weightReverse = r }
            default: break
            }
        }
        if (kind == .httpGet || kind == .sslGet) && c.urls.isEmpty {
            diags.error(.missingRequired, node.loc, "\(kind.rawValue) has no 'url { … }' block", hint: "keepalived removes a checker without URLs")
        }
        if kind == .misc && c.miscPath == nil {
            diags.error(.missingRequired, node.loc, "MISC_CHECK has no 'misc_path'")
        }
        if kind == .file && c.trackFile == nil {
            diags.error(.missingRequired, node.loc, "FILE_CHECK has no 'track_file'")
        }
        if kind == .bfd { diags.note(.unsupportedKeyword, node.loc, "keyword 'BFD_CHECK' is recognised but not supported by Vigil (BFD); it has no effect") }
        return c
    }

    mutating func url(_ node: SyntaxNode) -> URLCheck {
        var u = URLCheck()
        u.other = each(node.children ?? [], .url) { b, n, _ in
            switch n.keyword {
            case "path": u.path = b.arg(n)?.text
            case "digest":
                if let w = b.arg(n) {
                    let d = w.text.lowercased()
                    if d.utf8.count == 32 && d.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) { u.digest = d } else {
                        b.diags.error(.invalidValue, w.loc, "digest '\(w.text)' is not 32 hexadecimal characters (an MD5 sum)", hint: "compute it with 'vigil genhash' or 'genhash'")
                    }
                }
            case "status_code":
                for w in n.args {
                    let parts = w.text.split(separator: "-", omittingEmptySubsequences: false)
                    if parts.count <= 2, let lo = Int(parts[0]), let hi = parts.count == 2 ? Int(parts[1]) : lo,
                       (100...599).contains(lo), (100...599).contains(hi), lo <= hi {
                        u.statusCodes.append(lo...hi)
                    } else {
                        b.diags.error(.valueOutOfRange, w.loc, "status_code '\(w.text)' invalid (codes or ranges within 100-599)")
                    }
                }
                if n.words.count < 2 { b.diags.error(.missingArgument, n.loc, "'status_code' needs at least one code") }
            case "virtualhost": u.virtualhost = b.arg(n)?.text
            case "regex": u.regex = b.arg(n)?.text
            case "regex_no_match": u.regexNoMatch = true
            case "regex_options":
                for w in n.args {
                    switch HTTPBodyPattern.support(of: w.text) {
                    case .applied, .noEffect: u.regexOptions.append(w.text)
                    case .unsupported:
                        b.diags.warning(.unsupportedKeyword, w.loc, "regex option '\(w.text)' is not supported by Vigil's matcher; it is ignored")
                    case .unknown:
                        b.diags.warning(.invalidValue, w.loc, "unknown regex option '\(w.text)'; it is ignored (keepalived ignores it too)")
                    }
                }
            case "regex_min_offset": u.regexMinOffset = b.int(n, 0...Int(Int32.max))
            case "regex_max_offset": u.regexMaxOffset = b.int(n, 0...Int(Int32.max))
            default: break
            }
        }
        if u.path == nil { diags.error(.missingRequired, node.loc, "url block has no 'path'") }
        let regexLoc = (node.children ?? []).first { $0.keyword == "regex" }?.loc ?? node.loc
        if let pattern = u.regex {
            if let lo = u.regexMinOffset, let hi = u.regexMaxOffset, lo > hi {
                diags.warning(.invalidValue, regexLoc, "regex_min_offset \(lo) is beyond regex_max_offset \(hi); both are ignored (as keepalived does)")
                u.regexMinOffset = nil
                u.regexMaxOffset = nil
            }
            do {
                _ = try HTTPBodyPattern(pattern: pattern, options: u.regexOptions)
            } catch {
                diags.error(.invalidValue, regexLoc, "\(error)")
                u.regex = nil
            }
        } else if u.regexNoMatch || !u.regexOptions.isEmpty || u.regexMinOffset != nil || u.regexMaxOffset != nil {
            diags.warning(.missingRequired, node.loc, "regex parameters specified without regex; they are ignored")
        }
        return u
    }
}

func hexBytes(_ s: String) -> [UInt8]? {
    let u = Array(s.utf8)
    guard u.count % 2 == 0, !u.isEmpty else { return nil }
    var out: [UInt8] = []
    var i = 0
    while i < u.count {
        guard let h = UInt8(String(decoding: u[i..<(i + 2)], as: UTF8.self), radix: 16) else { return nil }
        out.append(h)
        i += 2
    }
    return out
}
