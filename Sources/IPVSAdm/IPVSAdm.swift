#if canImport(Glibc)
import Glibc
#endif
import DataPlane
import NetCore

/// What one ipvsadm run printed and its exit status.
public struct IPVSAdmResult: Sendable, Hashable {
    public var stdout: String
    public var stderr: String
    public var exitCode: Int32

    public init(stdout: String, stderr: String, exitCode: Int32) {
        self.stdout = stdout
        self.stderr = stderr
        self.exitCode = exitCode
    }
}

/// The ipvsadm 1.31 front end: runs one command line against a backend, printing exactly what
/// ipvsadm prints (Debian 1:1.31-1) and returning its exit status.
public enum IPVSAdm {
    public static let versionLine = "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)"

    /// Runs `arguments` (without the program name). `program` is used where ipvsadm prints
    /// its argv[0]; `standardInput` feeds `-R`.
    public static func run(
        arguments: [String], program: String = "ipvsadm", standardInput: String = "", backend: any IPVSAdmBackend
    ) async -> IPVSAdmResult {
        await run(arguments: arguments, program: program, readStandardInput: { standardInput }, backend: backend)
    }

    /// Like `run(arguments:program:standardInput:backend:)`, reading standard input only when
    /// `-R` needs it (so a terminal is never read otherwise).
    public static func run(
        arguments: [String], program: String = "ipvsadm", readStandardInput: () -> String, backend: any IPVSAdmBackend
    ) async -> IPVSAdmResult {
        let console = Console(program: program)
        let needsInput = arguments.contains { $0 == "-R" || $0 == "--restore" || ($0.hasPrefix("-") && !$0.hasPrefix("--") && $0.contains("R")) }
        var input = Substring(needsInput ? readStandardInput() : "")
        let code: Int32
        do {
            if arguments.isEmpty {
                try await listAll([], backend: backend, console: console)
                code = 0
            } else {
                code = try await processOptions(arguments, readingStdin: false, input: &input, backend: backend, console: console)
            }
        } catch let e as ExitRequest {
            return IPVSAdmResult(stdout: console.out, stderr: console.err, exitCode: e.code)
        } catch {
            console.err += "\(error)\n"
            return IPVSAdmResult(stdout: console.out, stderr: console.err, exitCode: 1)
        }
        return IPVSAdmResult(stdout: console.out, stderr: console.err, exitCode: code)
    }

    /// `process_options`: returns what ipvsadm's `main` returns (as an exit status).
    static func processOptions(
        _ arguments: [String], readingStdin: Bool, input: inout Substring, backend: any IPVSAdmBackend, console: Console
    ) async throws -> Int32 {
        let inv: Invocation
        do {
            inv = try Invocation.parse(arguments, console: console)
        } catch let e where e.returnsOnly {
            return e.code
        }
        guard let command = inv.command else { return 0 }
        let op: KernelOperation
        do {
            switch command {
            case .list:
                if inv.has(.connection) {
                    let conns = try await backend.connections()
                    console.out += formatConnections(conns, inv.format)
                } else if inv.has(.service) {
                    try await listService(inv, backend: backend, console: console)
                } else if inv.has(.timeout) {
                    guard let t = try? await backend.timeouts() else { throw ExitRequest(code: 1) }
                    console.out += formatTimeouts(t)
                } else if inv.has(.daemon) {
                    guard let d = try? await backend.syncDaemons() else { throw ExitRequest(code: 1) }
                    console.out += formatDaemons(d)
                } else {
                    try await listAll(inv.format, backend: backend, console: console)
                }
                return 0
            case .restore:
                return try await restore(readingStdin: readingStdin, input: &input, backend: backend, console: console)
            case .save:
                try await listAll(inv.format.union(.rule), backend: backend, console: console)
                return 0
            case .flush:
                op = .flush
                try await backend.flush()
            case .add:
                op = .addService
                try await backend.apply([.addService(try inv.virtualService(console))])
            case .edit:
                op = .editService
                try await backend.apply([.editService(try inv.virtualService(console))])
            case .delete:
                op = .deleteService
                try await backend.apply([.deleteService(inv.serviceKey)])
            case .zero:
                op = .zero
                try await backend.zeroCounters(service: inv.has(.service) ? inv.serviceKey : nil)
            case .addDest:
                op = .addDest
                try await backend.apply([.addDestination(inv.serviceKey, try inv.destination(console))])
            case .editDest:
                op = .editDest
                try await backend.apply([.editDestination(inv.serviceKey, try inv.destination(console))])
            case .deleteDest:
                op = .deleteDest
                try await backend.apply([.deleteDestination(inv.serviceKey, inv.destinationAddress)])
            case .setTimeout:
                op = .setTimeout
                try await backend.setTimeouts(inv.timeouts)
            case .startDaemon:
                op = .startDaemon
                try await backend.startSyncDaemon(inv.daemon)
            case .stopDaemon:
                op = .stopDaemon
                try await backend.stopSyncDaemon(inv.daemon.role)
            }
        } catch let e as ExitRequest {
            throw e
        } catch {
            let failedOp: KernelOperation
            switch command {
            case .flush: failedOp = .flush
            case .add: failedOp = .addService
            case .edit: failedOp = .editService
            case .delete: failedOp = .deleteService
            case .zero: failedOp = .zero
            case .addDest: failedOp = .addDest
            case .editDest: failedOp = .editDest
            case .deleteDest: failedOp = .deleteDest
            case .setTimeout: failedOp = .setTimeout
            case .startDaemon: failedOp = .startDaemon
            case .stopDaemon: failedOp = .stopDaemon
            default: failedOp = .other
            }
            console.err += ipvsErrorText(error, failedOp) + "\n"
            return 255
        }
        _ = op
        return 0
    }

    /// `restore_table`: runs each stdin line as a command; the last line's status is returned.
    static func restore(readingStdin: Bool, input: inout Substring, backend: any IPVSAdmBackend, console: Console) async throws -> Int32 {
        if readingStdin { throw console.tryHelp() }
        var result: Int32 = 0
        while let line = configStreamRead(&input) {
            if line.isEmpty { continue }
            result = try await processOptions(line, readingStdin: true, input: &input, backend: backend, console: console)
        }
        return result
    }

    static func listService(_ inv: Invocation, backend: any IPVSAdmBackend, console: Console) async throws {
        let state: DataPlaneState
        do { state = try await backend.currentState() } catch {
            console.err += ipvsErrorText(error, .getService) + "\n"
            throw ExitRequest(code: 1)
        }
        guard let svc = state[inv.serviceKey] else {
            console.err += ipvsErrorText(KernelError(ESRCH), .getService) + "\n"
            throw ExitRequest(code: 1)
        }
        console.out += listingTitle(inv.format)
        console.out += formatService(ServiceRow(svc), inv.format)
    }

    static func listAll(_ format: Format, backend: any IPVSAdmBackend, console: Console) async throws {
        if !format.contains(.rule) {
            let info = try await backend.info()
            console.out += "IP Virtual Server version \(info.version >> 16).\((info.version >> 8) & 0xff).\(info.version & 0xff) (size=\(info.connectionTableSize))\n"
        }
        let state: DataPlaneState
        do { state = try await backend.currentState() } catch {
            console.err += ipvsErrorText(error, .getServices) + "\n"
            throw ExitRequest(code: 1)
        }
        var rows = state.services.map(ServiceRow.init)
        if !format.contains(.noSort) { rows = glibcMergeSort(rows, compareServices) }
        console.out += listingTitle(format)
        for r in rows { console.out += formatService(r, format) }
    }

    /// Our own short usage text (ipvsadm's is not copied); `-h` exits 0 like ipvsadm.
    static func usage(_ program: String) -> String {
        """
        \(versionLine)
        Usage:
          \(program) -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]
          \(program) -D virtual-service
          \(program) -C
          \(program) -R
          \(program) -S [-n]
          \(program) -a|e virtual-service -r server-address [options]
          \(program) -d virtual-service -r server-address
          \(program) -L|l [virtual-service] [options]
          \(program) -Z [virtual-service]
          \(program) --set tcp tcpfin udp
          \(program) --start-daemon {master|backup} [daemon-options]
          \(program) --stop-daemon {master|backup}
          \(program) -h

        virtual-service: -t|-u|--sctp-service host[:port], or -f fwmark [-6]
        See ipvsadm(8); every option of ipvsadm 1.31 is accepted with the same meaning.

        """
    }
}

/// `config_stream_read`: the next line's tokens (blank-separated, the word `ipvsadm` dropped),
/// or nil at the end of input. A final line cut short inside trailing blanks is lost, as in
/// ipvsadm.
func configStreamRead(_ input: inout Substring) -> [String]? {
    var tokens: [String] = []
    let blanks: Set<Character> = [" ", "\t", "\n", "\r"]
    var sawToken = false
    while !input.isEmpty {
        let c = input.first!
        if blanks.contains(c) {
            // Skip blanks up to the end of the line.
            while let b = input.first {
                if b == "\n" {
                    input = input.dropFirst()
                    return tokens
                }
                if b == " " || b == "\t" || b == "\r" {
                    input = input.dropFirst()
                    continue
                }
                break
            }
            if input.isEmpty { return nil }  // EOF inside blanks drops the line
            continue
        }
        let end = input.firstIndex(where: { blanks.contains($0) }) ?? input.endIndex
        let token = String(input[..<end])
        input = input[end...]
        sawToken = true
        if token != "ipvsadm" { tokens.append(token) }
        if let sep = input.first {
            input = input.dropFirst()
            if sep == "\n" { return tokens }
        } else {
            break
        }
    }
    return sawToken && !tokens.isEmpty ? tokens : nil
}

/// The libipvs call a kernel error came from (`ipvs_strerror` specialises messages per call).
enum KernelOperation {
    case addService, editService, deleteService, zero, addDest, editDest, deleteDest, startDaemon, stopDaemon
    case getServices, getDests, getService, flush, setTimeout, other
}

/// `ipvs_strerror`.
func ipvsErrorText(_ error: any Error, _ op: KernelOperation) -> String {
    guard let e = error as? any ErrnoCarrying else { return "\(error)" }
    let err = e.errno
    let table: [(KernelOperation?, Int32, String)] = [
        (.addService, EEXIST, "Service already exists"),
        (.addService, ENOENT, "Scheduler or persistence engine not found"),
        (.editService, ESRCH, "No such service"),
        (.editService, ENOENT, "Scheduler or persistence engine not found"),
        (.deleteService, ESRCH, "No such service"),
        (.zero, ESRCH, "No such service"),
        (.addDest, ESRCH, "Service not defined"),
        (.addDest, EEXIST, "Destination already exists"),
        (.editDest, ESRCH, "Service not defined"),
        (.editDest, ENOENT, "No such destination"),
        (.deleteDest, ESRCH, "Service not defined"),
        (.deleteDest, ENOENT, "No such destination"),
        (.startDaemon, EEXIST, "Daemon has already run"),
        (.stopDaemon, ESRCH, "No daemon is running"),
        (.getServices, ESRCH, "No such service"),
        (.getDests, ESRCH, "No such service"),
        (.getService, ESRCH, "No such service"),
        (nil, EPERM, "Permission denied (you must be root)"),
        (nil, EINVAL, "Invalid operation.  Possibly wrong module version, address not unicast, ..."),
        (nil, ENOPROTOOPT, "Protocol not available"),
        (nil, ENOMEM, "Memory allocation problem"),
        (nil, EOPNOTSUPP, "Operation not supported with IPv6"),
        (nil, EAFNOSUPPORT, "Operation not supported with specified address family"),
        (nil, EMSGSIZE, "Module is wrong version"),
    ]
    var text = CLib.strerror(err)
    for (o, n, t) in table where (o == nil || o == op) && n == err {
        text = t
        break
    }
    if let x = e as? any ErrnoExplaining { return "\(text) (\(x.explanation))" }
    return text
}

// MARK: - Invocation → data-plane model

extension Invocation {
    var serviceKey: ServiceKey {
        if service.fwmark != 0 { return .fwmark(service.fwmark, service.af == AF_INET6_ ? .inet6 : .inet) }
        let proto = L4Protocol(rawValue: service.proto) ?? .tcp
        let addr = service.address ?? (service.af == AF_INET6_ ? .v6(IPv6Address(high: 0, low: 0)) : .v4(IPv4Address(0)))
        return .address(proto, SocketAddress(address: addr, port: service.port))
    }

    var destinationAddress: SocketAddress {
        SocketAddress(address: dest.address ?? .v4(IPv4Address(0)), port: dest.port)
    }

    /// The complete service ipvsadm sends (defaults filled in).
    func virtualService(_ console: Console) throws -> VirtualService {
        let prefix: Int
        if service.af == AF_INET6_ {
            prefix = Int(service.netmask)
        } else {
            let m = service.netmask
            let len = m.leadingZeroBitCount == 0 ? (~m).leadingZeroBitCount : 0
            let contiguous = len == 32 ? m == UInt32.max : (m == 0 || m == UInt32.max << UInt32(32 - len))
            guard contiguous else {
                // IPVS accepts any 32-bit mask; Vigil's data-plane model holds a prefix length.
                throw console.fail("vigil: non-contiguous persistence netmask \(CLib.ntop(.v4(IPv4Address(m)))) is not supported", code: 2)
            }
            prefix = m == 0 ? 0 : len
        }
        return VirtualService(
            key: serviceKey, scheduler: service.scheduler, flags: ServiceFlags(rawValue: service.flags),
            persistenceTimeout: service.timeout, persistencePrefix: prefix,
            persistenceEngine: service.pe.isEmpty ? nil : service.pe)
    }

    /// The complete destination ipvsadm sends (weight 1, DR, thresholds 0 unless given).
    func destination(_ console: Console) throws -> Destination {
        let fwd = ForwardingMethod(rawValue: dest.forwarding) ?? .directRoute
        var tunnel: TunnelSettings?
        if fwd == .tunnel {
            tunnel = TunnelSettings(
                kind: TunnelSettings.Kind(rawValue: UInt8(dest.tunType)) ?? .ipip, port: dest.tunPort,
                checksum: TunnelSettings.Checksum(rawValue: dest.tunFlags) ?? .nocsum)
        }
        return Destination(
            address: destinationAddress, forwarding: fwd, weight: Int32(clamping: dest.weight),
            upperThreshold: dest.uThreshold, lowerThreshold: dest.lThreshold, tunnel: tunnel)
    }
}
