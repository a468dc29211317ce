import NetCore
import Testing

@testable import VRRPCore

/// A little LAN on a manual clock: each node's adverts are encoded, carried to every other
/// connected node with the same VRID, and decoded there through `receive(packet:)`.
struct Lab {
    struct Node {
        var instance: VRRPInstance
        var timer: Instant?
        var holdsVIPs = false
        var logs: [(Instant, String)] = []
        var notifications: [VRRPInstance.Notification] = []
        var gratuitous: [(Instant, Int)] = []
        var sent: [(Instant, Advertisement)] = []
        /// Cable plugged in: sends and receives.
        var connected = true
        /// Process alive: handles events.
        var alive = true
        var name: String { instance.config.name }
        var state: VRRPState { instance.state }
        func logged(_ text: String) -> Bool { logs.contains { $0.1 == text } }
        func firstLog(_ text: String) -> Instant? { logs.first { $0.1 == text }?.0 }
    }

    var now = Instant.zero
    var nodes: [Node]
    private var queue: [(from: Int, ad: Advertisement)] = []

    init(_ configs: [VRRPInstanceConfig]) {
        nodes = configs.map { Node(instance: VRRPInstance(config: $0)) }
    }

    subscript(_ i: Int) -> Node {
        get { nodes[i] }
        set { nodes[i] = newValue }
    }

    mutating func event(_ i: Int, _ e: VRRPInstance.Event) {
        guard nodes[i].alive else { return }
        let actions = nodes[i].instance.handle(e, now: now)
        apply(i, actions)
        flush()
    }

    mutating func startAll() {
        for i in nodes.indices { event(i, .start) }
    }

    /// Kills a node without a goodbye (its timers stop, nothing more is sent).
    mutating func crash(_ i: Int) {
        nodes[i].alive = false
        nodes[i].timer = nil
    }

    /// Restarts a crashed or stopped node with a fresh instance.
    mutating func restart(_ i: Int) {
        nodes[i] = Node(instance: VRRPInstance(config: nodes[i].instance.config))
        event(i, .start)
    }

    mutating func apply(_ i: Int, _ actions: [VRRPInstance.Action]) {
        for a in actions {
            switch a {
            case .sendAdvertisement(let ad):
                nodes[i].sent.append((now, ad))
                if nodes[i].connected { queue.append((i, ad)) }
            case .addVIPs: nodes[i].holdsVIPs = true
            case .removeVIPs: nodes[i].holdsVIPs = false
            case .sendGratuitous(let n): nodes[i].gratuitous.append((now, n))
            case .armTimer(let at): nodes[i].timer = at
            case .cancelTimer: nodes[i].timer = nil
            case .notify(let n): nodes[i].notifications.append(n)
            case .log(_, let text): nodes[i].logs.append((now, text))
            }
        }
    }

    private mutating func flush() {
        while !queue.isEmpty {
            let (from, ad) = queue.removeFirst()
            let src = nodes[from].instance.config.primaryAddress
            for j in nodes.indices where j != from && nodes[j].alive && nodes[j].connected {
                let cfg = nodes[j].instance.config
                guard cfg.vrid == ad.vrid, cfg.family == src.family else { continue }
                let dst = cfg.unicastPeers.isEmpty ? cfg.multicastGroup : cfg.primaryAddress
                let bytes = ad.encoded(source: src, destination: dst, checksumAsV2: nodes[from].instance.config.v3ChecksumAsV2)
                let actions = nodes[j].instance.receive(packet: bytes, ttl: 255, source: src, destination: dst, now: now)
                apply(j, actions)
            }
        }
    }

    /// Advances the clock to `until`, firing every timer on the way in time order.
    mutating func run(until: Instant) {
        while true {
            let due = nodes.indices.compactMap { i in nodes[i].alive ? nodes[i].timer.map { (i, $0) } : nil }
                .filter { $0.1 <= until }.min { $0.1 < $1.1 }
            guard let (i, at) = due else { break }
            now = max(now, at)
            nodes[i].timer = nil
            event(i, .timer)
        }
        now = until
    }

    mutating func run(for d: Duration) { run(until: now + d) }

    var masters: [String] { nodes.filter { $0.alive && $0.state == .master }.map(\.name) }
    var vipHolders: [String] { nodes.filter { $0.holdsVIPs }.map(\.name) }
}

func config(
    _ name: String, _ addr: String, priority: UInt8, vrid: UInt8 = 51, version: VRRPVersion = .v2,
    interval: Duration = .seconds(1), vips: [String] = ["192.168.0.21"], _ tweak: (inout VRRPInstanceConfig) -> Void = { _ in }
) -> VRRPInstanceConfig {
    var c = VRRPInstanceConfig(
        name: name, interface: "eth0", vrid: vrid, version: version, priority: priority, advertInterval: interval,
        primaryAddress: IPAddress(addr)!, virtualAddresses: vips.map { IPAddress($0)! })
    if version == .v2 { c.authentication = .pass("1111") }
    tweak(&c)
    return c
}

extension Instant {
    static func s(_ seconds: Double) -> Instant { .seconds(seconds) }
}
