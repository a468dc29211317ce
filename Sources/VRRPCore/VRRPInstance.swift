import NetCore

/// Instance states (RFC 5798 §6.4 plus keepalived's FAULT and STOP).
public enum VRRPState: String, Hashable, Sendable, Codable {
    case initialize = "INIT"
    case backup = "BACKUP"
    case master = "MASTER"
    case fault = "FAULT"
    case stopped = "STOP"
}

/// One VRRP virtual router on one interface, as a pure state machine (RFC 5798 §6.4, with
/// keepalived 2.x behaviour where it differs).
///
/// Events and the current time go in, `Action`s come out. The machine keeps a single deadline
/// (the earliest of its advert, master-down, GARP and refresh timers) and asks for it with
/// `.armTimer(at:)`; the caller delivers `.timer` when it passes.
public struct VRRPInstance: Sendable {
    public enum Event: Hashable, Sendable {
        case start
        /// A decoded advertisement from `from` (the IP source).
        case advertisement(Advertisement, from: IPAddress)
        /// The armed deadline passed.
        case timer
        case interfaceUp
        case interfaceDown
        case tracker(String, TrackerStatus)
        /// A vrrp_sync_group asks this member to follow another member.
        case syncGroup(VRRPState)
        /// Graceful stop: a master sends priority 0 (RFC 5798 §6.4.3) and drops its VIPs.
        case shutdown
        /// Graceful stop with a handover: a master sends priority 0 but keeps its VIPs until
        /// a new master advertises (plus `handoverGrace` for its gratuitous ARP), or two advert
        /// intervals pass, so clients never meet a VIP that nobody holds while the backup waits
        /// out its skew time. `handoverPending` is true until the VIPs are dropped.
        case handOver
    }

    public enum LogLevel: Hashable, Sendable { case debug, info, warning }

    /// What changed, for notify scripts and the notify FIFO (keepalived.conf(5) "notify").
    public struct Notification: Hashable, Sendable {
        public enum Kind: String, Hashable, Sendable { case instance = "INSTANCE", group = "GROUP" }
        public enum State: String, Hashable, Sendable {
            case master = "MASTER", backup = "BACKUP", fault = "FAULT", stop = "STOP"
            case masterRxLowerPriority = "MASTER_RX_LOWER_PRI"
        }
        public var kind: Kind
        public var name: String
        public var state: State
        public var priority: UInt8

        public init(kind: Kind = .instance, name: String, state: State, priority: UInt8) {
            self.kind = kind
            self.name = name
            self.state = state
            self.priority = priority
        }

        /// The four arguments keepalived appends to a `notify` script: `INSTANCE VI_1 MASTER 100`.
        public var scriptArguments: [String] { [kind.rawValue, name, state.rawValue, String(priority)] }

        /// The notify_fifo line (without newline): `INSTANCE "VI_1" MASTER 100`.
        public var fifoLine: String { "\(kind.rawValue) \"\(name)\" \(state.rawValue) \(priority)" }
    }

    public enum Action: Hashable, Sendable {
        /// Send this advert to every destination (peers or the multicast group).
        case sendAdvertisement(Advertisement)
        case addVIPs
        case removeVIPs
        /// One burst of `count` gratuitous ARPs (IPv4) / unsolicited NAs (IPv6) for every VIP.
        case sendGratuitous(count: Int)
        /// Replace any armed timer with this deadline.
        case armTimer(at: Instant)
        case cancelTimer
        case notify(Notification)
        case log(LogLevel, String)
    }

    public private(set) var config: VRRPInstanceConfig
    public private(set) var state: VRRPState = .initialize
    public private(set) var effectivePriority: UInt8
    /// The interval the current master advertises (v3 backups adopt it, RFC 5798 §6.4.2).
    public private(set) var masterAdvertInterval: Duration
    /// The source of the last accepted advert from a master.
    public private(set) var masterAddress: IPAddress?
    public private(set) var statistics = ReceiveStatistics()

    private var trackerStatus: [String: TrackerStatus] = [:]
    private var faultingTracker: Tracker?
    private var interfaceIsUp = true
    private var syncFault = false
    private var advertDeadline: Instant?
    private var masterDownDeadline: Instant?
    private var garpDeadline: Instant?
    private var garpPendingCount = 0
    private var refreshDeadline: Instant?
    private var preemptAfter: Instant?
    private var armed: Instant?
    private var handoverDeadline: Instant?

    /// How long a stopping master keeps its VIPs after the new master's first advert.
    public static let handoverGrace: Duration = .milliseconds(20)

    /// A stopped master still holds its VIPs, waiting for the new master (`.handOver`).
    public var handoverPending: Bool { handoverDeadline != nil }

    public init(config: VRRPInstanceConfig) {
        self.config = config
        self.effectivePriority = config.priority
        self.masterAdvertInterval = Self.quantized(config.advertInterval, version: config.version)
    }

    /// The deadline the machine currently wants, if any.
    public var nextDeadline: Instant? { armed }

    public var isOwner: Bool { config.priority == 255 }

    private var tag: String { "(\(config.name))" }

    private static func quantized(_ d: Duration, version: VRRPVersion) -> Duration {
        let f = Advertisement.intervalField(for: d, version: version)
        return version == .v2 ? .seconds(Int(f)) : .milliseconds(Int(f) * 10)
    }

    /// RFC 5798 §6.1 Skew_Time with keepalived's arithmetic: v2 `(256−prio)/256` s; v3
    /// `((256−prio) × Master_Adver_Interval)/256` in whole centiseconds.
    public var skewTime: Duration {
        let p = 256 - Int64(effectivePriority)
        switch config.version {
        case .v2:
            return .nanoseconds(p * 1_000_000_000 / 256)
        case .v3:
            let cs = masterAdvertInterval.milliseconds / 10
            return .milliseconds(p * cs / 256 * 10)
        }
    }

    /// `down_timer_adverts × Master_Adver_Interval + Skew_Time` (RFC 5798 §6.1, default 3).
    public var masterDownInterval: Duration {
        masterAdvertInterval * config.downTimerAdverts + skewTime
    }

    // MARK: Event entry points

    /// Handles one event at `now` and returns what to do, in order.
    public mutating func handle(_ event: Event, now: Instant) -> [Action] {
        var out: [Action] = []
        switch event {
        case .start: start(now, &out)
        case .advertisement(let ad, let from): received(ad, from: from, now, &out)
        case .timer: timerFired(now, &out)
        case .interfaceUp:
            interfaceIsUp = true
            reevaluateFault(now, &out)
        case .interfaceDown:
            interfaceIsUp = false
            reevaluateFault(now, &out)
        case .tracker(let name, let status):
            trackerStatus[name] = status
            reevaluateFault(now, &out)
        case .syncGroup(let target): followGroup(target, now, &out)
        case .shutdown: stop(&out)
        case .handOver: stop(handover: now, &out)
        }
        rearm(&out)
        return out
    }

    /// Applies a reloaded configuration of the same instance in place (SIGHUP): the state is
    /// kept and no notify runs unless the new settings force a transition (a tracker now in
    /// FAULT, say). A changed priority takes effect at once; a master announces it with an
    /// immediate advert so a backup that now outranks it can preempt (RFC 5798 §6.4.3), and a
    /// backup that now outranks the master preempts when the next advert from the master is
    /// discarded. Identity fields (interface, VRID, family, source, group) must be unchanged:
    /// the caller restarts the instance instead.
    public mutating func reconfigure(_ new: VRRPInstanceConfig, now: Instant) -> [Action] {
        var out: [Action] = []
        let old = config
        config = new
        if old.advertInterval != new.advertInterval || old.version != new.version {
            masterAdvertInterval = Self.quantized(new.advertInterval, version: new.version)
        }
        if old.preemptDelay != new.preemptDelay { preemptAfter = new.preemptDelay > .zero ? now + new.preemptDelay : nil }
        // Trackers that are gone must not keep a stale status.
        let names = Set(new.trackers.map(\.name))
        trackerStatus = trackerStatus.filter { names.contains($0.key) }
        if state == .initialize || state == .stopped {
            recomputePriority(now, &out, logChange: false)
        } else {
            reevaluateFault(now, &out)
        }
        if state == .master, old.advertInterval != new.advertInterval || old.version != new.version {
            advertDeadline = now + Self.quantized(new.advertInterval, version: new.version)
        }
        rearm(&out)
        return out
    }

    /// Validates a raw packet from the receive path and handles it.
    ///
    /// - Parameters:
    ///   - ttl: the received TTL / hop limit; must be 255 unless unicast (RFC 5798 §7.1,
    ///     keepalived allows routed unicast peers).
    public mutating func receive(
        packet: some Collection<UInt8>, ttl: Int, source: IPAddress, destination: IPAddress, now: Instant
    ) -> [Action] {
        if config.unicastPeers.isEmpty && ttl != 255 {
            return reject(PacketError(.badTTL, "invalid TTL/HL \(ttl) from \(source), expected 255"))
        }
        do {
            let ad = try Advertisement(
                decoding: packet, family: config.family, source: source, destination: destination,
                checksumAsV2: config.v3ChecksumAsV2)
            return handle(.advertisement(ad, from: source), now: now)
        } catch {
            return reject(error)
        }
    }

    private mutating func reject(_ error: PacketError) -> [Action] {
        statistics.count(error.code)
        return [.log(.info, "\(tag) \(error.message)")]
    }

    // MARK: Transitions

    private mutating func start(_ now: Instant, _ out: inout [Action]) {
        guard state == .initialize || state == .stopped else { return }
        handoverDeadline = nil
        recomputePriority(now, &out, logChange: false)
        if config.preemptDelay > .zero { preemptAfter = now + config.preemptDelay }
        if let reason = currentFaultReason() {
            enterFault(reason: reason, now, &out)
            return
        }
        if isOwner {
            becomeMaster(now, &out)
        } else {
            out.append(.log(.debug, "\(tag) removing VIPs."))
            out.append(.removeVIPs)
            becomeBackup(now, initial: true, &out)
        }
    }

    private mutating func becomeMaster(_ now: Instant, _ out: inout [Action]) {
        state = .master
        masterAddress = config.primaryAddress
        masterDownDeadline = nil
        statistics.becameMaster += 1
        out.append(.log(.info, "\(tag) Entering MASTER STATE"))
        out.append(.log(.debug, "\(tag) setting VIPs."))
        out.append(.addVIPs)
        sendAdvert(priority: effectivePriority, &out)
        advertDeadline = now + Self.quantized(config.advertInterval, version: config.version)
        burstGratuitous(count: config.gratuitous.masterRepeat, delay: config.gratuitous.masterDelay, now, &out)
        refreshDeadline = config.gratuitous.masterRefresh > .zero ? now + config.gratuitous.masterRefresh : nil
        out.append(.notify(Notification(name: config.name, state: .master, priority: effectivePriority)))
    }

    private mutating func leaveMaster(_ out: inout [Action]) {
        guard state == .master else { return }
        statistics.releasedMaster += 1
        out.append(.log(.debug, "\(tag) removing VIPs."))
        out.append(.removeVIPs)
        advertDeadline = nil
        garpDeadline = nil
        refreshDeadline = nil
    }

    private mutating func becomeBackup(_ now: Instant, initial: Bool = false, _ out: inout [Action]) {
        leaveMaster(&out)
        state = .backup
        masterDownDeadline = now + masterDownInterval
        out.append(.log(.info, "\(tag) Entering BACKUP STATE" + (initial ? " (init)" : "")))
        out.append(.notify(Notification(name: config.name, state: .backup, priority: effectivePriority)))
    }

    private mutating func enterFault(reason: String, _ now: Instant, _ out: inout [Action]) {
        guard state != .fault else { return }
        out.append(.log(.info, "\(tag): entering FAULT state \(reason)"))
        if state == .master {
            // Tell the backup at once when the link still works (keepalived does the same).
            if interfaceIsUp {
                sendAdvert(priority: 0, &out)
                out.append(.log(.info, "\(tag) sent 0 priority"))
            }
            leaveMaster(&out)
        }
        state = .fault
        masterDownDeadline = nil
        out.append(.log(.info, "\(tag) Entering FAULT STATE"))
        out.append(.notify(Notification(name: config.name, state: .fault, priority: effectivePriority)))
    }

    private mutating func stop(handover: Instant? = nil, _ out: inout [Action]) {
        guard state != .stopped else {
            // A second, plain stop ends a pending handover at once.
            if handover == nil { finishHandover(&out) }
            return
        }
        if state == .master {
            sendAdvert(priority: 0, &out)
            out.append(.log(.info, "\(tag) sent 0 priority"))
            if let now = handover {
                statistics.releasedMaster += 1
                // A backup takes over after its skew time (< one interval); two intervals leave
                // room for a loaded peer before the VIPs go regardless.
                handoverDeadline = now + masterAdvertInterval * 2
            } else {
                leaveMaster(&out)
            }
        }
        state = .stopped
        advertDeadline = nil
        masterDownDeadline = nil
        garpDeadline = nil
        refreshDeadline = nil
        out.append(.notify(Notification(name: config.name, state: .stop, priority: effectivePriority)))
    }

    private mutating func finishHandover(_ out: inout [Action]) {
        guard handoverDeadline != nil else { return }
        handoverDeadline = nil
        out.append(.log(.debug, "\(tag) removing VIPs."))
        out.append(.removeVIPs)
    }

    private func currentFaultReason() -> String? {
        if !interfaceIsUp { return "(interface \(config.interface) down)" }
        if let t = faultingTracker {
            switch t.kind {
            case .interface: return "(interface \(t.name) down)"
            case .script: return "due to script \(t.name)"
            case .file: return "due to file \(t.name)"
            case .process: return "due to process \(t.name)"
            }
        }
        if syncFault { return "due to sync group" }
        return nil
    }

    private mutating func recomputePriority(_ now: Instant, _ out: inout [Action], logChange: Bool = true) {
        let (p, faulting) = computeEffectivePriority(base: config.priority, trackers: config.trackers, status: trackerStatus)
        faultingTracker = faulting
        if p != effectivePriority {
            if logChange { out.append(.log(.info, "\(tag) Changing effective priority from \(effectivePriority) to \(p)")) }
            effectivePriority = p
            // A master announces its new priority at once so a preempting backup can react.
            if state == .master && logChange {
                sendAdvert(priority: p, &out)
                advertDeadline = now + Self.quantized(config.advertInterval, version: config.version)
            }
        }
    }

    private mutating func reevaluateFault(_ now: Instant, _ out: inout [Action]) {
        recomputePriority(now, &out)
        guard state != .initialize && state != .stopped else { return }
        if let reason = currentFaultReason() {
            enterFault(reason: reason, now, &out)
        } else if state == .fault {
            masterAdvertInterval = Self.quantized(config.advertInterval, version: config.version)
            if isOwner { becomeMaster(now, &out) } else { becomeBackup(now, &out) }
        }
    }

    private mutating func followGroup(_ target: VRRPState, _ now: Instant, _ out: inout [Action]) {
        guard state != target, state != .initialize, state != .stopped else { return }
        switch target {
        case .fault:
            syncFault = true
            reevaluateFault(now, &out)
        case .master:
            guard state == .backup else { return }
            becomeMaster(now, &out)
        case .backup:
            if state == .fault {
                syncFault = false
                reevaluateFault(now, &out)
            } else {
                becomeBackup(now, &out)
            }
        case .initialize, .stopped:
            return
        }
    }

    // MARK: Timers

    private mutating func timerFired(_ now: Instant, _ out: inout [Action]) {
        if let d = handoverDeadline, d <= now { finishHandover(&out) }
        if state == .master {
            if let d = advertDeadline, d <= now {
                sendAdvert(priority: effectivePriority, &out)
                let interval = Self.quantized(config.advertInterval, version: config.version)
                // Keep the cadence unless we fell more than one interval behind.
                var next = d + interval
                if next <= now { next = now + interval }
                advertDeadline = next
            }
            if let d = garpDeadline, d <= now {
                garpDeadline = nil
                out.append(.sendGratuitous(count: garpPendingCount))
            }
            if let d = refreshDeadline, d <= now {
                out.append(.sendGratuitous(count: config.gratuitous.masterRefreshRepeat))
                refreshDeadline = now + config.gratuitous.masterRefresh
            }
        } else if state == .backup, let d = masterDownDeadline, d <= now {
            out.append(.log(.info, "\(tag) Receive advertisement timeout"))
            becomeMaster(now, &out)
        }
    }

    private mutating func rearm(_ out: inout [Action]) {
        let candidates: [Instant?]
        switch state {
        case .master: candidates = [advertDeadline, garpDeadline, refreshDeadline]
        case .backup: candidates = [masterDownDeadline]
        case .stopped: candidates = [handoverDeadline]
        default: candidates = []
        }
        let next = candidates.compactMap { $0 }.min()
        guard next != armed else { return }
        armed = next
        out.append(next.map { .armTimer(at: $0) } ?? .cancelTimer)
    }

    private mutating func burstGratuitous(count: Int, delay: Duration, _ now: Instant, _ out: inout [Action]) {
        guard count > 0 else { return }
        out.append(.sendGratuitous(count: count))
        // vrrp_strict forbids repeats; otherwise a second burst follows after the delay.
        if delay > .zero && !config.strict {
            garpDeadline = now + delay
            garpPendingCount = count
        }
    }

    private mutating func sendAdvert(priority: UInt8, _ out: inout [Action]) {
        statistics.advertisementsSent += 1
        if priority == 0 { statistics.priorityZeroSent += 1 }
        out.append(.sendAdvertisement(advertisement(priority: priority)))
    }

    /// The advertisement this instance sends with `priority`.
    public func advertisement(priority: UInt8) -> Advertisement {
        Advertisement(
            version: config.version, vrid: config.vrid, priority: priority, intervalField: config.wireInterval,
            addresses: config.virtualAddresses, authentication: config.version == .v2 ? config.authentication : .none)
    }

    // MARK: Receiving

    /// Instance-level checks of a decoded advert (RFC 3768 §7.1, RFC 5798 §7.1, keepalived).
    private func validate(_ ad: Advertisement, from: IPAddress) -> PacketError? {
        if ad.version != config.version {
            return PacketError(.badVersion, "received VRRPv\(ad.version.rawValue) advert from \(from), configured for v\(config.version.rawValue)")
        }
        if ad.vrid != config.vrid {
            return PacketError(.vridMismatch, "received VRID \(ad.vrid) from \(from), ours is \(config.vrid)")
        }
        if !config.unicastPeers.isEmpty && config.checkUnicastSource && !config.unicastPeers.contains(from) {
            return PacketError(.unknownSource, "advert from \(from) is not from a configured unicast peer")
        }
        if ad.version == .v2 {
            if ad.authentication.typeByte != config.authentication.typeByte {
                return PacketError(.authTypeMismatch, "received an invalid auth type \(ad.authentication.typeByte) from \(from), expected \(config.authentication.typeByte)")
            }
            if case .password(let theirs) = ad.authentication, case .password(let ours) = config.authentication,
                Self.trimmed(theirs) != Self.trimmed(ours)
            {
                return PacketError(.authPasswordMismatch, "received an invalid passwd from \(from)!")
            }
            if ad.intervalField != config.wireInterval {
                return PacketError(.intervalMismatch, "advertisement interval mismatch mine=\(config.wireInterval) sec rcv'd=\(ad.intervalField) sec")
            }
        }
        if !config.skipCheckAdvertAddresses && ad.priority != 0 {
            if ad.addresses.count != config.virtualAddresses.count {
                return PacketError(.addressListMismatch, "expected \(config.virtualAddresses.count) VIPs but received \(ad.addresses.count) from \(from)")
            }
            if let missing = config.virtualAddresses.first(where: { !ad.addresses.contains($0) }) {
                return PacketError(.addressListMismatch, "ip address associated with VRID \(config.vrid) not present in advert from \(from) (\(missing))")
            }
        }
        return nil
    }

    private static func trimmed(_ p: [UInt8]) -> ArraySlice<UInt8> {
        var s = p.prefix(8)
        while s.last == 0 { s.removeLast() }
        return s
    }

    private mutating func received(_ ad: Advertisement, from: IPAddress, _ now: Instant, _ out: inout [Action]) {
        if let error = validate(ad, from: from) {
            statistics.count(error.code)
            out.append(.log(.info, "\(tag) \(error.message)"))
            return
        }
        if state == .stopped, let d = handoverDeadline, ad.priority > 0 {
            // The new master is on the wire; its gratuitous ARP/NA follows its advert, so the
            // VIPs go a moment later, when clients already send to the new master.
            handoverDeadline = min(d, now + Self.handoverGrace)
            return
        }
        guard state == .master || state == .backup else { return }
        statistics.advertisementsReceived += 1
        if ad.priority == 0 { statistics.priorityZeroReceived += 1 }
        let ours = effectivePriority
        if state == .master {
            if isOwner && (config.strict || config.ownerIgnoresAdverts) { return }
            if ad.priority == 0 {
                // RFC 5798 §6.4.3: answer at once so the backups see a master again.
                sendAdvert(priority: ours, &out)
                advertDeadline = now + Self.quantized(config.advertInterval, version: config.version)
                return
            }
            let higher = ad.priority > ours || (ad.priority == ours && from > config.primaryAddress)
            if higher {
                if ad.priority > ours {
                    out.append(.log(.info, "\(tag) Master received advert from \(from) with higher priority \(ad.priority), ours \(ours)"))
                } else {
                    out.append(.log(.info, "\(tag) Master received advert from \(from) with same priority \(ad.priority) but higher IP address than ours"))
                }
                if config.higherPrioritySendAdvert && !config.strict { sendAdvert(priority: ours, &out) }
                if config.version == .v3 { masterAdvertInterval = ad.interval }
                masterAddress = from
                preemptAfter = nil
                becomeBackup(now, &out)
            } else if !(config.lowerPriorityNoAdvert || config.strict) {
                out.append(.log(.info, "\(tag) Received advert from \(from) with lower priority \(ad.priority), ours \(ours), forcing new election"))
                sendAdvert(priority: ours, &out)
                advertDeadline = now + Self.quantized(config.advertInterval, version: config.version)
                let g = config.gratuitous
                burstGratuitous(count: g.lowerPriorityRepeat ?? g.masterRepeat, delay: g.lowerPriorityDelay ?? g.masterDelay, now, &out)
                out.append(.notify(Notification(name: config.name, state: .masterRxLowerPriority, priority: ours)))
            }
            return
        }
        // BACKUP (RFC 5798 §6.4.2)
        if ad.priority == 0 {
            out.append(.log(.info, "\(tag) Backup received priority 0 advertisement"))
            masterDownDeadline = now + skewTime
            return
        }
        let delaying = config.preemptDelay > .zero && (preemptAfter.map { $0 > now } ?? true)
        if !config.preempt || ad.priority >= ours || delaying {
            if config.preemptDelay > .zero && preemptAfter == nil && ad.priority < ours {
                preemptAfter = now + config.preemptDelay
            }
            if config.version == .v3 && ad.interval != masterAdvertInterval {
                out.append(.log(.info, "\(tag) advertisement interval updated from \(masterAdvertInterval.milliseconds) ms to \(ad.interval.milliseconds) ms by master"))
                masterAdvertInterval = ad.interval
            }
            masterAddress = from
            masterDownDeadline = now + masterDownInterval
        } else {
            out.append(.log(.info, "\(tag) received lower priority (\(ad.priority)) advert from \(from) - discarding"))
        }
    }
}
