import DataPlane
import HealthCheck
import HealthCheckCore
import KeepalivedConfig
import NetCore
import VirtualServerCore

#if canImport(Glibc)
import Glibc
#endif

/// Turns the checker blocks of every real server into the health service's specs, resolving
/// keepalived's inheritance (checker → real_server → virtual_server → defaults) and `connect_ip`/
/// `connect_port`. Real servers without checkers are not checked: they stay up, as in keepalived.
public enum HealthSpecs {
    public struct Plan: Sendable {
        public var servers: [HealthCheck.RealServerSpec] = []
        /// Checkers Vigil cannot run (BFD_CHECK, a FILE_CHECK naming an unknown track_file, an
        /// invalid value), with the reason, to be logged.
        public var problems: [String] = []
    }

    /// - Parameter down: servers the pool has as failed (after a reload): their checkers start
    ///   down so that a success is reported as an `up`.
    public static func plan(from config: KeepalivedConfiguration, down: Set<RealServerID> = []) -> Plan {
        var plan = Plan()
        var seen = Set<RealServerID>()
        for vs in config.virtualServers {
            for key in PoolSpecs.serviceKeys(of: vs, groups: config.virtualServerGroups) {
                let spec = PoolSpecs.spec(for: vs, key: key)
                for (rs, rsSpec) in zip(vs.realServers, spec.realServers) where !rs.checkers.isEmpty {
                    let id = RealServerID(virtualService: key, server: rsSpec.address)
                    guard seen.insert(id).inserted else { continue }
                    var checkers: [CheckerSpec] = []
                    for c in rs.checkers {
                        // Checks go to the configured port: the kernel's port differs for fwmark
                        // DR/TUN services (0), where keepalived still checks `real_server IP PORT`.
                        let checkPort = rs.port.map { UInt16(clamping: $0) } ?? rsSpec.address.port
                        switch checker(c, rs: rs, rsPort: checkPort, vs: vs, config: config, startDown: down.contains(id)) {
                        case .success(let s): checkers.append(s)
                        case .failure(let p): plan.problems.append("\(c.kind.rawValue) on \(id.serverDescription): \(p.message)")
                        }
                    }
                    guard !checkers.isEmpty else { continue }
                    plan.servers.append(HealthCheck.RealServerSpec(id: id, weight: Int(rsSpec.weight), checkers: checkers))
                }
            }
        }
        return plan
    }

    struct Problem: Error {
        var message: String
    }

    static func checker(
        _ c: Checker, rs: RealServer, rsPort: UInt16, vs: VirtualServer, config: KeepalivedConfiguration, startDown: Bool
    ) -> Result<CheckerSpec, Problem> {
        let t = vs.resolvedTiming(of: c, in: rs)
        let policy = CheckerPolicy(
            delayLoop: t.delayLoop, connectTimeout: t.connectTimeout, retry: t.retry,
            delayBeforeRetry: t.delayBeforeRetry, warmup: t.warmup,
            alpha: startDown || (c.alpha ?? rs.alpha ?? vs.alpha), logAllFailures: c.logAllFailures ?? false)
        let port = c.connectPort.map { UInt16(clamping: $0) } ?? rsPort
        let target = SocketAddress(address: c.connectIP ?? rs.address, port: port)
        let check: CheckerSpec.Check
        switch c.kind {
        case .httpGet, .sslGet:
            var urls: [HealthCheckCore.URLCheck] = []
            for u in c.urls {
                do {
                    let pattern = try u.regex.map {
                        try HTTPBodyPattern(
                            pattern: $0, options: u.regexOptions, noMatch: u.regexNoMatch,
                            minOffset: u.regexMinOffset ?? 0, maxOffset: u.regexMaxOffset)
                    }
                    urls.append(try HealthCheckCore.URLCheck(
                        path: u.path ?? "/", digest: u.digest,
                        statusCodes: u.statusCodes.isEmpty ? .default : StatusCodeSet(u.statusCodes),
                        virtualhost: vs.effectiveVirtualhost(url: u, checker: c, in: rs), bodyPattern: pattern))
                } catch {
                    return .failure(Problem(message: "url \(u.path ?? "/"): \(error)"))
                }
            }
            if urls.isEmpty {
                // keepalived requires a url; `vigil check` reports it. Checking "/" keeps the
                // server watched instead of silently dropping the checker.
                urls = [try! HealthCheckCore.URLCheck(path: "/")]
            }
            let ssl = c.kind == .sslGet
            let tls = TLSSettings(caFile: config.ssl?.ca, certificateFile: config.ssl?.certificate, keyFile: config.ssl?.key, password: config.ssl?.password)
            check = .http(HTTPSpec(
                urls: urls, version: c.httpProtocol.flatMap(HTTPProtocolVersion.init(keyword:)) ?? .http10,
                virtualhost: c.virtualhost ?? rs.virtualhost ?? vs.virtualhost, ssl: ssl,
                enableSNI: c.enableSNI ?? false, sniName: c.sniName, tls: tls))
        case .tcp:
            check = .tcp
        case .smtp:
            check = .smtp(heloName: c.heloName ?? "smtpchecker.keepalived.org")
        case .dns:
            guard let type = DNSQuery.RecordType(rawValue: (c.dnsType ?? "SOA").uppercased()) else {
                return .failure(Problem(message: "unknown DNS type '\(c.dnsType ?? "")'"))
            }
            check = .dns(name: c.dnsName ?? ".", type: type)
        case .misc:
            guard let path = c.miscPath else { return .failure(Problem(message: "no misc_path")) }
            var uid: UInt32?
            var gid: UInt32?
            if let user = c.user ?? config.global.scriptUser, let pw = getpwnam(user.user) {
                uid = pw.pointee.pw_uid
                gid = pw.pointee.pw_gid
                if let g = user.group, let gr = getgrnam(g) { gid = gr.pointee.gr_gid }
            }
            check = .misc(MiscSpec(path: path.command, timeout: c.miscTimeout, dynamic: c.miscDynamic, uid: uid, gid: gid))
        case .udp:
            var pattern: HexPattern?
            if let r = c.requireReply {
                do { pattern = try HexPattern(r) } catch { return .failure(Problem(message: "require_reply '\(r)': \(error)")) }
            }
            check = .udp(UDPCheckSpec(payload: c.payload, requireReply: pattern, minReplyLength: c.minReplyLength ?? 0, maxReplyLength: c.maxReplyLength ?? 255))
        case .ping:
            check = .ping
        case .file:
            guard let name = c.trackFile, let tf = config.trackFiles.first(where: { $0.name == name }), let path = tf.file else {
                return .failure(Problem(message: "track_file '\(c.trackFile ?? "")' is not defined"))
            }
            check = .file(FileSpec(path: path, weight: c.weight ?? tf.weight ?? 1, reverse: c.weightReverse))
        case .bfd:
            return .failure(Problem(message: "BFD_CHECK is not supported by Vigil yet; this checker is ignored"))
        }
        var spec = CheckerSpec(check: check, policy: policy, connectTo: target, bindAddress: c.bindTo, bindPort: c.bindPort.map { UInt16(clamping: $0) }, fwmark: c.fwmark)
        if case .misc = check { spec.connectTo = SocketAddress(address: rs.address, port: rsPort) }
        return .success(spec)
    }
}
