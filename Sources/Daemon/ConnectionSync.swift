import ConnSync
import ConnSyncCore
import DataPlane
import DataPlaneNFTables
import Foundation
import KeepalivedConfig
import Logging
import NetCore
import VRRP
import VRRPCore

/// Issue 7: connection-map sync for the nftables engine, and SIGHUP's virtual-server reload.
/// Kept out of Daemon.swift so that the composition root only gains a few calls.
extension Daemon {
    /// What the sync needs from the configuration (pure: tested without privileges).
    struct ConnSyncPlan: Equatable {
        var instance: String
        var vrid: Int
        var password: String?
        var interface: String
        var port: UInt16
        var group: IPv4Address
        var peers: [IPv4Address]
        var ttl: Int32
        var syncID: UInt8
    }

    /// The VRRP instance that decides who sends: `lvs_sync_daemon`'s, else the one carrying a
    /// virtual server's address, else the first. Transport: `lvs_sync_daemon`'s interface, port
    /// and group when given (IPVS's defaults 8848 and 224.0.0.81 otherwise), unicast to the
    /// instance's `unicast_peer`s when it has some and no group was given.
    static func connSyncPlan(_ config: KeepalivedConfiguration) -> ConnSyncPlan? {
        let sd = config.global.lvsSyncDaemon
        let vsAddresses = Set(config.virtualServers.compactMap { vs -> IPAddress? in
            if case .address(let a, _) = vs.key { return a }
            return nil
        })
        let inst = sd?.instance.flatMap { n in config.instances.first { $0.name == n } }
            ?? config.instances.first { i in (i.virtualAddresses + i.excludedAddresses).contains { vsAddresses.contains($0.address) } }
            ?? config.instances.first
        guard let inst, let vrid = inst.virtualRouterID, let iface = sd?.interface ?? inst.interface else { return nil }
        var group = ConnSyncSettings.defaultGroup
        if case .v4(let g)? = sd?.group { group = g }
        let peers: [IPv4Address] = sd?.group == nil ? inst.unicastPeers.compactMap { if case .v4(let a) = $0.address { a } else { nil } } : []
        return ConnSyncPlan(
            instance: inst.name, vrid: vrid, password: inst.authentication?.password, interface: iface,
            port: UInt16(clamping: sd?.port ?? Int(ConnSyncSettings.defaultPort)), group: group, peers: peers,
            ttl: Int32(clamping: sd?.ttl ?? 1), syncID: UInt8(truncatingIfNeeded: sd?.syncID ?? vrid))
    }

    /// The `serviceID`s of the DR services whose connection maps are synced.
    static func syncedServices(_ state: DataPlaneState) -> [UInt32] {
        state.services.filter { !$0.destinations.contains { $0.forwarding == .masquerade } }
            .compactMap { UInt32(serviceID($0.key), radix: 16) }
    }

    /// Starts the sync when the data plane is nftables and a VRRP instance decides the roles.
    /// `VIGIL_CONN_SYNC=off` disables it (used by bench/survival to measure keepalived-style operation).
    func startConnectionSync(
        _ config: KeepalivedConfiguration, backend: any LoadBalancerBackend, vrrp: VRRPService<ContinuousClock>?, pool: PoolRuntime
    ) async -> ConnSyncService? {
        guard let nft = backend as? NFTablesBackend, let vrrp else { return nil }
        if ProcessInfo.processInfo.environment["VIGIL_CONN_SYNC"] == "off" {
            logger.info("Connection sync: disabled (VIGIL_CONN_SYNC=off)")
            return nil
        }
        guard let plan = Self.connSyncPlan(config) else { return nil }
        if plan.password == nil {
            logger.warning("Connection sync: VRRP instance \(plan.instance) has no auth_pass; the sync key is derived from its name and VRID only")
        }
        let settings = ConnSyncSettings(
            table: await nft.settings.tableName, interface: plan.interface,
            key: ConnSyncKeyMaterial(instance: plan.instance, vrid: plan.vrid, password: plan.password),
            port: plan.port, group: plan.group, peers: plan.peers, ttl: plan.ttl, syncID: plan.syncID)
        let name = plan.instance
        do {
            let svc = try ConnSyncService(settings: settings, isMaster: { vrrp.status().contains { $0.name == name && $0.state == .master } }, logger: logger)
            svc.setServices(Self.syncedServices(await pool.desiredState))
            svc.start()
            connSync.withLock { $0 = svc }
            return svc
        } catch {
            logger.error("Connection sync: \(error); established flows will not survive a failover of stateful schedulers")
            return nil
        }
    }

    /// `VIGIL_NFT_MISS=keepalived`: conn map without the hash fallback (bench/survival's
    /// keepalived-style baseline). For benchmarks only; never the default.
    static func benchOverrides(_ s: NFTEngineSettings) -> NFTEngineSettings {
        var s = s
        if ProcessInfo.processInfo.environment["VIGIL_NFT_MISS"] == "keepalived" { s.missFallback = false }
        return s
    }

    /// SIGHUP, virtual-server part: re-reads the configuration and hands the new pool specs to the
    /// runtime (servers that stay keep their state and connections; removed ones drain).
    /// After a reload, the sync follows the new set of services.
    func syncFollowsReload(pool: PoolRuntime) async {
        connSync.withLock { $0 }?.setServices(Self.syncedServices(await pool.desiredState))
    }
}
