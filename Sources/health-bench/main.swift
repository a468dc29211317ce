// health-bench: runs HealthCheckService over many real servers and reports the CPU it uses per
// second of checking and its peak memory. See bench/health/run.sh for the listener setup.
import DataPlane
import Foundation
import HealthCheck
import HealthCheckCore
import Logging
import NetCore

#if canImport(Glibc)
import Glibc
#endif

struct Args {
    var tcp = 10_000
    var http = 1_000
    var seconds = 20.0
    var settle = 3.0
    var delayLoop = 1.0
    var tcpBase = "10.1.0.1"
    var httpBase = "10.2.0.1"
    var tcpPort: UInt16 = 81
    var httpPort: UInt16 = 80
    var path = "/index.html"

    init() {
        var it = CommandLine.arguments.dropFirst().makeIterator()
        while let a = it.next() {
            let v = it.next() ?? ""
            switch a {
            case "--tcp": tcp = Int(v)!
            case "--http": http = Int(v)!
            case "--seconds": seconds = Double(v)!
            case "--settle": settle = Double(v)!
            case "--delay-loop": delayLoop = Double(v)!
            case "--tcp-base": tcpBase = v
            case "--http-base": httpBase = v
            case "--tcp-port": tcpPort = UInt16(v)!
            case "--http-port": httpPort = UInt16(v)!
            case "--path": path = v
            default:
                FileHandle.standardError.write(Data("unknown option \(a)\n".utf8))
                exit(2)
            }
        }
    }
}

func addresses(from base: String, count: Int) -> [IPAddress] {
    let b = IPv4Address(base)!.value
    return (0..<count).map { IPAddress.v4(IPv4Address(b + UInt32($0))) }
}

func cpuSplit() -> (user: Double, sys: Double) {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return (Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6, Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6)
}

func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}

func statusField(_ name: String) -> String {
    let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").first { $0.hasPrefix(name + ":") }.map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) } ?? "?"
}

let args = Args()
let vs = ServiceKey.address(.tcp, NetCore.SocketAddress(address: IPAddress("192.168.0.21")!, port: 80))
let policy = CheckerPolicy(delayLoop: .milliseconds(Int64(args.delayLoop * 1000)), connectTimeout: .seconds(3), retry: 1, delayBeforeRetry: .seconds(1))
var servers: [RealServerSpec] = []
for a in addresses(from: args.tcpBase, count: args.tcp) {
    let sa = NetCore.SocketAddress(address: a, port: args.tcpPort)
    servers.append(RealServerSpec(id: RealServerID(virtualService: vs, server: sa), checkers: [CheckerSpec(check: .tcp, policy: policy, connectTo: sa)]))
}
let body = try URLCheck(path: args.path)
for a in addresses(from: args.httpBase, count: args.http) {
    let sa = NetCore.SocketAddress(address: a, port: args.httpPort)
    servers.append(RealServerSpec(id: RealServerID(virtualService: vs, server: sa), checkers: [CheckerSpec(check: .http(HTTPSpec(urls: [body])), policy: policy, connectTo: sa)]))
}

var logger = Logger(label: "health-bench")
logger.logLevel = .warning
let service = HealthCheckService(servers: servers, clock: ContinuousClock(), logger: logger)
let downs = ManagedAtomicCounter()

await withTaskGroup(of: Void.self) { group in
    group.addTask { await service.run() }
    group.addTask {
        for await change in service.events where change.event == .down { downs.increment() }
    }
    // First checks start at 1 s + random(0…delay_loop): let them spread before measuring.
    try? await Task.sleep(for: .milliseconds(Int64(args.settle * 1000)))
    let split0 = cpuSplit()
    let cpu0 = cpuSeconds(), checks0 = service.checksCompleted, t0 = Date()
    try? await Task.sleep(for: .milliseconds(Int64(args.seconds * 1000)))
    let split1 = cpuSplit()
    let cpu1 = cpuSeconds(), checks1 = service.checksCompleted, t1 = Date()
    let wall = t1.timeIntervalSince(t0)
    let snapshot = service.snapshot()
    let alive = snapshot.values.filter(\.alive).count
    print("real servers:          \(args.tcp) TCP_CHECK + \(args.http) HTTP_GET, delay_loop \(args.delayLoop) s")
    print("measured:              \(String(format: "%.1f", wall)) s after \(args.settle) s settling")
    print("checks per second:     \(String(format: "%.0f", Double(checks1 - checks0) / wall))")
    print("CPU per second:        \(String(format: "%.3f", (cpu1 - cpu0) / wall)) s (\(String(format: "%.1f", 100 * (cpu1 - cpu0) / wall))% of one core)")
    print("  of which user/sys:   \(String(format: "%.3f / %.3f", (split1.user - split0.user) / wall, (split1.sys - split0.sys) / wall)) s")
    print("peak memory (VmHWM):   \(statusField("VmHWM"))")
    print("threads:               \(statusField("Threads"))")
    print("alive at end:          \(alive) of \(servers.count); down events: \(downs.value)")
    group.cancelAll()
}

final class ManagedAtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
