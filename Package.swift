// swift-tools-version: 6.1
import PackageDescription

// Pure cores (no I/O) sit apart from the I/O layers that own sockets, as in
// ../shared/reference/style.md §8. The executable only hands argv to VigilCLI.
let package = Package(
    name: "vigil",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vigil", targets: ["vigil"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // Address value types shared by every module.
        .target(name: "NetCore"),
        // Typed syscall layer: errors with call and errno, descriptors, processes.
        .target(name: "SysCore", dependencies: ["NetCore"]),
        // keepalived.conf: lexer, preprocessor, parser, typed model, validator.
        .target(name: "KeepalivedConfig", dependencies: ["NetCore", "HealthCheckCore"]),
        // VRRP v2/v3 packets and the RFC 5798 state machine (pure).
        .target(name: "VRRPCore", dependencies: ["NetCore"]),
        // C helpers for CMSG_*, ifreq and fork+exec as another user (used by VRRP).
        .target(name: "CVigilShims"),
        // VRRP I/O: raw sockets, GARP/NA, timers, VIPs, notify scripts and trackers.
        .target(
            name: "VRRP",
            dependencies: [
                "VRRPCore", "NetCore", "SysCore", "CVigilShims", "Netlink", "NetlinkCodec",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Netlink message encoding/decoding: rtnetlink, generic netlink, IPVS (pure).
        .target(name: "NetlinkCodec", dependencies: ["NetCore"]),
        // Netlink sockets: rtnetlink requests, link events, generic netlink, namespaces (I/O).
        .target(name: "Netlink", dependencies: ["NetlinkCodec", "NetCore", "SysCore"]),
        // Data-plane model, diff and schedulers (pure).
        .target(name: "DataPlane", dependencies: ["NetCore"]),
        // ipvsadm 1.31 front end: popt-compatible parsing, output formats, in-memory backend (pure).
        .target(name: "IPVSAdm", dependencies: ["NetCore", "SysCore", "DataPlane"]),
        // The real-server side of DR: VIPs on lo, ARP sysctls, persisted config.
        .target(name: "RealServer", dependencies: ["NetCore", "SysCore"]),
        // The IPVS engine over generic netlink: codec (pure) and IPVSBackend (I/O).
        .target(name: "DataPlaneIPVS", dependencies: ["DataPlane", "Netlink", "NetlinkCodec", "NetCore", "SysCore", "IPVSAdm"]),
        // Guest-side probe for the IPVS kernel tests (tools/ipvs-vm): applies JSON, prints read-back.
        .executableTarget(name: "ipvs-probe", dependencies: ["DataPlaneIPVS", "DataPlane", "IPVSAdm", "NetCore"]),
        // The virtual-server pool: health verdicts -> desired data plane, quorum, sorry server (pure).
        .target(name: "VirtualServerCore", dependencies: ["DataPlane", "NetCore"]),
        // The reference scenario as network namespaces (`vigil lab`).
        .target(name: "Lab", dependencies: ["NetCore", "SysCore", "Netlink", .product(name: "Crypto", package: "swift-crypto")]),
        // The daemon's composition root: config -> VRRP, checkers, data plane; logs, signals.
        .target(
            name: "Daemon",
            dependencies: [
                "NetCore", "SysCore", "DataPlane", "KeepalivedConfig", "VirtualServerCore", "VRRP", "VRRPCore",
                "Netlink", "NetlinkCodec", "DataPlaneNFTables", "DataPlaneIPVS", "HealthCheck", "HealthCheckCore", "IPVSAdm",
                "ConnSync",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The command tree (swift-argument-parser).
        .target(
            name: "VigilCLI",
            dependencies: [
                "NetCore", "SysCore", "KeepalivedConfig", "DataPlane", "Daemon", "Lab", "HealthCheck",
                "IPVSAdm", "RealServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "vigil", dependencies: ["VigilCLI"]),
        // Health checkers: up/down scheduling, HTTP request/response, DNS/SMTP/UDP/ICMP codecs (pure).
        .target(name: "HealthCheckCore", dependencies: ["NetCore", "DataPlane"]),
        // fork/exec for MISC_CHECK scripts run as another user.
        .target(name: "CHealthCheckShims"),
        // Health checkers over sockets and processes; HealthCheckService; genhash.
        .target(
            name: "HealthCheck",
            dependencies: [
                "HealthCheckCore", "NetCore", "SysCore", "DataPlane", "CHealthCheckShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Benchmark: thousands of checkers against local listeners (bench/health).
        .executableTarget(name: "health-bench", dependencies: ["HealthCheck", "HealthCheckCore", "NetCore", "DataPlane"]),
        // Helpers for tests: network namespaces, processes, paths (never linked into vigil).
        .target(name: "TestSupport", dependencies: ["SysCore"]),

        .testTarget(name: "NetCoreTests", dependencies: ["NetCore", "TestSupport"]),
        .testTarget(name: "VirtualServerCoreTests", dependencies: ["VirtualServerCore", "DataPlane", "NetCore"]),
        .testTarget(name: "DaemonTests", dependencies: ["Daemon", "KeepalivedConfig", "VirtualServerCore", "DataPlane", "NetCore", "Lab"]),
        .testTarget(name: "LabTests", dependencies: ["Lab", "NetCore"]),
        // The reference scenario end to end: `vigil lab` (nftables), with keepalived, in the IPVS guest.
        .testTarget(name: "EndToEndTests", dependencies: ["Lab", "TestSupport", "NetCore"]),
        .testTarget(
            name: "KeepalivedConfigTests",
            dependencies: ["KeepalivedConfig", "NetCore", "SysCore"],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "VRRPTests", dependencies: ["VRRP", "VRRPCore", "NetCore", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        // `vigil run` end to end: two directors and a client in namespaces, keepalived interop.
        .testTarget(name: "VigilRunTests", dependencies: ["TestSupport"]),
        .testTarget(name: "VRRPCoreTests", dependencies: ["VRRPCore", "NetCore", "SysCore", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "NetlinkCodecTests", dependencies: ["NetlinkCodec", "NetCore", "TestSupport"]),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink", "NetlinkCodec", "NetCore", "SysCore", "TestSupport"]),
        .testTarget(
            name: "DataPlaneIPVSTests",
            dependencies: ["DataPlaneIPVS", "DataPlane", "IPVSAdm", "Netlink", "NetlinkCodec", "NetCore", "TestSupport"]),
        .testTarget(
            name: "IPVSAdmTests", dependencies: ["IPVSAdm", "DataPlane", "NetCore"],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "RealServerTests", dependencies: ["RealServer", "NetCore"]),
        // nftables data plane: pure ruleset generation plus a thin `nft -f -` runner.
        .target(name: "DataPlaneNFTables", dependencies: ["DataPlane", "NetCore", "SysCore", "IPVSAdm", "Netlink"]),
        .testTarget(name: "DataPlaneTests", dependencies: ["DataPlane", "NetCore", "SysCore", "TestSupport"]),
        .testTarget(
            name: "DataPlaneNFTablesTests", dependencies: ["DataPlaneNFTables", "DataPlane", "NetCore", "TestSupport"]),
        .testTarget(name: "HealthCheckCoreTests", dependencies: ["HealthCheckCore", "NetCore", "DataPlane"]),
        // `vigil run` end to end: checkers → pool → kernel read-back, scripts, FIFO, reload under load.
        .testTarget(name: "ControlLoopTests", dependencies: ["Daemon", "DataPlane", "NetCore", "TestSupport", "Lab", "KeepalivedConfig", "HealthCheck", "HealthCheckCore", "VirtualServerCore", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "HealthCheckTests",
            dependencies: ["HealthCheck", "HealthCheckCore", "NetCore", "DataPlane", "TestSupport"]
        ),
        // `vigil ipvsadm` on both engines: nftables in namespaces, IPVS in the ipvs-vm guest.
        .testTarget(
            name: "IPVSAdmEnginesTests",
            dependencies: ["DataPlaneNFTables", "DataPlaneIPVS", "IPVSAdm", "Daemon", "DataPlane", "NetCore", "TestSupport"]),
        // Connection-map sync between directors (nftables engine): wire format, HMAC, delta and
        // install logic (pure) and the UDP/nft service (I/O).
        .target(name: "ConnSyncCore", dependencies: ["NetCore", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "ConnSync",
            dependencies: [
                "ConnSyncCore", "NetCore", "SysCore", "DataPlaneNFTables",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "ConnSyncTests",
            dependencies: [
                "ConnSyncCore", "ConnSync", "DataPlaneNFTables", "DataPlane", "NetCore", "Lab", "TestSupport", "Daemon",
                "IPVSAdm", "KeepalivedConfig",
            ]),
    ],
    swiftLanguageModes: [.v6]
)
