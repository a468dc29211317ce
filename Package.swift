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
        .target(name: "KeepalivedConfig", dependencies: ["NetCore"]),
        // VRRP v2/v3 packets and the RFC 5798 state machine (pure).
        .target(name: "VRRPCore", dependencies: ["NetCore"]),
        // Netlink message encoding/decoding: rtnetlink, generic netlink, IPVS (pure).
        .target(name: "NetlinkCodec", dependencies: ["NetCore"]),
        // Data-plane model, diff and schedulers (pure).
        .target(name: "DataPlane", dependencies: ["NetCore"]),
        // The command tree (swift-argument-parser).
        .target(
            name: "VigilCLI",
            dependencies: [
                "NetCore", "SysCore", "KeepalivedConfig", "DataPlane", "HealthCheck",
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
        .target(name: "TestSupport"),

        .testTarget(name: "NetCoreTests", dependencies: ["NetCore", "TestSupport"]),
        .testTarget(name: "HealthCheckCoreTests", dependencies: ["HealthCheckCore", "NetCore", "DataPlane"]),
        .testTarget(
            name: "HealthCheckTests",
            dependencies: ["HealthCheck", "HealthCheckCore", "NetCore", "DataPlane", "TestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
