import DataPlane
import DataPlaneNFTables
import Logging

extension Daemon {
    /// How often the nftables engine re-plans connection-based schedulers and thresholds.
    static let schedulerRefreshInterval: Duration = .seconds(2)
    /// How often removed servers' draining chains are checked for remaining connections.
    static let garbageInterval: Duration = .seconds(30)

    /// The nftables engine's periodic work while `vigil run` runs. lc/wlc/sed/nq/fo/ovf choose
    /// from a slot plan computed from the connection counts, and upper/lower thresholds are
    /// applied from the same counts, so both follow the live counts only if they are re-planned
    /// (IPVS counts in the kernel on every choice). A removed server's chain stays while its
    /// flows drain and is deleted once no connection uses it.
    func runNFTMaintenance(_ nft: NFTablesBackend, pool: PoolRuntime) -> Task<Void, Never> {
        let logger = self.logger
        return Task {
            var sinceGarbage: Duration = .zero
            var lastError: String?
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.schedulerRefreshInterval)
                if Task.isCancelled { break }
                sinceGarbage += Self.schedulerRefreshInterval
                do {
                    if Self.needsCountRefresh(await pool.desiredState) {
                        try await nft.refreshConnectionSchedulers()
                    }
                    if sinceGarbage >= Self.garbageInterval {
                        sinceGarbage = .zero
                        let n = try await nft.collectGarbage()
                        if n > 0 { logger.info("nftables: \(n) drained real server(s) had no connection left; their chains were removed") }
                    }
                    lastError = nil
                } catch {
                    // Logged once per distinct error: a persistent failure must not flood the log.
                    let text = "\(error)"
                    if text != lastError { logger.error("nftables maintenance: \(text)") }
                    lastError = text
                }
            }
        }
    }

    /// Whether any service's choices depend on live connection counts.
    static func needsCountRefresh(_ state: DataPlaneState) -> Bool {
        state.services.contains { svc in
            (SchedulerKind(rawValue: svc.scheduler)?.isConnectionBased ?? false)
                || svc.destinations.contains { $0.upperThreshold != 0 || $0.lowerThreshold != 0 }
        }
    }
}
