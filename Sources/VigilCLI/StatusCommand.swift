import ArgumentParser
import Daemon
import Foundation

/// `vigil status`: what the running daemon reports (VRRP state, real-server health, the
/// virtual-server table with counters).
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the running daemon's VRRP state, real-server health and virtual servers.")

    @Option(help: "The status file 'vigil run' writes.")
    var statusFile = "/run/vigil/vigil.status.json"

    @Flag(help: "Print the status as JSON.")
    var json = false

    func run() throws {
        let s: StatusSnapshot
        do { s = try StatusSnapshot.read(from: statusFile) } catch {
            FileHandle.standardError.write(Data("vigil status: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if json {
            print(String(decoding: FileManager.default.contents(atPath: statusFile) ?? Data(), as: UTF8.self))
        } else {
            print(s.render(), terminator: "")
        }
    }
}
