import DataPlane
import NetCore
import NetlinkCodec

/// NAT connections from the conntrack table: IPVS lists every LVS-NAT connection with its TCP
/// state; the nftables engine's NAT flows are plain conntrack DNAT entries, so they are read
/// back over ctnetlink and matched to services here (pure).
public enum NATConnections {
    /// The entries that belong to NAT services: original destination = the service's VIP:port
    /// and protocol (fwmark services: `ct mark` = the fwmark), reply source = one of its real
    /// servers (address, and port when the server has one). Entries without ports (ICMP) are skipped.
    public static func match(_ entries: [ConntrackEntry], services: [VirtualService]) -> [NFTConnectionEntry] {
        let nat = services.filter { $0.destinations.contains { $0.forwarding == .masquerade } }
        guard !nat.isEmpty else { return [] }
        var out: [NFTConnectionEntry] = []
        for e in entries {
            guard let cport = e.original.sourcePort, let vport = e.original.destinationPort, let rport = e.reply.sourcePort else { continue }
            for svc in nat {
                let servicePort: UInt16
                switch svc.key {
                case .address(let p, let vip):
                    guard e.original.destination == vip.address, UInt16(e.original.protocolNumber) == p.rawValue,
                        vip.port == 0 || vip.port == vport
                    else { continue }
                    servicePort = vip.port
                case .fwmark(let m, let f):
                    guard e.family == f, e.mark == m else { continue }
                    servicePort = 0
                }
                let server = svc.destinations.first { d in
                    guard d.forwarding == .masquerade, d.address.address == e.reply.source else { return false }
                    let p = d.address.port == 0 ? servicePort : d.address.port
                    return p == 0 || p == rport
                }
                guard let d = server else { continue }
                let proto = protocolName(e.original.protocolNumber)
                out.append(
                    NFTConnectionEntry(
                        service: svc.key, client: SocketAddress(address: e.original.source, port: cport), destination: d.address,
                        expires: Int(e.timeout ?? 0), state: stateName(e), protocolName: proto,
                        virtual: SocketAddress(address: e.original.destination, port: vport),
                        server: SocketAddress(address: e.reply.source, port: rport)))
                break
            }
        }
        return out
    }

    /// IPVS's name for the state (`ip_vs_proto_tcp.c` tcp_state_name_table; UDP entries are "UDP").
    public static func stateName(_ e: ConntrackEntry) -> String {
        switch e.original.protocolNumber {
        case 17: return "UDP"
        case 6:
            switch e.tcpState ?? .none {
            case .none: return "NONE"
            case .synSent, .synSent2: return "SYN_SENT"
            case .synReceived: return "SYN_RECV"
            case .established: return "ESTABLISHED"
            case .finWait: return "FIN_WAIT"
            case .closeWait: return "CLOSE_WAIT"
            case .lastAck: return "LAST_ACK"
            case .timeWait: return "TIME_WAIT"
            case .close: return "CLOSE"
            }
        // SCTP's conntrack states are not read; an SCTP entry is listed as established.
        default: return "ESTABLISHED"
        }
    }

    static func protocolName(_ n: UInt8) -> String {
        switch n {
        case 6: "TCP"
        case 17: "UDP"
        case 132: "SCTP"
        default: "IP"
        }
    }
}
