import Foundation
import NetCore
import Testing
@testable import KeepalivedConfig

@Suite struct LexerTests {
    @Test func commentsAndQuotes() {
        let r = load("""
            global_defs {   # comment
               router_id "a # not comment"   ! bang comment
               notification_email_from x\\#y@z ! trailing
               smtp_helo_name 'single # quoted'
            }
            """)
        #expect(r.config.global.routerID == "a # not comment")
        #expect(r.config.global.notificationEmailFrom == "x#y@z")
        // Single quotes do not protect from comments (keepalived.md §1.1): the value is cut.
        #expect(r.config.global.other.first?.arguments == ["single"] || r.config.global.other.first?.arguments == ["'single"] || r.diagnostics.contains { $0.code == .unterminatedQuote })
    }

    @Test func bracesSplitLinesAndNextLineBraces() {
        let r = load("global_defs { router_id x }\nvrrp_instance V\n{\n interface eth0\n virtual_router_id 3\n virtual_ipaddress { 10.0.0.1 }\n}\n")
        #expect(r.config.global.routerID == "x")
        #expect(r.config.instances.first?.virtualRouterID == 3)
        #expect(r.config.instances.first?.virtualAddresses.count == 1)
        #expect(!r.hasErrors)
    }

    @Test func quotingJoinsAndEscapes() {
        let r = load("global_defs {\n router_id ab\"c d\"e\n notification_email_from \"tab\\there\\x41\\101\"\n}\n")
        #expect(r.config.global.routerID == "abc de")
        #expect(r.config.global.notificationEmailFrom == "tab\thereAA")
    }

    @Test func locationsPointAtTheWord() {
        let r = load("global_defs {\n    router_id x\n      bogus_kw 1\n}\n", file: "/etc/k.conf")
        let d = r.errors.first
        #expect(d?.location == SourceLocation(file: "/etc/k.conf", line: 3, column: 7))
        #expect(d?.description.hasPrefix("/etc/k.conf:3:7: error: Unknown keyword 'bogus_kw'") == true)
    }

    @Test func unbalancedBraces() {
        let extra = load("global_defs {\n router_id x\n}\n}\n")
        #expect(extra.errors.map(\.location.line) == [4])
        #expect(extra.errors.first?.code == .unbalancedBraces)
        let missing = load("global_defs {\n router_id x\n")
        #expect(missing.errors.first?.code == .unbalancedBraces)
        #expect(missing.errors.first?.location.line == 1)
        #expect(missing.config.global.routerID == "x")
    }

    @Test func unknownBlockDoesNotCascade() {
        let r = load("nope {\n a 1\n b {\n c\n }\n}\nglobal_defs {\n router_id y\n}\n")
        #expect(r.errors.count == 1)
        #expect(r.errors.first?.code == .unknownBlock)
        #expect(r.config.global.routerID == "y")
    }

    @Test func allErrorsReportedSorted() {
        let r = load("global_defs {\n a1 x\n a2 y\n}\nvrrp_instance V {\n virtual_router_id 999\n priority 0\n}\n")
        #expect(r.errors.count >= 4)
        let lines = r.diagnostics.map(\.location.line)
        #expect(lines == lines.sorted())
    }
}

@Suite struct PreprocessorTests {
    @Test func parametersRecursiveAndAtUseTime() {
        let r = load("""
            $A=$B
            $B=eth0
            $VRID=7
            vrrp_instance V {
                interface $A
                virtual_router_id ${VRID}
                virtual_ipaddress {
                    10.0.0.${VRID}/24
                }
            }
            """)
        #expect(r.config.instances.first?.interface == "eth0")
        #expect(r.config.instances.first?.virtualRouterID == 7)
        #expect(r.config.instances.first?.virtualAddresses.first?.address == IPAddress("10.0.0.7"))
        #expect(!r.hasErrors)
    }

    @Test func multiLineParameter() {
        let r = load("$V=10.0.0.1 \\\n  10.0.0.2 \\\n  10.0.0.3\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n $V\n }\n}\n")
        #expect(r.config.instances.first?.virtualAddresses.map(\.address.description) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
    }

    @Test func undefinedBracedParameterLeftAsIs() {
        // Left as written, then the line is split at its braces as keepalived does.
        let r = load("global_defs {\n router_id ${NOPE}\n}\n")
        #expect(r.config.global.routerID == "$")
        #expect(r.warnings.first?.code == .parameterError)
        #expect(r.warnings.first?.location.line == 2)
        #expect(r.hasErrors)
    }

    @Test func builtins() {
        setenv("VGC_TEST_ENV", "fromenv", 1)
        let r = load("global_defs {\n router_id ${_ENV VGC_TEST_ENV}\n notification_email_from \"a${_HASH}b${_BANG}\"\n smtp_helo_name ${_RANDOM 5 5}\n}\n", file: "/tmp/dir/k.conf")
        #expect(r.config.global.routerID == "fromenv")
        #expect(r.config.global.notificationEmailFrom == "a#b!")
        #expect(r.config.global.other.first?.arguments == ["5"])
        let pwd = load("global_defs {\n router_id ${_PWD}\n}\n", file: "/tmp/dir/k.conf")
        #expect(pwd.config.global.routerID == "/tmp/dir")
    }

    @Test func sequenceAndListRepetition() {
        let r = load("""
            vrrp_instance V {
                interface eth0
                virtual_router_id 1
                virtual_ipaddress {
            ~SEQ(i,1,2,7)        10.0.0.$i
            ~SEQx(h,10,11)        fe80::$h
            ~LST(x,a,b)        10.1.0.1 label eth0:$x
            ~LST({p,q},{1,2},{3,4})        10.2.${p}.$q
                }
            }
            """)
        let vips = r.config.instances.first?.virtualAddresses.map(\.address.description) ?? []
        #expect(Array(vips.prefix(4)) == ["10.0.0.1", "10.0.0.3", "10.0.0.5", "10.0.0.7"])
        #expect(vips.contains("10.2.1.2") && vips.contains("10.2.3.4"))
        // The IPv6 ones are reported as mixing families, which shows they were generated.
        #expect(vips.contains("fe80::a") && vips.contains("fe80::b"))
        #expect(r.config.instances.first?.virtualAddresses.filter { $0.label != nil }.map { $0.label! } == ["eth0:a", "eth0:b"])
    }

    @Test func nestedSequences() {
        let r = load("virtual_server_group G {\n~SEQ(a,1,3) ~SEQ(b,1,2) 10.0.${a}.$b 80\n}\n")
        #expect(r.config.virtualServerGroups.first?.entries.count == 6)
        // Generated lines keep the location of the ~SEQ line.
        let bad = load("virtual_server_group G {\n~SEQ(a,1,2) 10.0.0.$a$a 80\n}\n")
        #expect(bad.errors.allSatisfy { $0.location.line == 2 })
        #expect(bad.errors.count == 2)
    }

    @Test func conditionals() {
        let text = "@alpha global_defs {\n@alpha router_id A\n@alpha }\n@^alpha global_defs {\n@^alpha router_id notA\n@^alpha }\n"
        #expect(load(text, configID: "alpha").config.global.routerID == "A")
        #expect(load(text, configID: "beta").config.global.routerID == "notA")
    }

    @Test func includesGlobBracesRelativeAndMissing() throws {
        let dir = NSTemporaryDirectory() + "vgc-inc-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "global_defs {\n router_id inc\n}\n".write(toFile: dir + "/sub/a.conf", atomically: true, encoding: .utf8)
        try "vrrp_script s1 {\n script /bin/true\n}\n".write(toFile: dir + "/sub/b.conf", atomically: true, encoding: .utf8)
        try "vrrp_script s2 {\n script /bin/true\n bogus 1\n}\n".write(toFile: dir + "/sub/c.conf", atomically: true, encoding: .utf8)
        try "include sub/{a,b}.conf\ninclude sub/c*.conf\ninclude nothing/*.conf\n".write(toFile: dir + "/main.conf", atomically: true, encoding: .utf8)
        let r = ConfigLoader.load(path: dir + "/main.conf", options: LoadOptions(hostChecks: false))
        #expect(r.config.global.routerID == "inc")
        #expect(r.config.vrrpScripts.map(\.name) == ["s1", "s2"])
        #expect(r.errors.count == 1)
        #expect(r.errors.first?.location == SourceLocation(file: dir + "/sub/c.conf", line: 3, column: 2))
        #expect(r.warnings.contains { $0.code == .includeMissing })

        try "includea nothing/*.conf\n".write(toFile: dir + "/strict.conf", atomically: true, encoding: .utf8)
        let s = ConfigLoader.load(path: dir + "/strict.conf", options: LoadOptions(hostChecks: false))
        #expect(s.errors.first?.code == .includeMissing)

        try "include loop2.conf\n".write(toFile: dir + "/loop1.conf", atomically: true, encoding: .utf8)
        try "include loop1.conf\n".write(toFile: dir + "/loop2.conf", atomically: true, encoding: .utf8)
        let l = ConfigLoader.load(path: dir + "/loop1.conf", options: LoadOptions(hostChecks: false))
        #expect(l.errors.map(\.code) == [.includeLoop])
        #expect(l.errors.first?.location.file == dir + "/loop2.conf")
    }
}

@Suite struct ModelTests {
    @Test func seedFileModel() throws {
        let path = try #require(Fixtures.seeds.first)
        let r = ConfigLoader.load(path: path, options: LoadOptions(hostChecks: false))
        let vi = try #require(r.config.instances.first)
        #expect(vi.name == "LVSha")
        #expect(vi.state == .master && vi.priority == 150 && vi.virtualRouterID == 51 && vi.interface == "eth0")
        #expect(vi.authentication == { var a = Authentication(); a.type = .pass; a.password = "1111"; return a }())
        #expect(vi.virtualAddresses.map(\.address) == [IPAddress("192.168.0.21")!])
        let vs = try #require(r.config.virtualServers.first)
        #expect(vs.key == .address(IPAddress("192.168.0.21")!, port: 80))
        #expect(vs.scheduler == "rr" && vs.forwarding?.method == .dr && vs.protocol == .tcp)
        #expect(vs.realServers.map { $0.address.description } == ["192.168.0.12", "192.168.0.13", "192.168.0.14"])
        let rs = vs.realServers[1]
        #expect(rs.checkers.first?.urls.first?.digest == "e7b87c254505fecdedd3545af2160950")
        // VS-level connect_timeout / delay_before_retry are inherited by the checker.
        let t = vs.resolvedTiming(of: rs.checkers[0], in: rs)
        #expect(t == ResolvedCheckTiming(delayLoop: .seconds(6), connectTimeout: .seconds(3), retry: 1, delayBeforeRetry: .seconds(3), warmup: .seconds(6)))
        // keepalived 2.2.7 verdict: errors (nb_get_retry at VS level, garp intervals of 0).
        #expect(r.hasErrors)
        let nb = try #require(r.errors.first { $0.message.contains("nb_get_retry") })
        #expect(nb.location.line == 41 && nb.code == .misplacedKeyword)
        #expect(nb.hint?.contains("HTTP_GET/SSL_GET") == true)
        let legacy = r.warnings.filter { $0.code == .legacyPlacement }
        #expect(legacy.map(\.location.line) == [40, 42])
        #expect(legacy[0].message.contains("2.0.13") && legacy[1].message.contains("1.3.7"))
    }

    @Test func defaultsAndInheritance() throws {
        let r = load("""
            vrrp_instance A {
                state MASTER
                interface eth0
                virtual_router_id 1
                virtual_ipaddress {
                    10.0.0.1
                }
            }
            vrrp_instance B {
                interface eth0
                virtual_router_id 2
                advert_int 0.25
                version 3
                virtual_ipaddress {
                    10.0.0.2
                }
            }
            virtual_server 10.0.0.1 80 {
                lb_algo rr
                lb_kind NAT
                protocol TCP
                weight 4
                delay_loop 20
                real_server 10.0.0.5 80 {
                    connect_timeout 2
                    MISC_CHECK {
                        misc_path /bin/true
                        delay_loop 7
                    }
                    DNS_CHECK {
                        type A
                    }
                    HTTP_GET {
                        url {
                            path /
                        }
                    }
                }
            }
            """)
        let a = r.config.instances[0], b = r.config.instances[1]
        #expect(a.priority == nil && a.effectivePriority == 255 && a.effectiveState == .master)
        #expect(b.effectivePriority == 100 && b.effectiveState == .backup && b.effectiveAdvertInterval == .milliseconds(250))
        #expect(b.effectiveVersion(global: r.config.global) == 3 && a.effectiveVersion(global: r.config.global) == 2)
        let vs = r.config.virtualServers[0], rs = vs.realServers[0]
        #expect(vs.effectiveWeight(of: rs) == 4)
        let misc = vs.resolvedTiming(of: rs.checkers[0], in: rs)
        #expect(misc.delayLoop == .seconds(7) && misc.connectTimeout == .seconds(2) && misc.retry == 0 && misc.warmup == .seconds(7))
        let dns = vs.resolvedTiming(of: rs.checkers[1], in: rs)
        #expect(dns.retry == 3 && dns.delayBeforeRetry == .seconds(20))
        let http = vs.resolvedTiming(of: rs.checkers[2], in: rs)
        #expect(http.delayBeforeRetry == .seconds(3) && http.retry == 1)
        #expect(rs.checkers[2].urls[0].accepts(status: 204) && !rs.checkers[2].urls[0].accepts(status: 404))
    }

    @Test func timers() {
        #expect(parseTimer("1") == .seconds(1))
        #expect(parseTimer("0.000001") == .microseconds(1))
        #expect(parseTimer("2.5") == .milliseconds(2500))
        #expect(parseTimer(".5") == .milliseconds(500))
        #expect(parseTimer("0.0000001") == nil)
        #expect(parseTimer("-1") == nil)
        #expect(parseTimer("1e3") == nil)
        #expect(parseTimer("") == nil)
    }

    @Test func scriptArgv() {
        #expect(ScriptCommand("/bin/x a 'b c' \"d e\"").argv == ["/bin/x", "a", "b c", "d e"])
        let r = load("vrrp_instance V {\n interface eth0\n virtual_router_id 1\n notify \"/x/notify.sh R\"\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n")
        #expect(r.config.instances[0].notify.generic?.argv == ["/x/notify.sh", "R"])
    }

    @Test func unsupportedKeywordsAreListedNotDropped() {
        let r = load("global_defs {\n enable_snmp_vrrp\n enable_dbus\n}\n")
        #expect(r.unsupportedKeywords.map(\.message) == [
            "keyword 'enable_snmp_vrrp' is recognised but not supported by Vigil; it has no effect",
            "keyword 'enable_dbus' is recognised but not supported by Vigil; it has no effect"])
        #expect(r.config.global.other.map(\.keyword) == ["enable_snmp_vrrp", "enable_dbus"])
        #expect(!r.hasErrors)
    }

    @Test func oldNamesAccepted() {
        let r = load("virtual_server 10.0.0.1 80 {\n lb_algo wrr\n lb_kind TUN\n protocol UDP\n real_server 10.0.0.2 80 {\n HTTP_GET {\n nb_get_retry 4\n url {\n path /\n }\n }\n }\n}\n")
        #expect(r.config.virtualServers[0].scheduler == "wrr")
        #expect(r.config.virtualServers[0].forwarding == ForwardingSpec(method: .tun))
        #expect(r.config.virtualServers[0].realServers[0].checkers[0].timing.retry == 4)
        #expect(r.warnings.map(\.message) == ["'nb_get_retry' is deprecated - please use 'retry'"])
    }
}
