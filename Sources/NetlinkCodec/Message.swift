#if canImport(Glibc)
import Glibc
#endif

/// Netlink message types, flags and socket constants from `<linux/netlink.h>`.
public enum NetlinkConstants {
    public static let headerLength = 16

    // nlmsg_type values below NLMSG_MIN_TYPE (0x10) are control messages.
    public static let noop: UInt16 = 1  // NLMSG_NOOP
    public static let error: UInt16 = 2  // NLMSG_ERROR
    public static let done: UInt16 = 3  // NLMSG_DONE
    public static let overrun: UInt16 = 4  // NLMSG_OVERRUN

    // Extended ACK TLVs (NLMSGERR_ATTR_*).
    public static let errAttrMessage: UInt16 = 1
    public static let errAttrOffset: UInt16 = 2

    // Protocols (socket(AF_NETLINK, SOCK_RAW, protocol)).
    public static let route: Int32 = 0  // NETLINK_ROUTE
    public static let generic: Int32 = 16  // NETLINK_GENERIC

    // setsockopt(SOL_NETLINK, ...).
    public static let solNetlink: Int32 = 270
    public static let optAddMembership: Int32 = 1  // NETLINK_ADD_MEMBERSHIP
    public static let optCapAck: Int32 = 10  // NETLINK_CAP_ACK
    public static let optExtAck: Int32 = 11  // NETLINK_EXT_ACK

    // Attribute type flags.
    public static let attrNested: UInt16 = 0x8000  // NLA_F_NESTED
    public static let attrNetByteOrder: UInt16 = 0x4000  // NLA_F_NET_BYTEORDER
    public static let attrTypeMask: UInt16 = 0x3fff  // NLA_TYPE_MASK
}

/// `nlmsg_flags` bits (`NLM_F_*`). Some values mean different things for GET and NEW requests,
/// as in the kernel header.
public struct NetlinkFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let request = NetlinkFlags(rawValue: 0x1)
    public static let multi = NetlinkFlags(rawValue: 0x2)
    public static let ack = NetlinkFlags(rawValue: 0x4)
    public static let echo = NetlinkFlags(rawValue: 0x8)
    /// The dump was interrupted by a concurrent change (`NLM_F_DUMP_INTR`).
    public static let dumpInterrupted = NetlinkFlags(rawValue: 0x10)
    // GET requests.
    public static let root = NetlinkFlags(rawValue: 0x100)
    public static let match = NetlinkFlags(rawValue: 0x200)
    public static let dump: NetlinkFlags = [.root, .match]
    // NEW requests.
    public static let replace = NetlinkFlags(rawValue: 0x100)
    public static let exclusive = NetlinkFlags(rawValue: 0x200)
    public static let create = NetlinkFlags(rawValue: 0x400)
    public static let append = NetlinkFlags(rawValue: 0x800)
    // NLMSG_ERROR acks.
    public static let capped = NetlinkFlags(rawValue: 0x100)
    public static let ackTLVs = NetlinkFlags(rawValue: 0x200)
}

/// Why a netlink buffer could not be decoded, and where.
public struct NetlinkDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        /// The buffer ends inside a header or declared length.
        public static let truncated = Code(name: "truncated")
        /// A length field is smaller than its header or larger than the buffer.
        public static let badLength = Code(name: "bad length")
        /// Bytes are left after the last complete message or attribute.
        public static let trailingBytes = Code(name: "trailing bytes")
        /// An attribute has the wrong size for its type, or a required one is missing.
        public static let badAttribute = Code(name: "bad attribute")
        /// A message of an unexpected type or with an unexpected header.
        public static let unexpectedMessage = Code(name: "unexpected message")
        public var description: String { name }
    }

    public var code: Code
    /// What was being decoded and where ("IFA_LOCAL in RTM_NEWADDR: 3 bytes, expected 4").
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "netlink decoding error (\(code)): \(message)" }
}

/// A failed netlink request: the errno the kernel answered, the request (spelled like the `ip`
/// command it corresponds to) and the kernel's extended-ack message when it sent one.
///
/// Printed as `RTM_NEWADDR 192.168.0.21/32 dev eth0: File exists (errno 17); kernel: ...`.
public struct NetlinkError: Error, Hashable, Sendable, CustomStringConvertible {
    /// An errno value as a typed code. Compare with the named constants.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let permissionDenied = Code(rawValue: 1)  // EPERM
        public static let notFound = Code(rawValue: 2)  // ENOENT
        public static let noSuchProcess = Code(rawValue: 3)  // ESRCH
        public static let interrupted = Code(rawValue: 4)  // EINTR (dump interrupted)
        public static let busy = Code(rawValue: 16)  // EBUSY
        public static let exists = Code(rawValue: 17)  // EEXIST
        public static let noDevice = Code(rawValue: 19)  // ENODEV
        public static let invalidArgument = Code(rawValue: 22)  // EINVAL
        public static let outOfRange = Code(rawValue: 34)  // ERANGE
        public static let notSupported = Code(rawValue: 95)  // EOPNOTSUPP
        public static let addressFamilyNotSupported = Code(rawValue: 97)  // EAFNOSUPPORT
        public static let addressNotAvailable = Code(rawValue: 99)  // EADDRNOTAVAIL
        public static let networkUnreachable = Code(rawValue: 101)  // ENETUNREACH
        public static let noBufferSpace = Code(rawValue: 105)  // ENOBUFS

        /// The C library's text for the errno ("File exists").
        public var message: String { String(cString: strerror(rawValue)) }
        public var description: String { "\(message) (errno \(rawValue))" }
    }

    public var code: Code
    /// The request, e.g. `RTM_NEWADDR 192.168.0.21/32 dev eth0` or `IPVS_CMD_NEW_SERVICE [192.168.0.21]:tcp:80`.
    public var request: String
    /// `NLMSGERR_ATTR_MSG` from the kernel's extended ack, when present.
    public var kernelMessage: String?

    public init(code: Code, request: String, kernelMessage: String? = nil) {
        self.code = code
        self.request = request
        self.kernelMessage = kernelMessage
    }

    public var description: String {
        "\(request): \(code)" + (kernelMessage.map { "; kernel: \($0)" } ?? "")
    }
}

/// One netlink message: header fields plus the payload after the 16-byte `nlmsghdr`.
public struct NetlinkMessage: Sendable, Hashable {
    public var type: UInt16
    public var flags: NetlinkFlags
    public var sequence: UInt32
    public var portID: UInt32
    public var payload: [UInt8]

    public init(type: UInt16, flags: NetlinkFlags, sequence: UInt32 = 0, portID: UInt32 = 0, payload: [UInt8] = []) {
        self.type = type
        self.flags = flags
        self.sequence = sequence
        self.portID = portID
        self.payload = payload
    }

    /// The message on the wire: `nlmsghdr` + payload, padded to 4 bytes. `nlmsg_len` counts the
    /// payload without the final padding, as the kernel and libnl write it.
    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: NetlinkConstants.headerLength + payload.count + 3)
        w.appendHost(UInt32(NetlinkConstants.headerLength + payload.count))
        w.appendHost(type)
        w.appendHost(flags.rawValue)
        w.appendHost(sequence)
        w.appendHost(portID)
        w.append(contentsOf: payload)
        w.align4()
        return w.bytes
    }

    /// Splits a datagram into messages. Every `nlmsg_len` must cover its header and fit the
    /// buffer; only alignment padding may follow the last message.
    public static func parseAll(_ bytes: [UInt8]) throws(NetlinkDecodingError) -> [NetlinkMessage] {
        var out: [NetlinkMessage] = []
        var offset = 0
        let s = bytes[...]
        while offset < bytes.count {
            let remaining = bytes.count - offset
            guard remaining >= NetlinkConstants.headerLength else {
                if remaining < 4 && bytes[offset...].allSatisfy({ $0 == 0 }) { break }
                throw NetlinkDecodingError(.truncated, "netlink header at offset \(offset): \(remaining) bytes, need 16")
            }
            let len = Int(ByteLoad.host(UInt32.self, s, at: offset)!)
            guard len >= NetlinkConstants.headerLength else {
                throw NetlinkDecodingError(.badLength, "nlmsg_len \(len) at offset \(offset) is shorter than the 16-byte header")
            }
            guard len <= remaining else {
                throw NetlinkDecodingError(.truncated, "nlmsg_len \(len) at offset \(offset) exceeds the \(remaining) bytes left")
            }
            out.append(
                NetlinkMessage(
                    type: ByteLoad.host(UInt16.self, s, at: offset + 4)!,
                    flags: NetlinkFlags(rawValue: ByteLoad.host(UInt16.self, s, at: offset + 6)!),
                    sequence: ByteLoad.host(UInt32.self, s, at: offset + 8)!,
                    portID: ByteLoad.host(UInt32.self, s, at: offset + 12)!,
                    payload: Array(bytes[(offset + 16)..<(offset + len)])))
            offset += (len + 3) & ~3
        }
        return out
    }
}

/// A decoded `NLMSG_ERROR` (an ACK when `errno` is 0).
public struct NetlinkAck: Sendable, Hashable {
    /// Positive errno; 0 for success.
    public var errno: Int32
    /// The sequence number of the request this answers (from the echoed header).
    public var requestSequence: UInt32
    public var kernelMessage: String?
    public var errorOffset: UInt32?

    /// Decodes the payload of an `NLMSG_ERROR` (`struct nlmsgerr` plus extended-ack TLVs).
    public init(parsing message: NetlinkMessage) throws(NetlinkDecodingError) {
        let p = message.payload[...]
        guard p.count >= 4 + NetlinkConstants.headerLength else {
            throw NetlinkDecodingError(.truncated, "NLMSG_ERROR payload: \(p.count) bytes, need 20")
        }
        let raw = ByteLoad.host(Int32.self, p)!
        errno = raw == Int32.min ? Int32.max : -raw
        requestSequence = ByteLoad.host(UInt32.self, p, at: 12)!
        kernelMessage = nil
        errorOffset = nil
        guard message.flags.contains(.ackTLVs) else { return }
        // Without NLM_F_CAPPED the whole request is echoed before the TLVs.
        var tlvStart = 4 + NetlinkConstants.headerLength
        if !message.flags.contains(.capped) {
            let echoedLen = Int(ByteLoad.host(UInt32.self, p, at: 4)!)
            tlvStart = 4 + ((echoedLen + 3) & ~3)
        }
        guard tlvStart <= p.count else {
            throw NetlinkDecodingError(.truncated, "NLMSG_ERROR: echoed request runs past the \(p.count)-byte payload")
        }
        for a in try NetlinkAttribute.parseList(Array(p[(p.startIndex + tlvStart)...]), context: "NLMSG_ERROR") {
            switch a.type {
            case NetlinkConstants.errAttrMessage: kernelMessage = a.string
            case NetlinkConstants.errAttrOffset: errorOffset = a.u32
            default: break
            }
        }
    }
}
