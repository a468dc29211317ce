import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A pid file held for the life of the daemon: refuses to start when the file names a live
/// process, and removes the file on `release()`.
public final class PidFile: @unchecked Sendable {
    public let path: String

    /// Writes our PID to `path`. Throws `.alreadyRunning` when the file names a running process
    /// other than us.
    public init(path: String) throws {
        self.path = path
        if let text = try? String(contentsOfFile: path, encoding: .utf8),
           let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
           pid != getpid(), kill(pid, 0) == 0 || errno == EPERM
        {
            throw DaemonError(code: .alreadyRunning, message: "pid file \(path) names running process \(pid)")
        }
        do {
            try "\(getpid())\n".write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw DaemonError(code: .pidFile, message: "cannot write pid file \(path): \(error.localizedDescription)")
        }
    }

    public func release() {
        if let text = try? String(contentsOfFile: path, encoding: .utf8),
           Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) == getpid()
        {
            unlink(path)
        }
    }
}
