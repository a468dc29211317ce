#if canImport(Glibc)
import Glibc
#endif
import Daemon
import DataPlane
import DataPlaneIPVS
@testable import DataPlaneNFTables
import Foundation
import IPVSAdm
import NetCore
import Testing

func sa(_ s: String, _ port: UInt16) -> SocketAddress { SocketAddress(address: IPAddress(s)!, port: port) }

struct NoIPVS: Error, CustomStringConvertible {
    var description: String { "generic netlink family IPVS not found" }
}

/// Pure pieces: the table's settings record, connection entries as ipvsadm lists them, the
/// kernel's errnos, and the engine choice. No privileges needed.
@Suite struct EngineUnitTests {
    @Test func settingsRecordRoundTripsAndRejectsOtherComments() {
        let r = NFTSettingsRecord(interface: "eth0", timeouts: Timeouts(tcp: 100, tcpFin: 20, udp: 50))
        #expect(r.comment == "vigil settings if eth0 tcp 100 tcpfin 20 udp 50")
        #expect(NFTSettingsRecord.parse(r.comment) == r)
        let unknown = NFTSettingsRecord(interface: "", timeouts: Timeouts())
        #expect(NFTSettingsRecord.parse(unknown.comment) == unknown)
        #expect(NFTSettingsRecord.parse("vigil svc tcp 10.0.0.1 80 rr 0 0 32") == nil)
        #expect(NFTSettingsRecord.parse("vigil settings if eth0 tcp x tcpfin 20 udp 50") == nil)
        #expect(r.chain.rules == ["return comment \"vigil settings if eth0 tcp 100 tcpfin 20 udp 50\""])
    }

    @Test func tableFactsComeFromTheIngressChainAndTheRecord() throws {
        // The shape `nft -j list table netdev vigil` prints (nft 1.0.6).
        let json = """
            {"nftables": [{"metainfo": {"version": "1.0.6"}}, {"table": {"family": "netdev", "name": "vigil", "handle": 1}},
            {"chain": {"family": "netdev", "table": "vigil", "name": "settings", "handle": 1}},
            {"chain": {"family": "netdev", "table": "vigil", "name": "ingress", "handle": 2, "type": "filter", "hook": "ingress", "prio": 0, "dev": "veth7", "policy": "accept"}},
            {"rule": {"family": "netdev", "table": "vigil", "chain": "settings", "handle": 3, "comment": "vigil settings if eth0 tcp 900 tcpfin 120 udp 300", "expr": [{"return": null}]}}]}
            """
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let facts = NFTTableFacts.parse(try #require(obj["nftables"] as? [[String: Any]]))
        #expect(facts.ingressDevice == "veth7")
        #expect(facts.record == NFTSettingsRecord(interface: "eth0", timeouts: Timeouts()))
        #expect(NFTTableFacts.parse([]) == NFTTableFacts())
    }

    @Test func connectionEntriesLookLikeIPVS() {
        let tcp = ServiceKey.address(.tcp, sa("10.77.0.21", 80))
        let udp = ServiceKey.address(.udp, sa("10.77.0.21", 53))
        let fwm = ServiceKey.fwmark(7, .inet)
        let conns = [
            NFTConnectionEntry(service: tcp, client: sa("10.77.0.10", 40000), destination: sa("10.77.0.12", 80), expires: 899),
            NFTConnectionEntry(service: udp, client: sa("10.77.0.10", 5353), destination: sa("10.77.0.13", 53), expires: 299),
            NFTConnectionEntry(service: fwm, client: sa("10.77.0.10", 1234), destination: sa("10.77.0.14", 0), expires: 10),
            // A server collected after removal: its packets are dropped, IPVS would have no entry.
            NFTConnectionEntry(service: tcp, client: sa("10.77.0.10", 40001), destination: nil, expires: 5),
        ]
        let templates = [NFTPersistenceEntry(service: tcp, client: IPAddress("10.77.0.0")!, destination: sa("10.77.0.12", 80), expires: 300)]
        let out = NFTablesIPVSAdmBackend.ipvsConnections(conns, templates: templates)
        #expect(out == [
            ConnectionEntry(protocolName: "TCP", client: sa("10.77.0.10", 40000), virtual: sa("10.77.0.21", 80), destination: sa("10.77.0.12", 80), state: "ESTABLISHED", expires: 899),
            ConnectionEntry(protocolName: "UDP", client: sa("10.77.0.10", 5353), virtual: sa("10.77.0.21", 53), destination: sa("10.77.0.13", 53), state: "UDP", expires: 299),
            ConnectionEntry(protocolName: "IP", client: sa("10.77.0.10", 1234), virtual: sa("0.0.0.7", 0), destination: sa("10.77.0.14", 0), state: "ESTABLISHED", expires: 10),
            ConnectionEntry(protocolName: "TCP", client: sa("10.77.0.0", 0), virtual: sa("10.77.0.21", 80), destination: sa("10.77.0.12", 80), state: "NONE", expires: 300),
        ])
    }

    @Test func kernelArgumentChecksGiveTheKernelsErrnos() {
        let key = ServiceKey.address(.tcp, sa("10.0.0.1", 80))
        func errno(_ c: DataPlaneChange) -> Int32? {
            do { try KernelChecks.check(c) } catch { return error.errno }
            return nil
        }
        #expect(errno(.addService(VirtualService(key: key, scheduler: "nosuch"))) == ENOENT)
        #expect(errno(.addService(VirtualService(key: key, scheduler: "rr", persistenceEngine: "xyz"))) == ENOENT)
        #expect(errno(.addService(VirtualService(key: key, scheduler: "lblc"))) == nil, "known to IPVS; the engine decides")
        #expect(errno(.addDestination(key, Destination(address: sa("10.0.1.1", 80), upperThreshold: 5, lowerThreshold: 10))) == ERANGE)
        #expect(errno(.addDestination(key, Destination(address: sa("224.0.0.1", 80)))) == EINVAL)
        #expect(errno(.addDestination(key, Destination(address: sa("2001:db8::1", 80)))) == EINVAL)
        #expect(errno(.editDestination(key, Destination(address: sa("10.0.1.1", 80), weight: 3))) == nil)
        // The model's existence errors are the kernel's.
        #expect(DataPlaneModelError(.serviceExists, service: key).errno == EEXIST)
        #expect(DataPlaneModelError(.serviceNotFound, service: key).errno == ESRCH)
        #expect(DataPlaneModelError(.destinationExists, service: key).errno == EEXIST)
        #expect(DataPlaneModelError(.destinationNotFound, service: key).errno == ENOENT)
    }

    /// ipvsadm prints the kernel's fixed text, plus the explanation for engine-only failures.
    @Test func ipvsadmPrintsErrnoTextAndExplanations() async {
        struct Refusing: IPVSAdmBackend {
            var name: String { "refusing" }
            func currentState() async throws -> DataPlaneState { DataPlaneState() }
            func apply(_ changes: [DataPlaneChange]) async throws {
                _ = try DataPlane.apply(changes, to: DataPlaneState(services: [VirtualService(key: .address(.tcp, sa("10.0.0.1", 80)))]))
            }
            func flush() async throws {}
            func zeroCounters(service: ServiceKey?) async throws {}
            func timeouts() async throws -> Timeouts { Timeouts() }
            func setTimeouts(_ timeouts: Timeouts) async throws {}
            func syncDaemons() async throws -> [SyncDaemon] { [] }
            func startSyncDaemon(_ daemon: SyncDaemon) async throws {
                throw NFTUnsupportedOperation(errno: ENOSYS, explanation: "no sync daemon here")
            }
            func stopSyncDaemon(_ role: SyncDaemon.Role) async throws {}
            func info() async throws -> IPVSInfo { IPVSInfo() }
            func connections() async throws -> [ConnectionEntry] { [] }
        }
        let dup = await IPVSAdm.run(arguments: ["-A", "-t", "10.0.0.1:80"], backend: Refusing())
        #expect(dup == IPVSAdmResult(stdout: "", stderr: "Service already exists\n", exitCode: 255))
        let nodest = await IPVSAdm.run(arguments: ["-d", "-t", "10.0.0.1:80", "-r", "10.0.1.1"], backend: Refusing())
        #expect(nodest.stderr == "No such destination\n")
        let daemon = await IPVSAdm.run(arguments: ["--start-daemon", "master"], backend: Refusing())
        #expect(daemon == IPVSAdmResult(stdout: "", stderr: "Function not implemented (no sync daemon here)\n", exitCode: 255))
    }

    @Test func autoPicksIPVSWhenItOpensElseNFTablesAndSaysWhy() throws {
        let (engine, reason) = try EngineSelection.resolve(.auto, openIPVS: { throw NoIPVS() })
        guard case .nftables = engine else { Issue.record("expected nftables, got \(engine)"); return }
        #expect(reason == "Data plane: nftables (this kernel has no IPVS: generic netlink family IPVS not found)")
        #expect(throws: DaemonError.self) { try EngineSelection.resolve(.ipvs, openIPVS: { throw NoIPVS() }) }
        do {
            _ = try EngineSelection.resolve(.ipvs, openIPVS: { throw NoIPVS() })
        } catch let e as DaemonError {
            #expect(e.message == "--dataplane ipvs: this kernel has no IPVS (generic netlink family IPVS not found); try 'modprobe ip_vs'")
        }
        guard case .nftables = try EngineSelection.resolve(.nftables, openIPVS: { Issue.record("IPVS opened for nftables"); throw NoIPVS() }).engine
        else { Issue.record("forced nftables"); return }
    }

    @Test func ipvsadmEngineFromTheEnvironment() throws {
        do {
            _ = try EngineSelection.ipvsadmBackend(environment: ["VIGIL_DATAPLANE": "bogus"], openIPVS: { throw NoIPVS() })
            Issue.record("bogus engine accepted")
        } catch let e as DaemonError {
            #expect(e.message == "VIGIL_DATAPLANE=bogus: expected auto, ipvs or nftables")
        }
        do {
            _ = try EngineSelection.ipvsadmBackend(environment: ["VIGIL_DATAPLANE": "ipvs"], openIPVS: { throw NoIPVS() })
            Issue.record("forced IPVS without IPVS accepted")
        } catch let e as DaemonError {
            #expect(e.message.hasPrefix("VIGIL_DATAPLANE=ipvs: this kernel has no IPVS"))
        }
    }
}
