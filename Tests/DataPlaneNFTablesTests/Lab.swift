import DataPlane
import DataPlaneNFTables
import Foundation
import NetCore
import TestSupport

/// The topology of nft-dataplane.md §1 (TestSupport's `DirectRoutingLab`, namespaces prefixed
/// `vgd`), with the short names these tests use and a backend run inside the director.
final class DataPlaneLab: @unchecked Sendable {
    let net: DirectRoutingLab
    static let vip = DirectRoutingLab.vip
    static let front = DirectRoutingLab.front
    static let back = DirectRoutingLab.back

    init(_ name: String) throws { net = try DirectRoutingLab(prefix: "vgd", name: name) }

    var lab: NetnsLab { net.lab }
    var br: String { net.bridge }
    var cli: String { net.client }
    var dir: String { net.director }
    var rs: [String] { net.realServers }
    var dirTemp: String { net.workDir }
    var vip: String { Self.vip }

    func backend(_ settings: NFTEngineSettings = NFTEngineSettings(interface: "eth0")) -> NFTablesBackend {
        NFTablesBackend(settings: settings, commandPrefix: ["ip", "netns", "exec", dir])
    }

    /// One HTTP GET from the client; returns the body ("rsN") or nil on failure.
    func get(_ url: String = "http://\(vip)/", localPort: UInt16? = nil) -> String? { net.get(url, localPort: localPort) }

    func teardown() { net.teardown() }
}

func sock(_ a: String, _ p: UInt16) -> SocketAddress { SocketAddress(address: IPAddress(a)!, port: p) }

func service(_ sched: String, weights: [Int32] = [1, 1, 1], nat: Bool = false, port: UInt16 = 80) -> VirtualService {
    let addrs = nat ? DataPlaneLab.back : DataPlaneLab.front
    return VirtualService(
        key: .address(.tcp, sock(DataPlaneLab.vip, port)), scheduler: sched,
        destinations: zip(addrs, weights).map { a, w in
            Destination(address: sock(a, nat ? 8080 : port), forwarding: nat ? .masquerade : .directRoute, weight: w)
        })
}
