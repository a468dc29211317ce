/// What the control loop applies to the data plane for one real server.
public enum HealthEvent: Sendable, Hashable {
    /// All checkers are up: add the server (or restore its weight) with this weight.
    case up(weight: Int)
    /// A checker went down: remove the server (or set weight 0 with `inhibit_on_failure`).
    case down
    /// The server stays up but its dynamic weight changed.
    case weight(Int)
}

/// Combines the checkers of one real server (keepalived.md §3): the server is alive while
/// **all** its checkers are up; a server without checkers is always alive.
///
/// Weights: the configured `weight` is static. A MISC_CHECK with `misc_dynamic` replaces it with
/// exit − 2; FILE_CHECK adds value × weight (keepalived's track-file rule). The effective weight
/// never goes below 0.
public struct RealServerHealth: Sendable, Hashable {
    public let baseWeight: Int
    public private(set) var checkerUp: [Bool]
    /// Per checker: a replacing weight (misc_dynamic) or an additive delta (FILE_CHECK).
    public private(set) var dynamic: [DynamicWeight?]

    public enum DynamicWeight: Sendable, Hashable {
        case replace(Int)
        case add(Int)
    }

    /// - Parameters:
    ///   - initiallyUp: the start state of each checker (`!alpha`).
    public init(baseWeight: Int, initiallyUp: [Bool]) {
        self.baseWeight = baseWeight
        self.checkerUp = initiallyUp
        self.dynamic = Array(repeating: nil, count: initiallyUp.count)
    }

    public var isAlive: Bool { checkerUp.allSatisfy { $0 } }

    public var effectiveWeight: Int {
        var w = baseWeight
        for case .replace(let r) in dynamic { w = r }
        for case .add(let a) in dynamic { w += a }
        return max(0, w)
    }

    /// Records checker `index`'s new state and dynamic weight, and returns the event the data
    /// plane must see (nil when nothing it cares about changed).
    public mutating func update(checker index: Int, isUp: Bool, weight: DynamicWeight?? = .none) -> HealthEvent? {
        let wasAlive = isAlive
        let oldWeight = effectiveWeight
        checkerUp[index] = isUp
        if let w = weight { dynamic[index] = w }
        switch (wasAlive, isAlive) {
        case (false, true): return .up(weight: effectiveWeight)
        case (true, false): return .down
        case (true, true) where effectiveWeight != oldWeight: return .weight(effectiveWeight)
        default: return nil
        }
    }
}
