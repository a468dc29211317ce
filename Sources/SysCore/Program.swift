import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How a program run with `runProgram` ended, with what it printed.
public struct ProgramResult: Sendable, Equatable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// A program that could not be run or did not finish in time.
public struct ProgramError: Error, CustomStringConvertible, Equatable {
    public var command: [String]
    public var reason: String
    public var description: String { "\(command.joined(separator: " ")): \(reason)" }
}

/// Runs a program (looked up in PATH unless absolute) to completion and captures its output;
/// both pipes are drained concurrently so a chatty child never blocks. With `timeout`, the child
/// is killed (SIGKILL) when it runs longer and `ProgramError` is thrown.
@discardableResult
public func runProgram(_ args: [String], input: String? = nil, timeout: Double? = nil) throws -> ProgramResult {
    precondition(!args.isEmpty, "runProgram needs a program")
    let p = Process()
    p.executableURL = URL(fileURLWithPath: args[0].hasPrefix("/") ? args[0] : "/usr/bin/env")
    p.arguments = args[0].hasPrefix("/") ? Array(args.dropFirst()) : args
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let inPipe = Pipe()
    p.standardInput = input == nil ? FileHandle.nullDevice : inPipe
    do { try p.run() } catch { throw ProgramError(command: args, reason: "\(error)") }
    if let input {
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try? inPipe.fileHandleForWriting.close()
    }
    nonisolated(unsafe) var outData = Data()
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        outData = out.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    if let timeout {
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(5_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            group.wait()
            throw ProgramError(command: args, reason: "timed out after \(timeout) s")
        }
    }
    p.waitUntilExit()
    group.wait()
    return ProgramResult(
        status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}
