#if canImport(Glibc)
import Glibc
#endif
import DataPlane
import NetCore

/// The commands of ipvsadm, in the order of its `cmdnames` table (the order matters: it indexes
/// the legal-combination table).
enum IPVSCommand: Int, CaseIterable, Sendable {
    case add = 1, edit, delete, flush, list, addDest, deleteDest, editDest, setTimeout
    case startDaemon, stopDaemon, restore, save, zero

    var name: String {
        ["add-service", "edit-service", "delete-service", "flush", "list", "add-server", "delete-server",
         "edit-server", "set", "start-daemon", "stop-daemon", "restore", "save", "zero"][rawValue - 1]
    }
}

/// ipvsadm's option bits (`OPTC_*`), in table order.
enum Opt: Int, CaseIterable, Sendable {
    case numeric, connection, service, scheduler, persistent, netmask, server, forward, weight
    case uThreshold, lThreshold, mcast, timeout, daemon, stats, rate, thresholds, persistentConn
    case noSort, syncID, exact, onePacket, persistenceEngine, schedFlags, mcastGroup, mcastPort
    case mcastTTL, syncMaxlen, tunInfo, tunType, tunPort, tunNoCsum, tunCsum, tunRemCsum

    var name: String {
        ["numeric", "connection", "service-address", "scheduler", "persistent", "netmask", "real-server",
         "forwarding-method", "weight", "u-threshold", "l-threshold", "mcast-interface", "timeout", "daemon",
         "stats", "rate", "thresholds", "persistent-conn", "nosort", "syncid", "exact", "ops", "pe",
         "sched-flags", "mcast-group", "mcast-port", "mcast-ttl", "sync-maxlen", "tun-info", "tun-type",
         "tun-port", "tun-nocsum", "tun-csum", "tun-remcsum"][rawValue]
    }
    var bit: UInt64 { 1 << UInt64(rawValue) }
}

/// `commands_v_options`: '+' required, 'x' illegal, '1' mutually exclusive, ' ' optional.
/// Columns follow `Opt`; one row per command.
let commandsVsOptions: [IPVSCommand: String] = [
    //            -n-csvc-s-p-M-rfwd-w-x-y-mctotdmn-st-rtthr-pcsrtsid-exopspe-bgrpprtttlsiztinftyptprtnoccsurem
    .add:         "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
    .edit:        "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
    .delete:      "xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    .flush:       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    .list:        " 11xxxxxxxxx11       xxxxxxx xxxxx",
    .addDest:     "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
    .deleteDest:  "xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx",
    .editDest:    "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
    .setTimeout:  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    .startDaemon: "xxxxxxxxxxx xxxxxxx xxxx    xxxxxx",
    .stopDaemon:  "xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx",
    .restore:     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    .save:        " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    .zero:        "xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
]

/// Listing format flags (`FMT_*`).
struct Format: OptionSet, Sendable {
    var rawValue: UInt32
    static let numeric = Format(rawValue: 0x1)
    static let rule = Format(rawValue: 0x2)
    static let stats = Format(rawValue: 0x4)
    static let rate = Format(rawValue: 0x8)
    static let thresholds = Format(rawValue: 0x10)
    static let persistentConn = Format(rawValue: 0x20)
    static let noSort = Format(rawValue: 0x40)
    static let exact = Format(rawValue: 0x80)
    static let tunInfo = Format(rawValue: 0x100)
}

let AF_INET_: Int32 = 2
let AF_INET6_: Int32 = 10
let IPPROTO_TCP_: UInt16 = 6
let IPPROTO_UDP_: UInt16 = 17
let IPPROTO_SCTP_: UInt16 = 132

/// What ipvsadm would send as the service (`ipvs_service_t`), kernel-style raw fields.
struct ServiceSpec: Sendable {
    var af: Int32 = 0
    var proto: UInt16 = 0
    var address: IPAddress?
    var port: UInt16 = 0
    var fwmark: UInt32 = 0
    var scheduler = ""
    var flags: UInt32 = 0
    var timeout: UInt32 = 0
    /// IPv4: the mask as a host-order value (0xffffff00 = /24); IPv6: the prefix length.
    var netmask: UInt32 = 0xffff_ffff
    var pe = ""
}

/// What ipvsadm would send as the destination (`ipvs_dest_t`).
struct DestSpec: Sendable {
    var af: Int32 = 0
    var address: IPAddress?
    var port: UInt16 = 0
    var forwarding: UInt32 = 3
    var weight: Int = 1
    var uThreshold: UInt32 = 0
    var lThreshold: UInt32 = 0
    var tunType: Int = 0
    var tunPort: UInt16 = 0
    var tunFlags: UInt16 = 0
}

/// One parsed ipvsadm invocation (`struct ipvs_command_entry` plus options and format).
struct Invocation: Sendable {
    var command: IPVSCommand?
    var options: UInt64 = 0
    var format: Format = []
    var service = ServiceSpec()
    var dest = DestSpec()
    var timeouts = Timeouts(tcp: 0, tcpFin: 0, udp: 0)
    var daemon = SyncDaemon(role: .master, interface: "")
    var daemonRoleGiven = false

    func has(_ o: Opt) -> Bool { options & o.bit != 0 }
}

/// Ends the run with an exit code (what ipvsadm does with `exit()`); messages were already written.
struct ExitRequest: Error {
    var code: Int32
    /// True when ipvsadm only returns -1 from `process_options` (a popt error after the
    /// command): `-R` then goes on with the next line.
    var returnsOnly = false
}
