import Testing
@testable import KeepalivedConfig

/// keepalived reads the words a keyword needs and silently drops the rest; Vigil warns.
@Suite struct ExtraArgumentTests {
    func extras(_ r: LoadResult) -> [ConfigDiagnostic] { r.diagnostics.filter { $0.code == .extraArgument } }

    static let httpServer = """
        virtual_server 10.0.0.1 80 {
            protocol TCP
            lb_algo rr
            lb_kind NAT
            real_server 10.0.1.1 80 {
                HTTP_GET {
                    url { path / digest 0123456789abcdef0123456789abcdef }
                }
            }
        }
        """

    @Test func oneLineURLWarnsThatTheDigestIsNotChecked() throws {
        let r = load(Self.httpServer)
        #expect(!r.hasErrors)
        let d = try #require(extras(r).first)
        #expect(extras(r).count == 1)
        #expect(d.severity == .warning)
        // The first ignored word, `digest`, on line 7.
        #expect(d.location == SourceLocation(file: "t.conf", line: 7, column: 26))
        #expect(d.message == "extra arguments after 'path' are ignored: 'digest 0123456789abcdef0123456789abcdef'")
        #expect(d.hint?.contains("each url keyword needs its own line") == true)
        // And, as in keepalived, only the path is taken.
        let url = try #require(r.config.virtualServers.first?.realServers.first?.checkers.first?.urls.first)
        #expect(url.path == "/")
        #expect(url.digest == nil)
    }

    @Test func scalarKeywordWithAnExtraWord() throws {
        let r = load("virtual_server 10.0.0.1 80 {\n    delay_loop 6 7\n    protocol TCP\n}\n")
        let d = try #require(extras(r).first)
        #expect(d.severity == .warning)
        #expect(d.location.line == 2 && d.location.column == 18)
        #expect(d.message == "extra arguments after 'delay_loop' are ignored: '7'")
        #expect(d.hint == "'delay_loop' takes at most 1 argument")
        #expect(r.config.virtualServers.first?.timing.delayLoop == .seconds(6))
    }

    @Test func flagsAndNamesAndHeaders() {
        let r = load("""
            vrrp_instance VI_1 extra {
                interface eth0
                virtual_router_id 5
                nopreempt now
                virtual_ipaddress {
                    10.0.0.5/24
                }
            }
            virtual_server 10.0.0.1 80 tcp {
                protocol TCP
                real_server 10.0.1.1 80 x {
                }
            }
            """)
        #expect(extras(r).map(\.location.line) == [1, 4, 9, 11])
        #expect(extras(r).contains { $0.hint == "'nopreempt' takes no arguments" })
        #expect(!r.hasErrors)
    }

    @Test func variableArgumentKeywordsDoNotWarn() {
        let r = load("""
            global_defs {
                script_user nobody nogroup
                notify_fifo /run/k.fifo root root
                lvs_sync_daemon eth0 VI_1 id 3 maxlen 1400 port 8848 ttl 2 group 224.0.0.81
                lvs_timeouts tcp 900 tcpfin 120 udp 300
                startup_script "/bin/true one two"
            }
            vrrp_script chk {
                script "/bin/echo a b c"
                weight -20 reverse
                user nobody nogroup
            }
            track_file tf {
                file /tmp/x
                weight 5 reverse
                init_file 3 overwrite
            }
            vrrp_track_process web {
                process nginx -g daemon off
                param_match partial
                weight 10 reverse
            }
            vrrp_instance VI_1 {
                interface eth0
                virtual_router_id 5
                notify_master /bin/echo master now please
                notify "/bin/echo" a b
                track_script {
                    chk weight 10 reverse
                }
                virtual_ipaddress {
                    10.0.0.5/24 dev eth0 label eth0:1 scope global
                }
                track_process {
                    web
                }
            }
            virtual_server 10.0.0.1 80 {
                protocol TCP
                lb_kind TUN type gue port 6080 nocsum
                quorum_up /bin/echo up now
                sorry_server 10.0.2.1 80
                real_server 10.0.1.1 80 {
                    notify_up /bin/echo rs up
                    HTTP_GET {
                        url {
                            path /
                            status_code 200 300-399 404
                        }
                    }
                    MISC_CHECK {
                        misc_path "/bin/echo check 1 2"
                        user nobody nogroup
                    }
                }
            }
            virtual_server fwmark 7 inet6 {
                protocol TCP
            }
            """)
        #expect(extras(r).isEmpty, "\(extras(r))")
    }

    /// Every keyword the builder reads says how many words it takes, so none is left unchecked.
    @Test func everyReadKeywordDeclaresItsArity() {
        var missing: [String] = []
        for kind in BlockKind.allCases {
            for (kw, spec) in Schema.tables[kind.rawValue] where spec.arity == nil {
                switch spec.support {
                case .acted, .deprecated: missing.append("\(kind.displayName) \(kw)")
                case .recognised, .newer: break
                }
            }
        }
        #expect(missing.isEmpty, "\(missing.sorted())")
    }

    @Test func seedFixturesHaveNoExtraArguments() {
        for path in Fixtures.seeds + Fixtures.valid {
            let r = ConfigLoader.load(path: path, options: Fixtures.options(hostChecks: false))
            #expect(extras(r).isEmpty, "\(path): \(extras(r))")
        }
    }
}

/// `regex` and its parameters in url blocks: compiled when the configuration is read.
@Suite struct URLRegexConfigTests {
    func url(_ body: String) -> String {
        """
        virtual_server 10.0.0.1 80 {
            protocol TCP
            lb_algo rr
            lb_kind NAT
            real_server 10.0.1.1 80 {
                HTTP_GET {
                    url {
                        path /
        \(body)
                    }
                }
            }
        }

        """
    }

    @Test func parametersReachTheModel() throws {
        let r = load(url("""
                        regex "status: (ok|fine)"
                        regex_no_match
                        regex_options caseless multiline
                        regex_min_offset 4
                        regex_max_offset 100
            """))
        #expect(!r.hasErrors, "\(r.diagnostics)")
        let u = try #require(r.config.virtualServers.first?.realServers.first?.checkers.first?.urls.first)
        #expect(u.regex == "status: (ok|fine)")
        #expect(u.regexNoMatch)
        #expect(u.regexOptions == ["caseless", "multiline"])
        #expect(u.regexMinOffset == 4 && u.regexMaxOffset == 100)
    }

    @Test func anInvalidRegexIsAnErrorAtItsLine() throws {
        let r = load(url("                regex \"(unclosed\""))
        let e = try #require(r.errors.first)
        #expect(e.location.line == 9)
        #expect(e.message.hasPrefix("invalid regex '(unclosed': "))
    }

    @Test func unsupportedAndUnknownOptionsAndStrayParametersWarn() throws {
        let r = load(url("""
                        regex ok
                        regex_options dollar_endonly bogus
            """))
        #expect(!r.hasErrors)
        let w = r.diagnostics.filter { $0.severity == .warning }.map(\.message)
        #expect(w.contains("regex option 'dollar_endonly' is not supported by Vigil's matcher; it is ignored"))
        #expect(w.contains("unknown regex option 'bogus'; it is ignored (keepalived ignores it too)"))
        let stray = load(url("                regex_no_match"))
        #expect(stray.diagnostics.contains { $0.message == "regex parameters specified without regex; they are ignored" })
    }
}
