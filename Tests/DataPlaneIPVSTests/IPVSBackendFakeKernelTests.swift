import DataPlane
import DataPlaneIPVS
import Foundation
import IPVSAdm
import NetCore
import Netlink
import NetlinkCodec
import Testing

/// A scripted kernel: records every request and answers through `respond`.
final class FakeIPVSKernel: NetlinkRequesting, @unchecked Sendable {
    private let lock = NSLock()
    private var _sent: [NetlinkMessage] = []
    let respond: @Sendable (IPVSCommand, NetlinkMessage) throws -> [NetlinkMessage]

    init(respond: @escaping @Sendable (IPVSCommand, NetlinkMessage) throws -> [NetlinkMessage] = { _, _ in [] }) {
        self.respond = respond
    }

    var sent: [NetlinkMessage] { lock.withLock { _sent } }
    var commands: [IPVSCommand] { sent.map { IPVSCommand(rawValue: $0.payload[0])! } }

    func request(_ message: NetlinkMessage, name: String) throws -> [NetlinkMessage] {
        lock.withLock { _sent.append(message) }
        do {
            return try respond(IPVSCommand(rawValue: message.payload[0])!, message)
        } catch var e as NetlinkError {
            e.request = name
            throw e
        }
    }

    /// The service port carried by a request's SERVICE nest.
    static func servicePort(_ m: NetlinkMessage) throws -> UInt16? {
        let top = try AttributeReader(parsing: Array(m.payload[4...]), context: "req")
        return try top.nested(1, "SERVICE")?.u16BigEndian(4, "PORT")
    }

    /// The destination address carried by a NEW/SET/DEL_DEST request.
    static func destAddress(_ m: NetlinkMessage) throws -> IPAddress? {
        let top = try AttributeReader(parsing: Array(m.payload[4...]), context: "req")
        guard let d = try top.nested(2, "DEST"), let fam = try d.u16(11, "AF"), let raw = d.first(1)?.payload else { return nil }
        return IPAddress(bytes: raw.prefix(fam == 2 ? 4 : 16), family: AddressFamily(rawValue: fam))
    }
}

@Suite struct IPVSBackendFakeKernelTests {
    let k80 = ServiceKey.address(.tcp, SocketAddress(address: IPAddress("192.168.0.21")!, port: 80))
    let k81 = ServiceKey.address(.tcp, SocketAddress(address: IPAddress("192.168.0.21")!, port: 81))

    func dest(_ a: String) -> Destination { Destination(address: SocketAddress(address: IPAddress(a)!, port: 80)) }

    @Test func addServiceAddsItsDestinationsLastFirst() async throws {
        let kernel = FakeIPVSKernel()
        let ipvs = IPVSBackend(requester: kernel, familyID: 0x1c)
        try await ipvs.apply([
            .addService(VirtualService(key: k80, scheduler: "rr", destinations: [dest("10.0.1.11"), dest("10.0.1.12"), dest("10.0.1.13")])),
            .addDestination(k80, dest("10.0.1.14")),
            .editService(VirtualService(key: k80, scheduler: "wlc")),
            .deleteDestination(k80, SocketAddress(address: IPAddress("10.0.1.11")!, port: 80)),
            .deleteService(k80),
        ])
        #expect(kernel.commands == [.newService, .newDestination, .newDestination, .newDestination, .newDestination, .setService,
                                    .deleteDestination, .deleteService])
        // The kernel inserts at the head, so sending 13, 12, 11 reads back as 11, 12, 13.
        #expect(try kernel.sent[1...4].map { try FakeIPVSKernel.destAddress($0)?.description } == ["10.0.1.13", "10.0.1.12", "10.0.1.11", "10.0.1.14"])
        #expect(kernel.sent.allSatisfy { $0.type == 0x1c && $0.flags == [.request, .ack] })
    }

    @Test func applyStopsAtTheFirstFailureAndNamesIt() async throws {
        let kernel = FakeIPVSKernel { cmd, m in
            if cmd == .newService, try FakeIPVSKernel.servicePort(m) == 81 {
                throw NetlinkError(code: .exists, request: "")
            }
            return []
        }
        let ipvs = IPVSBackend(requester: kernel, familyID: 0x1c)
        do {
            try await ipvs.apply([
                .addService(VirtualService(key: k80, scheduler: "rr")),
                .addService(VirtualService(key: k81, scheduler: "rr")),
                .addDestination(k80, dest("10.0.1.11")),
            ])
            Issue.record("no error")
        } catch let e as IPVSError {
            #expect(e.changeIndex == 1 && e.changeCount == 3)
            #expect(e.errno == 17 && e.command == .newService)
            #expect(e.message == "Service already exists")
            #expect(e.description == "change 2 of 3: IPVS_CMD_NEW_SERVICE [192.168.0.21]:tcp:81: Service already exists")
        }
        #expect(kernel.commands == [.newService, .newService])  // the third change was not sent
    }

    @Test func readStateDumpsServicesThenDestinationsAndSkipsVanishedServices() throws {
        let kernel = FakeIPVSKernel { cmd, m in
            switch cmd {
            case .getService:
                return [KernelReply.service(port: 81, sched: "wlc"), KernelReply.service(port: 80), KernelReply.service(port: 82)]
            case .getDestination:
                let port = try FakeIPVSKernel.servicePort(m)
                if port == 82 { throw NetlinkError(code: .noSuchProcess, request: "") }
                return port == 80 ? [KernelReply.dest(), KernelReply.dest(addr: [10, 0, 1, 12] + [UInt8](repeating: 0, count: 12))] : []
            default:
                return []
            }
        }
        let state = try IPVSBackend(requester: kernel, familyID: 0x1c).readState()
        #expect(state.services.map(\.key) == [k80, k81])  // sorted by key; port 82 vanished (ESRCH)
        #expect(state.services[0].destinations.map(\.address.address.description) == ["10.0.1.11", "10.0.1.12"])
        #expect(state.services[1].scheduler == "wlc" && state.services[1].destinations.isEmpty)
        #expect(kernel.commands == [.getService, .getDestination, .getDestination, .getDestination])
        #expect(kernel.sent[0].flags == [.request, .ack, .dump])
    }

    @Test func singleServiceLookupAndGlobalReads() throws {
        let kernel = FakeIPVSKernel { cmd, _ in
            switch cmd {
            case .getService: throw NetlinkError(code: .noSuchProcess, request: "")
            case .getConfig: return []  // a kernel that answers with a bare ACK
            default: return []
            }
        }
        let ipvs = IPVSBackend(requester: kernel, familyID: 0x1c)
        #expect(try ipvs.service(k80) == nil)
        #expect(throws: NetlinkDecodingError.self) { try ipvs.readTimeouts() }
        do {
            try ipvs.stopDaemon(.backup)
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(kernel.commands == [.getService, .getConfig, .deleteDaemon])
    }

    @Test func decodingFailuresPropagate() {
        let kernel = FakeIPVSKernel { cmd, _ in cmd == .getService ? [KernelReply.service(proto: 99)] : [] }
        #expect(throws: NetlinkDecodingError.self) { try IPVSBackend(requester: kernel, familyID: 0x1c).readState() }
    }
}
