import Crypto
import NetCore

/// One connection-map entry as the directors exchange it: which service map (`conn_<sid>`),
/// the client's port and address (the map key), the real server's mark (the value) and how many
/// seconds the entry has left on the sender.
public struct ConnSyncEntry: Sendable, Hashable {
    /// The service id (`serviceID(key)` of DataPlaneNFTables): 8 hex digits in the map name.
    public var service: UInt32
    public var clientPort: UInt16
    public var client: IPAddress
    public var mark: UInt32
    /// Seconds left before the entry expires on the sender (0 is sent as 1).
    public var timeout: UInt32

    public init(service: UInt32, clientPort: UInt16, client: IPAddress, mark: UInt32, timeout: UInt32) {
        self.service = service
        self.clientPort = clientPort
        self.client = client
        self.mark = mark
        self.timeout = timeout
    }

    /// The map key (service, port, address) without the value.
    public var key: ConnSyncKey { ConnSyncKey(service: service, clientPort: clientPort, client: client) }
}

public struct ConnSyncKey: Sendable, Hashable, Comparable {
    public var service: UInt32
    public var clientPort: UInt16
    public var client: IPAddress

    public init(service: UInt32, clientPort: UInt16, client: IPAddress) {
        self.service = service
        self.clientPort = clientPort
        self.client = client
    }

    public static func < (a: Self, b: Self) -> Bool {
        (a.service, a.client, a.clientPort) < (b.service, b.client, b.clientPort)
    }
}

/// Why a sync datagram was rejected. Every rejection is counted by reason.
public enum ConnSyncRejection: String, Error, Sendable, Hashable, CaseIterable, Codable {
    /// Too short, wrong magic or version, or entries that do not fill the datagram exactly.
    case malformed
    /// The HMAC-SHA256 trailer does not match the configured key.
    case unauthenticated
    /// Authenticated, but for another sync id (`lvs_sync_daemon … id N`).
    case foreignSyncID
    /// Authenticated, but its sequence number is not newer than one already accepted from that sender.
    case replayed
}

/// A decoded, authenticated datagram.
public struct ConnSyncPacket: Sendable, Hashable {
    public var syncID: UInt8
    /// Random per sender process: a restarted sender starts a new sequence.
    public var epoch: UInt64
    public var sequence: UInt64
    public var entries: [ConnSyncEntry]

    public init(syncID: UInt8, epoch: UInt64, sequence: UInt64, entries: [ConnSyncEntry]) {
        self.syncID = syncID
        self.epoch = epoch
        self.sequence = sequence
        self.entries = entries
    }
}

/// The sync wire format (a Vigil protocol; IPVS's own sync format carries kernel connection
/// state that an nftables map does not have). All integers are big-endian.
///
/// ```
///  0  "VGCS"            magic
///  4  version = 1       u8
///  5  sync id           u8   (lvs_sync_daemon … id N; 0 when not given)
///  6  entry count       u16
///  8  epoch             u64  (random per sender start)
/// 16  sequence          u64  (strictly increasing per epoch)
/// 24  entries           count × { service u32, family u8 (4|6), port u16, address 4|16, mark u32, timeout u32 }
///  …  HMAC-SHA256       32 bytes over everything before it
/// ```
public enum ConnSyncCodec {
    public static let magic: [UInt8] = Array("VGCS".utf8)
    public static let version: UInt8 = 1
    public static let headerSize = 24
    public static let macSize = 32
    /// Entries per datagram so that an IPv4 datagram stays under 1,400 bytes (no fragmentation on a 1,500 MTU).
    public static let maxEntriesPerPacket = 60

    /// The 32-byte key: HMAC-SHA256 under a fixed label of the VRRP instance's name, VRID and
    /// `auth_pass`, which both directors share by configuration (keepalived requires them equal).
    public static func deriveKey(instance: String, vrid: Int, password: String?) -> SymmetricKey {
        let label = SymmetricKey(data: Array("vigil connection sync v1".utf8))
        var material = Array(instance.utf8) + [0] + Array(String(vrid).utf8) + [0]
        material += Array((password ?? "").utf8)
        return SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: material, using: label)))
    }

    /// Encodes entries into as many datagrams as needed, with consecutive sequence numbers from `firstSequence`.
    public static func encode(
        _ entries: [ConnSyncEntry], syncID: UInt8, epoch: UInt64, firstSequence: UInt64, key: SymmetricKey
    ) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var seq = firstSequence
        var i = 0
        repeat {
            let chunk = entries[i..<min(entries.count, i + maxEntriesPerPacket)]
            var b = magic + [version, syncID]
            put16(&b, UInt16(chunk.count))
            put64(&b, epoch)
            put64(&b, seq)
            for e in chunk {
                put32(&b, e.service)
                b.append(e.client.family == .inet ? 4 : 6)
                put16(&b, e.clientPort)
                b += e.client.bytes
                put32(&b, e.mark)
                put32(&b, max(1, e.timeout))
            }
            b += Array(HMAC<SHA256>.authenticationCode(for: b, using: key))
            out.append(b)
            seq &+= 1
            i += maxEntriesPerPacket
        } while i < entries.count
        return out
    }

    /// Checks the trailer first (nothing unauthenticated is parsed further), then the layout.
    public static func decode(_ b: [UInt8], key: SymmetricKey) -> Result<ConnSyncPacket, ConnSyncRejection> {
        guard b.count >= headerSize + macSize, Array(b[0..<4]) == magic, b[4] == version else { return .failure(.malformed) }
        let body = b[0..<(b.count - macSize)]
        guard HMAC<SHA256>.isValidAuthenticationCode(b[(b.count - macSize)...], authenticating: body, using: key) else {
            return .failure(.unauthenticated)
        }
        let count = Int(get16(b, 6))
        var entries: [ConnSyncEntry] = []
        entries.reserveCapacity(count)
        var p = headerSize
        let end = b.count - macSize
        for _ in 0..<count {
            guard p + 7 <= end else { return .failure(.malformed) }
            let service = get32(b, p)
            let fam = b[p + 4]
            let port = get16(b, p + 5)
            let alen = fam == 4 ? 4 : (fam == 6 ? 16 : 0)
            guard alen > 0, p + 7 + alen + 8 <= end,
                let addr = IPAddress(bytes: Array(b[(p + 7)..<(p + 7 + alen)]), family: fam == 4 ? .inet : .inet6)
            else { return .failure(.malformed) }
            let q = p + 7 + alen
            entries.append(ConnSyncEntry(service: service, clientPort: port, client: addr, mark: get32(b, q), timeout: get32(b, q + 4)))
            p = q + 8
        }
        guard p == end else { return .failure(.malformed) }
        return .success(ConnSyncPacket(syncID: b[5], epoch: get64(b, 8), sequence: get64(b, 16), entries: entries))
    }

    static func put16(_ b: inout [UInt8], _ v: UInt16) { b += [UInt8(v >> 8), UInt8(v & 0xff)] }
    static func put32(_ b: inout [UInt8], _ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { b.append(UInt8((v >> UInt32(s)) & 0xff)) } }
    static func put64(_ b: inout [UInt8], _ v: UInt64) { for s in stride(from: 56, through: 0, by: -8) { b.append(UInt8((v >> UInt64(s)) & 0xff)) } }
    static func get16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) << 8 | UInt16(b[i + 1]) }
    static func get32(_ b: [UInt8], _ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 << 8 | UInt32(b[i + $1]) } }
    static func get64(_ b: [UInt8], _ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 << 8 | UInt64(b[i + $1]) } }
}

/// Holds the key bytes (`SymmetricKey` is not `Sendable` in swift-crypto 3.12).
struct SymmetricKeyBox: Sendable {
    let bytes: [UInt8]
    init(_ key: SymmetricKey) { bytes = key.withUnsafeBytes { Array($0) } }
    var key: SymmetricKey { SymmetricKey(data: bytes) }
}
