/// The objects of one nftables table as Vigil wants them: counters, maps and chains.
/// Built by `NFTRuleset` (pure) and turned into one `nft -f` transaction by `NFTTransaction`.
public struct NFTMapSpec: Hashable, Sendable {
    public var name: String
    /// What goes between the braces of `add map` (type, flags, timeout, size).
    public var declaration: String
    /// Elements as `key : value` text, keyed by the key text; nil = dynamic map filled by the
    /// data path (connection and persistence maps), never flushed by Vigil.
    public var elements: [String: String]?

    public init(name: String, declaration: String, elements: [String: String]?) {
        self.name = name
        self.declaration = declaration
        self.elements = elements
    }
}

public struct NFTChainSpec: Hashable, Sendable {
    public var name: String
    /// `type filter hook ingress device "eth0" priority 0; policy accept;` for base chains.
    public var hook: String?
    public var rules: [String]

    public init(name: String, hook: String? = nil, rules: [String]) {
        self.name = name
        self.hook = hook
        self.rules = rules
    }
}

public struct NFTTableSpec: Hashable, Sendable {
    public var family: String
    public var name: String
    public var counters: [String] = []
    public var maps: [NFTMapSpec] = []
    public var chains: [NFTChainSpec] = []

    public init(family: String, name: String) {
        self.family = family
        self.name = name
    }

    public var isEmpty: Bool { counters.isEmpty && maps.isEmpty && chains.isEmpty }
}

/// What the kernel holds before a transaction.
public enum NFTPrevious: Hashable, Sendable {
    /// No such table.
    case absent
    /// The table exists with these object names; their contents are unknown (after a restart).
    case names(counters: Set<String>, maps: Set<String>, chains: Set<String>)
    /// Exactly what the last successful transaction programmed.
    case known(NFTTableSpec)
}

/// Turns a previous and a desired table into one `nft -f` script (one atomic transaction).
///
/// It never deletes or flushes the table and never touches dynamic maps that still exist, so
/// connection state survives every update (nft-dataplane.md §4.3); only chain and map contents
/// change. Order matters inside a transaction: objects are created first, map elements (which
/// may jump to new chains) next, then chain rules, and deletions last (after the rules and
/// elements that referenced them are gone).
public enum NFTTransaction {
    public static func script(from previous: NFTPrevious, to new: NFTTableSpec) -> String {
        let t = "\(new.family) \(new.name)"
        var out: [String] = []
        var oldCounters = Set<String>(), oldMaps = Set<String>(), oldChains = Set<String>()
        var knownMaps: [String: NFTMapSpec] = [:]
        var knownChains: [String: NFTChainSpec] = [:]
        switch previous {
        case .absent:
            break
        case .names(let c, let m, let ch):
            (oldCounters, oldMaps, oldChains) = (c, m, ch)
        case .known(let spec):
            oldCounters = Set(spec.counters)
            oldMaps = Set(spec.maps.map(\.name))
            oldChains = Set(spec.chains.map(\.name))
            for m in spec.maps { knownMaps[m.name] = m }
            for c in spec.chains { knownChains[c.name] = c }
        }
        if case .known = previous {} else { out.append("add table \(t)") }
        for c in new.counters where !oldCounters.contains(c) { out.append("add counter \(t) \(c)") }
        for m in new.maps where !oldMaps.contains(m.name) { out.append("add map \(t) \(m.name) { \(m.declaration) }") }
        for c in new.chains where !oldChains.contains(c.name) {
            out.append(c.hook.map { "add chain \(t) \(c.name) { \($0) }" } ?? "add chain \(t) \(c.name)")
        }
        // Map elements: incremental when the old contents are known, else replaced wholesale.
        for m in new.maps {
            guard let elements = m.elements else { continue }
            if let old = knownMaps[m.name], let oldElements = old.elements,
                // When most keys change (rr slots shift), one flush + full add is the smaller script.
                oldElements.keys.filter({ elements[$0] != oldElements[$0] }).count * 2 <= max(elements.count, 1)
            {
                let gone = oldElements.keys.filter { elements[$0] != oldElements[$0] }.sorted(by: numericFirst)
                if !gone.isEmpty { out.append("delete element \(t) \(m.name) { \(gone.joined(separator: ", ")) }") }
                let added = elements.keys.filter { oldElements[$0] != elements[$0] }.sorted(by: numericFirst)
                if !added.isEmpty {
                    out.append("add element \(t) \(m.name) { \(added.map { "\($0) : \(elements[$0]!)" }.joined(separator: ", ")) }")
                }
            } else {
                if oldMaps.contains(m.name) { out.append("flush map \(t) \(m.name)") }
                if !elements.isEmpty {
                    let keys = elements.keys.sorted(by: numericFirst)
                    out.append("add element \(t) \(m.name) { \(keys.map { "\($0) : \(elements[$0]!)" }.joined(separator: ", ")) }")
                }
            }
        }
        for c in new.chains {
            if let old = knownChains[c.name], old.rules == c.rules { continue }
            if oldChains.contains(c.name) { out.append("flush chain \(t) \(c.name)") }
            for r in c.rules { out.append("add rule \(t) \(c.name) \(r)") }
        }
        let newChains = Set(new.chains.map(\.name))
        let dropChains = oldChains.subtracting(newChains).sorted()
        // Rules go first (they reference maps), then maps (their verdict elements reference
        // chains), then the chains: deleting a chain a map element still jumps to is EBUSY.
        for c in dropChains { out.append("flush chain \(t) \(c)") }
        for m in oldMaps.subtracting(new.maps.map(\.name)).sorted() { out.append("delete map \(t) \(m)") }
        for c in dropChains { out.append("delete chain \(t) \(c)") }
        for c in oldCounters.subtracting(new.counters).sorted() { out.append("delete counter \(t) \(c)") }
        return out.isEmpty ? "" : out.joined(separator: "\n") + "\n"
    }

    /// Slot numbers sort numerically so scripts read naturally and golden files stay stable.
    static func numericFirst(_ a: String, _ b: String) -> Bool {
        switch (Int(a), Int(b)) {
        case (let x?, let y?): x < y
        case (.some, nil): true
        case (nil, .some): false
        default: a < b
        }
    }
}
