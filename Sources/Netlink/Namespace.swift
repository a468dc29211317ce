#if canImport(Glibc)
import Glibc
#endif
import SysCore

/// Runs `body` with the **calling thread** switched into the network namespace `name`
/// (`/run/netns/NAME`, as `ip netns add` creates, or an absolute path such as
/// `/proc/PID/ns/net`), then switches the thread back.
///
/// Sockets opened inside `body` stay in that namespace for their whole life, so the usual
/// pattern is to create the socket owner inside and use it anywhere afterwards:
/// ```swift
/// let rt = try withNetworkNamespace("vgl-a") { try RTNetlink() }
/// try rt.addAddress(...)          // acts inside vgl-a, from any thread
/// ```
/// The corresponding call is `setns(fd, CLONE_NEWNET)`, which affects only the calling thread.
///
/// - Important: `body` is synchronous on purpose: an `await` could resume on another thread,
///   leaving one thread of the cooperative pool in the wrong namespace. Do not start work on
///   other threads from `body` and expect it to run in the namespace, except threads created
///   by `body` itself (they inherit the calling thread's namespace).
/// - Throws: `SystemError` for open/setns failures (ENOENT: no such namespace; EPERM: not root),
///   or whatever `body` throws. If the original namespace cannot be restored the process
///   stops, since continuing would act on the wrong network.
public func withNetworkNamespace<T>(_ name: String, _ body: () throws -> T) throws -> T {
    let path = name.hasPrefix("/") ? name : "/run/netns/\(name)"
    let target = try retryingSyscall("open(\(path))", context: "network namespace \(name)") { open(path, O_RDONLY | O_CLOEXEC) }
    defer { close(target) }
    let original = try retryingSyscall("open(/proc/thread-self/ns/net)") { open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC) }
    defer { close(original) }
    let cloneNewNet: Int32 = 0x4000_0000  // CLONE_NEWNET
    let setns = try setnsFunction()
    _ = try retryingSyscall("setns(\(path), CLONE_NEWNET)", context: "network namespace \(name)") { setns(target, cloneNewNet) }
    defer {
        if setns(original, cloneNewNet) != 0 {
            fatalError("setns: cannot return to the original network namespace (errno \(errno))")
        }
    }
    return try body()
}

/// glibc's `setns`, which the Swift Glibc module does not import; looked up once by name.
private func setnsFunction() throws(SystemError) -> @convention(c) (Int32, Int32) -> Int32 {
    guard let sym = dlsym(nil, "setns") else { throw SystemError(call: "dlsym(setns)", errno: ENOSYS) }
    return unsafeBitCast(sym, to: (@convention(c) (Int32, Int32) -> Int32).self)
}
