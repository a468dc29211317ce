import ArgumentParser
import NetCore
import RealServer

/// `vigil realserver`: the real-server side of LVS direct routing.
struct RealServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "realserver",
        abstract: "Configure this host as a direct-routing real server (VIPs on lo, ARP sysctls).",
        subcommands: [Setup.self, Teardown.self, Status.self])

    struct Common: ParsableArguments {
        @Option(name: .customLong("vip"), help: "A virtual IP (IPv4 or IPv6); repeat for more.")
        var vips: [String] = []
        @Option(help: "The interface that holds the VIPs without answering ARP for them.")
        var dev: String = "lo"
        @Option(help: "Root directory for persisted and state files (for tests).")
        var root: String = "/"
        @Option(help: "Where /proc/sys is (for tests).")
        var procSys: String = "/proc/sys"

        func manager() -> RealServerManager {
            RealServerManager(sysctl: SysctlStore(procSys: procSys), root: root)
        }

        /// The VIPs given, or those recorded by the last setup.
        func config(_ m: RealServerManager, required: Bool) throws -> RealServerConfig {
            if vips.isEmpty {
                if let saved = m.loadState() { return saved }
                throw ValidationError(required ? "give at least one --vip ADDRESS" : "no --vip given and no setup recorded")
            }
            var addrs: [IPAddress] = []
            for v in vips {
                guard let a = IPAddress(v) else { throw ValidationError("--vip \(v): not an IPv4 or IPv6 address") }
                addrs.append(a)
            }
            return RealServerConfig(vips: addrs, device: dev)
        }
    }

    struct Setup: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add the VIPs and set arp_ignore=1 / arp_announce=2.")
        @OptionGroup var common: Common
        @Flag(help: "Also write /etc/sysctl.d/90-vigil-realserver.conf and /etc/network/interfaces.d/vigil-realserver.")
        var persist = false

        func run() throws {
            let m = common.manager()
            let config = try common.config(m, required: true)
            for line in try m.setup(config, persist: persist) { print(line) }
            try m.saveState(config)
        }
    }

    struct Teardown: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove the VIPs, reset the ARP sysctls, remove persisted files.")
        @OptionGroup var common: Common

        func run() throws {
            let m = common.manager()
            let config = try common.config(m, required: false)
            for line in try m.teardown(config) { print(line) }
            m.clearState()
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show whether the real-server configuration is in place (exit 1 if not).")
        @OptionGroup var common: Common

        func run() throws {
            let m = common.manager()
            let config = try common.config(m, required: false)
            let s = m.status(config)
            for line in s.lines { print(line) }
            if !s.ok { throw ExitCode(1) }
        }
    }
}
