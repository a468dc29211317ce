/// A popt (1.19) compatible scanner for ipvsadm's option table: the same clustering of short
/// options (`-Lnc`), attached arguments (`-t10.0.0.1:80`, `-s=rr`, `--tcp-service=…`), optional
/// arguments (`-p [timeout]` takes the next word only if it does not start with `-`), `--` and
/// leftover words, and the same error codes.
struct PoptOption: Sendable {
    enum ArgKind: Sendable { case none, required, optional }
    var long: String?
    var short: Character?
    var arg: ArgKind
    var tag: Tag
}

/// Option tags (ipvsadm's `val` values).
enum Tag: Hashable, Sendable {
    case addService, editService, deleteService, clear, list, zero, addServer, editServer, deleteServer
    case set, help, version, restore, save, startDaemon, stopDaemon
    case tcp, udp, sctp, fwmark, scheduler, persistent, netmask, realServer
    case masquerading, ipip, gatewaying, weight, uThreshold, lThreshold, numeric, connection
    case mcastInterface, syncID, timeout, daemon, stats, rate, thresholds, persistentConn
    case noSort, sort, exact, ipv6, ops, pe, schedFlags, mcastGroup, mcastPort, mcastTTL
    case syncMaxlen, tunInfo, tunType, tunPort, tunNoCsum, tunCsum, tunRemCsum
}

enum PoptError: Error, Equatable {
    case missingArgument(String)
    case unknownOption(String)
    case unwantedArgument(String)

    /// `poptBadOption(): poptStrerror()` as ipvsadm prints it.
    var message: String {
        switch self {
        case .missingArgument(let o): "\(o): missing argument"
        case .unknownOption(let o): "\(o): unknown option"
        case .unwantedArgument(let o): "\(o): option does not take an argument"
        }
    }
}

let ipvsadmOptions: [PoptOption] = [
    .init(long: "add-service", short: "A", arg: .none, tag: .addService),
    .init(long: "edit-service", short: "E", arg: .none, tag: .editService),
    .init(long: "delete-service", short: "D", arg: .none, tag: .deleteService),
    .init(long: "clear", short: "C", arg: .none, tag: .clear),
    .init(long: "list", short: "L", arg: .none, tag: .list),
    .init(long: "list", short: "l", arg: .none, tag: .list),
    .init(long: "zero", short: "Z", arg: .none, tag: .zero),
    .init(long: "add-server", short: "a", arg: .none, tag: .addServer),
    .init(long: "edit-server", short: "e", arg: .none, tag: .editServer),
    .init(long: "delete-server", short: "d", arg: .none, tag: .deleteServer),
    .init(long: "set", short: nil, arg: .none, tag: .set),
    .init(long: "help", short: "h", arg: .none, tag: .help),
    .init(long: "version", short: "v", arg: .none, tag: .version),
    .init(long: "restore", short: "R", arg: .none, tag: .restore),
    .init(long: "save", short: "S", arg: .none, tag: .save),
    .init(long: "start-daemon", short: nil, arg: .required, tag: .startDaemon),
    .init(long: "stop-daemon", short: nil, arg: .required, tag: .stopDaemon),
    .init(long: "tcp-service", short: "t", arg: .required, tag: .tcp),
    .init(long: "udp-service", short: "u", arg: .required, tag: .udp),
    .init(long: "sctp-service", short: nil, arg: .required, tag: .sctp),
    .init(long: "fwmark-service", short: "f", arg: .required, tag: .fwmark),
    .init(long: "scheduler", short: "s", arg: .required, tag: .scheduler),
    .init(long: "persistent", short: "p", arg: .optional, tag: .persistent),
    .init(long: "netmask", short: "M", arg: .required, tag: .netmask),
    .init(long: "real-server", short: "r", arg: .required, tag: .realServer),
    .init(long: "masquerading", short: "m", arg: .none, tag: .masquerading),
    .init(long: "ipip", short: "i", arg: .none, tag: .ipip),
    .init(long: "gatewaying", short: "g", arg: .none, tag: .gatewaying),
    .init(long: "weight", short: "w", arg: .required, tag: .weight),
    .init(long: "u-threshold", short: "x", arg: .required, tag: .uThreshold),
    .init(long: "l-threshold", short: "y", arg: .required, tag: .lThreshold),
    .init(long: "numeric", short: "n", arg: .none, tag: .numeric),
    .init(long: "connection", short: "c", arg: .none, tag: .connection),
    .init(long: "mcast-interface", short: nil, arg: .required, tag: .mcastInterface),
    .init(long: "syncid", short: nil, arg: .required, tag: .syncID),
    .init(long: "timeout", short: nil, arg: .none, tag: .timeout),
    .init(long: "daemon", short: nil, arg: .none, tag: .daemon),
    .init(long: "stats", short: nil, arg: .none, tag: .stats),
    .init(long: "rate", short: nil, arg: .none, tag: .rate),
    .init(long: "thresholds", short: nil, arg: .none, tag: .thresholds),
    .init(long: "persistent-conn", short: nil, arg: .none, tag: .persistentConn),
    .init(long: "nosort", short: nil, arg: .none, tag: .noSort),
    .init(long: "sort", short: nil, arg: .none, tag: .sort),
    .init(long: "exact", short: "X", arg: .none, tag: .exact),
    .init(long: "ipv6", short: "6", arg: .none, tag: .ipv6),
    .init(long: "ops", short: "o", arg: .none, tag: .ops),
    .init(long: "pe", short: nil, arg: .required, tag: .pe),
    .init(long: "sched-flags", short: "b", arg: .required, tag: .schedFlags),
    .init(long: "mcast-group", short: nil, arg: .required, tag: .mcastGroup),
    .init(long: "mcast-port", short: nil, arg: .required, tag: .mcastPort),
    .init(long: "mcast-ttl", short: nil, arg: .required, tag: .mcastTTL),
    .init(long: "sync-maxlen", short: nil, arg: .required, tag: .syncMaxlen),
    .init(long: "tun-info", short: nil, arg: .none, tag: .tunInfo),
    .init(long: "tun-type", short: nil, arg: .required, tag: .tunType),
    .init(long: "tun-port", short: nil, arg: .required, tag: .tunPort),
    .init(long: "tun-nocsum", short: nil, arg: .none, tag: .tunNoCsum),
    .init(long: "tun-csum", short: nil, arg: .none, tag: .tunCsum),
    .init(long: "tun-remcsum", short: nil, arg: .none, tag: .tunRemCsum),
]

/// Scans `arguments` (without argv[0]) one option at a time, like `poptGetNextOpt`.
struct PoptScanner {
    private let argv: [String]
    private var next = 0
    /// Rest of a short-option cluster still to be scanned (`n` of `-Ln`).
    private var pendingChars: Substring?
    private var restAreLeftovers = false
    private(set) var leftovers: [String] = []
    private var leftoverCursor = 0
    /// The word of the last option returned or rejected (`poptBadOption`).
    private(set) var currentWord = ""

    init(_ arguments: [String]) { argv = arguments }

    /// The next option and its argument, nil at the end, or a popt error.
    mutating func nextOption() throws(PoptError) -> (Tag, String?)? {
        while true {
            var option: PoptOption?
            var longArg: String?
            if pendingChars == nil {
                guard next < argv.count else { return nil }
                let word = argv[next]
                next += 1
                currentWord = word
                if restAreLeftovers || !word.hasPrefix("-") || word == "-" {
                    leftovers.append(word)
                    continue
                }
                if word == "--" {
                    restAreLeftovers = true
                    continue
                }
                var body = word.dropFirst()
                let oneDash = !body.hasPrefix("-")
                if !oneDash { body = body.dropFirst() }
                var name = body
                if let eq = body.firstIndex(of: "=") {
                    name = body[..<eq]
                    longArg = String(body[body.index(after: eq)...])
                }
                // No ipvsadm option is a one-dash long option, so `-xyz` is always a cluster.
                if !oneDash {
                    guard let o = ipvsadmOptions.first(where: { $0.long == String(name) }) else {
                        throw .unknownOption(word)
                    }
                    option = o
                } else {
                    pendingChars = word.dropFirst()
                    longArg = nil
                }
            }
            if let chars = pendingChars {
                pendingChars = nil
                guard let c = chars.first, let o = ipvsadmOptions.first(where: { $0.short == c }) else {
                    throw .unknownOption(currentWord)
                }
                option = o
                let rest = chars.dropFirst()
                if !rest.isEmpty { pendingChars = rest }
            }
            guard let opt = option else { throw .unknownOption(currentWord) }
            switch opt.arg {
            case .none:
                if longArg != nil || pendingChars?.first == "=" { throw .unwantedArgument(currentWord) }
                return (opt.tag, nil)
            case .required, .optional:
                if let a = longArg { return (opt.tag, a) }
                if let rest = pendingChars {
                    pendingChars = nil
                    return (opt.tag, String(rest.first == "=" ? rest.dropFirst() : rest))
                }
                if next == argv.count {
                    if opt.arg == .required { throw .missingArgument(currentWord) }
                    return (opt.tag, nil)
                }
                if opt.arg == .optional && argv[next].hasPrefix("-") { return (opt.tag, nil) }
                let a = argv[next]
                next += 1
                return (opt.tag, a)
            }
        }
    }

    /// `poptGetArg`: the next leftover (non-option) word.
    mutating func nextLeftover() -> String? {
        guard leftoverCursor < leftovers.count else { return nil }
        defer { leftoverCursor += 1 }
        return leftovers[leftoverCursor]
    }
}
