/// Parses "44 00 00 00 14 ..." (anything but hex digits ignored) into bytes, for writing expected
/// wire images in tests. An odd digit count or bad digit traps: the test itself is wrong.
public func hex(_ s: String) -> [UInt8] {
    let digits = s.filter { $0.isHexDigit }
    var out: [UInt8] = []
    var i = digits.startIndex
    while i < digits.endIndex {
        let j = digits.index(i, offsetBy: 2)
        out.append(UInt8(digits[i..<j], radix: 16)!)
        i = j
    }
    return out
}
