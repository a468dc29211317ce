import ConnSync
import DataPlane
import Foundation
import NetCore

/// What a running `vigil run` reports about itself, written as JSON to its status file and read
/// by `vigil status` (and `vigil lab status`). Immutable: one snapshot replaces the last.
public struct StatusSnapshot: Codable, Sendable, Equatable {
    public struct Instance: Codable, Sendable, Equatable {
        public var name: String
        public var interface: String
        public var vrid: Int
        public var state: String
        public var basePriority: Int
        public var effectivePriority: Int
        public var masterAddress: String?
        public var advertsReceived: Int
        public var advertsSent: Int
        public var rejected: Int
    }

    public struct RealServerHealth: Codable, Sendable, Equatable {
        /// keepalived's spelling: `[192.168.0.12]:tcp:80`.
        public var server: String
        public var service: String
        public var alive: Bool
    }

    public var version: String
    public var pid: Int32
    public var configFile: String
    public var updated: Date
    public var dataPlane: String?
    public var instances: [Instance] = []
    public var realServers: [RealServerHealth] = []
    /// The data plane as read back (with counters), when there is one.
    public var services: [VirtualService] = []
    /// Filled by the reader: the virtual-server table as `ipvsadm -Ln --stats` prints it (not
    /// part of the file).
    public var servicesTable: String?
    /// Connection-map sync (nftables engine): role, counters, rejected datagrams by reason.
    public var connectionSync: ConnSyncStatus?

    private enum CodingKeys: String, CodingKey {
        case version, pid, configFile, updated, dataPlane, instances, realServers, services, connectionSync
    }

    /// Writes atomically (rename) so a reader never sees half a file.
    public func write(to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        enc.dateEncodingStrategy = .iso8601
        let data = try enc.encode(self)
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: data) else {
            throw DaemonError(code: .statusFile, message: "cannot write status file \(tmp)")
        }
        guard rename(tmp, path) == 0 else {
            throw DaemonError(code: .statusFile, message: "cannot rename \(tmp) to \(path): \(String(cString: strerror(errno)))")
        }
    }

    public static func read(from path: String) throws -> StatusSnapshot {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DaemonError(code: .statusFile, message: "no status file at \(path): is 'vigil run' running (with --status-file \(path))?")
        }
        let dec = JSONDecoder()
        dec.dateDecodingStrategy = .iso8601
        do { return try dec.decode(StatusSnapshot.self, from: data) } catch {
            throw DaemonError(code: .statusFile, message: "status file \(path) is not readable: \(error)")
        }
    }

    /// A human-readable report: VRRP instances, real-server health, the virtual-server table.
    public func render() -> String {
        var out = "Vigil v\(version) (pid \(pid)), \(configFile), data plane \(dataPlane ?? "-")\n"
        let age = -updated.timeIntervalSinceNow
        if age > 5 { out += "warning: this status is \(Int(age)) s old; the daemon may have stopped\n" }
        if !instances.isEmpty {
            out += "VRRP instances:\n"
            for i in instances {
                out += "  (\(i.name)) \(i.state) on \(i.interface), VRID \(i.vrid), priority \(i.basePriority)"
                if i.effectivePriority != i.basePriority { out += " (effective \(i.effectivePriority))" }
                if let m = i.masterAddress, i.state != "MASTER" { out += ", master \(m)" }
                out += "\n"
            }
        }
        if !realServers.isEmpty {
            out += "Real servers:\n"
            for r in realServers {
                out += "  \(r.server) of VS \(r.service): \(r.alive ? "UP" : "DOWN")\n"
            }
        }
        if !services.isEmpty, let table = servicesTable {
            out += "Virtual servers (\(dataPlane ?? "-"), as ipvsadm -Ln --stats):\n" + table
        }
        if let c = connectionSync {
            out += "Connection sync: \(c.role) (\(c.destination)); sent \(c.entriesSent) entries in \(c.packetsSent) datagrams; "
            out += "received \(c.receiver.entriesAccepted) entries in \(c.receiver.packetsAccepted) datagrams; rejected \(c.receiver.totalRejected)"
            if !c.receiver.rejected.isEmpty {
                out += " (" + c.receiver.rejected.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")"
            }
            out += "\n"
        }
        return out
    }

}
