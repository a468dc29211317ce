import Foundation
import KeepalivedConfig
import Logging
import VRRP
import VRRPCore

extension Daemon {
    /// Maps the configuration's VRRP part. With `strict` (reload), an instance that cannot be
    /// set up fails the whole mapping so the running instances stay as they are; at startup
    /// such an instance is logged and left out, as keepalived does.
    func vrrpPlan(_ config: KeepalivedConfiguration, strict: Bool) throws -> VRRPPlan {
        var instances: [VRRPInstanceSetup] = []
        for inst in config.instances {
            var one = config
            one.instances = [inst]
            do {
                let p = try VRRPSetups.plan(from: one) { iface, family in
                    try LinkFacts.primaryAddress(of: iface, family: family)
                }
                instances += p.instances
            } catch {
                if strict { throw error }
                logger.error("\(error) - ignoring this instance")
            }
        }
        var plan = try VRRPSetups.plan(from: config) { iface, family in
            try? LinkFacts.primaryAddress(of: iface, family: family)
        }
        plan.instances = instances
        return plan
    }

    static func serviceOptions(_ plan: VRRPPlan) -> VRRPService<ContinuousClock>.Options {
        var o = VRRPService<ContinuousClock>.Options()
        o.scriptUser = plan.scriptUser
        o.notifyFIFO = plan.notifyFIFO
        o.scripts = plan.scripts
        o.trackFiles = plan.trackFiles
        o.trackProcesses = plan.trackProcesses
        return o
    }

    /// SIGHUP for VRRP: re-reads the file and hands the new instances to the running service
    /// (`VRRPService.reload`: unchanged instances keep state and VIPs, changed ones update in
    /// place, removed ones stop, new ones start). A file that cannot be used, or an instance
    /// in it that cannot be set up, leaves the running configuration in place.
    func reloadVRRP(_ vrrp: VRRPService<ContinuousClock>?, config: KeepalivedConfiguration) async {
        guard !options.checkOnly else { return }
        let plan: VRRPPlan
        do { plan = try vrrpPlan(config, strict: true) } catch {
            logger.error("Reload failed: \(error); keeping the running configuration")
            return
        }
        guard let vrrp else {
            if !plan.instances.isEmpty {
                logger.warning("Reload: VRRP was not running at startup; restart Vigil to start its instances")
            }
            return
        }
        for u in plan.unsupported { logger.warning("\(u)") }
        guard let applied = await vrrp.reload(instances: plan.instances, syncGroups: plan.syncGroups, options: Self.serviceOptions(plan)) else {
            logger.error("Reload failed: keeping the running VRRP configuration")
            return
        }
        let counts = Dictionary(grouping: applied.changes, by: { e -> String in
            switch e.change {
            case .unchanged: "unchanged"
            case .updated: "updated"
            case .restarted: "restarted"
            case .added: "added"
            case .removed: "removed"
            }
        }).mapValues(\.count)
        let summary = ["unchanged", "updated", "restarted", "added", "removed"].compactMap { k in counts[k].map { "\($0) \(k)" } }
        logger.info("VRRP reload: \(summary.isEmpty ? "no instances" : summary.joined(separator: ", "))")
    }
}
