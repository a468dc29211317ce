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
    /// How often the master reads its `new_<sid>` maps (flows scheduled in the last 3 s): the
    /// sync lag is at most about this plus two `nft` runs, whatever the number of connections.
    public var pollInterval: Duration
    /// How often the master reads its whole `conn_<sid>` maps (refreshes, full resync).
    public var fullPollInterval: Duration
    public var commandPrefix: [String]

    public static let defaultPort: UInt16 = 8848
    public static let defaultGroup = IPv4Address(224, 0, 0, 81)

    public init(
        table: String, interface: String, key: ConnSyncKeyMaterial, port: UInt16 = defaultPort, group: IPv4Address = defaultGroup,
        peers: [IPv4Address] = [], ttl: Int32 = 1, syncID: UInt8 = 0, pollInterval: Duration = .milliseconds(100),
        fullPollInterval: Duration = .seconds(10), commandPrefix: [String] = []
    ) {
        self.fullPollInterval = fullPollInterval
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
    /// The same for the last read of the whole connection maps.
    public var lastFullPollMilliseconds = 0.0
    public var receiver = ConnSyncReceiver.Counters()

    public init(role: String, destination: String) {
        self.role = role
        self.destination = destination
    }
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
        // A full resync arrives as a burst of datagrams while the previous batch is installed:
        // 8 MiB holds about 5,000 datagrams (300,000 entries). FORCE needs CAP_NET_ADMIN; else
        // the kernel caps SO_RCVBUF at rmem_max.
        var big = Int32(8 << 20)
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, socklen_t(4)) != 0 {
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, socklen_t(4))
        }
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
        var nextFull = 0.0
        let fullInterval = Self.seconds(settings.fullPollInterval)
        var timeouts: [UInt32: UInt32] = [:]
        var sequence: UInt64 = 1
        var logged: [ConnSyncRejection: Int] = [:]
        var buf = [UInt8](repeating: 0, count: 65_536)
        while !stopped.withLock({ $0 }) {
            let master = isMaster()
            if master != wasMaster {
                logger.info("Connection sync: \(master ? "sending connection-map updates to \(status().destination)" : "receiving connection-map updates on \(settings.interface) port \(settings.port)")")
                sender.reset()
                nextFull = 0
                wasMaster = master
                statusBox.withLock { $0.role = master ? "sending" : "receiving" }
            }
            if master && now() >= nextPoll {
                let t0 = now()
                let delta: [ConnSyncEntry]
                if t0 >= nextFull {
                    // The whole map: refreshes, and everything again every fullResyncInterval.
                    delta = sender.delta(snapshot: readMaps("conn_", timeouts: &timeouts), now: t0)
                    nextFull = t0 + fullInterval
                } else {
                    // Flows scheduled in the last seconds (the data path's `new_<sid>` map),
                    // sent with the connection map's timeout.
                    var unused: [UInt32: UInt32] = [:]
                    let recent = readMaps("new_", timeouts: &unused).map { e -> ConnSyncEntry in
                        var e = e
                        e.timeout = timeouts[e.service] ?? 900
                        return e
                    }
                    delta = sender.newEntries(recent, now: t0)
                }
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
                let wasFull = nextFull == t0 + fullInterval
                statusBox.withLock {
                    if wasFull { $0.lastFullPollMilliseconds = took }
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

    /// Every entry of the synced maps named `<prefix><sid>` (missing maps are skipped: a service
    /// may be reloading). `timeouts` receives each map's default timeout.
    func readMaps(_ prefix: String, timeouts: inout [UInt32: UInt32]) -> [ConnSyncEntry] {
        var out: [ConnSyncEntry] = []
        for sid in services.withLock({ $0 }) {
            guard let text = try? runner.run(["nft", "-j", "list", "map", "netdev", settings.table, "\(prefix)\(Self.hex8(sid))"]) else { continue }
            if prefix == "conn_", let t = Self.mapTimeout(text) { timeouts[sid] = t }
            out += Self.parseMap(text, service: sid)
        }
        return out
    }

    /// Reads `nft -j list map` output: `[[{"elem": {"val": {"concat": [port, addr]}, "expires": s}}, mark], …]`.
    /// A byte scanner for nft's fixed JSON layout (JSONSerialization took 1.2 s for 10,000
    /// elements); anything it does not recognise goes through the generic parser.
    public static func parseMap(_ text: String, service: UInt32) -> [ConnSyncEntry] {
        if let fast = scanMap(Array(text.utf8), service: service) { return fast }
        return parseMapGeneric(text, service: service)
    }

    static func scanMap(_ b: [UInt8], service: UInt32) -> [ConnSyncEntry]? {
        let n = b.count
        func find(_ pat: StaticString, from: Int) -> Int? {
            let p = pat.utf8Start, m = pat.utf8CodeUnitCount
            var i = from
            while i + m <= n {
                if b[i] == p[0] {
                    var k = 1
                    while k < m && b[i + k] == p[k] { k += 1 }
                    if k == m { return i }
                }
                i += 1
            }
            return nil
        }
        func number(_ j: inout Int) -> UInt64? {
            var v: UInt64 = 0
            let s = j
            while j < n, b[j] >= 48, b[j] <= 57 { v = v &* 10 &+ UInt64(b[j] - 48); j += 1 }
            return j > s ? v : nil
        }
        func expect(_ c: UInt8, _ j: inout Int) -> Bool {
            guard j < n, b[j] == c else { return false }
            j += 1
            return true
        }
        guard let elem = find("\"elem\": [", from: 0) else { return find("\"concat\"", from: 0) == nil ? [] : nil }
        var mapTimeout: UInt32 = 900
        if let t = find("\"timeout\": ", from: 0), t < elem {
            var j = t + 11
            if let v = number(&j) { mapTimeout = UInt32(clamping: v) }
        }
        var out: [ConnSyncEntry] = []
        var i = elem
        while let c = find("\"concat\": [", from: i) {
            var j = c + 11
            guard let port = number(&j), expect(44, &j), expect(32, &j), expect(34, &j) else { return nil }
            let a0 = j
            while j < n && b[j] != 34 { j += 1 }
            guard let addr = IPAddress(String(decoding: b[a0..<j], as: UTF8.self)) else { return nil }
            j += 1
            guard expect(93, &j), expect(125, &j), expect(44, &j), expect(32, &j) else { return nil }
            var expires = mapTimeout
            if j < n && b[j] == 34 {
                guard let close = find("}}", from: j) else { return nil }
                if let e = find("\"expires\": ", from: j), e < close {
                    var k = e + 11
                    if let v = number(&k) { expires = UInt32(clamping: v) }
                }
                j = close + 2
                guard expect(44, &j), expect(32, &j) else { return nil }
            }
            guard let mark = number(&j), port <= 65_535 else { return nil }
            if expires > 0 {
                out.append(ConnSyncEntry(service: service, clientPort: UInt16(port), client: addr, mark: UInt32(truncatingIfNeeded: mark), timeout: expires))
            }
            i = j
        }
        return out
    }

    /// The map's default timeout (seconds) from `nft -j list map` output.
    static func mapTimeout(_ text: String) -> UInt32? {
        guard let r = text.range(of: "\"timeout\": ") else { return nil }
        return UInt32(text[r.upperBound...].prefix { $0.isNumber })
    }

    static func parseMapGeneric(_ text: String, service: UInt32) -> [ConnSyncEntry] {
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
