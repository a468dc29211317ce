import NetCore

/// What a scheduler knows about one destination (ipvs.md §1.1), in list order.
public struct SchedulerCandidate: Sendable, Hashable {
    public var weight: Int32
    public var activeConnections: UInt32
    public var inactiveConnections: UInt32
    /// `IP_VS_DEST_F_OVERLOAD`: over its upper threshold.
    public var overloaded: Bool

    public init(weight: Int32, activeConnections: UInt32 = 0, inactiveConnections: UInt32 = 0, overloaded: Bool = false) {
        self.weight = weight
        self.activeConnections = activeConnections
        self.inactiveConnections = inactiveConnections
        self.overloaded = overloaded
    }

    /// Eligible for new connections: weight > 0 and not overloaded.
    public var isAvailable: Bool { weight > 0 && !overloaded }
    /// `ip_vs_dest_conn_overhead`: active × 256 + inactive.
    public var overhead: Int64 { Int64(activeConnections) << 8 + Int64(inactiveConnections) }
}

/// The IPVS schedulers Vigil knows by name (`-s`).
public enum SchedulerKind: String, Sendable, Hashable, CaseIterable, Codable {
    case rr, wrr, lc, wlc, sed, nq, fo, ovf, sh, dh, mh, lblc, lblcr, twos, none

    /// Schedulers whose choice depends only on connection counts and weights.
    public var isConnectionBased: Bool { [.lc, .wlc, .sed, .nq, .fo, .ovf].contains(self) }
}

/// Greatest common divisor (non-negative).
@inlinable
func gcd(_ a: Int, _ b: Int) -> Int {
    var (x, y) = (abs(a), abs(b))
    while y != 0 { (x, y) = (y, x % y) }
    return x
}

/// Round robin (ipvs.md §1.2 "rr"): resume after the last pick and take the next available dest.
public struct RoundRobinScheduler: Sendable, Hashable {
    /// Index of the last pick; nil = the list head (the first pick is the first dest).
    public private(set) var last: Int?

    public init() {}

    public mutating func next(_ dests: [SchedulerCandidate]) -> Int? {
        guard !dests.isEmpty else { return nil }
        let start = last.map { $0 + 1 } ?? 0
        for k in 0..<dests.count {
            let i = (start + k) % dests.count
            if dests[i].isAvailable {
                last = i
                return i
            }
        }
        return nil
    }
}

/// The kernel's weighted round robin (`cw`/`mw`/`di`, ipvs.md §1.2 "wrr").
public struct WeightedRoundRobinScheduler: Sendable, Hashable {
    /// Position in the list; -1 is the list head.
    public private(set) var position = -1
    public private(set) var cw = 0
    public private(set) var mw = 0
    public private(set) var di = 1

    public init(_ dests: [SchedulerCandidate]) {
        recompute(dests)
        cw = mw
    }

    /// What the kernel does on any dest add/edit/delete: new `di`/`mw`, position back to the head,
    /// `cw` kept but clamped to `mw` (or rounded to a multiple of `di` plus one when `di > 1`).
    public mutating func update(_ dests: [SchedulerCandidate]) {
        recompute(dests)
        position = -1
        if cw > mw || mw == 0 {
            cw = mw
        } else if di > 1 {
            cw = (cw / di) * di + 1
        }
    }

    private mutating func recompute(_ dests: [SchedulerCandidate]) {
        let weights = dests.map { Int($0.weight) }.filter { $0 > 0 }
        di = weights.reduce(0, gcd)
        if di == 0 { di = 1 }
        mw = (weights.max() ?? 0) == 0 ? 0 : weights.max()! - (di - 1)
    }

    public mutating func next(_ dests: [SchedulerCandidate]) -> Int? {
        guard mw > 0, dests.contains(where: { $0.isAvailable }) else { return nil }
        // Every full pass lowers cw by di; after mw/di + 1 passes every available dest qualified.
        let limit = (dests.count + 1) * (mw / di + 2)
        for _ in 0..<limit {
            position += 1
            if position >= dests.count {
                position = -1
                cw -= di
                if cw <= 0 { cw = mw }
                continue
            }
            let d = dests[position]
            if !d.overloaded && Int(d.weight) >= cw && d.weight > 0 { return position }
        }
        return nil
    }

    /// The first `count` picks for weights in list order (no overload): `[4,3,2]` → A A B A B C A B C.
    public static func sequence(weights: [Int32], count: Int) -> [Int] {
        let dests = weights.map { SchedulerCandidate(weight: $0) }
        var s = WeightedRoundRobinScheduler(dests)
        var out: [Int] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            guard let i = s.next(dests) else { break }
            out.append(i)
        }
        return out
    }

    /// Length of one full cycle: Σ weights / gcd (weights > 0).
    public static func period(weights: [Int32]) -> Int {
        let w = weights.map(Int.init).filter { $0 > 0 }
        let g = w.reduce(0, gcd)
        return g == 0 ? 0 : w.reduce(0, +) / g
    }
}

/// Connection-count schedulers (lc, wlc, sed, nq, fo, ovf) as in ipvs.md §1.2.
/// Returns the index of the chosen dest, or nil ("no destination available").
public func pickByConnections(_ kind: SchedulerKind, _ dests: [SchedulerCandidate]) -> Int? {
    switch kind {
    case .lc:
        var best: Int?
        for (i, d) in dests.enumerated() where d.isAvailable {
            if best == nil || d.overhead < dests[best!].overhead { best = i }
        }
        return best
    case .wlc, .sed, .nq:
        func oh(_ d: SchedulerCandidate) -> Int64 { kind == .wlc ? d.overhead : Int64(d.activeConnections) + 1 }
        var best: Int?
        for (i, d) in dests.enumerated() where d.isAvailable {
            if kind == .nq && d.activeConnections == 0 { return i }
            guard let b = best else {
                best = i
                continue
            }
            // loh * w_d > doh * w_least  (strictly better wins; ties stay with the earlier dest)
            if oh(dests[b]) * Int64(d.weight) > oh(d) * Int64(dests[b].weight) { best = i }
        }
        return best
    case .fo:
        var best: Int?
        for (i, d) in dests.enumerated() where d.isAvailable {
            if best == nil || d.weight > dests[best!].weight { best = i }
        }
        return best
    case .ovf:
        var best: Int?
        for (i, d) in dests.enumerated() where d.isAvailable && Int64(d.activeConnections) <= Int64(d.weight) {
            if best == nil || d.weight > dests[best!].weight { best = i }
        }
        return best
    default:
        return nil
    }
}

/// Simulates `count` consecutive new connections under a connection-count scheduler: each pick adds
/// one active connection to the chosen dest before the next pick. This is the slot list the
/// nftables engine programs between two refreshes of the real counts.
public func planByConnections(_ kind: SchedulerKind, _ dests: [SchedulerCandidate], count: Int) -> [Int] {
    var d = dests
    var out: [Int] = []
    for _ in 0..<count {
        guard let i = pickByConnections(kind, d) else { break }
        out.append(i)
        d[i].activeConnections &+= 1
    }
    return out
}

/// Folds an address to 32 bits in host order like IPVS (IPv6: XOR of the four words).
public func ipvsFold(_ address: IPAddress) -> UInt32 {
    let b = address.bytes
    var v: UInt32 = 0
    for w in stride(from: 0, to: b.count, by: 4) {
        v ^= UInt32(b[w]) << 24 | UInt32(b[w + 1]) << 16 | UInt32(b[w + 2]) << 8 | UInt32(b[w + 3])
    }
    return v
}

/// The 256-bucket source-hashing table (ipvs.md §1.2 "sh").
public struct SourceHashTable: Sendable, Hashable {
    public static let size = 256
    /// Bucket → dest index (nil when there are no dests).
    public let buckets: [Int?]

    /// Walks the list giving each dest `weight` consecutive buckets (weight 0 still takes one),
    /// cycling until all 256 are full.
    public init(weights: [Int32]) {
        var b = [Int?](repeating: nil, count: Self.size)
        if !weights.isEmpty {
            var dest = 0
            var count = 0
            for i in 0..<Self.size {
                b[i] = dest
                count += 1
                if count >= Int(weights[dest]) {
                    dest = (dest + 1) % weights.count
                    count = 0
                }
            }
        }
        buckets = b
    }

    /// `(off + (port + fold(addr)) * 2654435761) & 255`.
    public static func hash(_ address: IPAddress, port: UInt16 = 0, offset: UInt32 = 0) -> Int {
        Int((offset &+ (UInt32(port) &+ ipvsFold(address)) &* 2_654_435_761) & 0xff)
    }

    /// The dest for a client: without fallback the hashed bucket's dest must be available;
    /// with sh-fallback, offsets 0…255 are tried in turn.
    public func pick(_ address: IPAddress, port: UInt16 = 0, fallback: Bool = false, _ dests: [SchedulerCandidate]) -> Int? {
        func ok(_ i: Int?) -> Int? { i.flatMap { dests.indices.contains($0) && dests[$0].isAvailable ? $0 : nil } }
        let h0 = Self.hash(address, port: port)
        if let d = ok(buckets[h0]) { return d }
        guard fallback else { return nil }
        for i in 0..<UInt32(Self.size) {
            let off = (i + UInt32(h0)) % UInt32(Self.size)
            if let d = ok(buckets[Self.hash(address, port: port, offset: off)]) { return d }
        }
        return nil
    }
}

/// The 256-bucket destination-hashing table (ipvs.md §1.2 "dh"): one bucket per dest, round robin.
public struct DestinationHashTable: Sendable, Hashable {
    public let buckets: [Int?]

    public init(count: Int) {
        buckets = (0..<256).map { count == 0 ? nil : $0 % count }
    }

    public static func hash(_ address: IPAddress) -> Int {
        Int((ipvsFold(address) &* 2_654_435_761) & 0xff)
    }

    /// No fallback: an unavailable bucket means no dest.
    public func pick(_ destination: IPAddress, _ dests: [SchedulerCandidate]) -> Int? {
        guard let i = buckets[Self.hash(destination)], dests.indices.contains(i), dests[i].isAvailable else { return nil }
        return i
    }
}
