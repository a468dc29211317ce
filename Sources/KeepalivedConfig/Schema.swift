// Which keyword is valid in which block (keepalived 2.2.7's parser tables, keepalived.md §1.3–1.9),
// and whether Vigil acts on it. Lookup is one dictionary probe per statement.

/// The kinds of block the parser knows.
enum BlockKind: Int, CaseIterable, Sendable {
    case top, globalDefs, list, vrrpInstance, authentication, syncGroup, vrrpScript, trackFile
    case trackProcess, garpGroup, trackGroup, bfdInstance, ssl, virtualServer, realServer
    case httpChecker, sslChecker, url, tcpChecker, miscChecker, smtpChecker, smtpHost, dnsChecker
    case udpChecker, pingChecker, fileChecker, bfdChecker, virtualServerGroup

    /// How the block is named in messages.
    var displayName: String {
        switch self {
        case .top: return "the top level"
        case .globalDefs: return "global_defs"
        case .list: return "a list block"
        case .vrrpInstance: return "vrrp_instance"
        case .authentication: return "authentication"
        case .syncGroup: return "vrrp_sync_group"
        case .vrrpScript: return "vrrp_script"
        case .trackFile: return "track_file"
        case .trackProcess: return "vrrp_track_process"
        case .garpGroup: return "garp_group"
        case .trackGroup: return "track_group"
        case .bfdInstance: return "bfd_instance"
        case .ssl: return "SSL"
        case .virtualServer: return "virtual_server"
        case .realServer: return "real_server"
        case .httpChecker: return "HTTP_GET"
        case .sslChecker: return "SSL_GET"
        case .url: return "url"
        case .tcpChecker: return "TCP_CHECK"
        case .miscChecker: return "MISC_CHECK"
        case .smtpChecker: return "SMTP_CHECK"
        case .smtpHost: return "SMTP_CHECK host"
        case .dnsChecker: return "DNS_CHECK"
        case .udpChecker: return "UDP_CHECK"
        case .pingChecker: return "PING_CHECK"
        case .fileChecker: return "FILE_CHECK"
        case .bfdChecker: return "BFD_CHECK"
        case .virtualServerGroup: return "virtual_server_group"
        }
    }
}

/// What Vigil does with a recognised keyword.
enum Support: Sendable, Equatable {
    /// Typed in the model and used.
    case acted
    /// Recognised, kept verbatim in `other`, reported as a note.
    case recognised
    /// Accepted like keepalived does, with a deprecation warning naming the replacement.
    case deprecated(String)
    /// Exists only in keepalived newer than 2.2.7 (which rejects it); Vigil keeps it verbatim.
    case newer(String)
}

/// How many words may follow a keyword. keepalived reads the words it needs and silently drops
/// the rest, so `url { path / digest X }` on one line checks no digest; Vigil warns instead.
enum Arity: Sendable, Equatable {
    /// At most this many arguments; more get an `extra-argument` warning.
    case atMost(Int)
    /// The keyword's own parser consumes any number of words (scripts, option lists, ranges).
    case variable
}

struct KeywordSpec: Sendable {
    /// The block this keyword opens, if any.
    var block: BlockKind?
    var support: Support
    /// The block is optional (keyword may appear with or without `{`).
    var blockOptional = false
    /// Declared for every keyword the builder reads (acted and deprecated ones); nil for
    /// keywords kept verbatim.
    var arity: Arity?
}

enum Schema {
    static let tables: [[String: KeywordSpec]] = build()

    /// keyword → blocks where it is valid (for "belongs in …" hints).
    static let homes: [String: [BlockKind]] = {
        var h: [String: [BlockKind]] = [:]
        for kind in BlockKind.allCases where kind != .list && kind != .virtualServerGroup {
            for k in tables[kind.rawValue].keys { h[k, default: []].append(kind) }
        }
        return h
    }()

    @inline(__always) static func lookup(_ keyword: String, in kind: BlockKind) -> KeywordSpec? {
        tables[kind.rawValue][keyword]
    }

    private static func words(_ s: String) -> [String] { s.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init) }

    private static func build() -> [[String: KeywordSpec]] {
        var t = [[String: KeywordSpec]](repeating: [:], count: BlockKind.allCases.count)
        func add(_ kind: BlockKind, _ list: String, _ support: Support = .acted) {
            for w in words(list) { t[kind.rawValue][w] = KeywordSpec(block: nil, support: support) }
        }
        func block(_ kind: BlockKind, _ kw: String, _ child: BlockKind, _ support: Support = .acted, optional: Bool = false) {
            t[kind.rawValue][kw] = KeywordSpec(block: child, support: support, blockOptional: optional)
        }

        // Top level.
        add(.top, "net_namespace net_namespace_ipvs namespace_with_ipsets instance use_pid_dir linkbeat_use_polling child_wait_time", .recognised)
        block(.top, "global_defs", .globalDefs)
        block(.top, "linkbeat_interfaces", .list)
        block(.top, "interface_up_down_delays", .list)
        block(.top, "track_group", .trackGroup)
        block(.top, "static_ipaddress", .list)
        block(.top, "static_routes", .list)
        block(.top, "static_rules", .list)
        block(.top, "track_file", .trackFile)
        block(.top, "vrrp_track_file", .trackFile, .deprecated("track_file"))
        block(.top, "vrrp_track_process", .trackProcess)
        block(.top, "vrrp_script", .vrrpScript)
        block(.top, "vrrp_sync_group", .syncGroup)
        block(.top, "garp_group", .garpGroup)
        block(.top, "vrrp_instance", .vrrpInstance)
        block(.top, "bfd_instance", .bfdInstance)
        block(.top, "virtual_server_group", .virtualServerGroup)
        block(.top, "virtual_server", .virtualServer)
        block(.top, "SSL", .ssl)

        // global_defs.
        add(.globalDefs, """
            router_id notification_email_from smtp_server smtp_connect_timeout script_user
            enable_script_security startup_script shutdown_script vrrp_mcast_group4 vrrp_mcast_group6
            vrrp_version vrrp_garp_master_delay vrrp_garp_master_repeat vrrp_garp_master_refresh
            vrrp_garp_master_refresh_repeat vrrp_garp_lower_prio_delay vrrp_garp_lower_prio_repeat
            vrrp_garp_interval vrrp_gna_interval vrrp_min_garp vrrp_down_timer_adverts
            vrrp_lower_prio_no_advert vrrp_higher_prio_send_advert vrrp_strict vrrp_skip_check_adv_addr
            vrrp_check_unicast_src lvs_sync_daemon lvs_timeouts lvs_flush lvs_flush_on_stop
            notify_fifo notify_fifo_script vrrp_notify_fifo vrrp_notify_fifo_script lvs_notify_fifo
            lvs_notify_fifo_script vrrp_notify_priority_changes dynamic_interfaces default_interface
            """)
        block(.globalDefs, "notification_email", .list)
        add(.globalDefs, """
            process_names process_name vrrp_process_name checker_process_name bfd_process_name
            smtp_helo_name smtp_alert startup_script_timeout shutdown_script_timeout max_auto_priority
            min_auto_priority_delay smtp_alert_vrrp smtp_alert_checker checker_log_all_failures
            no_email_faults disable_local_igmp vrrp_garp_extra_if vrrp_iptables vrrp_ipsets nftables
            nftables_priority nftables_ifindex nftables_ipvs nftables_ipvs_priority
            nftables_ipvs_start_fwmark nftables_counters vrrp_priority vrrp_no_swap vrrp_rt_priority
            vrrp_cpu_affinity vrrp_rlimit_rttime fifo_write_vrrp_states_on_reload checker_priority
            checker_no_swap checker_rt_priority checker_cpu_affinity checker_rlimit_rttime bfd_priority
            bfd_no_swap bfd_rt_priority bfd_cpu_affinity bfd_rlimit_rttime snmp_socket enable_traps
            enable_snmp_vrrp enable_snmp_rfc enable_snmp_rfcv2 enable_snmp_rfcv3 enable_snmp_checker
            enable_dbus dbus_service_name vrrp_netlink_cmd_rcv_bufs vrrp_netlink_cmd_rcv_bufs_force
            vrrp_netlink_monitor_rcv_bufs vrrp_netlink_monitor_rcv_bufs_force process_monitor_rcv_bufs
            process_monitor_rcv_bufs_force lvs_netlink_cmd_rcv_bufs lvs_netlink_cmd_rcv_bufs_force
            lvs_netlink_monitor_rcv_bufs lvs_netlink_monitor_rcv_bufs_force rs_init_notifies
            no_checker_emails vrrp_rx_bufs_policy vrrp_rx_bufs_multiplier vrrp_startup_delay
            log_unknown_vrids vmac_prefix vmac_addr_prefix umask random_seed reload_check_config
            reload_time_file reload_repeat reload_file include_check config_save_dir tmp_config_directory
            data_use_instance
            """, .recognised)
        t[BlockKind.globalDefs.rawValue]["lvs_flush_onstop"] = KeywordSpec(block: nil, support: .deprecated("lvs_flush_on_stop"))
        t[BlockKind.globalDefs.rawValue]["vrrp_vmac_garp_intvl"] = KeywordSpec(block: nil, support: .deprecated("vrrp_garp_extra_if"))
        t[BlockKind.globalDefs.rawValue]["enable_snmp_keepalived"] = KeywordSpec(block: nil, support: .deprecated("enable_snmp_vrrp"))
        t[BlockKind.globalDefs.rawValue]["lvs_process_name"] = KeywordSpec(block: nil, support: .deprecated("checker_process_name"))
        for k in ["vrrp_rlimit_rtime", "checker_rlimit_rtime", "bfd_rlimit_rtime"] {
            t[BlockKind.globalDefs.rawValue][k] = KeywordSpec(block: nil, support: .deprecated(k + "t"))
        }
        add(.globalDefs, "v3_checksum_as_v2 state_dump_file stats_dump_file json_dump_file json_version vrrp_startup_delay_after_boot vrrp_delay_after_boot", .newer("2.3"))

        // vrrp_instance.
        add(.vrrpInstance, """
            state interface virtual_router_id priority advert_int version nopreempt preempt preempt_delay
            mcast_src_ip unicast_src_ip mcast_dst_ip unicast_ttl unicast_fault_no_peer check_unicast_src
            dont_track_primary notify_master notify_backup notify_fault notify_stop notify_deleted
            notify_master_rx_lower_pri notify notify_priority_changes smtp_alert accept no_accept
            strict_mode skip_check_adv_addr lower_prio_no_advert higher_prio_send_advert
            promote_secondaries garp_master_delay garp_master_repeat garp_master_refresh
            garp_master_refresh_repeat garp_lower_prio_delay garp_lower_prio_repeat down_timer_adverts
            """)
        add(.vrrpInstance, "use_vmac use_vmac_addr vmac_xmit_base use_ipvlan old_unicast_checksum vrf track_src_ip debug kernel_rx_buf_size garp_extra_if", .recognised)
        add(.vrrpInstance, "native_ipv6 linkbeat_use_polling", .deprecated("(nothing: it has no effect)"))
        add(.vrrpInstance, "lvs_sync_daemon_interface", .deprecated("global_defs lvs_sync_daemon"))
        add(.vrrpInstance, "vmac_garp_intvl", .deprecated("garp_extra_if"))
        add(.vrrpInstance, "timer_expired_backup owner_ignore_adverts v3_checksum_as_v2", .newer("2.3"))
        block(.vrrpInstance, "auth_hmac", .list, .newer("2.4.0"))
        block(.vrrpInstance, "authentication", .authentication)
        for k in ["unicast_peer", "virtual_ipaddress", "virtual_ipaddress_excluded", "virtual_routes", "virtual_rules",
                  "track_interface", "track_script", "track_file", "track_process", "track_bfd"] {
            block(.vrrpInstance, k, .list)
        }
        t[BlockKind.vrrpInstance.rawValue]["track_bfd"]?.support = .recognised
        add(.authentication, "auth_type auth_pass")

        // vrrp_sync_group.
        add(.syncGroup, "notify_master notify_backup notify_fault notify_stop notify smtp_alert notify_priority_changes")
        add(.syncGroup, "sync_group_tracking_weight", .recognised)
        add(.syncGroup, "global_tracking", .deprecated("trackers on the sync group"))
        for k in ["group", "track_interface", "track_script", "track_file", "track_process", "track_bfd"] {
            block(.syncGroup, k, .list)
        }
        t[BlockKind.syncGroup.rawValue]["track_bfd"]?.support = .recognised

        add(.vrrpScript, "script interval timeout weight rise fall user init_fail")
        add(.trackFile, "file weight init_file")
        add(.trackProcess, "process param_match weight quorum quorum_max delay full_command fork_delay terminate_delay")
        add(.garpGroup, "garp_interval gna_interval interface")
        block(.garpGroup, "interfaces", .list)
        block(.trackGroup, "group", .list)
        add(.bfdInstance, "source_ip neighbor_ip neighbour_ip min_rx min_tx idle_tx multiplier passive ttl hoplimit max_hops weight vrrp checker")
        add(.ssl, "password ca certificate key")

        // virtual_server.
        add(.virtualServer, """
            ip_family retry delay_before_retry warmup connect_timeout delay_loop inhibit_on_failure
            lb_algo lvs_sched hashed ops flag-1 flag-2 flag-3 sh-port sh-fallback mh-port mh-fallback
            lb_kind lvs_method persistence_timeout persistence_granularity protocol ha_suspend
            virtualhost alpha omega quorum_up quorum_down quorum hysteresis weight sorry_server
            sorry_server_inhibit sorry_server_lvs_method smtp_alert
            """)
        add(.virtualServer, "persistence_engine snmp_name", .recognised)
        block(.virtualServer, "real_server", .realServer)

        add(.realServer, """
            weight lvs_method uthreshold lthreshold inhibit_on_failure notify_up notify_down alpha retry
            delay_before_retry warmup connect_timeout delay_loop smtp_alert virtualhost
            """)
        add(.realServer, "snmp_name", .recognised)
        let checkers: [(String, BlockKind)] = [("HTTP_GET", .httpChecker), ("SSL_GET", .sslChecker), ("TCP_CHECK", .tcpChecker),
                                               ("MISC_CHECK", .miscChecker), ("SMTP_CHECK", .smtpChecker), ("DNS_CHECK", .dnsChecker),
                                               ("UDP_CHECK", .udpChecker), ("PING_CHECK", .pingChecker), ("FILE_CHECK", .fileChecker),
                                               ("BFD_CHECK", .bfdChecker)]
        for (k, kind) in checkers {
            block(.realServer, k, kind, kind == .bfdChecker ? .recognised : .acted, optional: false)
        }

        let common = "retry delay_before_retry warmup delay_loop alpha log_all_failures"
        let connection = "connect_ip connect_port bindto bind_port bind_if connect_timeout fwmark"
        for kind in [BlockKind.httpChecker, .sslChecker, .tcpChecker, .smtpChecker, .dnsChecker, .udpChecker, .pingChecker] {
            add(kind, common + " " + connection)
        }
        add(.miscChecker, common)
        for kind in [BlockKind.httpChecker, .sslChecker] {
            add(kind, "virtualhost http_protocol fast_recovery")
            add(kind, "nb_get_retry", .deprecated("retry"))
            block(kind, "url", .url)
        }
        add(.sslChecker, "enable_sni")
        add(.sslChecker, "sni_name tls_compliant", .newer("2.3"))
        add(.url, "path digest status_code virtualhost regex regex_no_match regex_options regex_min_offset regex_max_offset")
        // PCRE2's JIT stack size: Vigil's matcher has no JIT stack.
        add(.url, "regex_stack", .recognised)
        add(.miscChecker, "misc_path misc_timeout misc_dynamic user")
        add(.smtpChecker, "helo_name")
        block(.smtpChecker, "host", .smtpHost, .deprecated("one SMTP_CHECK per host"))
        add(.smtpHost, common + " " + connection)
        add(.dnsChecker, "type name")
        add(.udpChecker, "payload require_reply min_reply_length max_reply_length")
        add(.fileChecker, "track_file weight")
        add(.bfdChecker, "name alpha", .recognised)
        declareArities(&t)
        return t
    }

    /// Argument counts of the keywords the builder reads (keepalived.conf(5) 2.2.7 and the
    /// builder's own parsing). Keywords whose parser walks all their words are `.variable`.
    private static func declareArities(_ t: inout [[String: KeywordSpec]]) {
        func set(_ kinds: [BlockKind], _ list: String, _ arity: Arity) {
            for kind in kinds {
                for w in words(list) {
                    precondition(t[kind.rawValue][w] != nil, "arity for unknown keyword \(w) in \(kind)")
                    t[kind.rawValue][w]!.arity = arity
                }
            }
        }
        func set(_ kind: BlockKind, _ list: String, _ arity: Arity) { set([kind], list, arity) }

        set(.top, "global_defs linkbeat_interfaces interface_up_down_delays static_ipaddress static_routes static_rules garp_group SSL", .atMost(0))
        set(.top, "track_group track_file vrrp_track_file vrrp_track_process vrrp_script vrrp_sync_group vrrp_instance bfd_instance virtual_server_group", .atMost(1))
        // `IP [PORT]`, `fwmark N [inet|inet6]` or `group NAME`: checked by the builder per form.
        set(.top, "virtual_server", .variable)

        set(.globalDefs, "notification_email enable_script_security vrrp_strict vrrp_check_unicast_src lvs_flush", .atMost(0))
        set(.globalDefs, """
            router_id notification_email_from smtp_connect_timeout vrrp_mcast_group4 vrrp_mcast_group6
            vrrp_version vrrp_garp_master_delay vrrp_garp_master_repeat vrrp_garp_master_refresh
            vrrp_garp_master_refresh_repeat vrrp_garp_lower_prio_delay vrrp_garp_lower_prio_repeat
            vrrp_garp_interval vrrp_gna_interval vrrp_min_garp vrrp_down_timer_adverts
            vrrp_lower_prio_no_advert vrrp_higher_prio_send_advert vrrp_skip_check_adv_addr
            lvs_flush_on_stop lvs_flush_onstop vrrp_notify_priority_changes dynamic_interfaces default_interface
            """, .atMost(1))
        set(.globalDefs, "smtp_server script_user", .atMost(2))
        // FILE [USER [GROUP]]
        set(.globalDefs, "notify_fifo vrrp_notify_fifo lvs_notify_fifo", .atMost(3))
        set(.globalDefs, """
            startup_script shutdown_script lvs_sync_daemon lvs_timeouts notify_fifo_script
            vrrp_notify_fifo_script lvs_notify_fifo_script vrrp_vmac_garp_intvl enable_snmp_keepalived
            lvs_process_name vrrp_rlimit_rtime checker_rlimit_rtime bfd_rlimit_rtime
            """, .variable)

        let notify = "notify_master notify_backup notify_fault notify_stop notify"
        set(.vrrpInstance, """
            nopreempt preempt unicast_fault_no_peer check_unicast_src dont_track_primary accept no_accept
            promote_secondaries authentication unicast_peer virtual_ipaddress virtual_ipaddress_excluded
            virtual_routes virtual_rules track_interface track_script track_file track_process
            """, .atMost(0))
        set(.vrrpInstance, """
            state interface virtual_router_id priority advert_int version preempt_delay mcast_src_ip
            unicast_src_ip mcast_dst_ip unicast_ttl notify_priority_changes smtp_alert strict_mode
            skip_check_adv_addr lower_prio_no_advert higher_prio_send_advert garp_master_delay
            garp_master_repeat garp_master_refresh garp_master_refresh_repeat garp_lower_prio_delay
            garp_lower_prio_repeat down_timer_adverts
            """, .atMost(1))
        set(.vrrpInstance, notify + " notify_deleted notify_master_rx_lower_pri native_ipv6 linkbeat_use_polling lvs_sync_daemon_interface vmac_garp_intvl", .variable)
        set(.authentication, "auth_type auth_pass", .atMost(1))

        set(.syncGroup, "group track_interface track_script track_file track_process", .atMost(0))
        set(.syncGroup, "smtp_alert notify_priority_changes", .atMost(1))
        set(.syncGroup, notify + " global_tracking", .variable)

        set(.vrrpScript, "init_fail", .atMost(0))
        set(.vrrpScript, "interval timeout rise fall", .atMost(1))
        // `weight N [reverse]`, `user USER [GROUP]`
        set(.vrrpScript, "weight user", .atMost(2))
        set(.vrrpScript, "script", .variable)
        set(.trackFile, "file", .atMost(1))
        // `init_file [VALUE] [overwrite]`
        set(.trackFile, "weight init_file", .atMost(2))
        set(.trackProcess, "full_command", .atMost(0))
        set(.trackProcess, "param_match quorum quorum_max delay fork_delay terminate_delay", .atMost(1))
        set(.trackProcess, "weight", .atMost(2))
        set(.trackProcess, "process", .variable)
        set(.garpGroup, "interfaces", .atMost(0))
        set(.garpGroup, "garp_interval gna_interval interface", .atMost(1))
        set(.trackGroup, "group", .atMost(0))
        // The whole bfd_instance block is kept verbatim.
        set(.bfdInstance, "source_ip neighbor_ip neighbour_ip min_rx min_tx idle_tx multiplier passive ttl hoplimit max_hops weight vrrp checker", .variable)
        set(.ssl, "password ca certificate key", .atMost(1))

        let timing = "retry delay_before_retry warmup connect_timeout delay_loop"
        set(.virtualServer, "hashed ops flag-1 flag-2 flag-3 sh-port sh-fallback mh-port mh-fallback ha_suspend alpha omega sorry_server_inhibit", .atMost(0))
        set(.virtualServer, timing + " " + """
            ip_family inhibit_on_failure lb_algo lvs_sched persistence_timeout persistence_granularity
            protocol virtualhost quorum hysteresis weight smtp_alert
            """, .atMost(1))
        set(.virtualServer, "sorry_server real_server", .atMost(2))
        // Tunnel options after TUN; scripts.
        set(.virtualServer, "lb_kind lvs_method sorry_server_lvs_method quorum_up quorum_down", .variable)

        set(.realServer, "HTTP_GET SSL_GET TCP_CHECK MISC_CHECK SMTP_CHECK DNS_CHECK UDP_CHECK PING_CHECK FILE_CHECK", .atMost(0))
        set(.realServer, timing + " weight uthreshold lthreshold inhibit_on_failure alpha smtp_alert virtualhost", .atMost(1))
        set(.realServer, "lvs_method notify_up notify_down", .variable)

        let common = "retry delay_before_retry warmup delay_loop alpha log_all_failures"
        let connection = "connect_ip connect_port bindto bind_port bind_if connect_timeout fwmark"
        set([.httpChecker, .sslChecker, .tcpChecker, .smtpChecker, .smtpHost, .dnsChecker, .udpChecker, .pingChecker], common + " " + connection, .atMost(1))
        set(.miscChecker, common, .atMost(1))
        set([.httpChecker, .sslChecker], "url", .atMost(0))
        set([.httpChecker, .sslChecker], "virtualhost http_protocol fast_recovery nb_get_retry", .atMost(1))
        set(.sslChecker, "enable_sni", .atMost(1))
        set(.url, "regex_no_match", .atMost(0))
        set(.url, "path digest virtualhost regex regex_min_offset regex_max_offset", .atMost(1))
        set(.url, "regex_options", .variable)
        // `status_code 200 300-399 …`
        set(.url, "status_code", .variable)
        set(.miscChecker, "misc_dynamic", .atMost(0))
        set(.miscChecker, "misc_timeout", .atMost(1))
        set(.miscChecker, "user", .atMost(2))
        set(.miscChecker, "misc_path", .variable)
        set(.smtpChecker, "host", .atMost(0))
        set(.smtpChecker, "helo_name", .atMost(1))
        set(.dnsChecker, "type name", .atMost(1))
        set(.udpChecker, "payload require_reply min_reply_length max_reply_length", .atMost(1))
        set(.fileChecker, "track_file", .atMost(1))
        set(.fileChecker, "weight", .atMost(2))
    }
}
