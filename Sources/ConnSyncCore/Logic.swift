import NetCore

/// The master's side, pure: given what its connection maps hold now, which entries must be sent.
///
/// An entry is sent when it is new, when its mark changed, or when the master's expiry has moved
/// at least `refreshAfter` seconds past the expiry the backup was last told (the data path
/// refreshes entries on every packet; the backup needs only coarse refreshes). Every
/// `fullResyncInterval` everything is sent again, so a backup that restarted catches up.
public struct ConnSyncSender: Sendable {
    public var refreshAfter: Double
    public var fullResyncInterval: Double
    /// Key → (mark, the absolute expiry the peers were told), in seconds of the caller's clock.
    var told: [ConnSyncKey: (mark: UInt32, expiry: Double)] = [:]
    var lastFull: Double?

    public init(refreshAfter: Double = 60, fullResyncInterval: Double = 30) {
        self.refreshAfter = refreshAfter
        self.fullResyncInterval = fullResyncInterval
    }

    /// How many entries the peers are believed to hold.
    public var toldCount: Int { told.count }

    /// Forget everything (e.g. on becoming master again): the next poll sends the whole map.
    public mutating func reset() {
        told = [:]
        lastFull = nil
    }

    /// - Parameters:
    ///   - snapshot: every entry of every synced map now, with seconds left.
    ///   - now: the caller's monotonic time in seconds.
    /// - Returns: the entries to send now.
    public mutating func delta(snapshot: [ConnSyncEntry], now: Double) -> [ConnSyncEntry] {
        if let last = lastFull, now - last >= fullResyncInterval {
            told = [:]
            lastFull = now
        } else if lastFull == nil {
            lastFull = now
        }
        var out: [ConnSyncEntry] = []
        var seen = Set<ConnSyncKey>()
        seen.reserveCapacity(snapshot.count)
        for e in snapshot {
            let k = e.key
            seen.insert(k)
            let expiry = now + Double(e.timeout)
            if let t = told[k], t.mark == e.mark, expiry - t.expiry < refreshAfter { continue }
            told[k] = (e.mark, expiry)
            out.append(e)
        }
        if told.count != seen.count { told = told.filter { seen.contains($0.key) } }
        return out.sorted { $0.key < $1.key }
    }

    /// Recently scheduled flows (a partial view: nothing is forgotten): sends those the peers
    /// were not told about, or were told with another mark.
    public mutating func newEntries(_ entries: [ConnSyncEntry], now: Double) -> [ConnSyncEntry] {
        var out: [ConnSyncEntry] = []
        for e in entries {
            if let t = told[e.key], t.mark == e.mark { continue }
            told[e.key] = (e.mark, now + Double(e.timeout))
            out.append(e)
        }
        return out.sorted { $0.key < $1.key }
    }
}

/// The backup's side, pure: which datagrams to accept, and counters for the status snapshot.
public struct ConnSyncReceiver: Sendable {
    public struct Counters: Sendable, Hashable, Codable {
        public var packetsAccepted = 0
        public var entriesAccepted = 0
        public var rejected: [String: Int] = [:]
        /// Accepted while this director was master (not installed).
        public var ignoredWhileMaster = 0
        public var installs = 0
        public var installFailures = 0
        public init() {}
        public var totalRejected: Int { rejected.values.reduce(0, +) }
    }

    public var syncID: UInt8
    public private(set) var counters = Counters()
    /// Highest accepted sequence per sender epoch (a few epochs at most: one per sender start).
    var lastSequence: [UInt64: UInt64] = [:]

    public init(syncID: UInt8) { self.syncID = syncID }

    /// Decodes and checks one datagram. Returns the entries to install, or nil when rejected
    /// (counted under its reason).
    public mutating func accept(_ datagram: [UInt8], key: ConnSyncKeyMaterial, isMaster: Bool) -> (entries: [ConnSyncEntry]?, rejection: ConnSyncRejection?) {
        switch ConnSyncCodec.decode(datagram, key: key.key.key) {
        case .failure(let r):
            counters.rejected[r.rawValue, default: 0] += 1
            return (nil, r)
        case .success(let p):
            if p.syncID != syncID {
                counters.rejected[ConnSyncRejection.foreignSyncID.rawValue, default: 0] += 1
                return (nil, .foreignSyncID)
            }
            if let last = lastSequence[p.epoch], p.sequence <= last {
                counters.rejected[ConnSyncRejection.replayed.rawValue, default: 0] += 1
                return (nil, .replayed)
            }
            lastSequence[p.epoch] = p.sequence
            if lastSequence.count > 16, let oldest = lastSequence.min(by: { $0.value < $1.value })?.key {
                lastSequence[oldest] = nil
            }
            if isMaster {
                counters.ignoredWhileMaster += 1
                return (nil, nil)
            }
            counters.packetsAccepted += 1
            counters.entriesAccepted += p.entries.count
            return (p.entries, nil)
        }
    }

    public mutating func noteInstall(succeeded: Bool) {
        if succeeded { counters.installs += 1 } else { counters.installFailures += 1 }
    }
}

/// A symmetric key wrapper so callers outside need not import Crypto.
public struct ConnSyncKeyMaterial: Sendable {
    let key: SymmetricKeyBox
    /// Encodes with this key (see `ConnSyncCodec.encode`).
    public func encode(_ entries: [ConnSyncEntry], syncID: UInt8, epoch: UInt64, firstSequence: UInt64) -> [[UInt8]] {
        ConnSyncCodec.encode(entries, syncID: syncID, epoch: epoch, firstSequence: firstSequence, key: key.key)
    }
    public init(instance: String, vrid: Int, password: String?) {
        key = SymmetricKeyBox(ConnSyncCodec.deriveKey(instance: instance, vrid: vrid, password: password))
    }
}

/// Builds the `nft -f` scripts that install received entries.
///
/// nft 1.0.6 has no "replace element": `add element` fails with EEXIST when the key exists with
/// another mark, and `delete element` fails when the key is absent. So each entry is written as
/// `add` (a no-op if it exists with the same mark), `delete`, `add` with the sender's timeout:
/// one transaction that succeeds whether the key was absent or present with the same mark.
/// Keys known to exist with another mark (`existing`) are written as `delete` + `add`.
public enum ConnSyncInstall {
    public static func script(
        table: String, entries: [ConnSyncEntry], existing: [ConnSyncKey: UInt32] = [:]
    ) -> String {
        var byService: [UInt32: [ConnSyncEntry]] = [:]
        // The last entry for a key wins (a later datagram carries newer state).
        var latest: [ConnSyncKey: ConnSyncEntry] = [:]
        for e in entries { latest[e.key] = e }
        for e in latest.values { byService[e.service, default: []].append(e) }
        var out = ""
        for (svc, list) in byService.sorted(by: { $0.key < $1.key }) {
            let map = "netdev \(table) conn_\(hex8(svc))"
            let sorted = list.sorted { $0.key < $1.key }
            func key(_ e: ConnSyncEntry) -> String { "\(e.clientPort) . \(e.client)" }
            // Keys present with another mark must not get the leading `add` (it would fail).
            let fresh = sorted.filter { existing[$0.key] == nil || existing[$0.key] == $0.mark }
            if !fresh.isEmpty {
                out += "add element \(map) { \(fresh.map { "\(key($0)) timeout 1s : 0x\(hex8($0.mark))" }.joined(separator: ", ")) }\n"
            }
            if !sorted.isEmpty {
                out += "delete element \(map) { \(sorted.map(key).joined(separator: ", ")) }\n"
                out += "add element \(map) { \(sorted.map { "\(key($0)) timeout \(max(1, $0.timeout))s : 0x\(hex8($0.mark))" }.joined(separator: ", ")) }\n"
            }
        }
        return out
    }

    static func hex8(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }
}
