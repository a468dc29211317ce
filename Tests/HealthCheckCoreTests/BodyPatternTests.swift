import HealthCheckCore
import Testing

/// `regex` in HTTP_GET/SSL_GET url blocks (keepalived.conf(5), PCRE2 there).
@Suite struct BodyPatternTests {
    func body(_ s: String) -> ArraySlice<UInt8> { ArraySlice(Array(s.utf8)) }

    @Test func matchAndNoMatch() throws {
        let p = try HTTPBodyPattern(pattern: "status: (ok|fine)")
        #expect(p.accepts(body("<p>status: ok</p>")))
        #expect(!p.accepts(body("<p>status: broken</p>")))
        let not = try HTTPBodyPattern(pattern: "[Ee]rror \\d+", noMatch: true)
        #expect(not.accepts(body("all good")))
        #expect(!not.accepts(body("Error 503 upstream")))
    }

    @Test func optionsChangeWhatMatches() throws {
        #expect(!(try HTTPBodyPattern(pattern: "READY")).accepts(body("ready")))
        #expect(try HTTPBodyPattern(pattern: "READY", options: ["caseless"]).accepts(body("ready")))
        // PCRE2 default: ^ only at the start; multiline: at every line.
        #expect(!(try HTTPBodyPattern(pattern: "^up$")).accepts(body("state\nup\n")))
        #expect(try HTTPBodyPattern(pattern: "^up$", options: ["multiline"]).accepts(body("state\nup\n")))
        // . stops at newlines unless dotall.
        #expect(!(try HTTPBodyPattern(pattern: "a.b")).accepts(body("a\nb")))
        #expect(try HTTPBodyPattern(pattern: "a.b", options: ["dotall"]).accepts(body("a\nb")))
        #expect(try HTTPBodyPattern(pattern: "a b  # spaces are ignored", options: ["extended"]).accepts(body("ab")))
        // Unknown and no-effect options do not change anything.
        #expect(try HTTPBodyPattern(pattern: "x", options: ["no_start_optimize", "bogus"]).accepts(body("x")))
    }

    @Test func bytesNotGraphemes() throws {
        // "\r\n" is one Character in Swift but two code units in PCRE2.
        #expect(try HTTPBodyPattern(pattern: "a\\r\\nb").accepts(body("a\r\nb")))
        #expect(try HTTPBodyPattern(pattern: "a..b", options: ["dotall"]).accepts(body("a\r\nb")))
        // Bytes that are not UTF-8 are matched as bytes, not replaced.
        let bin: ArraySlice<UInt8> = [0x41, 0xff, 0xfe, 0x42]
        #expect(try HTTPBodyPattern(pattern: "A\\xff\\xfeB").accepts(bin))
        #expect(try HTTPBodyPattern(pattern: "^A..B$").accepts(bin))
        // With utf, é is one character.
        #expect(try HTTPBodyPattern(pattern: "^caf.$", options: ["utf"]).accepts(body("café")))
        #expect(!(try HTTPBodyPattern(pattern: "^caf.$")).accepts(body("café")))
    }

    @Test func offsetsBoundWhereAMatchMayStart() throws {
        let page = body("0123456789 OK 0123456789")  // "OK" at offset 11
        #expect(try HTTPBodyPattern(pattern: "OK", minOffset: 11).accepts(page))
        #expect(!(try HTTPBodyPattern(pattern: "OK", minOffset: 12).accepts(page)))
        #expect(try HTTPBodyPattern(pattern: "OK", maxOffset: 11).accepts(page))
        #expect(!(try HTTPBodyPattern(pattern: "OK", maxOffset: 10).accepts(page)))
        #expect(!(try HTTPBodyPattern(pattern: "OK", minOffset: 100).accepts(page)))
        // firstline: the match must start on the first line.
        #expect(!(try HTTPBodyPattern(pattern: "OK", options: ["firstline"]).accepts(body("head\nOK"))))
        #expect(try HTTPBodyPattern(pattern: "OK", options: ["firstline"]).accepts(body("OK\nhead")))
    }

    @Test func invalidPatternsAreRefusedWithTheirText() {
        #expect(throws: HTTPBodyPattern.CompileError.self) { try HTTPBodyPattern(pattern: "(unclosed") }
        do {
            _ = try HTTPBodyPattern(pattern: "a[")
            Issue.record("accepted an invalid pattern")
        } catch {
            #expect(error.description.hasPrefix("invalid regex 'a[': "))
        }
    }

    @Test func urlCheckFailsWithKeepalivedsWording() throws {
        let t = "[192.168.0.12]:tcp:80"
        let u = try URLCheck(path: "/health", bodyPattern: try HTTPBodyPattern(pattern: "healthy"))
        #expect(u.evaluate(HTTPResponse(raw: Array("HTTP/1.0 200 OK\r\n\r\nhealthy".utf8)), bodyDigest: nil, target: t).success)
        // The header is not part of the subject.
        let r = u.evaluate(HTTPResponse(raw: Array("HTTP/1.0 200 OK\r\nX-State: healthy\r\n\r\nsick".utf8)), bodyDigest: nil, target: t)
        #expect(!r.success)
        #expect(r.detail == "Regex match failed server [192.168.0.12]:tcp:80.")
    }
}
