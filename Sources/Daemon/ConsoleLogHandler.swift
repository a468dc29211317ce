import Foundation
import Logging
import SysCore

#if canImport(Glibc)
import Glibc
#endif

/// Writes log lines the way `keepalived -l -n` prints them on the console:
/// `Thu Nov 26 18:00:00 2026: (LVSha) Entering MASTER STATE`, so the lines users grep for read
/// the same. Debug-level lines (keepalived's `-D` detail) appear only at `.debug`.
public struct ConsoleLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let sink: LogSink

    public init(sink: LogSink) { self.sink = sink }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let line = "\(Self.timestamp()): \(event.message)\n"
        sink.write(line)
    }

    /// `%a %b %e %H:%M:%S %Y` in local time, as keepalived's console log.
    static func timestamp() -> String {
        var t = time(nil)
        var tmv = tm()
        localtime_r(&t, &tmv)
        var buf = [CChar](repeating: 0, count: 64)
        let n = strftime(&buf, buf.count, "%a %b %e %H:%M:%S %Y", &tmv)
        return String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Where log lines go: standard error or an append-only file. Writes are serialised so lines
/// from concurrent tasks never interleave.
public final class LogSink: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()

    /// Standard error.
    public static let standardError = LogSink(fd: 2)

    init(fd: Int32) { self.fd = fd }

    /// Opens (creating) `path` for appending.
    public init(path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw DaemonError(code: .logFile, message: "cannot open log file \(path): \(String(cString: strerror(errno)))")
        }
        self.fd = fd
    }

    public func write(_ line: String) {
        // A log line that cannot be written has nowhere better to go: drop it.
        lock.withLock { try? writeAll(fd, line) }
    }
}

/// Errors of the daemon's own plumbing (log file, pid file, engine choice).
public struct DaemonError: Error, CustomStringConvertible, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public static let logFile = Code(name: "logFile")
        public static let pidFile = Code(name: "pidFile")
        public static let alreadyRunning = Code(name: "alreadyRunning")
        public static let dataPlane = Code(name: "dataPlane")
        public static let config = Code(name: "config")
        public static let statusFile = Code(name: "statusFile")
        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func == (a: Self, b: Self) -> Bool { a.code == b.code }
}
