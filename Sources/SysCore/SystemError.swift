#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call: the call, the errno and the system's text for it, plus optional context
/// (an interface, a path, a peer).
///
/// Printed as `socket(AF_INET, SOCK_RAW, 112): Operation not permitted (errno 1)`.
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    public var call: String
    public var errno: Int32
    public var context: String?

    public init(call: String, errno: Int32, context: String? = nil) {
        self.call = call
        self.errno = errno
        self.context = context
    }

    /// Captures the current `errno` for `call`.
    public static func last(_ call: String, context: String? = nil) -> SystemError {
        SystemError(call: call, errno: Glibc.errno, context: context)
    }

    public var message: String { String(cString: strerror(errno)) }

    public var description: String {
        let ctx = context.map { " [\($0)]" } ?? ""
        return "\(call)\(ctx): \(message) (errno \(errno))"
    }
}

/// Runs `body` until it returns something other than -1 with EINTR; throws `SystemError` on any
/// other failure.
@inline(never)
public func retryingSyscall<T: BinaryInteger>(_ call: String, context: String? = nil, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let r = body()
        if r == -1 {
            let e = Glibc.errno
            if e == EINTR { continue }
            throw SystemError(call: call, errno: e, context: context)
        }
        return r
    }
}
