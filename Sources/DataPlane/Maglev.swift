import NetCore

/// SipHash-1-3 (64-bit output) over bytes with a 128-bit key: the keyed hash behind Vigil's
/// Maglev permutations. Deterministic for a given key, so every director builds the same table.
public func sipHash13(_ bytes: [UInt8], k0: UInt64, k1: UInt64) -> UInt64 {
    var v0: UInt64 = 0x736f_6d65_7073_6575 ^ k0
    var v1: UInt64 = 0x646f_7261_6e64_6f6d ^ k1
    var v2: UInt64 = 0x6c79_6765_6e65_7261 ^ k0
    var v3: UInt64 = 0x7465_6462_7974_6573 ^ k1
    func rotl(_ x: UInt64, _ b: UInt64) -> UInt64 { (x << b) | (x >> (64 - b)) }
    func round() {
        v0 &+= v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
        v2 &+= v3; v3 = rotl(v3, 16); v3 ^= v2
        v0 &+= v3; v3 = rotl(v3, 21); v3 ^= v0
        v2 &+= v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
    }
    let n = bytes.count
    var i = 0
    while i + 8 <= n {
        var m: UInt64 = 0
        for j in 0..<8 { m |= UInt64(bytes[i + j]) << (8 * UInt64(j)) }
        v3 ^= m; round(); v0 ^= m
        i += 8
    }
    var last = UInt64(n & 0xff) << 56
    for j in 0..<(n - i) { last |= UInt64(bytes[i + j]) << (8 * UInt64(j)) }
    v3 ^= last; round(); v0 ^= last
    v2 ^= 0xff
    round(); round(); round()
    return v0 ^ v1 ^ v2 ^ v3
}

/// Errors building a Maglev table.
public struct MaglevError: Error, Hashable, Sendable, CustomStringConvertible {
    public var size: Int
    public init(size: Int) { self.size = size }
    public var description: String { "Maglev table size \(size) is not a prime of at least 3" }
}

/// A Maglev lookup table (ipvs.md §1.2 "mh"; Eisenbud et al., NSDI 2016, §3.4).
///
/// Permutations come from SipHash-1-3 of each backend's identity under a seed that the caller
/// derives from configuration (never random per load), so every director with the same
/// configuration builds the same table. Weights follow the kernel's `last_weight` turns:
/// `g = gcd`, `rshift = max(0, fls(max/g) − 6)`, `turns = (w/g) >> rshift` (at least 1).
public struct Maglev: Sendable, Hashable {
    /// IPVS's sizes (`primes[CONFIG_IP_VS_MH_TAB_INDEX - 8]`); 4093 is the kernel default.
    public static let ipvsSizes = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071]
    public static let defaultSize = 4093

    public let size: Int
    /// Slot → backend index, or -1 when no backend has a weight.
    public let slots: [Int32]

    /// - Parameters:
    ///   - identities: one byte string per backend (e.g. address + port), in list order.
    ///   - weights: the backends' last non-zero weights; 0 = never weighted, takes no slots.
    ///   - seed: configuration-derived; the same seed gives the same table everywhere.
    public init(identities: [[UInt8]], weights: [Int32], size: Int = Maglev.defaultSize, seed: UInt64) throws(MaglevError) {
        guard size >= 3, isPrime(size) else { throw MaglevError(size: size) }
        precondition(identities.count == weights.count, "one weight per backend")
        self.size = size
        let m = UInt64(size)
        let live = weights.map { max(0, Int($0)) }
        let g = live.filter { $0 > 0 }.reduce(0, gcd)
        var table = [Int32](repeating: -1, count: size)
        guard g > 0 else {
            slots = table
            return
        }
        let maxw = live.max()! / g
        let fls = Int.bitWidth - maxw.leadingZeroBitCount
        let rshift = max(0, fls - 6)
        let turns = live.map { w -> Int in
            guard w > 0 else { return 0 }
            let t = (w / g) >> rshift
            return t == 0 ? 1 : t
        }
        let offsets = identities.map { sipHash13($0, k0: seed, k1: 0x6f66_6673_6574) % m }
        let skips = identities.map { sipHash13($0, k0: seed, k1: 0x736b_6970) % (m - 1) + 1 }
        var next = [UInt64](repeating: 0, count: identities.count)
        var filled = 0
        outer: while true {
            for i in identities.indices where turns[i] > 0 {
                for _ in 0..<turns[i] {
                    var c = Int((offsets[i] &+ next[i] &* skips[i]) % m)
                    while table[c] >= 0 {
                        next[i] += 1
                        c = Int((offsets[i] &+ next[i] &* skips[i]) % m)
                    }
                    table[c] = Int32(i)
                    next[i] += 1
                    filled += 1
                    if filled == size { break outer }
                }
            }
        }
        slots = table
    }

    /// The backend for a slot, or nil for an empty table.
    public func lookup(_ slot: Int) -> Int? {
        let v = slots[slot % size]
        return v < 0 ? nil : Int(v)
    }

    /// Slots with unavailable backends move to the next available slot's backend (walking forward),
    /// which is how quiesced (weight 0) servers leave the table without a rebuild.
    public func resolvingUnavailable(_ available: (Int) -> Bool) -> [Int32] {
        var out = slots
        guard let anchor = (0..<size).first(where: { slots[$0] >= 0 && available(Int(slots[$0])) }) else {
            return [Int32](repeating: -1, count: size)
        }
        // Walk backwards from the anchor so each unavailable slot takes the nearest following good one.
        var carry = slots[anchor]
        for k in 1...size {
            let i = (anchor - k + size) % size
            let v = slots[i]
            if v >= 0 && available(Int(v)) { carry = v } else { out[i] = carry }
        }
        return out
    }

    /// The smallest size from `candidates` with at least `perBackend` slots per backend.
    public static func size(forBackends n: Int, perBackend: Int = 20, candidates: [Int] = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65537]) -> Int {
        candidates.first { $0 >= n * perBackend } ?? candidates.last!
    }
}

func isPrime(_ n: Int) -> Bool {
    guard n >= 2 else { return false }
    if n < 4 { return true }
    if n % 2 == 0 { return false }
    var d = 3
    while d * d <= n {
        if n % d == 0 { return false }
        d += 2
    }
    return true
}
