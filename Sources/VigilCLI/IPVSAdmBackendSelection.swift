#if canImport(Glibc)
import Glibc
#endif
import Daemon
import Foundation
import IPVSAdm

/// The one place that picks the engine behind `vigil ipvsadm`.
/// `VIGIL_IPVSADM_STATE=path` selects a file-backed `MemoryBackend` (JSON), used by tests and for
/// trying the CLI without privileges; otherwise the same rule as `vigil run` (kernel IPVS when
/// present, else nftables; `VIGIL_DATAPLANE=ipvs|nftables` forces one), see docs/ipvsadm.md.
func makeIPVSAdmBackend() throws -> any IPVSAdmBackend {
    if let path = getenv("VIGIL_IPVSADM_STATE").map({ String(cString: $0) }), !path.isEmpty {
        return try MemoryBackend(stateFile: path)
    }
    return try EngineSelection.ipvsadmBackend(environment: ProcessInfo.processInfo.environment)
}
