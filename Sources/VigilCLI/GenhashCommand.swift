import ArgumentParser
import HealthCheck
import HealthCheckCore
import NetCore

/// `vigil genhash` (and the binary invoked as `genhash`): keepalived 2.2.7's genhash options.
struct GenhashCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genhash",
        abstract: "Compute the MD5 digest of a URL's body for HTTP_GET/SSL_GET `digest` lines.",
        discussion: "Prints `MD5SUM = <hex>`; --quiet prints the hex alone (keepalived 2.x genhash output). Connection errors and timeouts exit 1 with a message."
    )

    @Option(name: [.customShort("s"), .customLong("server")], help: "Server IP address.")
    var server: String

    @Option(name: [.customShort("p"), .customLong("port")], help: "TCP port (default 80, or 443 with --use-ssl).")
    var port: UInt16?

    @Option(name: [.customShort("u"), .customLong("url")], help: "URL path to fetch, e.g. /index.html.")
    var url: String

    @Flag(name: [.customShort("S"), .customLong("use-ssl")], help: "Use TLS (no certificate verification, like keepalived).")
    var useSSL = false

    @Flag(name: [.customShort("I"), .customLong("use-sni")], help: "Send SNI with the virtual host name (needs -V).")
    var useSNI = false

    @Option(name: [.customShort("V"), .customLong("use-virtualhost")], help: "Virtual host for the Host header (and SNI).")
    var virtualhost: String?

    @Option(name: [.customShort("P"), .customShort("r"), .customLong("protocol")], help: "HTTP protocol: 1.0, 1.0c or 1.1.")
    var httpProtocol: String = "1.0"

    @Option(name: [.customShort("t"), .customLong("timeout")], help: "Connect and read timeout in seconds.")
    var timeout: Double = 5

    @Option(name: [.customShort("m"), .customLong("fwmark")], help: "SO_MARK for the connection.")
    var fwmark: UInt32?

    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Print the header, body and digest sections.")
    var verbose = false

    @Flag(name: .customLong("quiet"), help: "Print only the hex digest.")
    var quiet = false

    func validate() throws {
        guard IPAddress(server) != nil else { throw ValidationError("--server '\(server)' is not an IPv4 or IPv6 address") }
        guard HTTPProtocolVersion(keyword: httpProtocol) != nil else {
            throw ValidationError("--protocol '\(httpProtocol)' must be 1.0, 1.0c or 1.1")
        }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        if useSNI && virtualhost == nil { throw ValidationError("--use-sni needs --use-virtualhost NAME") }
    }

    func run() async throws {
        let o = Genhash.Options(
            server: IPAddress(server)!, port: port ?? (useSSL ? 443 : 80), path: url, ssl: useSSL, sni: useSNI,
            virtualhost: virtualhost, version: HTTPProtocolVersion(keyword: httpProtocol)!,
            timeout: .milliseconds(Int64(timeout * 1000)), fwmark: fwmark)
        do {
            let r = try await Genhash.run(o)
            if verbose { print(Genhash.verboseReport(r)) }
            print(Genhash.summary(r, quiet: quiet))
        } catch {
            genhashPrintError("genhash: \(error)")
            throw ExitCode.failure
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

func genhashPrintError(_ s: String) {
    var line = s + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
