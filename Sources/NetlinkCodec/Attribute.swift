/// One netlink attribute (`struct nlattr` + payload).
///
/// `type` has the `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER` bits removed; they are kept apart in
/// `flags` because senders disagree about them (IPVS replies never set NLA_F_NESTED).
public struct NetlinkAttribute: Sendable, Hashable {
    public var type: UInt16
    public var flags: UInt16
    public var payload: [UInt8]

    public init(type: UInt16, flags: UInt16 = 0, payload: [UInt8]) {
        self.type = type
        self.flags = flags
        self.payload = payload
    }

    /// Splits a buffer into attributes. Each `nla_len` must be at least 4 and fit; only zero
    /// padding (under 4 bytes) may follow the last attribute.
    /// - Parameter context: names the enclosing message or nest in errors.
    public static func parseList(_ bytes: [UInt8], context: String) throws(NetlinkDecodingError) -> [NetlinkAttribute] {
        var out: [NetlinkAttribute] = []
        var offset = 0
        let s = bytes[...]
        while offset < bytes.count {
            let remaining = bytes.count - offset
            guard remaining >= 4 else {
                throw NetlinkDecodingError(.trailingBytes, "\(context): \(remaining) bytes after the last attribute")
            }
            let len = Int(ByteLoad.host(UInt16.self, s, at: offset)!)
            let rawType = ByteLoad.host(UInt16.self, s, at: offset + 2)!
            guard len >= 4 else {
                throw NetlinkDecodingError(.badLength, "\(context): attribute type \(rawType & NetlinkConstants.attrTypeMask) at offset \(offset) has nla_len \(len) < 4")
            }
            guard len <= remaining else {
                throw NetlinkDecodingError(.truncated, "\(context): attribute type \(rawType & NetlinkConstants.attrTypeMask) at offset \(offset) has nla_len \(len) but only \(remaining) bytes are left")
            }
            out.append(
                NetlinkAttribute(
                    type: rawType & NetlinkConstants.attrTypeMask, flags: rawType & ~NetlinkConstants.attrTypeMask,
                    payload: Array(bytes[(offset + 4)..<(offset + len)])))
            offset += (len + 3) & ~3
        }
        return out
    }

    // MARK: Typed reads. Each returns nil when the payload is too short for the type.

    public var u8: UInt8? { payload.first }
    public var u16: UInt16? { ByteLoad.host(UInt16.self, payload[...]) }
    public var u32: UInt32? { ByteLoad.host(UInt32.self, payload[...]) }
    public var u64: UInt64? { ByteLoad.host(UInt64.self, payload[...]) }
    public var u16BigEndian: UInt16? { ByteLoad.bigEndian(UInt16.self, payload[...]) }
    public var u32BigEndian: UInt32? { ByteLoad.bigEndian(UInt32.self, payload[...]) }

    /// The payload up to the first NUL (strings are NUL-terminated on the wire).
    public var string: String {
        String(decoding: payload.prefix { $0 != 0 }, as: UTF8.self)
    }

    public func nested(context: String) throws(NetlinkDecodingError) -> [NetlinkAttribute] {
        try NetlinkAttribute.parseList(payload, context: context)
    }
}

/// Strict typed reads that name the attribute in the error, for decoders of known layouts.
public struct AttributeReader: Sendable {
    public let attributes: [NetlinkAttribute]
    public let context: String

    public init(_ attributes: [NetlinkAttribute], context: String) {
        self.attributes = attributes
        self.context = context
    }

    public init(parsing bytes: [UInt8], context: String) throws(NetlinkDecodingError) {
        self.init(try NetlinkAttribute.parseList(bytes, context: context), context: context)
    }

    /// The last attribute of `type` (the kernel's nla_parse keeps the last duplicate).
    public func first(_ type: UInt16) -> NetlinkAttribute? { attributes.last { $0.type == type } }

    public func has(_ type: UInt16) -> Bool { first(type) != nil }

    private func sized(_ type: UInt16, _ name: String, _ size: Int, exact: Bool) throws(NetlinkDecodingError) -> NetlinkAttribute? {
        guard let a = first(type) else { return nil }
        guard exact ? a.payload.count == size : a.payload.count >= size else {
            throw NetlinkDecodingError(.badAttribute, "\(name) in \(context): \(a.payload.count) bytes, expected \(size)")
        }
        return a
    }

    public func u8(_ type: UInt16, _ name: String) throws(NetlinkDecodingError) -> UInt8? {
        try sized(type, name, 1, exact: false)?.u8
    }
    public func u16(_ type: UInt16, _ name: String) throws(NetlinkDecodingError) -> UInt16? {
        try sized(type, name, 2, exact: false)?.u16
    }
    public func u16BigEndian(_ type: UInt16, _ name: String) throws(NetlinkDecodingError) -> UInt16? {
        try sized(type, name, 2, exact: false)?.u16BigEndian
    }
    public func u32(_ type: UInt16, _ name: String) throws(NetlinkDecodingError) -> UInt32? {
        try sized(type, name, 4, exact: false)?.u32
    }
    public func u64(_ type: UInt16, _ name: String) throws(NetlinkDecodingError) -> UInt64? {
        try sized(type, name, 8, exact: false)?.u64
    }
    public func bytes(_ type: UInt16, _ name: String, exactly size: Int) throws(NetlinkDecodingError) -> [UInt8]? {
        try sized(type, name, size, exact: true)?.payload
    }
    public func string(_ type: UInt16) -> String? { first(type)?.string }

    public func required<T>(_ value: T?, _ name: String) throws(NetlinkDecodingError) -> T {
        guard let value else { throw NetlinkDecodingError(.badAttribute, "\(context): required attribute \(name) is missing") }
        return value
    }

    public func nested(_ type: UInt16, _ name: String) throws(NetlinkDecodingError) -> AttributeReader? {
        guard let a = first(type) else { return nil }
        return AttributeReader(try a.nested(context: "\(name) in \(context)"), context: "\(name) in \(context)")
    }
}

extension ByteWriter {
    /// Appends one attribute: `nla_len` counts header + payload, then zero padding to 4 bytes.
    public mutating func attribute(_ type: UInt16, _ payload: some Collection<UInt8>) {
        appendHost(UInt16(4 + payload.count))
        appendHost(type)
        append(contentsOf: payload)
        align4()
    }

    public mutating func attributeU8(_ type: UInt16, _ v: UInt8) { attribute(type, [v]) }

    public mutating func attributeHost<T: FixedWidthInteger>(_ type: UInt16, _ v: T) {
        withUnsafeBytes(of: v) { attribute(type, Array($0)) }
    }

    public mutating func attributeBigEndian<T: FixedWidthInteger>(_ type: UInt16, _ v: T) {
        withUnsafeBytes(of: v.bigEndian) { attribute(type, Array($0)) }
    }

    /// A NUL-terminated string attribute.
    public mutating func attributeString(_ type: UInt16, _ s: String) {
        attribute(type, Array(s.utf8) + [0])
    }

    /// A nested attribute whose length is patched after `body` wrote its children.
    public mutating func nest(_ type: UInt16, _ body: (inout ByteWriter) -> Void) {
        let start = count
        appendHost(UInt16(0))
        appendHost(type)
        body(&self)
        setHost(UInt16(count - start), at: start)
        align4()
    }
}
