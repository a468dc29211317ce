import Foundation
import NetCore

/// A virtual address as configured in `virtual_ipaddress` (keepalived.conf(5) §2.9 syntax:
/// `IP[/MASK] [brd IP] [dev IF] [scope S] [label L]`).
public struct VirtualIP: Hashable, Sendable, CustomStringConvertible {
    public enum Scope: String, Hashable, Sendable { case global, site, link, host, nowhere }

    public var prefix: IPPrefix
    public var device: String
    public var label: String?
    public var scope: Scope?
    public var broadcast: IPv4Address?

    public init(prefix: IPPrefix, device: String, label: String? = nil, scope: Scope? = nil, broadcast: IPv4Address? = nil) {
        self.prefix = prefix
        self.device = device
        self.label = label
        self.scope = scope
        self.broadcast = broadcast
    }

    public var address: IPAddress { prefix.address }
    public var description: String { "\(prefix) dev \(device)" }
}

/// Adds and removes virtual addresses. The daemon's implementation uses rtnetlink; the
/// protocol is the seam that lets the runner be tested and lets the backend change.
public protocol VIPManager: Sendable {
    /// Adds each address; one that is already present is not an error.
    func add(_ vips: [VirtualIP]) async throws
    /// Removes each address; one that is already gone is not an error.
    func remove(_ vips: [VirtualIP]) async throws
}

/// A `VIPManager` that drives iproute2 (`ip [-n NS] addr add|del …`).
///
/// Interim backend until the rtnetlink module is merged; it is also what the namespace tests
/// use to place VIPs inside a test namespace.
public struct IPCommandVIPManager: VIPManager {
    public var namespace: String?
    public var ipPath: String

    public init(namespace: String? = nil, ipPath: String = "/usr/sbin/ip") {
        self.namespace = namespace
        self.ipPath = FileManager.default.isExecutableFile(atPath: ipPath) ? ipPath : "/sbin/ip"
    }

    public struct CommandError: Error, CustomStringConvertible {
        public var command: [String]
        public var status: Int32
        public var stderr: String
        public var description: String { "\(command.joined(separator: " ")) exited \(status): \(stderr)" }
    }

    func arguments(_ verb: String, _ v: VirtualIP) -> [String] {
        var a = (namespace.map { ["-n", $0] } ?? []) + ["addr", verb, v.prefix.description]
        if verb == "add" {
            if let b = v.broadcast { a += ["broadcast", b.description] }
            if let s = v.scope { a += ["scope", s.rawValue] }
            if let l = v.label { a += ["label", l] }
            if v.address.family == .inet6 { a += ["nodad"] }
        }
        return a + ["dev", v.device]
    }

    public func add(_ vips: [VirtualIP]) async throws {
        for v in vips { try run(arguments("add", v), tolerate: "File exists") }
    }

    public func remove(_ vips: [VirtualIP]) async throws {
        for v in vips { try run(arguments("del", v), tolerate: "Cannot assign requested address") }
    }

    private func run(_ args: [String], tolerate: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ipPath)
        p.arguments = args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        if p.terminationStatus != 0 && !text.contains(tolerate) {
            throw CommandError(command: [ipPath] + args, status: p.terminationStatus, stderr: text)
        }
    }
}
