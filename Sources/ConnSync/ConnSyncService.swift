import ConnSyncCore
import DataPlaneNFTables
import Foundation
import Logging
import NetCore
import Synchronization
import SysCore

#if canImport(Glibc)
import Glibc
#endif

/// Where and how the directors exchange connection-map entries.
public struct ConnSyncSettings: Sendable {
    /// The nftables table (`netdev <table>`) whose `conn_<sid>` maps are synced.
    public var table: String
    /// The interface the datagrams use (the VRRP interface, or `lvs_sync_daemon`'s).
    public var interface: String
    public var port: UInt16
    /// Multicast group (used when `peers` is empty).
    public var group: IPv4Address
    /// Unicast destinations (the VRRP instance's `unicast_peer` list); empty = multicast.
    public var peers: [IPv4Address]
    public var ttl: Int32
    public var syncID: UInt8
    public var key: ConnSyncKeyMaterial
    /// How often the master reads its maps (the sync lag is at most about this plus two `nft` runs).
    public var pollInterval: Duration
    public var commandPrefix: [String]

    public static let defaultPort: UInt16 = 8848
    public static let defaultGroup = IPv4Address(224, 0, 0, 81)

    public init(
        table: String, interface: String, key: ConnSyncKeyMaterial, port: UInt16 = defaultPort, group: IPv4Address = defaultGroup,
        peers: [IPv4Address] = [], ttl: Int32 = 1, syncID: UInt8 = 0, pollInterval: Duration = .milliseconds(100),
        commandPrefix: [String] = []
    ) {
        self.table = table
        self.interface = interface
        self.key = key
        self.port = port
        self.group = group
        self.peers = peers
        self.ttl = ttl
        self.syncID = syncID
        self.pollInterval = pollInterval
        self.commandPrefix = commandPrefix
    }
}

/// What `vigil status` shows about the sync (part of the status snapshot).
public struct ConnSyncStatus: Sendable, Codable, Equatable {
    public var role: String
    public var destination: String
    public var packetsSent = 0
    public var entriesSent = 0
    public var sendErrors = 0
    public var entriesTold = 0
    /// Wall time of the last master poll (read maps + compute + send), milliseconds.
    public var lastPollMilliseconds = 0.0
    public var receiver = ConnSyncReceiver.Counters()
}

/// The I/O side of connection-map sync: one UDP socket and one thread. While `isMaster()` it
/// reads its `conn_*` maps every `pollInterval` and sends the delta; otherwise it installs what
/// it receives into its own maps. Decisions are made by the pure `ConnSyncSender`/`ConnSyncReceiver`.
public final class ConnSyncService: Sendable {
    let settings: ConnSyncSettings
    let isMaster: @Sendable () -> Bool
    let logger: Logger
    let runner: NFTCommandRunner
    let fd: Int32
    let services = Mutex<[UInt32]>([])
    let stopped = Mutex(false)
    let statusBox: Mutex<ConnSyncStatus>
    /// nil = never started; false = running; true = the thread has ended.
    let finished = Mutex<Bool?>(nil)
    let epoch = UInt64.random(in: 1...UInt64.max)

    /// Opens and binds the socket (errors name the call, errno and interface).
    public init(settings: ConnSyncSettings, isMaster: @escaping @Sendable () -> Bool, logger: Logger) throws(SystemError) {
        self.settings = settings
        self.isMaster = isMaster
        self.logger = logger
        self.runner = NFTCommandRunner(prefix: settings.commandPrefix)
        let dest = settings.peers.isEmpty ? "\(settings.group):\(settings.port) on \(settings.interface)" : settings.peers.map { "\($0):\(settings.port)" }.joined(separator: ", ")
        statusBox = Mutex(ConnSyncStatus(role: "starting", destination: dest))
        fd = try Self.openSocket(settings)
    }

    deinit { close(fd) }

    static func openSocket(_ s: ConnSyncSettings) throws(SystemError) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw SystemError(call: "socket(AF_INET, SOCK_DGRAM)", errno: errno) }
        func opt<T>(_ level: Int32, _ name: Int32, _ v: T, _ what: String) throws(SystemError) {
            var v = v
            if setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<T>.size)) != 0 {
                let e = errno
                close(fd)
                throw SystemError(call: "setsockopt(\(what)) on \(s.interface)", errno: e)
            }
        }
        try opt(SOL_SOCKET, SO_REUSEADDR, Int32(1), "SO_REUSEADDR")
        let r = s.interface.withCString { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(strlen($0) + 1)) }
        if r != 0 {
            let e = errno
            close(fd)
            throw SystemError(call: "setsockopt(SO_BINDTODEVICE \(s.interface))", errno: e)
        }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = s.port.bigEndian
        let b = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if b != 0 {
            let e = errno
            close(fd)
            throw SystemError(call: "bind(0.0.0.0:\(s.port)) on \(s.interface)", errno: e)
        }
        let ifindex = Int32(if_nametoindex(s.interface))
        guard ifindex > 0 else {
            close(fd)
            throw SystemError(call: "if_nametoindex(\(s.interface))", errno: ENODEV)
        }
        var m = ip_mreqn()
        m.imr_multiaddr.s_addr = in_addr_t(s.group.value.bigEndian)
        m.imr_ifindex = ifindex
        try opt(Int32(IPPROTO_IP), IP_MULTICAST_IF, m, "IP_MULTICAST_IF")
        try opt(Int32(IPPROTO_IP), IP_MULTICAST_LOOP, UInt8(0), "IP_MULTICAST_LOOP")
        try opt(Int32(IPPROTO_IP), IP_MULTICAST_TTL, UInt8(clamping: s.ttl), "IP_MULTICAST_TTL")
        if s.peers.isEmpty { try opt(Int32(IPPROTO_IP), IP_ADD_MEMBERSHIP, m, "IP_ADD_MEMBERSHIP \(s.group)") }
        return fd
    }

    /// The services whose maps are synced (`serviceID` values); called at start and on reload.
    public func setServices(_ ids: [UInt32]) { services.withLock { $0 = ids } }

    public func status() -> ConnSyncStatus { statusBox.withLock { $0 } }

    public func start() {
        finished.withLock { $0 = false }
        let t = Thread { [self] in
            loop()
            finished.withLock { $0 = true }
        }
        t.name = "vigil-connsync"
        t.start()
    }

    /// Stops the thread (within one poll interval).
    public func stop() {
        stopped.withLock { $0 = true }
        while finished.withLock({ $0 }) == false { usleep(5_000) }
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    func loop() {
        let clock = ContinuousClock()
        let start = clock.now
        func now() -> Double { Self.seconds(clock.now - start) }
        let interval = Self.seconds(settings.pollInterval)
        var sender = ConnSyncSender()
        var receiver = ConnSyncReceiver(syncID: settings.syncID)
        var wasMaster: Bool?
        var nextPoll = 0.0
        var sequence: UInt64 = 1
        var logged: [ConnSyncRejection: Int] = [:]
        var buf = [UInt8](repeating: 0, count: 65_536)
        while !stopped.withLock({ $0 }) {
            let master = isMaster()
            if master != wasMaster {
                logger.info("Connection sync: \(master ? "sending connection-map updates to \(status().destination)" : "receiving connection-map updates on \(settings.interface) port \(settings.port)")")
                sender.reset()
                wasMaster = master
                statusBox.withLock { $0.role = master ? "sending" : "receiving" }
            }
            if master && now() >= nextPoll {
                let t0 = now()
                let snapshot = readMaps()
                let delta = sender.delta(snapshot: snapshot, now: t0)
                var sent = 0, errors = 0
                if !delta.isEmpty {
                    let packets = settings.key.encode(delta, syncID: settings.syncID, epoch: epoch, firstSequence: sequence)
                    sequence &+= UInt64(packets.count)
                    for p in packets {
                        for d in destinations() {
                            if send(p, to: d) { sent += 1 } else { errors += 1 }
                        }
                    }
                }
                let took = (now() - t0) * 1000
                statusBox.withLock {
                    $0.packetsSent += sent
                    $0.entriesSent += sent > 0 ? delta.count : 0
                    $0.sendErrors += errors
                    $0.entriesTold = sender.toldCount
                    $0.lastPollMilliseconds = took
                }
                nextPoll = t0 + interval
            }
            // Wait for datagrams until the next poll (or 100 ms when receiving).
            let waitMs = master ? max(1, Int32((nextPoll - now()) * 1000)) : Int32(min(100, interval * 1000))
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, waitMs) > 0 else { continue }
            var pending: [ConnSyncEntry] = []
            while true {
                var from = sockaddr_in()
                var flen = socklen_t(MemoryLayout<sockaddr_in>.size)
                let n = buf.withUnsafeMutableBytes { b in
                    withUnsafeMutablePointer(to: &from) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, b.baseAddress, b.count, Int32(MSG_DONTWAIT), $0, &flen) }
                    }
                }
                guard n > 0 else { break }
                let (entries, rejection) = receiver.accept(Array(buf[0..<n]), key: settings.key, isMaster: master)
                if let rejection {
                    let c = logged[rejection, default: 0]
                    logged[rejection] = c + 1
                    if c < 5 || c % 1000 == 0 {
                        let src = IPv4Address(UInt32(bigEndian: from.sin_addr.s_addr))
                        logger.warning("Connection sync: rejected datagram from \(src) on \(settings.interface) (\(rejection.rawValue), \(c + 1) so far)")
                    }
                }
                if let entries { pending += entries }
            }
            if !pending.isEmpty {
                let ok = install(pending)
                receiver.noteInstall(succeeded: ok)
            }
            let counters = receiver.counters
            statusBox.withLock { $0.receiver = counters }
        }
    }

    func destinations() -> [IPv4Address] { settings.peers.isEmpty ? [settings.group] : settings.peers }

    func send(_ bytes: [UInt8], to a: IPv4Address) -> Bool {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = settings.port.bigEndian
        sin.sin_addr.s_addr = in_addr_t(a.value.bigEndian)
        let n = bytes.withUnsafeBytes { b in
            withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, b.baseAddress, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        return n == bytes.count
    }

    /// Every entry of the synced maps (missing maps are skipped: a service may be reloading).
    func readMaps() -> [ConnSyncEntry] {
        var out: [ConnSyncEntry] = []
        for sid in services.withLock({ $0 }) {
            guard let text = try? runner.run(["nft", "-j", "list", "map", "netdev", settings.table, "conn_\(Self.hex8(sid))"]) else { continue }
            out += Self.parseMap(text, service: sid)
        }
        return out
    }

    /// Reads `nft -j list map` output: `[[{"elem": {"val": {"concat": [port, addr]}, "expires": s}}, mark], …]`.
    public static func parseMap(_ text: String, service: UInt32) -> [ConnSyncEntry] {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let items = obj["nftables"] as? [[String: Any]]
        else { return [] }
        var out: [ConnSyncEntry] = []
        for item in items {
            guard let m = item["map"] as? [String: Any], let elems = m["elem"] as? [[Any]] else { continue }
            let mapTimeout = (m["timeout"] as? NSNumber)?.uint32Value ?? 900
            for pair in elems where pair.count == 2 {
                var key = pair[0]
                var expires = mapTimeout
                if let w = key as? [String: Any], let e = w["elem"] as? [String: Any] {
                    key = e["val"] as Any
                    expires = (e["expires"] as? NSNumber)?.uint32Value ?? mapTimeout
                }
                guard let k = key as? [String: Any], let concat = k["concat"] as? [Any], concat.count == 2,
                    let port = (concat[0] as? NSNumber)?.uint16Value, let a = (concat[1] as? String).flatMap({ IPAddress($0) }),
                    let mark = (pair[1] as? NSNumber)?.uint32Value, expires > 0
                else { continue }
                out.append(ConnSyncEntry(service: service, clientPort: port, client: a, mark: mark, timeout: expires))
            }
        }
        return out
    }

    /// Installs entries in one transaction; if a key exists with another mark (left from this
    /// director's own time as master), reads those maps and retries once with that knowledge.
    func install(_ entries: [ConnSyncEntry]) -> Bool {
        let known = Set(services.withLock { $0 })
        let wanted = entries.filter { known.isEmpty || known.contains($0.service) }
        guard !wanted.isEmpty else { return true }
        do {
            _ = try runner.run(["nft", "-f", "-"], input: ConnSyncInstall.script(table: settings.table, entries: wanted))
            return true
        } catch {
            var existing: [ConnSyncKey: UInt32] = [:]
            for sid in Set(wanted.map(\.service)) {
                guard let text = try? runner.run(["nft", "-j", "list", "map", "netdev", settings.table, "conn_\(Self.hex8(sid))"]) else { continue }
                for e in Self.parseMap(text, service: sid) { existing[e.key] = e.mark }
            }
            do {
                _ = try runner.run(["nft", "-f", "-"], input: ConnSyncInstall.script(table: settings.table, entries: wanted, existing: existing))
                return true
            } catch {
                logger.warning("Connection sync: installing \(wanted.count) entries failed: \(error)")
                return false
            }
        }
    }

    static func hex8(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }
}
