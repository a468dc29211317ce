#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NetCore

// Cross-block checks (keepalived.md §1.2, §2.5, §2.11, §3) and host checks like `keepalived -t`.

struct Validator {
    var diags: DiagnosticSink
    var config: KeepalivedConfiguration
    let loc: Builder.Locations

    init(builder: Builder) {
        self.diags = builder.diags
        self.config = builder.config
        self.loc = builder.locations
    }

    mutating func validate() {
        validateInstances()
        validateSyncGroups()
        validateVirtualServers()
    }

    // MARK: - VRRP

    mutating func validateInstances() {
        let g = config.global
        var names: [String: Int] = [:]
        let scripts = Set(config.vrrpScripts.map(\.name))
        for (i, vi) in config.instances.enumerated() {
            let at = loc.instances[i]
            let keys = loc.instanceKeys[i]
            if let prev = names[vi.name] {
                diags.error(.duplineName, at, "vrrp_instance \(vi.name) is defined twice", hint: "first defined at line \(loc.instances[prev].line)")
            }
            names[vi.name] = i
            if vi.virtualRouterID == nil && keys["virtual_router_id"] == nil {
                diags.error(.missingRequired, at, "(\(vi.name)) the virtual router id must be set", hint: "add 'virtual_router_id N' (1-255), the same on every router of this group")
            }
            if vi.interface == nil && g.defaultInterface == nil && vi.unicastPeers.isEmpty {
                diags.warning(.missingRequired, at, "(\(vi.name)) no 'interface' given; keepalived falls back to the default interface (eth0)")
            }
            if vi.virtualAddresses.isEmpty && vi.excludedAddresses.isEmpty {
                diags.warning(.missingRequired, at, "(\(vi.name)) has no virtual_ipaddress")
            }
            // All advertised VIPs share one family (keepalived.md §2.9).
            if let fam = vi.virtualAddresses.first?.address.family,
               vi.virtualAddresses.contains(where: { $0.address.family != fam }) {
                diags.error(.conflict, keys["virtual_ipaddress"] ?? at, "(\(vi.name)) virtual_ipaddress mixes IPv4 and IPv6 addresses",
                            hint: "put the other family in virtual_ipaddress_excluded")
            }
            if vi.family == .inet6 && vi.version == 2 {
                diags.warning(.conflict, keys["version"] ?? at, "(\(vi.name)) VRRP version 2 does not support IPv6; version 3 is used")
            }
            if vi.effectiveVersion(global: g) == 2, let adv = vi.advertInterval, adv.components.attoseconds != 0 {
                diags.warning(.invalidValue, keys["advert_int"] ?? at, "(\(vi.name)) VRRPv2 advert_int must be whole seconds; it is rounded")
            }
            if vi.state == .master && vi.preempt == false {
                diags.error(.conflict, keys["nopreempt"] ?? at, "(\(vi.name)) nopreempt needs initial state BACKUP (it is MASTER)",
                            hint: "use 'state BACKUP' on every router when using nopreempt")
            }
            if vi.priority == 255 {
                diags.warning(.addressOwner, keys["priority"] ?? at, "(\(vi.name)) priority 255 makes this router the address owner; it must own (have configured) every VIP",
                              hint: "use a priority of 254 or lower unless the VIPs are this host's own addresses")
            }
            if vi.state == .master && vi.authentication?.type == .ah {
                diags.error(.conflict, keys["authentication"] ?? at, "(\(vi.name)) Initial state master is incompatible with AH authentication",
                            hint: "keepalived clears the AH authentication; use state BACKUP or no AH")
            }
            if vi.isStrict(global: g) {
                let sat = keys["strict_mode"] ?? loc.globalKeys["vrrp_strict"] ?? at
                if vi.authentication != nil {
                    diags.error(.strictMode, keys["authentication"] ?? at, "(\(vi.name)) Strict mode does not support authentication",
                                hint: "remove 'authentication' or 'vrrp_strict' (keepalived ignores the authentication)")
                }
                if !vi.unicastPeers.isEmpty {
                    diags.error(.strictMode, keys["unicast_peer"] ?? at, "(\(vi.name)) unicast_peer is not allowed in strict mode",
                                hint: "strict mode (vrrp_strict set at \(sat.line)) follows RFC 5798, which has no unicast")
                }
                if vi.preemptDelay != nil {
                    diags.error(.strictMode, keys["preempt_delay"] ?? at, "(\(vi.name)) preempt_delay is incompatible with strict mode")
                }
                if vi.accept == nil && vi.effectivePriority != 255 {
                    diags.warning(.strictMode, at, "(\(vi.name)) strict mode without 'accept': traffic to the VIPs will be dropped (no_accept)",
                                  hint: "add 'accept' to the instance if the VIPs must answer")
                }
                if vi.accept == true && vi.effectiveVersion(global: g) == 2 {
                    diags.error(.strictMode, keys["accept"] ?? at, "(\(vi.name)) accept mode is not allowed with VRRPv2 in strict mode")
                }
                if vi.virtualAddresses.isEmpty {
                    diags.error(.strictMode, at, "(\(vi.name)) strict mode needs at least one virtual_ipaddress")
                }
            }
        }
        for ref in loc.trackScriptRefs where !scripts.contains(ref.name) {
            diags.error(.undefinedReference, ref.loc, "track_script '\(ref.name)' is not defined",
                        hint: "define it with 'vrrp_script \(ref.name) { script … }'")
        }
        for ref in loc.syncTrackScriptRefs where !scripts.contains(ref.name) {
            diags.error(.undefinedReference, ref.loc, "track_script '\(ref.name)' is not defined")
        }
        let trackFiles = loc.trackFileDefs
        for ref in loc.trackFileRefs where !trackFiles.contains(ref.name) {
            diags.error(.undefinedReference, ref.loc, "track_file '\(ref.name)' is not defined", hint: "define it with 'track_file \(ref.name) { file PATH }'")
        }
        var scriptNames: Set<String> = []
        for (i, s) in config.vrrpScripts.enumerated() {
            if !scriptNames.insert(s.name).inserted {
                diags.error(.duplicateName, loc.vrrpScripts[i], "vrrp_script \(s.name) is defined twice")
            }
        }
        duplicateVRIDs()
    }

    /// Two instances with the same VRID on one interface and family collide unless they use
    /// different multicast groups or disjoint unicast peers (keepalived.md §2.5).
    mutating func duplicateVRIDs() {
        struct Key: Hashable { var interface: String; var vrid: Int; var family: AddressFamily }
        var seen: [Key: [Int]] = [:]
        for (i, vi) in config.instances.enumerated() {
            guard let vrid = vi.virtualRouterID else { continue }
            let key = Key(interface: vi.interface ?? config.global.defaultInterface ?? "eth0", vrid: vrid, family: vi.family)
            for j in seen[key] ?? [] {
                let other = config.instances[j]
                let peersA = Set(vi.unicastPeers.map(\.address)), peersB = Set(other.unicastPeers.map(\.address))
                if !peersA.isEmpty || !peersB.isEmpty {
                    if peersA.isDisjoint(with: peersB) && !(peersA.isEmpty || peersB.isEmpty) { continue }
                } else if (vi.mcastDestinationIP ?? nil) != (other.mcastDestinationIP ?? nil) {
                    continue
                }
                diags.error(.duplicateVRID, loc.instanceKeys[i]["virtual_router_id"] ?? loc.instances[i],
                            "(\(vi.name)) duplicate VRID \(vrid) on interface \(key.interface): conflicts with vrrp_instance \(other.name)",
                            hint: "\(other.name) is at line \(loc.instances[j].line); use another virtual_router_id, or different unicast peers or mcast_dst_ip")
            }
            seen[key, default: []].append(i)
        }
    }

    mutating func validateSyncGroups() {
        let instances = Dictionary(config.instances.map { ($0.name, 1) }, uniquingKeysWith: { a, _ in a })
        var member: [String: String] = [:]
        for (i, g) in config.syncGroups.enumerated() {
            let locs = loc.syncGroupMembers[i]
            for (m, l) in zip(g.members, locs) {
                if instances[m] == nil {
                    diags.error(.undefinedReference, l, "vrrp_sync_group \(g.name): vrrp_instance '\(m)' is not defined")
                } else if let other = member[m] {
                    diags.error(.conflict, l, "vrrp_instance \(m) is already in vrrp_sync_group \(other)")
                }
                member[m] = g.name
            }
            if g.members.count == 1 {
                diags.warning(.conflict, loc.syncGroups[i], "vrrp_sync_group \(g.name) has only one instance")
            }
        }
    }

    // MARK: - LVS

    mutating func validateVirtualServers() {
        let groups = Set(config.virtualServerGroups.map(\.name))
        var seen: [VirtualServerKey: Int] = [:]
        for (i, vs) in config.virtualServers.enumerated() {
            let at = loc.virtualServers[i]
            let keys = loc.vsKeys[i]
            if case .group(let name) = vs.key, !name.isEmpty, !groups.contains(name) {
                diags.error(.undefinedReference, at, "virtual_server group '\(name)' is not defined",
                            hint: "define it with 'virtual_server_group \(name) { … }'")
            }
            let keyText: String
            switch vs.key {
            case .address(let a, let p): keyText = a.family == .inet6 ? "[\(a)]:\(p ?? 0)" : "[\(a)]:\(p ?? 0)"
            case .fwmark(let m, _): keyText = "FWM \(m)"
            case .group(let g): keyText = "group \(g)"
            }
            if let prev = seen[vs.key], vs.protocol == config.virtualServers[prev].protocol {
                diags.error(.duplicateName, at, "virtual server \(keyText) is defined twice", hint: "first defined at line \(loc.virtualServers[prev].line)")
            }
            seen[vs.key] = i
            var isFwmark = false
            if case .fwmark = vs.key { isFwmark = true }
            if vs.protocol == nil && !isFwmark {
                diags.warning(.missingRequired, at, "Virtual server \(keyText): no protocol set - defaulting to UDP")
            }
            if vs.scheduler == nil {
                diags.warning(.missingRequired, at, "Virtual server \(keyText): no scheduler set, setting default 'wlc'")
            }
            if vs.forwarding == nil {
                diags.warning(.missingRequired, at, "Virtual server \(keyText): no forwarding method set, setting default NAT")
            }
            if case .address(_, let port) = vs.key, port == 0 || port == nil, vs.persistenceTimeout == nil {
                diags.note(.conflict, at, "virtual server \(keyText) with port 0 is persistent (persistence_timeout 360)")
            }
            if isFwmark && vs.protocol != nil {
                diags.warning(.conflict, keys["protocol"] ?? at, "Virtual server \(keyText): protocol specified for fwmark - protocol will be ignored")
            }
            if vs.haSuspend && isFwmark {
                diags.warning(.conflict, keys["ha_suspend"] ?? at, "ha_suspend has no effect on a fwmark virtual server")
            }
            // DR/TUN cannot change the port (keepalived.md §1.2 "ports don't match - resetting").
            var vsPort: Int? = nil
            if case .address(_, let p) = vs.key { vsPort = p }
            var totalWeight = 0
            for (r, rs) in vs.realServers.enumerated() {
                let rsLoc = loc.realServers[i][r]
                let method = vs.effectiveForwarding(of: rs).method
                if method != .nat, let vp = vsPort, let rp = rs.port, vp != rp, !isFwmark {
                    diags.error(.portMismatch, rsLoc, "real server [\(rs.address)]:\(rp) port does not match virtual server \(keyText) with \(method.rawValue) forwarding",
                                hint: "\(method.rawValue) cannot translate ports; use port \(vp) (keepalived resets it with a warning)")
                }
                totalWeight += vs.effectiveWeight(of: rs)
                if let u = rs.upperThreshold, let l = rs.lowerThreshold, l > u, u != 0 {
                    diags.error(.conflict, rsLoc, "real server [\(rs.address)]: lthreshold \(l) is above uthreshold \(u)")
                }
            }
            if let q = vs.quorum, q > totalWeight, !vs.realServers.isEmpty {
                diags.error(.quorum, keys["quorum"] ?? at, "quorum \(q) for virtual server \(keyText) exceeds total weight of real servers \(totalWeight)",
                              hint: "keepalived reduces the quorum to \(totalWeight)")
            }
            if let h = vs.hysteresis, h >= vs.effectiveQuorum {
                diags.error(.quorum, keys["hysteresis"] ?? at, "hysteresis \(h) >= quorum \(vs.effectiveQuorum) for virtual server \(keyText); keepalived sets it to \(max(vs.effectiveQuorum - 1, 0))")
            }
            if vs.realServers.isEmpty && vs.sorryServer == nil {
                diags.warning(.missingRequired, at, "virtual server \(keyText) has no real_server")
            }
        }
    }

    // MARK: - Host checks

    mutating func hostChecks(interfaces: Set<String>) {
        let dynamic = config.global.dynamicInterfaces == true
        var reported: Set<String> = []
        for (name, l) in loc.interfaces where !interfaces.contains(name) {
            let key = "\(name)@\(l.file):\(l.line)"
            guard reported.insert(key).inserted else { continue }
            if dynamic {
                diags.warning(.noSuchInterface, l, "interface \(name) doesn't exist (dynamic_interfaces is set)")
            } else {
                diags.error(.noSuchInterface, l, "interface \(name) doesn't exist on this host",
                            hint: "existing interfaces: " + interfaces.sorted().joined(separator: ", "))
            }
        }
        checkScripts()
    }

    mutating func checkScripts() {
        let g = config.global
        if let u = g.scriptUser {
            if getpwnam(u.user) == nil {
                diags.error(.noSuchUser, loc.globalKeys["script_user"] ?? Loc(0, 1, 1), "script_user '\(u.user)' does not exist")
            }
            if let grp = u.group, getgrnam(grp) == nil {
                diags.error(.noSuchUser, loc.globalKeys["script_user"] ?? Loc(0, 1, 1), "script_user group '\(grp)' does not exist")
            }
        }
        var existing = 0
        for (cmd, l, user, tracked) in loc.scripts {
            let path = cmd.path
            if let user, getpwnam(user.user) == nil {
                diags.error(.noSuchUser, l, "user '\(user.user)' for script '\(path)' does not exist")
            }
            guard path.hasPrefix("/") else {
                diags.warning(.scriptMissing, l, "script '\(path)' is not an absolute path; it is looked up in PATH at run time")
                continue
            }
            var st = stat()
            // keepalived silently disables a missing or non-executable script; say so.
            guard stat(path, &st) == 0 else {
                if tracked {
                    // A tracked vrrp_script that cannot run is disabled (keepalived -t fails).
                    diags.error(.scriptMissing, l, "script '\(path)' does not exist; the track script is disabled")
                    continue
                }
                diags.warning(.scriptMissing, l, "script '\(path)' does not exist; it will not run")
                continue
            }
            if (st.st_mode & S_IFMT) != S_IFREG || access(path, X_OK) != 0 {
                diags.warning(.scriptNotExecutable, l, "script '\(path)' is not executable; it will not run", hint: "chmod +x \(path)")
                continue
            }
            existing += 1
            if g.enableScriptSecurity, let bad = insecurePath(path) {
                diags.error(.scriptSecurity, l, "unsafe permissions found for script '\(path)': \(bad) is writable by a non-root user",
                            hint: "with enable_script_security, a script run as root and every directory above it must be writable by root only")
            }
        }
        let defaultUserExists = getpwnam("keepalived_script") != nil
        let usedScripts = existing > 0
        if usedScripts && g.enableScriptSecurity && g.scriptUser == nil && !defaultUserExists {
            diags.error(.noSuchUser, loc.scripts.first!.1, "Unable to set default user keepalived_script for script",
                        hint: "create the user 'keepalived_script' or set 'script_user USER' in global_defs")
        }
        let runsAsRoot = g.scriptUser.map { $0.user == "root" } ?? !defaultUserExists
        if usedScripts && !g.enableScriptSecurity && runsAsRoot {
            diags.error(.scriptSecurity, loc.scripts.first!.1, "SECURITY VIOLATION - scripts are being executed but script_security not enabled",
                          hint: "add 'enable_script_security' (and optionally 'script_user') to global_defs")
        }
    }

    /// The first component of `path` (the file or a directory above it) writable by a
    /// non-root user, or nil.
    func insecurePath(_ path: String) -> String? {
        var current = path
        while !current.isEmpty {
            var st = stat()
            guard stat(current, &st) == 0 else { return nil }
            let isDir = (st.st_mode & S_IFMT) == S_IFDIR
            let sticky = (st.st_mode & S_ISVTX) != 0
            if st.st_uid != 0 { return current }
            if (st.st_mode & S_IWOTH) != 0 && !(isDir && sticky) { return current }
            if (st.st_mode & S_IWGRP) != 0 && st.st_gid != 0 && !(isDir && sticky) { return current }
            if current == "/" { break }
            if let slash = current.lastIndex(of: "/") {
                current = slash == current.startIndex ? "/" : String(current[..<slash])
            } else { break }
        }
        return nil
    }
}

extension DiagnosticCode {
    static let duplineName = DiagnosticCode.duplicateName
}

/// Facts about the host for `keepalived -t`-style checks.
public enum HostInfo {
    /// Interface names from /sys/class/net.
    public static func interfaces() -> Set<String> {
        var out: Set<String> = []
        guard let dir = opendir("/sys/class/net") else { return out }
        defer { closedir(dir) }
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { out.insert(name) }
        }
        return out
    }
}
