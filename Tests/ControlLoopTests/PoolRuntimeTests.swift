import DataPlane
import Logging
import NetCore
import Synchronization
import Testing
import VirtualServerCore
@testable import Daemon

/// A backend that refuses any transaction touching one service, as an engine refuses what it
/// cannot forward.
actor RefusingBackend: LoadBalancerBackend {
    nonisolated let name = "test"
    let refuse: ServiceKey
    var state = DataPlaneState()
    init(refuse: ServiceKey) { self.refuse = refuse }
    func currentState() async throws -> DataPlaneState { state }
    func apply(_ changes: [DataPlaneChange]) async throws {
        if changes.contains(where: { $0.serviceKey == refuse }) {
            struct Refused: Error, CustomStringConvertible { var description: String }
            throw Refused(description: "this engine cannot forward \(refuse)")
        }
        state = try DataPlane.apply(changes, to: state)
    }
}

/// Collects log lines.
final class LineSink: Sendable {
    let lines = Mutex<[String]>([])
}

struct SinkHandler: LogHandler {
    let sink: LineSink
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        sink.lines.withLock { $0.append("\(message)") }
    }
}

@Suite struct PoolRuntimeTests {
    static func sa(_ s: String, _ p: UInt16 = 80) -> SocketAddress { SocketAddress(address: IPAddress(s)!, port: p) }

    @Test func aRefusedServiceIsNamedOnceAndTheOthersAreProgrammed() async throws {
        let good = ServiceKey.address(.tcp, Self.sa("10.0.0.1"))
        let bad = ServiceKey.address(.tcp, Self.sa("10.0.0.2"))
        let backend = RefusingBackend(refuse: bad)
        let sink = LineSink()
        let logger = Logger(label: "t") { _ in SinkHandler(sink: sink) }
        let specs = [good, bad].map { VirtualServerSpec(key: $0, realServers: [RealServerSpec(address: Self.sa("10.0.1.1")), RealServerSpec(address: Self.sa("10.0.1.2"))]) }
        let pool = PoolRuntime(specs: specs, backend: backend, logger: logger)
        try await pool.start()
        #expect(await backend.state.services.map(\.key) == [good])
        // Health changes keep reaching the kernel for the good service.
        await pool.setAlive(false, server: Self.sa("10.0.1.2"), of: good)
        await pool.setAlive(false, server: Self.sa("10.0.1.2"), of: bad)
        #expect(await backend.state.services.first?.destinations.map(\.address) == [Self.sa("10.0.1.1")])
        let refusals = sink.lines.withLock { $0.filter { $0.contains("cannot be programmed") } }
        #expect(refusals == ["Virtual server [10.0.0.2]:tcp:80 cannot be programmed in the test data plane: this engine cannot forward [10.0.0.2]:tcp:80"])
    }
}
