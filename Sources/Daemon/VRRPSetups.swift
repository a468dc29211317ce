import KeepalivedConfig
import NetCore
import NetlinkCodec
import VRRP
import VRRPCore

/// A configuration that `vigil check` accepted but that cannot be run here (an interface without
/// an address to advertise from, a route line that does not parse), naming the instance.
public struct SetupError: Error, CustomStringConvertible, Equatable {
    public var instance: String
    public var message: String
    public var description: String { "(\(instance)) \(message)" }
}

/// What the VRRP service needs from a configuration.
public struct VRRPPlan: Sendable {
    public var instances: [VRRPInstanceSetup] = []
    public var syncGroups: [SyncGroupSetup] = []
    public var scripts: [VRRPScriptConfig] = []
    public var trackFiles: [TrackFileConfig] = []
    public var trackProcesses: [TrackProcessConfig] = []
    public var scriptUser: VRRP.ScriptUser?
    public var notifyFIFO: String?
    /// Things the configuration asks for that Vigil's VRRP does not do yet, to be logged.
    public var unsupported: [String] = []
}

/// Maps `vrrp_instance`, `vrrp_sync_group`, `vrrp_script` and `track_file` blocks onto the VRRP
/// module's types, with keepalived's defaults and the global_defs fallbacks.
public enum VRRPSetups {
    /// - Parameter primaryAddress: the interface's first address of the family (IPv6: link-local),
    ///   used as the advert source when neither `mcast_src_ip` nor `unicast_src_ip` is set.
    public static func plan(
        from config: KeepalivedConfiguration,
        primaryAddress: (String, AddressFamily) throws -> IPAddress?
    ) throws -> VRRPPlan {
        let g = config.global
        var plan = VRRPPlan()
        plan.scriptUser = g.scriptUser.flatMap { VRRP.ScriptUser(name: $0.user, group: $0.group) }
        plan.notifyFIFO = (g.vrrpNotifyFifo ?? g.notifyFifo)?.path

        let usedScripts = Set(config.instances.flatMap { $0.trackScripts.map(\.name) } + config.syncGroups.flatMap { $0.trackScripts.map(\.name) })
        for s in config.vrrpScripts where usedScripts.contains(s.name) {
            guard let cmd = s.script else { continue }
            var sc = VRRPScriptConfig(name: s.name, command: VRRP.ScriptCommand(argv: cmd.argv))
            sc.interval = s.effectiveInterval
            sc.timeout = s.effectiveTimeout
            sc.rise = s.effectiveRise
            sc.fall = s.effectiveFall
            sc.user = s.user.flatMap { VRRP.ScriptUser(name: $0.user, group: $0.group) }
            sc.initFail = s.initFail
            plan.scripts.append(sc)
        }
        for f in config.trackFiles {
            guard let path = f.file else { continue }
            plan.trackFiles.append(TrackFileConfig(name: f.name, path: path))
        }

        let usedProcesses = Set(config.instances.flatMap { $0.trackProcesses.map(\.name) })
        for t in config.trackProcesses where usedProcesses.contains(t.name) && !t.process.isEmpty {
            let match: ProcessTrackRule.ParamMatch = t.paramMatch == "partial" ? .partial : t.paramMatch == "initial" ? .initial : .exact
            var tp = TrackProcessConfig(rule: ProcessTrackRule(
                name: t.name, process: t.process, paramMatch: match, fullCommand: t.fullCommand,
                quorum: t.quorum ?? 1, quorumMax: t.quorumMax))
            // `delay` already set both in the model (the last of the three keywords wins).
            tp.forkDelay = t.forkDelay ?? .zero
            tp.terminateDelay = t.terminateDelay ?? .zero
            plan.trackProcesses.append(tp)
        }
        for inst in config.instances {
            plan.instances.append(try setup(inst, config: config, primaryAddress: primaryAddress, unsupported: &plan.unsupported))
        }
        for sg in config.syncGroups {
            plan.syncGroups.append(SyncGroupSetup(group: SyncGroup(name: sg.name, members: sg.members), notify: notify(sg.notify)))
            if !(sg.trackInterfaces.isEmpty && sg.trackScripts.isEmpty && sg.trackFiles.isEmpty) {
                plan.unsupported.append("VRRP_Group(\(sg.name)) tracking on a sync group is not supported yet; put the trackers on its instances")
            }
        }
        return plan
    }

    static func setup(
        _ inst: KeepalivedConfig.VRRPInstance, config: KeepalivedConfiguration,
        primaryAddress: (String, AddressFamily) throws -> IPAddress?, unsupported: inout [String]
    ) throws -> VRRPInstanceSetup {
        let g = config.global
        let name = inst.name
        guard let interface = inst.interface ?? g.defaultInterface else {
            throw SetupError(instance: name, message: "no interface configured")
        }
        guard let vrid = inst.virtualRouterID, (1...255).contains(vrid) else {
            throw SetupError(instance: name, message: "the virtual router id must be set")
        }
        let family = inst.family
        let source = inst.mcastSourceIP ?? inst.unicastSourceIP
        guard let primary = try source ?? primaryAddress(interface, family) else {
            throw SetupError(instance: name, message: "interface \(interface) has no \(family == .inet ? "IPv4" : "IPv6 link-local") address to send adverts from")
        }
        let group: IPAddress? = inst.mcastDestinationIP ?? (family == .inet ? g.vrrpMcastGroup4.map(IPAddress.v4) : g.vrrpMcastGroup6.map(IPAddress.v6))
        var c = VRRPInstanceConfig(
            name: name, interface: interface, vrid: UInt8(vrid),
            version: inst.effectiveVersion(global: g) == 3 ? .v3 : .v2,
            priority: UInt8(clamping: inst.effectivePriority),
            advertInterval: inst.effectiveAdvertInterval, primaryAddress: primary,
            virtualAddresses: inst.virtualAddresses.map(\.address), multicastGroup: group)
        c.preempt = inst.effectivePreempt
        c.preemptDelay = inst.preemptDelay ?? .zero
        if let auth = inst.authentication {
            switch auth.type {
            case .pass: c.authentication = .password(Array((auth.password ?? "").utf8.prefix(8)))
            case .ah: c.authentication = .ah
            case nil: break
            }
        }
        c.unicastPeers = inst.unicastPeers.map(\.address)
        c.checkUnicastSource = inst.checkUnicastSource ?? g.vrrpCheckUnicastSrc
        c.downTimerAdverts = inst.downTimerAdverts ?? g.vrrpDownTimerAdverts ?? 3
        var garp = GratuitousSchedule()
        if let v = inst.garpMasterDelay ?? g.vrrpGarpMasterDelay { garp.masterDelay = v }
        if let v = inst.garpMasterRepeat ?? g.vrrpGarpMasterRepeat { garp.masterRepeat = v }
        if let v = inst.garpMasterRefresh ?? g.vrrpGarpMasterRefresh { garp.masterRefresh = v }
        if let v = inst.garpMasterRefreshRepeat ?? g.vrrpGarpMasterRefreshRepeat { garp.masterRefreshRepeat = v }
        garp.lowerPriorityDelay = inst.garpLowerPrioDelay ?? g.vrrpGarpLowerPrioDelay
        garp.lowerPriorityRepeat = inst.garpLowerPrioRepeat ?? g.vrrpGarpLowerPrioRepeat
        if g.vrrpMinGarp == true {
            garp.masterDelay = .zero
            garp.masterRepeat = 1
        }
        c.gratuitous = garp
        let strict = inst.isStrict(global: g)
        c.strict = strict
        c.ownerIgnoresAdverts = strict
        c.lowerPriorityNoAdvert = inst.lowerPrioNoAdvert ?? g.vrrpLowerPrioNoAdvert ?? strict
        c.higherPrioritySendAdvert = inst.higherPrioSendAdvert ?? g.vrrpHigherPrioSendAdvert ?? false
        c.skipCheckAdvertAddresses = inst.skipCheckAdvAddr ?? g.vrrpSkipCheckAdvAddr ?? false
        c.v3ChecksumAsV2 = g.v3ChecksumAsV2 ?? false

        let scriptWeights = Dictionary(config.vrrpScripts.map { ($0.name, ($0.weight ?? 0, $0.weightReverse)) }, uniquingKeysWith: { a, _ in a })
        let fileWeights = Dictionary(config.trackFiles.map { ($0.name, ($0.weight ?? 1, $0.weightReverse)) }, uniquingKeysWith: { a, _ in a })
        c.trackers = inst.trackInterfaces.map { Tracker(name: $0.name, kind: .interface, weight: $0.weight ?? 0, reverse: $0.reverse) }
            + inst.trackScripts.map { t in
                let (w, r) = scriptWeights[t.name] ?? (0, false)
                return Tracker(name: t.name, kind: .script, weight: t.weight ?? w, reverse: t.weight != nil ? t.reverse : r)
            }
            + inst.trackFiles.map { t in
                let (w, r) = fileWeights[t.name] ?? (1, false)
                return Tracker(name: t.name, kind: .file, weight: t.weight ?? w, reverse: t.weight != nil ? t.reverse : r)
            }
        let processWeights = Dictionary(config.trackProcesses.map { ($0.name, ($0.weight ?? 0, $0.weightReverse)) }, uniquingKeysWith: { a, _ in a })
        c.trackers += inst.trackProcesses.map { t in
            let (w, r) = processWeights[t.name] ?? (0, false)
            return Tracker(name: t.name, kind: .process, weight: t.weight ?? w, reverse: t.weight != nil ? t.reverse : r)
        }
        if !inst.trackBFD.isEmpty { unsupported.append("(\(name)) track_bfd is not supported yet") }

        let vips = (inst.virtualAddresses + inst.excludedAddresses).map { v in
            VirtualIP(
                prefix: IPPrefix(address: v.address, length: v.effectivePrefixLength), device: v.device ?? interface,
                label: v.label, scope: v.scope.flatMap(VirtualIP.Scope.init(rawValue:)),
                broadcast: v.broadcast.flatMap { IPv4Address($0) })
        }
        let routes = try inst.virtualRoutes.map { r -> VirtualRoute in
            do {
                let (spec, dev) = try RouteWords.route(r.words)
                return VirtualRoute(spec: spec, device: dev ?? interface)
            } catch let e as RouteWords.ParseError {
                throw SetupError(instance: name, message: "virtual_routes '\(r.words.joined(separator: " "))': \(e.message)")
            }
        }
        let rules = try inst.virtualRules.map { r -> NetlinkCodec.RuleSpec in
            do { return try RouteWords.rule(r.words) } catch let e as RouteWords.ParseError {
                throw SetupError(instance: name, message: "virtual_rules '\(r.words.joined(separator: " "))': \(e.message)")
            }
        }
        return VRRPInstanceSetup(config: c, vips: vips, routes: routes, rules: rules, notify: notify(inst.notify))
    }

    static func notify(_ n: NotifyScripts) -> NotifyConfig {
        var out = NotifyConfig()
        func cmd(_ c: KeepalivedConfig.ScriptCommand?) -> VRRP.ScriptCommand? { c.map { VRRP.ScriptCommand(argv: $0.argv) } }
        out.master = cmd(n.master)
        out.backup = cmd(n.backup)
        out.fault = cmd(n.fault)
        out.stop = cmd(n.stop)
        out.masterRxLowerPriority = cmd(n.masterRxLowerPriority)
        out.notify = cmd(n.generic)
        return out
    }
}

/// iproute2's `ip route` / `ip rule` argument syntax, as keepalived's `virtual_routes` and
/// `virtual_rules` take it (the subset keepalived documents: src, via/gw, dev, table, metric,
/// scope, blackhole/unreachable/prohibit; from, to, table, preference/priority, fwmark, iif, oif).
public enum RouteWords {
    public struct ParseError: Error, Equatable {
        public var message: String
    }

    /// A walk over the words: the keyword at hand and the value that follows it.
    struct Cursor {
        let words: [String]
        var i = 0

        var word: String { words[i] }

        /// The word after the current keyword (moving onto it).
        mutating func value() throws(ParseError) -> String {
            guard i + 1 < words.count else { throw ParseError(message: "'\(words[i])' needs a value") }
            i += 1
            return words[i]
        }

        /// The next word parsed by `parse`; "bad WHAT 'word'" when it does not parse.
        mutating func value<T>(_ what: String, _ parse: (String) -> T?) throws(ParseError) -> T {
            let v = try value()
            guard let t = parse(v) else { throw ParseError(message: "bad \(what) '\(v)'") }
            return t
        }
    }

    public static func route(_ words: [String]) throws(ParseError) -> (NetlinkCodec.RouteSpec, device: String?) {
        var c = Cursor(words: words)
        var type = RouteType.unicast
        var destination: IPPrefix?
        var spec = NetlinkCodec.RouteSpec(destination: IPPrefix(address: .v4(IPv4Address(0)), length: 0))
        var device: String?
        while c.i < words.count {
            let w = c.word
            switch w {
            case "blackhole": type = .blackhole
            case "unreachable": type = .unreachable
            case "prohibit": type = .prohibit
            case "src": spec.source = try c.value("src address") { IPAddress($0) }
            case "via", "gw": spec.gateway = try c.value("gateway") { IPAddress($0) }
            case "dev", "oif": device = try c.value()
            case "table": spec.table = try c.value("table", tableID)
            case "metric", "preference", "priority": spec.metric = try c.value("metric") { UInt32($0) }
            case "scope": spec.scope = try c.value("scope", scope)
            case "onlink": spec.onLink = true
            case "to", "no_track":
                // `to` only introduces the destination (`ip route add to PREFIX`); Vigil does not
                // watch its routes, so every route is `no_track` already.
                break
            default:
                guard destination == nil, let p = w == "default" ? IPPrefix(address: .v4(IPv4Address(0)), length: 0) : IPPrefix(w) else {
                    throw ParseError(message: "unexpected '\(w)'")
                }
                destination = p
            }
            c.i += 1
        }
        guard let destination else { throw ParseError(message: "no destination") }
        spec.destination = destination
        spec.type = type
        return (spec, device)
    }

    public static func rule(_ words: [String]) throws(ParseError) -> RuleSpec {
        var c = Cursor(words: words)
        var spec = RuleSpec()
        func prefix(_ v: String) throws(ParseError) -> IPPrefix? {
            if v == "all" { return nil }
            guard let p = IPPrefix(v) else { throw ParseError(message: "bad prefix '\(v)'") }
            return p
        }
        while c.i < words.count {
            switch c.word {
            case "from": spec.from = try prefix(try c.value())
            case "to": spec.to = try prefix(try c.value())
            case "table", "lookup": spec.table = try c.value("table", tableID)
            case "preference", "priority", "pref": spec.priority = try c.value("preference") { UInt32($0) }
            case "fwmark":
                let v = try c.value()
                let parts = v.split(separator: "/")
                guard let m = parseNumber(parts[0]) else { throw ParseError(message: "bad fwmark '\(v)'") }
                spec.fwmark = m
                if parts.count > 1 { spec.fwmask = parseNumber(parts[1]) }
            case "iif": spec.inputInterface = try c.value()
            case "oif": spec.outputInterface = try c.value()
            case "no_track": break
            default: throw ParseError(message: "unexpected '\(c.word)'")
            }
            c.i += 1
        }
        spec.family = spec.from?.address.family ?? spec.to?.address.family ?? .inet
        return spec
    }

    static func parseNumber(_ s: Substring) -> UInt32? {
        s.hasPrefix("0x") ? UInt32(s.dropFirst(2), radix: 16) : UInt32(s)
    }

    static func tableID(_ v: String) -> UInt32? {
        switch v {
        case "main": RouteTable.main
        case "local": 255
        case "default": 253
        default: UInt32(v)
        }
    }

    static func scope(_ v: String) -> AddressScope? {
        switch v {
        case "global", "universe": .global
        case "site": .site
        case "link": .link
        case "host": .host
        case "nowhere": .nowhere
        default: nil
        }
    }
}
