/// Generic netlink framing (`<linux/genetlink.h>`): a 4-byte `genlmsghdr` {cmd, version,
/// reserved} after `nlmsghdr`, and the controller family (`nlctrl`) that maps family names such
/// as "IPVS" to message types.
public enum GenericNetlink {
    /// `GENL_ID_CTRL`: the controller's fixed message type.
    public static let controllerID: UInt16 = 0x10
    static let ctrlCmdGetFamily: UInt8 = 3
    static let ctrlAttrFamilyID: UInt16 = 1
    static let ctrlAttrFamilyName: UInt16 = 2
    static let ctrlAttrVersion: UInt16 = 3
    static let ctrlAttrHeaderSize: UInt16 = 4
    static let ctrlAttrMaxAttr: UInt16 = 5
    static let ctrlAttrMulticastGroups: UInt16 = 7

    /// A generic netlink message: `genlmsghdr` + already-encoded attributes.
    public static func message(family: UInt16, command: UInt8, version: UInt8, flags: NetlinkFlags, attributes: [UInt8] = []) -> NetlinkMessage {
        NetlinkMessage(type: family, flags: flags, payload: [command, version, 0, 0] + attributes)
    }

    /// Splits a generic netlink payload into its command, version and attribute bytes.
    public static func split(_ m: NetlinkMessage, context: String) throws(NetlinkDecodingError) -> (command: UInt8, version: UInt8, attributes: [UInt8]) {
        guard m.payload.count >= 4 else {
            throw NetlinkDecodingError(.truncated, "\(context): genlmsghdr needs 4 bytes, got \(m.payload.count)")
        }
        return (m.payload[0], m.payload[1], Array(m.payload[4...]))
    }

    /// `CTRL_CMD_GETFAMILY` by name, as libnl's `genl_ctrl_resolve` sends it (version 1, REQUEST|ACK).
    public static func getFamilyRequest(name: String) -> NetlinkMessage {
        var w = ByteWriter()
        w.attributeString(ctrlAttrFamilyName, name)
        return message(family: controllerID, command: ctrlCmdGetFamily, version: 1, flags: [.request, .ack], attributes: w.bytes)
    }

    /// A resolved family (`CTRL_CMD_NEWFAMILY` reply).
    public struct Family: Sendable, Hashable {
        public var id: UInt16
        public var name: String
        public var version: UInt32
        public var headerSize: UInt32
        public var maxAttribute: UInt32
        /// Multicast group name → group id.
        public var multicastGroups: [String: UInt32]
    }

    public static func decodeFamily(_ m: NetlinkMessage) throws(NetlinkDecodingError) -> Family {
        let (_, _, attrs) = try split(m, context: "CTRL_CMD_NEWFAMILY")
        let r = try AttributeReader(parsing: attrs, context: "CTRL_CMD_NEWFAMILY")
        var groups: [String: UInt32] = [:]
        if let g = try r.nested(ctrlAttrMulticastGroups, "CTRL_ATTR_MCAST_GROUPS") {
            for entry in g.attributes {
                let e = AttributeReader(try entry.nested(context: "CTRL_ATTR_MCAST_GROUPS entry"), context: "CTRL_ATTR_MCAST_GROUPS entry")
                if let name = e.string(1), let id = try e.u32(2, "CTRL_ATTR_MCAST_GRP_ID") { groups[name] = id }
            }
        }
        return Family(
            id: try r.required(try r.u16(ctrlAttrFamilyID, "CTRL_ATTR_FAMILY_ID"), "CTRL_ATTR_FAMILY_ID"),
            name: r.string(ctrlAttrFamilyName) ?? "",
            version: try r.u32(ctrlAttrVersion, "CTRL_ATTR_VERSION") ?? 0,
            headerSize: try r.u32(ctrlAttrHeaderSize, "CTRL_ATTR_HDRSIZE") ?? 0,
            maxAttribute: try r.u32(ctrlAttrMaxAttr, "CTRL_ATTR_MAXATTR") ?? 0,
            multicastGroups: groups)
    }
}
