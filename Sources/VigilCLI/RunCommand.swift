import ArgumentParser
import Daemon

extension DataPlaneChoice: ExpressibleByArgument {}

/// `vigil run -f FILE`: the daemon (keepalived's `keepalived -n -l -f FILE`).
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the directors' daemon: VRRP, health checkers and the data plane.",
        discussion: """
            Runs in the foreground and logs to standard error (or --log-file) in keepalived's \
            wording. SIGTERM/SIGINT stop it gracefully (priority-0 adverts, VIPs and virtual \
            servers removed); SIGHUP reloads the configuration.
            """)

    @Option(name: [.short, .customLong("use-file")], help: "The keepalived.conf to run.")
    var file = "/etc/keepalived/keepalived.conf"

    @Option(name: [.short, .customLong("config-id")], help: "The config-id for '@ID' lines (default: the host name up to the first dot).")
    var id: String?

    @Flag(name: [.customShort("P"), .customLong("vrrp-only")], help: "Run VRRP only (keepalived -P).")
    var vrrpOnly = false

    @Flag(name: [.customShort("C"), .customLong("check-only")], help: "Run the checkers and data plane only (keepalived -C).")
    var checkOnly = false

    @Option(help: "The kernel engine: auto (IPVS if the kernel has it, else nftables), ipvs, nftables or none.")
    var dataplane: DataPlaneChoice = .auto

    @Option(help: "Append the log to this file instead of standard error.")
    var logFile: String?

    @Option(name: [.customShort("p"), .customLong("pid-file")], help: "Write the daemon's PID to this file.")
    var pidFile: String?

    @Flag(name: [.customShort("D"), .customLong("log-detail")], help: "Detailed logs (VIP and gratuitous ARP lines).")
    var logDetail = false

    @Option(help: "The nftables table name (one per Vigil instance on a host).")
    var nftTable = "vigil"

    @Option(help: "Where to write the status that 'vigil status' reads.")
    var statusFile = "/run/vigil/vigil.status.json"

    func validate() throws {
        if vrrpOnly && checkOnly {
            throw ValidationError("--vrrp-only and --check-only exclude each other")
        }
    }

    func run() async throws {
        var o = DaemonOptions(configPath: file)
        o.configID = id
        o.vrrpOnly = vrrpOnly
        o.checkOnly = checkOnly
        o.dataPlane = dataplane
        o.logFile = logFile
        o.pidFile = pidFile
        o.logDetail = logDetail
        o.nftTable = nftTable
        o.statusFile = statusFile
        let daemon: Daemon
        do { daemon = try Daemon(options: o) } catch {
            throw ValidationError("\(error)")
        }
        let status = await daemon.run()
        if status != 0 { throw ExitCode(status) }
    }
}
