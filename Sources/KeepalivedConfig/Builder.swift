import NetCore

// Builds the typed model from the syntax tree, checking every keyword's place and value.

struct Builder {
    var diags: DiagnosticSink
    var config = KeepalivedConfiguration()
    /// Where each named object was defined, for the validator's messages.
    var locations = Locations()

    struct Locations {
        var instances: [Loc] = []
        var instanceKeys: [[String: Loc]] = []
        var virtualServers: [Loc] = []
        var realServers: [[Loc]] = []
        var vsKeys: [[String: Loc]] = []
        var syncGroups: [Loc] = []
        var syncGroupMembers: [[Loc]] = []
        var vrrpScripts: [Loc] = []
        var trackScriptRefs: [(instance: Int, name: String, loc: Loc)] = []
        var syncTrackScriptRefs: [(name: String, loc: Loc)] = []
        var scripts: [(ScriptCommand, Loc, ScriptUser?, Bool)] = []
        var interfaces: [(String, Loc)] = []
        var globalKeys: [String: Loc] = [:]
        var trackFileRefs: [(name: String, loc: Loc)] = []
        var trackFileDefs: Set<String> = []
    }

    init(diags: DiagnosticSink) { self.diags = diags }

    // MARK: - Keyword dispatch

    /// Iterates the statements of a block of `kind`. Reports unknown, misplaced, deprecated,
    /// newer and unsupported keywords; calls `body` for each keyword Vigil acts on (and for
    /// deprecated ones that are still accepted). Returns the recognised-but-unsupported
    /// statements verbatim.
    mutating func each(_ children: [SyntaxNode], _ kind: BlockKind,
                       _ body: (inout Builder, SyntaxNode, KeywordSpec) -> Void) -> [RawStatement] {
        var other: [RawStatement] = []
        for node in children {
            let kw = node.keyword
            guard let spec = Schema.lookup(kw, in: kind) else {
                reportUnknown(node, in: kind)
                continue
            }
            if let child = spec.block {
                if node.children == nil && !spec.blockOptional {
                    diags.error(.missingBlock, node.loc, "'\(kw)' must be followed by a '{' … '}' block")
                    continue
                }
                _ = child
            } else if node.children != nil {
                diags.error(.unexpectedBrace, node.openLoc ?? node.loc, "'\(kw)' does not take a block; the block is ignored")
            }
            switch spec.support {
            case .acted, .deprecated:
                if case .atMost(let max)? = spec.arity { extra(node, max: max, in: kind) }
            case .recognised, .newer:
                break
            }
            switch spec.support {
            case .acted:
                body(&self, node, spec)
            case .recognised:
                diags.note(.unsupportedKeyword, node.loc, "keyword '\(kw)' is recognised but not supported by Vigil; it has no effect")
                other.append(raw(node))
            case .deprecated(let replacement):
                diags.warning(.deprecatedKeyword, node.loc, "'\(kw)' is deprecated - please use '\(replacement)'")
                body(&self, node, spec)
            case .newer(let version):
                diags.warning(.newerKeyword, node.loc, "'\(kw)' needs keepalived \(version) or later (keepalived 2.2.7 rejects it); Vigil recognises it but does not act on it")
                other.append(raw(node))
            }
        }
        return other
    }

    mutating func reportUnknown(_ node: SyntaxNode, in kind: BlockKind) {
        let kw = node.keyword
        let isBlock = node.children != nil
        if let homes = Schema.homes[kw], !homes.isEmpty {
            let names = homes.map { $0.displayName }
            var unique: [String] = []
            for n in names where !unique.contains(n) { unique.append(n) }
            let where_ = unique.joined(separator: ", ")
            if kw == "nb_get_retry" {
                diags.error(.misplacedKeyword, node.loc, "Unknown keyword 'nb_get_retry' in \(kind.displayName)",
                            hint: "'nb_get_retry' only exists inside HTTP_GET/SSL_GET (and is deprecated there); use 'retry' here or inside the checker")
            } else {
                diags.error(.misplacedKeyword, node.loc, "keyword '\(kw)' is not valid in \(kind.displayName)",
                            hint: "'\(kw)' belongs in \(where_)")
            }
        } else if isBlock {
            diags.error(.unknownBlock, node.loc, "Unknown block '\(kw)' in \(kind.displayName); its contents are skipped")
        } else {
            diags.error(.unknownKeyword, node.loc, "Unknown keyword '\(kw)' in \(kind.displayName)")
        }
    }

    func raw(_ node: SyntaxNode) -> RawStatement {
        RawStatement(keyword: node.keyword, arguments: node.args.map(\.text), children: node.children.map { $0.map(raw) })
    }

    // MARK: - Values

    mutating func arg(_ node: SyntaxNode, _ i: Int = 1, what: String? = nil) -> Word? {
        if i < node.words.count { return node.words[i] }
        diags.error(.missingArgument, node.loc, "'\(node.keyword)' needs \(what ?? "a value")")
        return nil
    }

    /// Warns about words after the first `max` arguments: keepalived drops them without a word,
    /// which hides mistakes such as two keywords on one line. `kind` is the block the statement
    /// is in, to recognise a second keyword among the extra words.
    mutating func extra(_ node: SyntaxNode, max: Int, in kind: BlockKind? = nil) {
        guard node.words.count > max + 1 else { return }
        let rest = node.words[(max + 1)...]
        var shown = rest.map(\.text).joined(separator: " ")
        if shown.count > 60 { shown = String(shown.prefix(59)) + "…" }
        let first = rest.first!
        let hint: String
        if let kind, first.text != node.keyword, Schema.lookup(first.text, in: kind) != nil {
            hint = "'\(first.text)' is a keyword of its own: each \(kind.displayName) keyword needs its own line (keepalived also ignores the rest of the line)"
        } else if max == 0 {
            hint = "'\(node.keyword)' takes no arguments"
        } else {
            hint = "'\(node.keyword)' takes at most \(max) argument\(max == 1 ? "" : "s")"
        }
        diags.warning(.extraArgument, first.loc, "extra arguments after '\(node.keyword)' are ignored: '\(shown)'", hint: hint)
    }

    mutating func int(_ node: SyntaxNode, _ range: ClosedRange<Int>, _ i: Int = 1) -> Int? {
        guard let w = arg(node, i, what: "a number") else { return nil }
        return int(w, range, node.keyword)
    }

    mutating func int(_ w: Word, _ range: ClosedRange<Int>, _ what: String) -> Int? {
        guard let v = Int(w.text) else {
            diags.error(.invalidValue, w.loc, "\(what): '\(w.text)' is not a valid number")
            return nil
        }
        guard range.contains(v) else {
            diags.error(.valueOutOfRange, w.loc, "\(what): number '\(w.text)' outside range [\(range.lowerBound), \(range.upperBound)]")
            return nil
        }
        return v
    }

    /// keepalived TIMER: decimal seconds with µs resolution.
    mutating func timer(_ node: SyntaxNode, min: Duration = .microseconds(0), max: Duration = .seconds(4294), _ i: Int = 1) -> Duration? {
        guard let w = arg(node, i, what: "a time in seconds") else { return nil }
        guard let d = parseTimer(w.text) else {
            diags.error(.invalidValue, w.loc, "\(node.keyword): '\(w.text)' is not a valid time (decimal seconds, at most 6 decimals)")
            return nil
        }
        guard d >= min && d <= max else {
            diags.error(.valueOutOfRange, w.loc, "\(node.keyword): '\(w.text)' outside range [\(fmt(min)), \(fmt(max))] seconds")
            return nil
        }
        return d
    }

    func fmt(_ d: Duration) -> String {
        let us = d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000
        if us % 1_000_000 == 0 { return String(us / 1_000_000) }
        var frac = String(us % 1_000_000)
        while frac.count < 6 { frac = "0" + frac }
        while frac.hasSuffix("0") { frac.removeLast() }
        return "\(us / 1_000_000).\(frac)"
    }

    /// Optional BOOL argument: absent means true.
    mutating func bool(_ node: SyntaxNode, _ i: Int = 1) -> Bool? {
        guard i < node.words.count else { return true }
        let w = node.words[i]
        switch w.text.lowercased() {
        case "on", "true", "yes": return true
        case "off", "false", "no": return false
        default:
            diags.error(.invalidValue, w.loc, "\(node.keyword): '\(w.text)' is not a boolean (on/off, true/false, yes/no)")
            return nil
        }
    }

    mutating func ip(_ w: Word, _ what: String) -> IPAddress? {
        if let a = IPAddress(w.text) { return a }
        diags.error(.invalidAddress, w.loc, "\(what): invalid IP address '\(w.text)'")
        return nil
    }

    mutating func port(_ w: Word, _ what: String) -> Int? { int(w, 0...65535, what + " port") }

    mutating func script(_ node: SyntaxNode, user: ScriptUser? = nil, tracked: Bool = false) -> ScriptCommand? {
        guard node.words.count > 1 else {
            diags.error(.missingArgument, node.loc, "'\(node.keyword)' needs a script")
            return nil
        }
        // keepalived joins the words and splits the command line again for argv, so
        // `script "cmd arg"` and `script cmd arg` are the same.
        let cmd = ScriptCommand(node.args.map(\.text).joined(separator: " "))
        if cmd.argv.isEmpty {
            diags.error(.missingArgument, node.loc, "'\(node.keyword)' needs a script")
            return nil
        }
        locations.scripts.append((cmd, node.words[1].loc, user, tracked))
        return cmd
    }

    mutating func scriptUser(_ node: SyntaxNode) -> ScriptUser? {
        guard let u = arg(node, 1, what: "a user name") else { return nil }
        var user = u.text
        var group: String? = node.words.count > 2 ? node.words[2].text : nil
        if group == nil, let colon = user.firstIndex(of: ":") {
            group = String(user[user.index(after: colon)...])
            user = String(user[..<colon])
        }
        return ScriptUser(user: user, group: group)
    }

    mutating func weight(_ node: SyntaxNode, _ range: ClosedRange<Int>) -> (Int, Bool)? {
        guard let v = int(node, range) else { return nil }
        var reverse = false
        if node.words.count > 2 {
            if node.words[2].text == "reverse" { reverse = true } else {
                diags.error(.invalidValue, node.words[2].loc, "\(node.keyword): unexpected '\(node.words[2].text)' (expected 'reverse')")
            }
        }
        return (v, reverse)
    }

    // MARK: - Top level

    mutating func build(_ tree: [SyntaxNode]) {
        config.topLevel = each(tree, .top) { b, node, _ in b.topLevel(node) }
    }

    mutating func topLevel(_ node: SyntaxNode) {
        let kids = node.children ?? []
        switch node.keyword {
        case "global_defs": globalDefs(kids)
        case "static_ipaddress": config.staticAddresses += kids.compactMap { vip($0, context: "static_ipaddress") }
        case "static_routes": config.staticRoutes += kids.map { route($0) }
        case "static_rules": config.staticRules += kids.map { route($0) }
        case "track_file", "vrrp_track_file": trackFileBlock(node)
        case "vrrp_script": vrrpScript(node)
        case "vrrp_sync_group": syncGroup(node)
        case "vrrp_instance": instance(node)
        case "virtual_server_group": vsGroup(node)
        case "virtual_server": virtualServer(node)
        default: _ = otherTopLevel(node)
        }
    }

    mutating func name(_ node: SyntaxNode) -> String {
        // Extra words after the name are reported centrally (the block keyword's arity).
        if node.words.count > 1 { return node.words[1].text }
        diags.error(.missingArgument, node.loc, "'\(node.keyword)' needs a name")
        return ""
    }

    // MARK: - global_defs

    mutating func globalDefs(_ kids: [SyntaxNode]) {
        var g = config.global
        let other = each(kids, .globalDefs) { b, n, _ in
            b.locations.globalKeys[n.keyword] = n.loc
            switch n.keyword {
            case "router_id": g.routerID = b.arg(n)?.text
            case "notification_email": g.notificationEmails += (n.children ?? []).flatMap { $0.words.map(\.text) }
            case "notification_email_from": g.notificationEmailFrom = b.arg(n)?.text
            case "smtp_server":
                if let w = b.arg(n) {
                    _ = b.ip(w, "smtp_server")
                    g.smtpServer = w.text
                    if n.words.count > 2 { g.smtpServerPort = b.port(n.words[2], "smtp_server") }
                }
            case "smtp_connect_timeout": g.smtpConnectTimeout = b.timer(n)
            case "script_user": g.scriptUser = b.scriptUser(n)
            case "enable_script_security": g.enableScriptSecurity = true
            case "startup_script": g.startupScript = b.script(n)
            case "shutdown_script": g.shutdownScript = b.script(n)
            case "vrrp_mcast_group4":
                if let w = b.arg(n) {
                    if let a = IPv4Address(w.text), a.isMulticast { g.vrrpMcastGroup4 = a } else {
                        b.diags.error(.invalidAddress, w.loc, "vrrp_mcast_group4: '\(w.text)' is not an IPv4 multicast address")
                    }
                }
            case "vrrp_mcast_group6":
                if let w = b.arg(n) {
                    if let a = IPv6Address(w.text), a.isMulticast { g.vrrpMcastGroup6 = a } else {
                        b.diags.error(.invalidAddress, w.loc, "vrrp_mcast_group6: '\(w.text)' is not an IPv6 multicast address")
                    }
                }
            case "vrrp_version": g.vrrpVersion = b.int(n, 2...3)
            case "vrrp_garp_master_delay": g.vrrpGarpMasterDelay = b.timer(n, max: .seconds(255))
            case "vrrp_garp_master_repeat": g.vrrpGarpMasterRepeat = b.int(n, 1...255)
            case "vrrp_garp_master_refresh": g.vrrpGarpMasterRefresh = b.timer(n)
            case "vrrp_garp_master_refresh_repeat": g.vrrpGarpMasterRefreshRepeat = b.int(n, 1...255)
            case "vrrp_garp_lower_prio_delay": g.vrrpGarpLowerPrioDelay = b.timer(n, max: .seconds(255))
            case "vrrp_garp_lower_prio_repeat": g.vrrpGarpLowerPrioRepeat = b.int(n, 1...255)
            // keepalived 2.2.7 rejects 0 here although 0 is the documented default.
            case "vrrp_garp_interval", "vrrp_gna_interval":
                if n.words.count > 1, parseTimer(n.words[1].text) == .zero {
                    b.diags.error(.valueOutOfRange, n.words[1].loc, "\(n.keyword) '0' is invalid (keepalived 2.2.7 requires at least 0.000001)",
                                  hint: "remove the line: no delay between gratuitous ARPs/NAs is already the default")
                } else if n.keyword == "vrrp_garp_interval" {
                    g.vrrpGarpInterval = b.timer(n, min: .microseconds(1))
                } else {
                    g.vrrpGnaInterval = b.timer(n, min: .microseconds(1))
                }
            case "vrrp_min_garp": g.vrrpMinGarp = b.bool(n)
            case "vrrp_down_timer_adverts": g.vrrpDownTimerAdverts = b.int(n, 1...100)
            case "vrrp_lower_prio_no_advert": g.vrrpLowerPrioNoAdvert = b.bool(n)
            case "vrrp_higher_prio_send_advert": g.vrrpHigherPrioSendAdvert = b.bool(n)
            case "vrrp_strict": g.vrrpStrict = true
            case "vrrp_skip_check_adv_addr": g.vrrpSkipCheckAdvAddr = b.bool(n)
            case "vrrp_check_unicast_src": g.vrrpCheckUnicastSrc = true
            case "lvs_sync_daemon": g.lvsSyncDaemon = b.syncDaemon(n)
            case "lvs_timeouts": g.lvsTimeouts = b.lvsTimeouts(n)
            case "lvs_flush": g.lvsFlush = true
            case "lvs_flush_on_stop", "lvs_flush_onstop": g.lvsFlushOnStop = n.words.count > 1 ? n.words[1].text : ""
            case "notify_fifo": g.notifyFifo = b.fifo(n, g.notifyFifo)
            case "vrrp_notify_fifo": g.vrrpNotifyFifo = b.fifo(n, g.vrrpNotifyFifo)
            case "lvs_notify_fifo": g.lvsNotifyFifo = b.fifo(n, g.lvsNotifyFifo)
            case "notify_fifo_script": g.notifyFifo = b.fifoScript(n, g.notifyFifo)
            case "vrrp_notify_fifo_script": g.vrrpNotifyFifo = b.fifoScript(n, g.vrrpNotifyFifo)
            case "lvs_notify_fifo_script": g.lvsNotifyFifo = b.fifoScript(n, g.lvsNotifyFifo)
            case "vrrp_notify_priority_changes": g.vrrpNotifyPriorityChanges = b.bool(n)
            case "dynamic_interfaces": g.dynamicInterfaces = true
            case "default_interface": g.defaultInterface = b.arg(n)?.text
            default: break
            }
        }
        g.other += other
        config.global = g
    }

    mutating func fifo(_ n: SyntaxNode, _ old: NotifyFifo?) -> NotifyFifo? {
        guard let w = arg(n, 1, what: "a FIFO path") else { return old }
        var f = NotifyFifo(path: w.text)
        if n.words.count > 2 { f.user = ScriptUser(user: n.words[2].text, group: n.words.count > 3 ? n.words[3].text : nil) }
        f.script = old?.script
        f.scriptUser = old?.scriptUser
        return f
    }

    mutating func fifoScript(_ n: SyntaxNode, _ old: NotifyFifo?) -> NotifyFifo? {
        var f = old ?? NotifyFifo(path: "")
        if old == nil {
            diags.warning(.conflict, n.loc, "'\(n.keyword)' without the matching FIFO keyword before it has no effect")
        }
        f.script = script(n)
        return f
    }

    mutating func syncDaemon(_ n: SyntaxNode) -> LVSSyncDaemon? {
        guard let w = arg(n, 1, what: "an interface") else { return nil }
        var s = LVSSyncDaemon(interface: w.text)
        locations.interfaces.append((w.text, w.loc))
        var i = 2
        while i < n.words.count {
            let k = n.words[i]
            // `lvs_sync_daemon IF VI` with nothing after the instance name.
            if i == 2, i + 1 == n.words.count, !["inst", "id", "maxlen", "port", "ttl", "group"].contains(k.text) {
                s.instance = k.text
                break
            }
            guard i + 1 < n.words.count else {
                diags.error(.missingArgument, k.loc, "lvs_sync_daemon: '\(k.text)' needs a value")
                break
            }
            let v = n.words[i + 1]
            switch k.text {
            case "inst": s.instance = v.text
            case "id": s.syncID = int(v, 0...255, "lvs_sync_daemon id")
            case "maxlen": s.maxLength = int(v, 1...65507, "lvs_sync_daemon maxlen")
            case "port": s.port = int(v, 1...65535, "lvs_sync_daemon port")
            case "ttl": s.ttl = int(v, 1...255, "lvs_sync_daemon ttl")
            case "group": s.group = ip(v, "lvs_sync_daemon group")
            default:
                // keepalived 1.x form: `lvs_sync_daemon IF VI [id]`.
                if i == 2 { s.instance = k.text; i += 1; continue }
                diags.error(.invalidValue, k.loc, "lvs_sync_daemon: unknown option '\(k.text)'")
            }
            i += 2
        }
        return s
    }

    mutating func lvsTimeouts(_ n: SyntaxNode) -> LVSTimeouts {
        var t = LVSTimeouts()
        var i = 1
        while i < n.words.count {
            let k = n.words[i]
            guard i + 1 < n.words.count else { diags.error(.missingArgument, k.loc, "lvs_timeouts: '\(k.text)' needs a value"); break }
            let v = int(n.words[i + 1], 0...(86400 * 31), "lvs_timeouts \(k.text)")
            switch k.text {
            case "tcp": t.tcp = v
            case "tcpfin": t.tcpFin = v
            case "udp": t.udp = v
            default: diags.error(.invalidValue, k.loc, "lvs_timeouts: unknown protocol '\(k.text)' (expected tcp, tcpfin or udp)")
            }
            i += 2
        }
        return t
    }

    // MARK: - VRRP

    mutating func vip(_ n: SyntaxNode, context: String) -> VirtualAddress? {
        let w = n.words[0]
        var text = Substring(w.text)
        var plen: Int? = nil
        if let slash = text.firstIndex(of: "/") {
            let p = text[text.index(after: slash)...]
            text = text[..<slash]
            guard let v = Int(p) else {
                diags.error(.invalidValue, w.loc, "\(context): invalid prefix length in '\(w.text)'")
                return nil
            }
            plen = v
        }
        guard let a = IPAddress(text) else {
            diags.error(.invalidAddress, w.loc, "\(context): invalid address '\(w.text)'")
            return nil
        }
        if let p = plen, !(0...a.bitWidth).contains(p) {
            diags.error(.valueOutOfRange, w.loc, "\(context): prefix length \(p) outside range [0, \(a.bitWidth)]")
            return nil
        }
        var v = VirtualAddress(address: a)
        v.prefixLength = plen
        var i = 1
        let words = n.words
        func next() -> Word? {
            if i + 1 < words.count { i += 1; return words[i] }
            diags.error(.missingArgument, words[i].loc, "\(context): '\(words[i].text)' needs a value")
            return nil
        }
        while i < words.count {
            let k = words[i]
            switch k.text {
            case "dev": if let x = next() { v.device = x.text; locations.interfaces.append((x.text, x.loc)) }
            case "brd", "broadcast": if let x = next() {
                if x.text != "+" && x.text != "-" && IPAddress(x.text) == nil { diags.error(.invalidAddress, x.loc, "\(context): invalid broadcast '\(x.text)'") }
                v.broadcast = x.text
            }
            case "scope": if let x = next() {
                if !["site", "link", "host", "nowhere", "global"].contains(x.text) && Int(x.text) == nil {
                    diags.error(.invalidValue, x.loc, "\(context): unknown scope '\(x.text)'", hint: "use site, link, host, nowhere or global")
                }
                v.scope = x.text
            }
            case "label": if let x = next() { v.label = x.text }
            case "peer": if let x = next() {
                if let p = IPPrefix(x.text) { v.peer = p } else if let a = IPAddress(x.text) { v.peer = IPPrefix(address: a, length: a.bitWidth) } else {
                    diags.error(.invalidAddress, x.loc, "\(context): invalid peer '\(x.text)'")
                }
            }
            case "no_track": v.noTrack = true
            case "use_vmac": v.useVMAC = true
            case "home", "-nodad", "nodad", "mngtmpaddr", "noprefixroute", "autojoin": v.flags.append(k.text)
            case "preferred_lft": if let x = next() { v.flags += ["preferred_lft", x.text] }
            default:
                diags.error(.invalidValue, k.loc, "\(context): unknown address option '\(k.text)'",
                            hint: "options: dev, brd, scope, label, peer, home, -nodad, mngtmpaddr, noprefixroute, autojoin, no_track, preferred_lft, use_vmac")
            }
            i += 1
        }
        return v
    }

    /// A route/rule line; its `dev`/`oif`/`iif` interfaces are host-checked.
    mutating func route(_ n: SyntaxNode) -> RouteSpec {
        let w = n.words
        for i in 0..<(w.count - 1) where ["dev", "oif", "iif", "oifname", "iifname"].contains(w[i].text) {
            locations.interfaces.append((w[i + 1].text, w[i + 1].loc))
        }
        return RouteSpec(words: w.map(\.text))
    }

    mutating func tracked(_ kids: [SyntaxNode], range: ClosedRange<Int>, isInterface: Bool = false) -> [TrackedObject] {
        var out: [TrackedObject] = []
        for n in kids {
            var t = TrackedObject(name: n.words[0].text)
            if isInterface { locations.interfaces.append((t.name, n.loc)) }
            var i = 1
            while i < n.words.count {
                let w = n.words[i]
                switch w.text {
                case "weight":
                    if i + 1 < n.words.count { t.weight = int(n.words[i + 1], range, "\(t.name) weight"); i += 1 } else {
                        diags.error(.missingArgument, w.loc, "'weight' needs a value")
                    }
                case "reverse": t.reverse = true
                case "noreverse": t.reverse = false
                default: diags.error(.invalidValue, w.loc, "unexpected '\(w.text)' after '\(t.name)'", hint: "expected 'weight N [reverse]'")
                }
                i += 1
            }
            out.append(t)
        }
        return out
    }

    mutating func notifyScript(_ n: SyntaxNode, into s: inout NotifyScripts) -> Bool {
        switch n.keyword {
        case "notify_master": s.master = script(n)
        case "notify_backup": s.backup = script(n)
        case "notify_fault": s.fault = script(n)
        case "notify_stop": s.stop = script(n)
        case "notify_deleted": s.deleted = script(n)
        case "notify_master_rx_lower_pri": s.masterRxLowerPriority = script(n)
        case "notify": s.generic = script(n)
        default: return false
        }
        return true
    }

    mutating func instance(_ node: SyntaxNode) {
        var vi = VRRPInstance(name: name(node))
        var keys: [String: Loc] = [:]
        let index = config.instances.count
        let other = each(node.children ?? [], .vrrpInstance) { b, n, _ in
            if let prev = keys[n.keyword], !["track_interface", "track_script", "virtual_ipaddress", "unicast_peer", "virtual_routes", "virtual_rules", "virtual_ipaddress_excluded", "track_file", "track_process"].contains(n.keyword) {
                b.diags.warning(.duplicateKeyword, n.loc, "'\(n.keyword)' given twice in vrrp_instance \(vi.name); the last one wins",
                                hint: "first given at line \(prev.line)")
            }
            keys[n.keyword] = n.loc
            let kids = n.children ?? []
            if b.notifyScript(n, into: &vi.notify) { return }
            switch n.keyword {
            case "state":
                if let w = b.arg(n) {
                    if let s = InstanceState(rawValue: w.text.uppercased()) { vi.state = s } else {
                        b.diags.error(.invalidValue, w.loc, "(\(vi.name)) unknown state '\(w.text)'", hint: "use MASTER or BACKUP")
                    }
                }
            case "interface":
                if let w = b.arg(n) {
                    vi.interface = w.text
                    if w.text == "lo" {
                        b.diags.error(.invalidValue, w.loc, "(\(vi.name)) cannot use a loopback interface (lo) for vrrp")
                    } else {
                        b.locations.interfaces.append((w.text, w.loc))
                    }
                }
            case "virtual_router_id":
                if let w = b.arg(n) {
                    if let v = Int(w.text), (1...255).contains(v) { vi.virtualRouterID = v } else {
                        b.diags.error(.valueOutOfRange, w.loc, "(\(vi.name)) VRID '\(w.text)' not valid - must be between 1 & 255")
                    }
                }
            case "priority":
                if let w = b.arg(n) {
                    if let v = Int(w.text), (1...255).contains(v) { vi.priority = v } else {
                        b.diags.error(.valueOutOfRange, w.loc, "(\(vi.name)) Priority '\(w.text)' not valid! must be between 1 & 255",
                                      hint: "keepalived would use the default 100 instead")
                    }
                }
            case "advert_int": vi.advertInterval = b.timer(n, min: .milliseconds(10), max: .seconds(255))
            case "version": vi.version = b.int(n, 2...3)
            case "nopreempt": vi.preempt = false
            case "preempt": vi.preempt = true
            case "preempt_delay": vi.preemptDelay = b.timer(n, max: .seconds(1000))
            case "authentication":
                var auth = Authentication()
                _ = b.each(kids, .authentication) { b, a, _ in
                    switch a.keyword {
                    case "auth_type":
                        if let w = b.arg(a) {
                            if let t = AuthType(rawValue: w.text.uppercased()) { auth.type = t } else {
                                b.diags.error(.invalidValue, w.loc, "(\(vi.name)) unknown auth_type '\(w.text)'", hint: "use PASS or AH")
                            }
                        }
                    case "auth_pass":
                        if let w = b.arg(a) {
                            if w.text.utf8.count > 8 {
                                b.diags.error(.truncatedValue, w.loc, "Truncating auth_pass to 8 characters",
                                              hint: "VRRP PASS authentication carries only 8 bytes; keepalived truncates and reports an error")
                                auth.password = String(decoding: w.text.utf8.prefix(8), as: UTF8.self)
                            } else {
                                auth.password = w.text
                            }
                        }
                    default: break
                    }
                }
                if auth.type == .ah {
                    b.diags.note(.unsupportedKeyword, n.loc, "auth_type AH is recognised but not supported by Vigil")
                }
                vi.authentication = auth
            case "mcast_src_ip": if let w = b.arg(n) { vi.mcastSourceIP = b.ip(w, "mcast_src_ip") }
            case "unicast_src_ip": if let w = b.arg(n) { vi.unicastSourceIP = b.ip(w, "unicast_src_ip") }
            case "mcast_dst_ip":
                if let w = b.arg(n), let a = b.ip(w, "mcast_dst_ip") {
                    if !a.isMulticast { b.diags.error(.invalidAddress, w.loc, "mcast_dst_ip: '\(w.text)' is not a multicast address") } else { vi.mcastDestinationIP = a }
                }
            case "unicast_ttl": vi.unicastTTL = b.int(n, 1...255)
            case "unicast_fault_no_peer": vi.unicastFaultNoPeer = true
            case "check_unicast_src": vi.checkUnicastSource = true
            case "unicast_peer":
                for p in kids {
                    guard let a = b.ip(p.words[0], "unicast_peer") else { continue }
                    var peer = UnicastPeer(address: a)
                    var i = 1
                    while i < p.words.count {
                        let k = p.words[i]
                        if (k.text == "min_ttl" || k.text == "max_ttl") && i + 1 < p.words.count {
                            let v = b.int(p.words[i + 1], 0...255, k.text)
                            if k.text == "min_ttl" { peer.minTTL = v } else { peer.maxTTL = v }
                            i += 2
                            continue
                        }
                        b.diags.error(.invalidValue, k.loc, "unicast_peer: unexpected '\(k.text)'", hint: "expected 'min_ttl N' or 'max_ttl N'")
                        i += 1
                    }
                    vi.unicastPeers.append(peer)
                }
            case "virtual_ipaddress": vi.virtualAddresses += kids.compactMap { b.vip($0, context: "virtual_ipaddress") }
            case "virtual_ipaddress_excluded": vi.excludedAddresses += kids.compactMap { b.vip($0, context: "virtual_ipaddress_excluded") }
            case "virtual_routes": vi.virtualRoutes += kids.map { b.route($0) }
            case "virtual_rules": vi.virtualRules += kids.map { b.route($0) }
            case "track_interface": vi.trackInterfaces += b.tracked(kids, range: -253...253, isInterface: true)
            case "track_script":
                let t = b.tracked(kids, range: -253...253)
                for (o, k) in zip(t, kids) { b.locations.trackScriptRefs.append((index, o.name, k.loc)) }
                vi.trackScripts += t
            case "track_file":
                let t = b.tracked(kids, range: -254...254)
                for (o, k) in zip(t, kids) { b.locations.trackFileRefs.append((o.name, k.loc)) }
                vi.trackFiles += t
            case "track_process": vi.trackProcesses += b.tracked(kids, range: -254...254)
            case "dont_track_primary": vi.dontTrackPrimary = true
            case "notify_priority_changes": vi.notifyPriorityChanges = b.bool(n)
            case "smtp_alert": vi.smtpAlert = b.bool(n)
            case "accept": vi.accept = true
            case "no_accept": vi.accept = false
            case "strict_mode": vi.strictMode = b.bool(n)
            case "skip_check_adv_addr": vi.skipCheckAdvAddr = b.bool(n)
            case "lower_prio_no_advert": vi.lowerPrioNoAdvert = b.bool(n)
            case "higher_prio_send_advert": vi.higherPrioSendAdvert = b.bool(n)
            case "promote_secondaries": vi.promoteSecondaries = true
            case "garp_master_delay": vi.garpMasterDelay = b.timer(n, max: .seconds(255))
            case "garp_master_repeat": vi.garpMasterRepeat = b.int(n, 1...255)
            case "garp_master_refresh": vi.garpMasterRefresh = b.timer(n)
            case "garp_master_refresh_repeat": vi.garpMasterRefreshRepeat = b.int(n, 1...255)
            case "garp_lower_prio_delay": vi.garpLowerPrioDelay = b.timer(n, max: .seconds(255))
            case "garp_lower_prio_repeat": vi.garpLowerPrioRepeat = b.int(n, 1...255)
            case "down_timer_adverts": vi.downTimerAdverts = b.int(n, 1...100)
            case "native_ipv6", "linkbeat_use_polling", "lvs_sync_daemon_interface", "vmac_garp_intvl": vi.other.append(b.raw(n))
            default: break
            }
        }
        vi.other += other
        locations.instances.append(node.loc)
        locations.instanceKeys.append(keys)
        config.instances.append(vi)
    }

    mutating func syncGroup(_ node: SyntaxNode) {
        var g = VRRPSyncGroup(name: name(node))
        var memberLocs: [Loc] = []
        let other = each(node.children ?? [], .syncGroup) { b, n, _ in
            let kids = n.children ?? []
            if b.notifyScript(n, into: &g.notify) { return }
            switch n.keyword {
            case "group":
                for k in kids { for w in k.words { g.members.append(w.text); memberLocs.append(w.loc) } }
            case "track_interface": g.trackInterfaces += b.tracked(kids, range: -253...253, isInterface: true)
            case "track_script":
                let t = b.tracked(kids, range: -253...253)
                for (o, k) in zip(t, kids) { b.locations.syncTrackScriptRefs.append((o.name, k.loc)) }
                g.trackScripts += t
            case "track_file":
                let t = b.tracked(kids, range: -254...254)
                for (o, k) in zip(t, kids) { b.locations.trackFileRefs.append((o.name, k.loc)) }
                g.trackFiles += t
            case "track_process": g.trackProcesses += b.tracked(kids, range: -254...254)
            case "smtp_alert": g.smtpAlert = b.bool(n)
            case "notify_priority_changes": g.notifyPriorityChanges = b.bool(n)
            case "global_tracking": g.other.append(b.raw(n))
            default: break
            }
        }
        g.other += other
        if g.members.isEmpty {
            diags.error(.missingRequired, node.loc, "vrrp_sync_group \(g.name) has no 'group { … }' of instances")
        }
        locations.syncGroups.append(node.loc)
        locations.syncGroupMembers.append(memberLocs)
        config.syncGroups.append(g)
    }

    mutating func vrrpScript(_ node: SyntaxNode) {
        var s = VRRPScript(name: name(node))
        _ = each(node.children ?? [], .vrrpScript) { b, n, _ in
            switch n.keyword {
            case "script": s.script = b.script(n, user: s.user, tracked: true)
            // keepalived 2.2.7 takes whole seconds here (1-4294).
            case "interval": s.interval = b.int(n, 1...4294).map { .seconds($0) }
            case "timeout": s.timeout = b.int(n, 1...4294).map { .seconds($0) }
            case "weight": if let (w, r) = b.weight(n, -253...253) { s.weight = w; s.weightReverse = r }
            case "rise": s.rise = b.int(n, 1...Int(Int32.max))
            case "fall": s.fall = b.int(n, 1...Int(Int32.max))
            case "user": s.user = b.scriptUser(n)
            case "init_fail": s.initFail = true
            default: break
            }
        }
        if s.script == nil { diags.error(.missingRequired, node.loc, "vrrp_script \(s.name) has no 'script'") }
        locations.vrrpScripts.append(node.loc)
        config.vrrpScripts.append(s)
    }

    mutating func trackFileBlock(_ node: SyntaxNode) {
        var f = TrackFile(name: name(node))
        _ = each(node.children ?? [], .trackFile) { b, n, _ in
            switch n.keyword {
            case "file": f.file = b.arg(n)?.text
            case "weight": if let (w, r) = b.weight(n, -254...254) { f.weight = w; f.weightReverse = r }
            case "init_file": f.initFile = n.args.map(\.text)
            default: break
            }
        }
        if f.file == nil { diags.error(.missingRequired, node.loc, "track_file \(f.name) has no 'file'") }
        locations.trackFileDefs.insert(f.name)
        config.trackFiles.append(f)
    }
}
