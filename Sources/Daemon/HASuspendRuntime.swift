import DataPlane
import Logging
import Netlink
import NetlinkCodec
import NetCore
import VirtualServerCore

/// Watches this director's addresses (RTNetlink dump, then LinkMonitor events) and pauses the
/// checkers of `ha_suspend` virtual servers while their address is not local.
actor HASuspendRuntime {
    private var state: HASuspend
    private let checkers: CheckerRuntime
    private let logger: Logger
    private var watcher: Task<Void, Never>?

    init(specs: [VirtualServerSpec], checkers: CheckerRuntime, logger: Logger) {
        state = HASuspend(specs: specs)
        self.checkers = checkers
        self.logger = logger
    }

    /// Applies the current addresses before the checkers start, then follows address events.
    func start() async {
        guard state.isWatching else { return }
        await refresh()
        guard watcher == nil else { return }
        let monitor: LinkMonitor
        do { monitor = try LinkMonitor(addresses: true) } catch {
            logger.error("ha_suspend: cannot watch addresses (\(error)); checkers stay as they are")
            return
        }
        watcher = Task { [weak self] in
            for await event in monitor.events {
                switch event {
                case .addressAdded, .addressRemoved, .eventsLost: await self?.refresh()
                default: break
                }
            }
        }
    }

    func reload(specs: [VirtualServerSpec]) async {
        _ = state.reload(specs: specs)
        await checkers.setSuspended(state.suspended)
        await start()
    }

    func stop() {
        watcher?.cancel()
        watcher = nil
    }

    private func refresh() async {
        let local: Set<IPAddress>
        do {
            local = Set(try RTNetlink().addresses().map(\.prefix.address))
        } catch {
            logger.error("ha_suspend: reading the local addresses failed: \(error)")
            return
        }
        for line in state.update(localAddresses: local) { logger.info("\(line)") }
        await checkers.setSuspended(state.suspended)
    }
}
