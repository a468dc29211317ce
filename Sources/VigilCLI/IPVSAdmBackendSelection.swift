#if canImport(Glibc)
import Glibc
#endif
import IPVSAdm

/// Why `vigil ipvsadm` has no engine to talk to.
struct NoDataPlaneEngine: Error, CustomStringConvertible {
    var description: String {
        "no data-plane engine available: the IPVS and nftables engines are not connected to `vigil ipvsadm` yet; "
            + "set VIGIL_IPVSADM_STATE=FILE to use a file-backed in-memory table"
    }
}

/// The one place that picks the engine behind `vigil ipvsadm` (kernel IPVS or nftables, once
/// they are wired here). `VIGIL_IPVSADM_STATE=path` selects a file-backed `MemoryBackend`
/// (JSON), used by tests and for trying the CLI without privileges.
func makeIPVSAdmBackend() throws -> any IPVSAdmBackend {
    if let path = getenv("VIGIL_IPVSADM_STATE").map({ String(cString: $0) }), !path.isEmpty {
        return try MemoryBackend(stateFile: path)
    }
    throw NoDataPlaneEngine()
}
