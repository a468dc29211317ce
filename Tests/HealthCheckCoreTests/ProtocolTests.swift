import NetCore
import Testing

@testable import HealthCheckCore

@Suite struct HTTPRequestTests {
    let server = SocketAddress(address: IPAddress("127.0.0.1")!, port: 18090)

    @Test func defaultRequestIsByteExact() throws {
        let r = try httpRequest(path: "/path", virtualhost: nil, server: server, version: .http10)
        #expect(String(decoding: r, as: UTF8.self) == "GET /path HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 127.0.0.1:18090\r\n\r\n")
    }

    @Test(arguments: [HTTPProtocolVersion.http10Close, .http11])
    func connectionCloseVariants(v: HTTPProtocolVersion) throws {
        let r = String(decoding: try httpRequest(path: "/", virtualhost: "www.example.com", server: server, version: v), as: UTF8.self)
        let line = v == .http11 ? "HTTP/1.1" : "HTTP/1.0"
        #expect(r == "GET / \(line)\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.com\r\n\r\n")
    }

    @Test func ipv6HostIsBracketed() throws {
        let s6 = SocketAddress(address: IPAddress("2001:db8::1")!, port: 80)
        let r = String(decoding: try httpRequest(path: "/", virtualhost: nil, server: s6, version: .http10), as: UTF8.self)
        #expect(r.contains("Host: [2001:db8::1]:80\r\n"))
    }

    @Test func requestOver2048BytesIsRejected() {
        #expect(throws: HTTPCheckError.self) {
            _ = try httpRequest(path: "/" + String(repeating: "a", count: 2000), virtualhost: nil, server: server, version: .http10)
        }
        #expect((try? httpRequest(path: "/" + String(repeating: "a", count: 1900), virtualhost: nil, server: server, version: .http10)) != nil)
    }

    @Test func protocolKeywords() {
        #expect(HTTPProtocolVersion(keyword: "1.0c") == .http10Close)
        #expect(HTTPProtocolVersion(keyword: "1.0C") == .http10Close)
        #expect(HTTPProtocolVersion(keyword: "1.1") == .http11)
        #expect(HTTPProtocolVersion(keyword: "2") == nil)
    }
}

@Suite struct HTTPResponseTests {
    func resp(_ s: String) -> HTTPResponse { HTTPResponse(raw: Array(s.utf8)) }

    @Test func statusAndBodySplit() {
        let r = resp("HTTP/1.0 200 OK\r\nServer: x\r\n\r\nhello\r\n\r\nworld")
        #expect(r.statusCode == 200)
        #expect(String(decoding: r.hashedBody, as: UTF8.self) == "hello\r\n\r\nworld")
    }

    @Test func contentLengthLimitsHashedBytesAndIsCaseSensitive() {
        let r = resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef")
        #expect(String(decoding: r.hashedBody, as: UTF8.self) == "abc")
        #expect(r.lengthMismatch == "content_length (3) does not match received bytes (6)")
        let lower = resp("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabcdef")
        #expect(lower.contentLength == nil)
        #expect(lower.hashedBody.count == 6)
        let short = resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        #expect(short.hashedBody.count == 3 && !short.isCompleteByLength)
    }

    @Test func chunkedFramingIsNotDecoded() {
        let r = resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nchunky\r\n0\r\n\r\n")
        #expect(String(decoding: r.hashedBody, as: UTF8.self) == "6\r\nchunky\r\n0\r\n\r\n")
    }

    @Test func noHeaderEndMeansEmptyBody() {
        let r = resp("HTTP/1.0 200 OK\r\nServer: x\r\n")
        #expect(r.statusCode == 200 && r.hashedBody.isEmpty)
        #expect(resp("garbage").statusCode == nil)
    }

    @Test func statusCodeSets() throws {
        let s = try StatusCodeSet(parsing: ["200", "301-302"])
        #expect(s.contains(200) && s.contains(301) && s.contains(302) && !s.contains(201))
        #expect(StatusCodeSet.default.contains(204) && !StatusCodeSet.default.contains(404))
        #expect(throws: HTTPCheckError.self) { try StatusCodeSet(parsing: ["99"]) }
        #expect(throws: HTTPCheckError.self) { try StatusCodeSet(parsing: ["300-200"]) }
        #expect(throws: HTTPCheckError.self) { try StatusCodeSet(parsing: ["abc"]) }
    }

    @Test func urlEvaluation() throws {
        let t = "[192.168.0.12]:tcp:80"
        let u = try URLCheck(path: "/", digest: "900150983CD24FB0D6963F7D28E17F72")
        #expect(u.digest == "900150983cd24fb0d6963f7d28e17f72")
        let ok = resp("HTTP/1.0 200 OK\r\n\r\nabc")
        #expect(u.evaluate(ok, bodyDigest: "900150983cd24fb0d6963f7d28e17f72", target: t).success)
        let bad = u.evaluate(ok, bodyDigest: "00000000000000000000000000000000", target: t)
        #expect(!bad.success && bad.detail!.hasPrefix("MD5 digest error to [192.168.0.12]:tcp:80 url[/]"))
        let nf = u.evaluate(resp("HTTP/1.0 404 Not Found\r\n\r\nx"), bodyDigest: nil, target: t)
        #expect(nf.detail == "HTTP status code error to [192.168.0.12]:tcp:80 url(/), status_code [404].")
        #expect(!u.evaluate(HTTPResponse(raw: []), bodyDigest: nil, target: t).success)
        #expect(throws: HTTPCheckError.self) { try URLCheck(path: "/", digest: "abc") }
    }
}

@Suite struct DNSTests {
    @Test func queryEncoding() throws {
        let q = DNSQuery(id: 0x1234, name: "example.com", type: .a)
        #expect(try q.encode() == [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1])
        let root = DNSQuery(id: 1)
        #expect(try root.encode().suffix(5) == [0, 0, 6, 0, 1])
    }

    @Test func types() throws {
        #expect(try DNSQuery.RecordType(keyword: "aaaa").code == 28)
        #expect(try DNSQuery.RecordType(keyword: "DNSKEY").code == 48)
        #expect(throws: CodecError.self) { try DNSQuery.RecordType(keyword: "PTR") }
    }

    @Test func badNames() {
        #expect(throws: CodecError.self) { try DNSQuery.encodeName("a..b") }
        #expect(throws: CodecError.self) { try DNSQuery.encodeName(String(repeating: "x", count: 64)) }
    }

    @Test func replyCheck() {
        let q = DNSQuery(id: 7)
        var reply: [UInt8] = [0, 7, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0]
        #expect(q.check(reply: reply) == nil)
        reply[1] = 8
        #expect(q.check(reply: reply) != nil)
        reply[1] = 7
        reply[3] = 0x83  // NXDOMAIN
        #expect(q.check(reply: reply) == "DNS reply rcode is 3")
        reply[3] = 0x80
        reply[2] = 0x01  // QR clear
        #expect(q.check(reply: reply) != nil)
        #expect(q.check(reply: [0, 7]) != nil)
    }
}

@Suite struct SMTPTests {
    @Test func happyDialogue() {
        var d = SMTPDialogue(heloName: "me.example")
        #expect(d.received(Array("220 mail ESMTP\r\n".utf8)) == [.send(Array("HELO me.example\r\n".utf8))])
        #expect(d.received(Array("250-mail\r\n".utf8)) == [])
        #expect(d.received(Array("250 ok\r\n".utf8)) == [.send(Array("QUIT\r\n".utf8)), .succeed])
        #expect(d.state == .succeeded)
    }

    @Test func dripFedGreeting() {
        var d = SMTPDialogue()
        var acts: [SMTPDialogue.Action] = []
        for b in "220 hi\r\n".utf8 { acts += d.received([b]) }
        #expect(acts == [.send(Array("HELO smtpchecker.keepalived.org\r\n".utf8))])
    }

    @Test func failures() {
        var d = SMTPDialogue()
        #expect(d.received(Array("554 go away\r\n".utf8)) == [.fail("SMTP greeting code 554, expected 220")])
        var e = SMTPDialogue()
        _ = e.received(Array("220 x\r\n".utf8))
        #expect(e.received(Array("501 bad\r\n".utf8)) == [.fail("SMTP HELO reply code 501, expected 250")])
        var f = SMTPDialogue()
        #expect(f.closed().count == 1)
    }
}

@Suite struct UDPAndICMPTests {
    @Test func hexPatternWildcards() throws {
        let p = try HexPattern("0a0bxx0d")
        #expect(p.matches([0x0a, 0x0b, 0x99, 0x0d, 0xff]))
        #expect(!p.matches([0x0a, 0x0b, 0x99, 0x0e]))
        #expect(!p.matches([0x0a, 0x0b]))
        let nib = try HexPattern("4x")
        #expect(nib.matches([0x47]) && !nib.matches([0x57]))
        #expect(throws: CodecError.self) { try HexPattern("abc") }
        #expect(throws: CodecError.self) { try HexPattern("zz") }
        #expect(try UDPCheckSpec.parseHex("de ad") == [0xde, 0xad])
        #expect(throws: CodecError.self) { try UDPCheckSpec.parseHex("dx") }
    }

    @Test func replyLengthLimits() throws {
        let s = UDPCheckSpec(requireReply: try HexPattern("ok".isEmpty ? "" : "6f6b"), minReplyLength: 2, maxReplyLength: 4)
        #expect(s.check(reply: Array("ok".utf8), target: "t") == nil)
        #expect(s.check(reply: Array("okay!".utf8), target: "t") != nil)
        #expect(s.check(reply: Array("no".utf8), target: "t") == "UDP check to t reply data mismatch.")
    }

    @Test func icmpV4RoundTripAndChecksum() throws {
        let e = ICMPEcho(isV6: false, identifier: 0xbeef, sequence: 3, payload: Array("vigil".utf8))
        var wire = e.encodeRequest()
        #expect(ICMPEcho.checksum(wire) == 0)
        // Turn the request into a reply: type 0, recompute checksum.
        wire[0] = 0
        wire[2] = 0; wire[3] = 0
        let c = ICMPEcho.checksum(wire)
        wire[2] = UInt8(c >> 8); wire[3] = UInt8(c & 0xff)
        let ipHeader: [UInt8] = [0x45] + Array(repeating: 0, count: 19)
        let parsed = try ICMPEcho.parseReply(ipHeader + wire, isV6: false, hasIPHeader: true)
        #expect(parsed.identifier == 0xbeef && parsed.sequence == 3 && parsed.payload == Array("vigil".utf8))
        wire[9] ^= 0xff
        #expect(throws: CodecError.self) { try ICMPEcho.parseReply(wire, isV6: false, hasIPHeader: false) }
    }

    @Test func icmpV6() throws {
        let e = ICMPEcho(isV6: true, identifier: 1, sequence: 2, payload: [])
        #expect(e.encodeRequest() == [128, 0, 0, 0, 0, 1, 0, 2])
        #expect(try ICMPEcho.parseReply([129, 0, 0x12, 0x34, 0, 1, 0, 2], isV6: true, hasIPHeader: false).sequence == 2)
        #expect(throws: CodecError.self) { try ICMPEcho.parseReply([128, 0, 0, 0, 0, 1, 0, 2], isV6: true, hasIPHeader: false) }
        #expect(throws: CodecError.self) { try ICMPEcho.parseReply([129, 0, 0], isV6: true, hasIPHeader: false) }
    }
}
