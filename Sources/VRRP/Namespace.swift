import CVigilShims
import Foundation
import SysCore

/// Runs `body` on a fresh thread that has joined network namespace `name` (`/run/netns/NAME`),
/// and waits for it. Sockets created inside stay in that namespace for their lifetime, so the
/// daemon can own sockets of several namespaces (used by tests to run two routers in one
/// process). With `name == nil` the body runs on the calling thread.
public func inNetworkNamespace<T: Sendable>(_ name: String?, _ body: @escaping @Sendable () throws -> T) throws -> T {
    guard let name else { return try body() }
    nonisolated(unsafe) var result: Result<T, any Error>?
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        if vigil_setns_net("/run/netns/\(name)") != 0 {
            result = .failure(SystemError.last("setns(/run/netns/\(name))"))
        } else {
            result = Result { try body() }
        }
        done.signal()
    }
    thread.start()
    done.wait()
    return try result!.get()
}
