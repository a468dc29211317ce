import DataPlane
import Foundation
import DataPlaneIPVS
import DataPlaneNFTables
import IPVSAdm

/// The one rule for which kernel engine Vigil uses, shared by `vigil run` and `vigil ipvsadm`:
/// IPVS when the kernel has it (the "IPVS" generic netlink family resolves), else nftables.
public enum EngineSelection {
    /// The engine chosen, with the IPVS handle when that is the one.
    public enum Resolved: Sendable {
        case ipvs(IPVSBackend)
        case nftables
        case none
    }

    /// Resolves `choice`. For `.auto` also returns the sentence to log (which engine and why).
    /// `openIPVS` opens the kernel engine (a fake in tests).
    public static func resolve(
        _ choice: DataPlaneChoice, openIPVS: () throws -> IPVSBackend = { try IPVSBackend() }
    ) throws -> (engine: Resolved, reason: String?) {
        switch choice {
        case .none:
            return (.none, nil)
        case .nftables:
            return (.nftables, nil)
        case .ipvs:
            do { return (.ipvs(try openIPVS()), nil) } catch {
                throw DaemonError(code: .dataPlane, message: "--dataplane ipvs: this kernel has no IPVS (\(error)); try 'modprobe ip_vs'")
            }
        case .auto:
            do {
                return (.ipvs(try openIPVS()), "Data plane: IPVS (the kernel has IPVS)")
            } catch {
                return (.nftables, "Data plane: nftables (this kernel has no IPVS: \(error))")
            }
        }
    }

    /// The engine behind `vigil ipvsadm`: `VIGIL_DATAPLANE=auto|ipvs|nftables` (default auto,
    /// the same rule as `vigil run`); the nftables engine is opened with
    /// `NFTablesIPVSAdmBackend.open(environment:)` (`VIGIL_NFT_TABLE`, `VIGIL_NFT_INTERFACE`).
    public static func ipvsadmBackend(
        environment: [String: String], openIPVS: () throws -> IPVSBackend = { try IPVSBackend() }
    ) throws -> any IPVSAdmBackend {
        let raw = environment["VIGIL_DATAPLANE"].flatMap { $0.isEmpty ? nil : $0 } ?? "auto"
        guard let choice = DataPlaneChoice(rawValue: raw), choice != .none else {
            throw DaemonError(code: .dataPlane, message: "VIGIL_DATAPLANE=\(raw): expected auto, ipvs or nftables")
        }
        let resolved: Resolved
        do {
            resolved = try resolve(choice, openIPVS: openIPVS).engine
        } catch let e as DaemonError {
            throw DaemonError(code: e.code, message: e.message.replacingOccurrences(of: "--dataplane ipvs", with: "VIGIL_DATAPLANE=ipvs"))
        }
        switch resolved {
        case .ipvs(let b): return b
        case .nftables, .none: return try NFTablesIPVSAdmBackend.open(environment: environment)
        }
    }
}
