import DataPlane
import DataPlaneIPVS
import Foundation
import IPVSAdm
import KeepalivedConfig
import Logging
import NetCore
import VRRP
import VRRPCore

/// keepalived's `lvs_sync_daemon` on the IPVS engine: the kernel's sync daemon runs as master on
/// the VRRP master and as backup elsewhere, switched on transitions (stop the old role first).
struct IPVSSyncDaemonSwitch: Equatable {
    enum Action: Equatable {
        case stop(SyncDaemon.Role)
        case start(SyncDaemon)
    }

    var master: SyncDaemon
    var backup: SyncDaemon
    /// The instance whose state decides the role.
    var instance: String
    private(set) var running: SyncDaemon.Role?

    init?(_ config: KeepalivedConfiguration) {
        guard let sd = config.global.lvsSyncDaemon else { return nil }
        let inst = sd.instance.flatMap { n in config.instances.first { $0.name == n } } ?? config.instances.first
        guard let inst else { return nil }
        instance = inst.name
        let id = UInt32(clamping: sd.syncID ?? inst.virtualRouterID ?? 0)
        let base = SyncDaemon(
            role: .master, interface: sd.interface, syncID: id, maxLength: UInt16(clamping: sd.maxLength ?? 0),
            group: sd.group, port: UInt16(clamping: sd.port ?? 0), ttl: UInt8(clamping: sd.ttl ?? 0))
        master = base
        backup = base
        backup.role = .backup
    }

    /// What to do when the instance is (or is not) MASTER.
    mutating func update(isMaster: Bool) -> [Action] {
        let want: SyncDaemon.Role = isMaster ? .master : .backup
        guard running != want else { return [] }
        var out: [Action] = []
        if let r = running { out.append(.stop(r)) }
        out.append(.start(want == .master ? master : backup))
        running = want
        return out
    }

    /// Shutdown: stop whatever runs.
    mutating func stopAll() -> [Action] {
        defer { running = nil }
        return running.map { [.stop($0)] } ?? []
    }
}

extension Daemon {
    /// Follows the VRRP instance and switches the kernel's sync daemon (IPVS engine only).
    func runIPVSSyncDaemon(_ config: KeepalivedConfiguration, backend: any LoadBalancerBackend, vrrp: VRRPService<ContinuousClock>?) -> Task<Void, Never>? {
        guard let ipvs = backend as? IPVSBackend, let vrrp, var sw = IPVSSyncDaemonSwitch(config) else { return nil }
        let logger = self.logger
        return Task {
            func perform(_ actions: [IPVSSyncDaemonSwitch.Action]) async {
                for a in actions {
                    do {
                        switch a {
                        case .stop(let r):
                            logger.info("IPVS: stopping the \(r.name) sync daemon")
                            try await ipvs.stopSyncDaemon(r)
                        case .start(let d):
                            logger.info("IPVS: starting the \(d.role.name) sync daemon on \(d.interface), syncid \(d.syncID)")
                            try await ipvs.startSyncDaemon(d)
                        }
                    } catch {
                        logger.error("IPVS sync daemon: \(error)")
                    }
                }
            }
            while !Task.isCancelled {
                let isMaster = vrrp.status().contains { $0.name == sw.instance && $0.state == .master }
                await perform(sw.update(isMaster: isMaster))
                try? await Task.sleep(for: .milliseconds(100))
            }
            await perform(sw.stopAll())
        }
    }
}
