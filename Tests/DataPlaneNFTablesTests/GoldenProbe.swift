import DataPlane
import DataPlaneNFTables
import NetCore
import Testing

@Test func printGolden() throws {
    let vip = SocketAddress(address: IPAddress("10.77.0.21")!, port: 80)
    var svc = VirtualService(key: .address(.tcp, vip), scheduler: "wrr", destinations: [
        Destination(address: SocketAddress(address: IPAddress("10.77.0.12")!, port: 80), weight: 2),
        Destination(address: SocketAddress(address: IPAddress("10.77.0.13")!, port: 80), weight: 1),
    ])
    svc.flags = .persistent
    svc.persistenceTimeout = 300
    svc.persistencePrefix = 24
    let nat = VirtualService(key: .address(.udp, SocketAddress(address: IPAddress("10.77.0.22")!, port: 53)), scheduler: "mh", destinations: [
        Destination(address: SocketAddress(address: IPAddress("10.78.0.12")!, port: 5353), forwarding: .masquerade, weight: 1),
    ])
    let facts = NFTFacts(directorMAC: MACAddress("02:77:00:00:00:11")!, macs: [
        IPAddress("10.77.0.12")!: MACAddress("02:77:00:00:00:12")!, IPAddress("10.77.0.13")!: MACAddress("02:77:00:00:00:13")!,
    ])
    let rs = try NFTRuleset(state: DataPlaneState(services: [svc, nat]), draining: [], facts: facts,
        settings: NFTEngineSettings(interface: "eth0", seed: 1, maglevSize: 7))
    print(NFTTransaction.script(from: .absent, to: rs.netdev))
    print(NFTTransaction.script(from: .absent, to: rs.inet))
}
