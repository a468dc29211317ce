#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import IPVSAdm
import SysCore

/// `vigil ipvsadm ARGS...`: ipvsadm 1.31 with the same arguments, output and exit codes.
/// `VigilMain` hands the raw arguments over before swift-argument-parser sees them, so ipvsadm's
/// own `-h`, `-v` and option clusters keep their meaning; this type exists for `vigil help`.
struct IPVSAdmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipvsadm",
        abstract: "Administer virtual servers like ipvsadm 1.31 (same options and output).")

    @Argument(parsing: .captureForPassthrough, help: "ipvsadm arguments")
    var arguments: [String] = []

    func run() async throws {
        await IPVSAdmRunner.runAndExit(arguments: arguments, program: "vigil ipvsadm")
    }
}

enum IPVSAdmRunner {
    /// Runs ipvsadm and exits with its status, writing its output unchanged.
    static func runAndExit(arguments: [String], program: String) async -> Never {
        let backend: any IPVSAdmBackend
        do {
            backend = try makeIPVSAdmBackend()
        } catch {
            write(2, "\(program): \(error)\n")
            exit(2)
        }
        let result = await IPVSAdm.run(arguments: arguments, program: program, readStandardInput: readAllStandardInput, backend: backend)
        write(1, result.stdout)
        write(2, result.stderr)
        exit(result.exitCode)
    }

    /// `ipvsadm-save [-n]`: Debian's wrapper script, `ipvsadm -S [-n]`.
    static func runSave(arguments: [String], program: String) async -> Never {
        var numeric = false
        for a in arguments {
            if a == "-n" {
                numeric = true
            } else if a.hasPrefix("-") {
                write(2, "\(program): Script to save the IPVS table to stdout.\n   With the -n option, prints out the table in numeric format.\n")
                exit(1)
            }
        }
        await runAndExit(arguments: numeric ? ["-S", "-n"] : ["-S"], program: "ipvsadm")
    }

    /// `ipvsadm-restore`: Debian's wrapper script: drop `#` lines, `ipvsadm -C`, then `ipvsadm -R`.
    static func runRestore(program: String) async -> Never {
        let backend: any IPVSAdmBackend
        do {
            backend = try makeIPVSAdmBackend()
        } catch {
            write(2, "\(program): \(error)\n")
            exit(2)
        }
        // The script keeps `$(grep -v '^#')` (trailing newlines stripped) and echoes it back.
        var kept = readAllStandardInput().split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("#") }.joined(separator: "\n")
        while kept.hasSuffix("\n") { kept.removeLast() }
        let clear = await IPVSAdm.run(arguments: ["-C"], program: "ipvsadm", standardInput: "", backend: backend)
        write(1, clear.stdout)
        write(2, clear.stderr)
        let result = await IPVSAdm.run(arguments: ["-R"], program: "ipvsadm", standardInput: kept + "\n", backend: backend)
        write(1, result.stdout)
        write(2, result.stderr)
        exit(result.exitCode)
    }

    private static func write(_ fd: Int32, _ text: String) {
        try? writeAll(fd, text)
    }

    private static func readAllStandardInput() -> String {
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            data.append(contentsOf: buf[0..<n])
        }
        return String(decoding: data, as: UTF8.self)
    }
}
