// ipvs-probe: a small guest-side tool for the IPVS kernel tests (tools/ipvs-vm). It programs
// IPVS only through IPVSBackend and prints what IPVSBackend reads back, as JSON, so a test on
// the host can compare it with ipvsadm's view inside the guest. Not part of the vigil binary.
//
//   ipvs-probe apply FILE          FILE holds a DataPlaneState; each service is added with its destinations
//   ipvs-probe changes FILE        FILE holds a [DataPlaneChange], applied in order
//   ipvs-probe state               the read-back DataPlaneState
//   ipvs-probe info | timeouts | daemons | connections
//   ipvs-probe set-timeouts TCP TCPFIN UDP
//   ipvs-probe zero [FILE]         FILE holds a ServiceKey; without it all counters are zeroed
//   ipvs-probe flush
//   ipvs-probe start-daemon FILE   FILE holds a SyncDaemon
//   ipvs-probe stop-daemon master|backup
// Errors go to stderr as "ipvs-probe: ..." with exit status 1.
import DataPlane
import DataPlaneIPVS
import Foundation
import IPVSAdm

func load<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
    try JSONDecoder().decode(T.self, from: try Data(contentsOf: URL(fileURLWithPath: path)))
}

func emit(_ value: some Encodable) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    print(String(decoding: try enc.encode(value), as: UTF8.self))
}

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: ipvs-probe apply|changes|state|info|timeouts|set-timeouts|zero|flush|start-daemon|stop-daemon|daemons|connections ...\n".utf8))
    exit(2)
}

let args = Array(CommandLine.arguments.dropFirst())
guard let cmd = args.first else { usage() }
do {
    let ipvs = try IPVSBackend()
    switch (cmd, args.count) {
    case ("apply", 2):
        try ipvs.execute(try load(DataPlaneState.self, args[1]).services.map { DataPlaneChange.addService($0) })
    case ("changes", 2):
        try ipvs.execute(try load([DataPlaneChange].self, args[1]))
    case ("state", 1):
        try emit(try ipvs.readState())
    case ("info", 1):
        try emit(try ipvs.readInfo())
    case ("timeouts", 1):
        try emit(try ipvs.readTimeouts())
    case ("set-timeouts", 4):
        guard let t = UInt32(args[1]), let f = UInt32(args[2]), let u = UInt32(args[3]) else { usage() }
        try ipvs.writeTimeouts(Timeouts(tcp: t, tcpFin: f, udp: u))
    case ("zero", 1):
        try ipvs.zero(nil)
    case ("zero", 2):
        try ipvs.zero(try load(ServiceKey.self, args[1]))
    case ("flush", 1):
        try ipvs.flushAll()
    case ("start-daemon", 2):
        try ipvs.startDaemon(try load(SyncDaemon.self, args[1]))
    case ("stop-daemon", 2):
        guard let role = ["master": SyncDaemon.Role.master, "backup": .backup][args[1]] else { usage() }
        try ipvs.stopDaemon(role)
    case ("daemons", 1):
        try emit(try ipvs.readSyncDaemons())
    case ("connections", 1):
        try emit(try ipvs.readConnections())
    default:
        usage()
    }
} catch {
    FileHandle.standardError.write(Data("ipvs-probe: \(error)\n".utf8))
    exit(1)
}
