import Foundation
import NetCore
import SysCore
import Testing
import TestSupport

@testable import VRRPCore

/// One captured packet: the VRRP bytes and the IP header facts the receive path would supply.
struct GoldenPacket: CustomStringConvertible {
    var name: String
    var source: IPAddress
    var destination: IPAddress
    var ttl: Int
    var bytes: [UInt8]
    var description: String { name }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func load(_ name: String) throws -> GoldenPacket {
        let text = try String(contentsOf: directory.appendingPathComponent(name + ".hex"), encoding: .utf8)
        var src: IPAddress?
        var dst: IPAddress?
        var ttl = 0
        var digits = ""
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            if line.hasPrefix("# src") { src = IPAddress(words[2]) }
            else if line.hasPrefix("# dst") { dst = IPAddress(words[2]) }
            else if line.hasPrefix("# ttl") { ttl = Int(words[2]) ?? 0 }
            else if !line.hasPrefix("#") { digits += line }
        }
        return GoldenPacket(name: name, source: try #require(src), destination: try #require(dst), ttl: ttl, bytes: TestSupport.hex(digits))
    }

    static let names = [
        "v2-pass-prio150", "v2-pass-prio0", "v3-ipv4-prio120", "v3-ipv4-prio0", "v3-ipv6-prio110", "v3-ipv6-prio0",
        "v3-unicast-prio100", "v3-unicast-prio0",
    ]

    func decode(checksumAsV2: Bool = false) throws(PacketError) -> Advertisement {
        try Advertisement(decoding: bytes, family: source.family, source: source, destination: destination, checksumAsV2: checksumAsV2)
    }
}

@Suite struct CodecTests {
    @Test func referenceScenarioAdvert() throws {
        let g = try GoldenPacket.load("v2-pass-prio150")
        #expect(g.ttl == 255)
        let ad = try g.decode()
        #expect(ad.version == .v2)
        #expect(ad.vrid == 51)
        #expect(ad.priority == 150)
        #expect(ad.interval == .seconds(1))
        #expect(ad.addresses == [IPAddress("192.168.0.21")!])
        #expect(ad.authentication == .password(Array("1111".utf8)))
    }

    @Test func v3Adverts() throws {
        let v4 = try GoldenPacket.load("v3-ipv4-prio120").decode()
        #expect(v4.version == .v3 && v4.vrid == 52 && v4.priority == 120)
        #expect(v4.interval == .milliseconds(100))
        #expect(v4.addresses == [IPAddress("192.168.0.22")!, IPAddress("192.168.0.23")!])
        let v6 = try GoldenPacket.load("v3-ipv6-prio110").decode()
        #expect(v6.vrid == 53 && v6.priority == 110 && v6.interval == .seconds(1))
        #expect(v6.addresses == [IPAddress("2001:db8::21")!])
        // keepalived computes the unicast v3 checksum over the peer address, not the group.
        let uni = try GoldenPacket.load("v3-unicast-prio100")
        #expect(uni.destination == IPAddress("192.168.0.15")!)
        #expect(try uni.decode().addresses == [IPAddress("192.168.0.24")!])
        #expect(try GoldenPacket.load("v3-ipv4-prio0").decode().priority == 0)
    }

    /// Vigil's encoder produces byte-identical packets, checksum included.
    @Test(arguments: GoldenPacket.names)
    func encodesLikeKeepalived(_ name: String) throws {
        let g = try GoldenPacket.load(name)
        let ad = try g.decode()
        #expect(ad.encoded(source: g.source, destination: g.destination) == g.bytes)
    }

    /// Every strict prefix of a valid packet is rejected as truncated.
    @Test(arguments: GoldenPacket.names)
    func dripFeed(_ name: String) throws {
        let g = try GoldenPacket.load(name)
        for n in 0..<g.bytes.count {
            #expect(throws: PacketError.self) {
                try Advertisement(decoding: g.bytes.prefix(n), family: g.source.family, source: g.source, destination: g.destination)
            }
            do {
                _ = try Advertisement(decoding: g.bytes.prefix(n), family: g.source.family, source: g.source, destination: g.destination)
            } catch {
                #expect(error.code == .truncated, "prefix \(n)")
            }
        }
    }

    @Test(arguments: GoldenPacket.names)
    func trailingBytesRejected(_ name: String) throws {
        let g = try GoldenPacket.load(name)
        #expect(throws: PacketError(.trailingBytes, "VRRP packet from \(g.source) has 1 bytes after its end")) {
            try Advertisement(decoding: g.bytes + [0], family: g.source.family, source: g.source, destination: g.destination)
        }
    }

    @Test func everySingleBitFlipIsCaught() throws {
        // A flip in the header or addresses breaks the checksum or the structure; none may pass.
        for name in GoldenPacket.names {
            let g = try GoldenPacket.load(name)
            for i in 0..<g.bytes.count * 8 {
                var b = g.bytes
                b[i / 8] ^= 1 << UInt8(i % 8)
                #expect(throws: PacketError.self, "\(name) bit \(i)") {
                    try Advertisement(decoding: b, family: g.source.family, source: g.source, destination: g.destination)
                }
            }
        }
    }

    @Test func wrongPseudoHeaderFailsChecksum() throws {
        let g = try GoldenPacket.load("v3-ipv4-prio120")
        do {
            _ = try Advertisement(decoding: g.bytes, family: .inet, source: IPAddress("192.168.0.12")!, destination: g.destination)
            Issue.record("accepted with the wrong source")
        } catch {
            #expect(error.code == .badChecksum)
            #expect(error.message == "Invalid VRRPv3 checksum from 192.168.0.12")
        }
        // v2 has no pseudo-header: the source does not matter.
        let v2 = try GoldenPacket.load("v2-pass-prio150")
        _ = try Advertisement(decoding: v2.bytes, family: .inet, source: IPAddress("10.0.0.1")!, destination: v2.destination)
    }

    @Test func checksumAsV2() throws {
        let ad = try GoldenPacket.load("v3-ipv4-prio120").decode()
        let src = IPAddress("192.168.0.11")!
        let dst = IPAddress("224.0.0.18")!
        let plain = ad.encoded(source: src, destination: dst, checksumAsV2: true)
        #expect(plain != ad.encoded(source: src, destination: dst))
        #expect(try Advertisement(decoding: plain, family: .inet, source: src, destination: dst, checksumAsV2: true) == ad)
        #expect(throws: PacketError.self) { try Advertisement(decoding: plain, family: .inet, source: src, destination: dst) }
        // IPv6 always uses the pseudo-header (RFC 5798 §5.2.8).
        let v6 = try GoldenPacket.load("v3-ipv6-prio110")
        #expect(try v6.decode(checksumAsV2: true).vrid == 53)
    }

    @Test func headerErrors() throws {
        let g = try GoldenPacket.load("v2-pass-prio150")
        func code(_ mutate: (inout [UInt8]) -> Void, family: AddressFamily = .inet) -> PacketError.Code? {
            var b = g.bytes
            mutate(&b)
            do {
                _ = try Advertisement(decoding: b, family: family, source: g.source, destination: g.destination)
                return nil
            } catch { return error.code }
        }
        #expect(code({ $0[0] = 0x11 }) == .badVersion)
        #expect(code({ $0[0] = 0x22 }) == .badType)
        #expect(code({ $0[6] ^= 0xff }) == .badChecksum)
        #expect(code({ $0[3] = 2 }) == .truncated)
        #expect(code({ $0[3] = 0 }) == .trailingBytes)
        #expect(code({ _ in }, family: .inet6) == .badVersion)
        // An unknown auth type is refused even with a valid checksum.
        var ad = try g.decode()
        ad.authentication = .none
        var bytes = ad.encoded(source: g.source, destination: g.destination)
        bytes[4] = 7
        bytes[6] = 0
        bytes[7] = 0
        let sum = Advertisement.checksum(bytes, pseudoHeader: nil)
        bytes[6] = UInt8(sum >> 8)
        bytes[7] = UInt8(sum & 0xff)
        #expect(throws: PacketError.self) { try Advertisement(decoding: bytes, family: .inet, source: g.source, destination: g.destination) }
    }

    @Test func passwordIsTruncatedAndPadded() throws {
        let ad = Advertisement(
            version: .v2, vrid: 1, priority: 100, intervalField: 1, addresses: [IPAddress("10.0.0.1")!],
            authentication: .pass("verylongpassword"))
        let bytes = ad.encoded(source: IPAddress("10.0.0.2")!, destination: IPAddress("224.0.0.18")!)
        #expect(Array(bytes.suffix(8)) == Array("verylong".utf8))
        let short = Advertisement(version: .v2, vrid: 1, priority: 100, intervalField: 1, addresses: [], authentication: .pass("ab"))
            .encoded(source: IPAddress("10.0.0.2")!, destination: IPAddress("224.0.0.18")!)
        #expect(Array(short.suffix(8)) == [0x61, 0x62, 0, 0, 0, 0, 0, 0])
    }

    @Test func intervalFields() {
        #expect(Advertisement.intervalField(for: .milliseconds(100), version: .v3) == 10)
        #expect(Advertisement.intervalField(for: .seconds(40.95), version: .v3) == 4095)
        #expect(Advertisement.intervalField(for: .seconds(100), version: .v3) == 4095)
        #expect(Advertisement.intervalField(for: .seconds(2), version: .v2) == 2)
        #expect(Advertisement.intervalField(for: .milliseconds(100), version: .v2) == 1)
    }
}

@Suite struct FuzzTests {
    /// Random and mutated packets never crash the decoder, and whatever it accepts decodes to
    /// the same value after re-encoding.
    @Test func decoderSurvivesGarbage() throws {
        var rng = SplitMix64(state: 0x5EED_0001)
        let goldens = try GoldenPacket.names.map { try GoldenPacket.load($0) }
        var accepted = 0
        var rejected = 0
        for i in 0..<20_000 {
            let g = goldens[i % goldens.count]
            var b: [UInt8]
            if i % 3 == 0 {
                b = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                // Bias towards plausible headers so deeper paths run too.
                if b.count > 1 && i % 2 == 0 { b[0] = [0x21, 0x31][Int.random(in: 0...1, using: &rng)] }
            } else {
                b = g.bytes
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    switch Int.random(in: 0...3, using: &rng) {
                    case 0 where !b.isEmpty: b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                    case 1 where !b.isEmpty: b.remove(at: Int.random(in: 0..<b.count, using: &rng))
                    case 2: b.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...b.count, using: &rng))
                    default: b = Array(b.prefix(Int.random(in: 0...b.count, using: &rng)))
                    }
                }
            }
            do {
                let ad = try Advertisement(decoding: b, family: g.source.family, source: g.source, destination: g.destination)
                accepted += 1
                let again = ad.encoded(source: g.source, destination: g.destination)
                #expect(try Advertisement(decoding: again, family: g.source.family, source: g.source, destination: g.destination) == ad)
            } catch {
                rejected += 1
            }
        }
        #expect(rejected > 10_000)
        #expect(accepted + rejected == 20_000)
    }
}
