// The reference scenario's keepalived.conf files, as written (comments and spacing kept).
// Generated from shared/fixtures/seed/ by hand-run script; `vigil lab` substitutes the digests.

enum SeedConfigs {
    /// `keepalived-V11-master.conf`.
    static let master = #"""
! Configuration File for keepalived

global_defs {     # 全局设置
   notification_email {    # 设置报警邮件地址
     acassen@firewall.loc
     failover@firewall.loc
     sysadmin@firewall.loc
   }                                              # 设置邮件的发送地址
   notification_email_from Alexandre.Cassen@firewall.loc
   smtp_server 192.168.200.1
   smtp_connect_timeout 30
   router_id LVS_V11
   vrrp_skip_check_adv_addr
#   vrrp_strict
   vrrp_garp_interval 0
   vrrp_gna_interval 0
}

vrrp_instance LVSha {    # vrrp 实例(虚拟路由器冗余协议)
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        192.168.0.21
    }
}

virtual_server 192.168.0.21 80 {
    delay_loop 6
    lb_algo rr
    lb_kind DR
#    persistence_timeout 50
    protocol TCP
    connect_timeout 3
    nb_get_retry 3
    delay_before_retry 3
    real_server 192.168.0.12  80 {
        weight 1
        HTTP_GET {
            url {
              path    /
              digest c2e7b1048523a6fc9a1a78d5fd783605
            }          
        }
    }
    real_server 192.168.0.13  80 {
        weight 1
        HTTP_GET {
            url {
              path    /
              digest  e7b87c254505fecdedd3545af2160950
            }
         }
    }
    real_server 192.168.0.14  80 {
        weight 1
        HTTP_GET {
            url {
              path    /
              digest  09c990685febab223b6dafd74de1f7ec
            }
         }
    }
}
"""#

    /// `keepalived-V15-backup.conf`.
    static let backup = #"""
! Configuration File for keepalived

global_defs {     # 全局设置
   notification_email {    # 设置报警邮件地址
     acassen@firewall.loc
     failover@firewall.loc
     sysadmin@firewall.loc
   }
   notification_email_from Alexandre.Cassen@firewall.loc  #设置发件人
   smtp_server 192.168.200.1   #定义邮件服务器
   smtp_connect_timeout 30
   router_id LVS_V15      # 设置路由ID号,表示该台服务的ID
   vrrp_skip_check_adv_addr
#   vrrp_strict        #这里如果不注释,会报错
   vrrp_garp_interval 0
   vrrp_gna_interval 0
}

vrrp_instance LVSha  {    # vrrp 实例(虚拟路由器冗余协议)
    state BACKUP      #从服务器为BACKUP
    interface eth0    #定义网络接口
    virtual_router_id 51   ## master和backup的id一致
    priority 100      ##优先级比master 低些<150
    advert_int 1    # # master和backup之间的检测时间
    authentication {
        auth_type PASS
        auth_pass 1111   #主辅服务器密码必须一致
    }
    virtual_ipaddress {
        192.168.0.21      # 设置虚拟VIP
    }
}

virtual_server 192.168.0.21 80 { # 设置虚拟服务器，ip端口
    delay_loop 6     # 设置运行情况检查时间，单位是秒
    lb_algo rr      # 负载算法，这里是rr表示轮询
    lb_kind DR          # LVS工作机制，这里是DR模式
#    persistence_timeout 50   #会话保持时间，单位是秒，对动态网页有帮助
    protocol TCP
    connect_timeout 3   # 连接超时时间
    nb_get_retry 3       # 表示重试次数
    delay_before_retry 3  # 表示重试间隔
    real_server 192.168.0.12  80 {  #设定真实服务器地址以及端口
        weight 1    # 设置权重，数字越低，调度的比例越小
        HTTP_GET {
            url {
              path    /    # 检测的网页路径 
              digest c2e7b1048523a6fc9a1a78d5fd783605
            }          
        }
    }
    real_server 192.168.0.13  80 {
        weight 1
        HTTP_GET {
            url {
              path    /
              digest  e7b87c254505fecdedd3545af2160950
            }
         }
    }
    real_server 192.168.0.14  80 {
        weight 1
        HTTP_GET {
            url {
              path    /
              digest  09c990685febab223b6dafd74de1f7ec
            }
         }
    }
}    
"""#

}
