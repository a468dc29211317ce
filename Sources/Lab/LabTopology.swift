import NetCore

/// The reference scenario's hosts (../shared/DESIGN.md) as network namespaces on one bridge.
///
/// Pure description: names, addresses and MACs derived from a prefix, so that `lab up`, `lab down`
/// and the tests agree on what a lab consists of without reading any state.
public struct LabTopology: Sendable, Equatable {
    public enum Role: String, Sendable, Codable {
        case client
        case director
        case realServer = "real-server"
    }

    public struct Host: Sendable, Equatable {
        /// Short name as the scenario calls it: `client`, `V11`, `V12`, …
        public var name: String
        public var role: Role
        public var namespace: String
        public var address: IPv4Address
        public var mac: MACAddress
        /// The bridge-side veth port's name (inside the switch namespace).
        public var port: String
    }

    public static let vip = IPv4Address(192, 168, 0, 21)
    public static let prefixLength = 24
    public static let interface = "eth0"

    public let prefix: String
    public let hosts: [Host]

    /// Creates the topology for `prefix`. Namespace names are `<prefix>-<host>`; the prefix keeps
    /// labs (and tests) from colliding.
    public init(prefix: String = "vlab") {
        self.prefix = prefix
        func host(_ name: String, _ role: Role, _ last: UInt8) -> Host {
            Host(
                name: name, role: role, namespace: "\(prefix)-\(name.lowercased())",
                address: IPv4Address(192, 168, 0, last),
                mac: MACAddress(bytes: [0x02, 0xa8, 0x00, 0x00, 0x00, last])!,
                port: "p-\(name.lowercased())")
        }
        hosts = [
            host("client", .client, 10),
            host("V11", .director, 11),
            host("V15", .director, 15),
            host("V12", .realServer, 12),
            host("V13", .realServer, 13),
            host("V14", .realServer, 14),
        ]
    }

    /// The namespace holding the bridge that joins every host.
    public var switchNamespace: String { "\(prefix)-sw" }

    /// Every namespace of the lab, switch last (so it is deleted after the hosts).
    public var namespaces: [String] { hosts.map(\.namespace) + [switchNamespace] }

    public var client: Host { hosts[0] }
    public var master: Host { hosts[1] }
    public var backup: Host { hosts[2] }
    public var realServers: [Host] { hosts.filter { $0.role == .realServer } }

    public func host(named name: String) -> Host? {
        hosts.first { $0.name.lowercased() == name.lowercased() }
    }

    /// The page each real server serves: `web1 V12 192.168.0.12`.
    public func page(of host: Host) -> String {
        let index = (realServers.firstIndex(of: host) ?? 0) + 1
        return "web\(index) \(host.name) \(host.address)\n"
    }

    /// Checks that a prefix gives valid namespace and file names.
    public static func validate(prefix: String) -> String? {
        guard !prefix.isEmpty, prefix.count <= 24 else { return "the prefix must have 1 to 24 characters" }
        let ok = prefix.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "-" || $0 == "_" }
        return ok ? nil : "the prefix may contain only letters, digits, '-' and '_'"
    }
}

/// The directors' keepalived.conf files for the lab: the reference scenario's text with the
/// digests replaced by the ones computed for the lab's pages.
public enum LabConfigs {
    /// The master's (V11) configuration.
    public static func master(digests: [IPv4Address: String]) -> String {
        substituteDigests(in: SeedConfigs.master, digests: digests)
    }

    /// The backup's (V15) configuration.
    public static func backup(digests: [IPv4Address: String]) -> String {
        substituteDigests(in: SeedConfigs.backup, digests: digests)
    }

    /// The original text, as the scenario's transcript has it.
    public static var originalMaster: String { SeedConfigs.master }
    public static var originalBackup: String { SeedConfigs.backup }

    /// Replaces the value of each `digest` line with the digest for the enclosing `real_server`,
    /// keeping the line's spacing and comments.
    static func substituteDigests(in text: String, digests: [IPv4Address: String]) -> String {
        var current: IPv4Address?
        var out: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if words.first == "real_server", words.count > 1, let a = IPv4Address(words[1]) {
                current = a
            }
            if words.first == "digest", words.count > 1, let rs = current, let digest = digests[rs] {
                var new = String(line)
                if let range = new.range(of: String(words[1])) {
                    new.replaceSubrange(range, with: digest)
                }
                out.append(Substring(new))
                continue
            }
            out.append(line)
        }
        return out.joined(separator: "\n")
    }
}

import Crypto

/// The lab's pages and their digests as keepalived's HTTP_GET computes them (MD5 of the body).
public enum LabPages {
    public static func digest(of page: String) -> String {
        Insecure.MD5.hash(data: Array(page.utf8)).map { b in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
    }
}
