import ArgumentParser
import Daemon
import Foundation
import IPVSAdm

/// `vigil status`: what the running daemon reports (VRRP state, real-server health, the
/// virtual-server table with counters as `ipvsadm -Ln --stats` prints it).
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the running daemon's VRRP state, real-server health and virtual servers.")

    @Option(help: "The status file 'vigil run' writes.")
    var statusFile = "/run/vigil/vigil.status.json"

    @Flag(help: "Print the status as JSON.")
    var json = false

    func run() async throws {
        var s: StatusSnapshot
        do { s = try StatusSnapshot.read(from: statusFile) } catch {
            FileHandle.standardError.write(Data("vigil status: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if json {
            print(String(decoding: FileManager.default.contents(atPath: statusFile) ?? Data(), as: UTF8.self))
            return
        }
        if !s.services.isEmpty {
            // The same formatter as `vigil ipvsadm`, over the daemon's read-back.
            var state = MemoryBackend.State()
            state.services = s.services
            let r = await IPVSAdm.run(arguments: ["-Ln", "--stats"], backend: MemoryBackend(state: state))
            s.servicesTable = r.stdout
        }
        print(s.render(), terminator: "")
    }
}
