import Foundation
import SysCore
import Testing
@testable import KeepalivedConfig

func assertLocationsValid(_ r: LoadResult, bytes: [UInt8], file: String) {
    let lines = bytes.split(separator: 10, omittingEmptySubsequences: false).count
    for d in r.diagnostics {
        #expect(d.location.file == file)
        #expect(d.location.line >= 1 && d.location.line <= lines + 1, "\(d)")
        #expect(d.location.column >= 1, "\(d)")
    }
}

@Suite struct RobustnessTests {
    @Test func hugeLine() {
        var bytes = Array("global_defs {\n router_id ".utf8)
        bytes += [UInt8](repeating: UInt8(ascii: "x"), count: 10 << 20)
        bytes += Array("\n}\n".utf8)
        let r = ConfigLoader.load(bytes: bytes, fileName: "big.conf")
        #expect(r.errors.map(\.code) == [.lineTooLong])
        #expect(r.errors.first?.location.line == 2)
    }

    @Test func deepNesting() {
        let open = String(repeating: "a {\n", count: 10_000)
        let close = String(repeating: "}\n", count: 10_000)
        let r = load(open + close)
        #expect(r.hasErrors)
        #expect(r.errors.contains { $0.code == .nestingTooDeep })
        #expect(!r.errors.contains { $0.code == .unbalancedBraces })
        let unclosed = load(String(repeating: "global_defs {\n", count: 10_000))
        #expect(unclosed.hasErrors)
    }

    @Test func nulAndBinary() {
        var bytes = Array("global_defs {\n router_id ab".utf8) + [0, 1, 2] + Array("cd\n}\n".utf8)
        let r = ConfigLoader.load(bytes: bytes, fileName: "nul.conf")
        #expect(r.errors.map(\.code) == [.invalidByte])
        #expect(r.config.global.routerID == "ab")
        var rng = SplitMix64(state: 42)
        bytes = (0..<200_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let b = ConfigLoader.load(bytes: bytes, fileName: "bin.conf")
        #expect(b.hasErrors)
        assertLocationsValid(b, bytes: bytes, file: "bin.conf")
    }

    @Test func includeLoopSelf() throws {
        let path = NSTemporaryDirectory() + "vgc-self-\(getpid()).conf"
        try "include \(path)\nglobal_defs {\n router_id s\n}\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = ConfigLoader.load(path: path, options: LoadOptions(hostChecks: false))
        #expect(r.errors.map(\.code) == [.includeLoop])
        #expect(r.config.global.routerID == "s")
    }

    @Test func recursiveParameterAndRunawaySequence() {
        let r = load("$A=$A x\nglobal_defs {\n router_id $A\n}\n")
        #expect(r.errors.contains { $0.code == .parameterError })
        let s = load("~SEQ(a,1,100000000) global_defs\n")
        #expect(s.errors.contains { $0.code == .sequenceError })
    }

    /// Random and mutated configurations: no crash, and every diagnostic points into the file.
    @Test func fuzz() throws {
        var rng = SplitMix64(state: 0x5eed)
        let corpus = (Fixtures.valid + Fixtures.invalid + Fixtures.seeds).compactMap { try? Array(String(contentsOfFile: $0, encoding: .utf8).utf8) }
        #expect(!corpus.isEmpty)
        let tokens = ["{", "}", "\"", "'", "#", "!", "\\", "$X=1", "$X", "${X}", "~SEQ(i,1,3)", "~LST(a,1,2)", "@vgctest ", "@^x ",
                      "include /nonexistent/*", "vrrp_instance", "virtual_server", "real_server", "HTTP_GET", "url", "\n", " ",
                      "300", "-1", "10.0.0.1", "::1", "0.5", "\u{0}", "\u{ff}", "priority", "virtual_router_id", "${_RANDOM}"].map { Array($0.utf8) }
        let started = Date()
        var iterations = 0
        while iterations < 3000 {
            var bytes: [UInt8]
            if iterations % 5 == 0 {
                bytes = (0..<Int.random(in: 0...400, using: &rng)).map { _ in
                    Bool.random(using: &rng) ? UInt8.random(in: 0...255, using: &rng) : tokens.randomElement(using: &rng)!.first ?? 32
                }
            } else {
                bytes = corpus.randomElement(using: &rng)!
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    let pos = Int.random(in: 0...bytes.count, using: &rng)
                    switch Int.random(in: 0...2, using: &rng) {
                    case 0: bytes.insert(contentsOf: tokens.randomElement(using: &rng)!, at: pos)
                    case 1: if pos < bytes.count { bytes.removeSubrange(pos..<min(bytes.count, pos + Int.random(in: 1...20, using: &rng))) }
                    default: if pos < bytes.count { bytes[pos] = UInt8.random(in: 0...255, using: &rng) }
                    }
                }
            }
            let r = ConfigLoader.load(bytes: bytes, fileName: "fuzz.conf", options: LoadOptions(configID: "vgctest", hostChecks: false, keepSyntax: true))
            assertLocationsValid(r, bytes: bytes, file: "fuzz.conf")
            _ = r.dump()
            iterations += 1
        }
        #expect(Date().timeIntervalSince(started) < 60)
    }
}
