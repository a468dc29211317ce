#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes every byte of `text` to `fd`, continuing after short writes and retrying on EINTR.
/// Throws `SystemError` for `write` on any other failure (bytes written before it stay written).
public func writeAll(_ fd: Int32, _ text: String) throws(SystemError) {
    let bytes = Array(text.utf8)
    var off = 0
    while off < bytes.count {
        let n = try retryingSyscall("write") {
            bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
        }
        off += n
    }
}
