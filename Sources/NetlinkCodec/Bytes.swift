/// Appends netlink-encoded values to a byte array.
///
/// Netlink integers are in host byte order unless a field is documented as network order, so
/// the `hostOrder` helpers write the native representation and `bigEndian` ones write network
/// order. Vigil only runs on little-endian Linux hosts, but nothing here assumes it.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    public mutating func append(_ b: UInt8) { bytes.append(b) }
    public mutating func append(contentsOf s: some Sequence<UInt8>) { bytes.append(contentsOf: s) }

    public mutating func appendHost<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v) { bytes.append(contentsOf: $0) }
    }

    public mutating func appendBigEndian<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// Pads with zero bytes to the next multiple of 4 (`NLMSG_ALIGN` / `NLA_ALIGN`).
    public mutating func align4() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    public mutating func setHost<T: FixedWidthInteger>(_ v: T, at offset: Int) {
        withUnsafeBytes(of: v) { raw in
            for (i, b) in raw.enumerated() { bytes[offset + i] = b }
        }
    }
}

/// Reads host-order and network-order integers from a byte slice. Every read is bounds-checked;
/// callers check lengths first and get `nil` on a short buffer instead of a trap.
enum ByteLoad {
    static func host<T: FixedWidthInteger>(_ type: T.Type, _ s: ArraySlice<UInt8>, at offset: Int = 0) -> T? {
        let size = MemoryLayout<T>.size
        let start = s.startIndex + offset
        guard offset >= 0, start + size <= s.endIndex else { return nil }
        var v: T = 0
        withUnsafeMutableBytes(of: &v) { raw in
            for i in 0..<size { raw[i] = s[start + i] }
        }
        return v
    }

    static func bigEndian<T: FixedWidthInteger>(_ type: T.Type, _ s: ArraySlice<UInt8>, at offset: Int = 0) -> T? {
        host(type, s, at: offset).map { T(bigEndian: $0) }
    }
}

extension Array where Element == UInt8 {
    /// Lower-case hex, two digits per byte, for error messages and test diffs.
    public var hexString: String {
        map { b in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined(separator: " ")
    }
}
