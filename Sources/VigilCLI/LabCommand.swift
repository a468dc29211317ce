import ArgumentParser
import Foundation
import Lab
import NetCore

#if canImport(Glibc)
import Glibc
#endif

/// Set by the SIGINT/SIGTERM handler of a lab command; read by its threads.
nonisolated(unsafe) var labInterrupted: Int32 = 0
nonisolated(unsafe) var labInterruptWriteFD: Int32 = -1

/// `vigil lab`: the reference scenario in network namespaces on this machine.
struct LabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "Run the reference scenario (two directors, three web servers) in network namespaces.",
        subcommands: [Up.self, Status.self, Demo.self, Down.self, Config.self])

    struct Options: ParsableArguments {
        @Option(help: "Prefix of the lab's namespace names, so labs never collide.")
        var prefix = "vlab"

        @Option(help: ArgumentHelp("Where the lab keeps its state, logs and configurations.", visibility: .hidden))
        var stateRoot = "/run/vigil-lab"

        func validate() throws {
            if let problem = LabTopology.validate(prefix: prefix) { throw ValidationError("--prefix: \(problem)") }
        }

        /// A runner for the lab as it was created (its options come from its state file).
        func runner() -> LabRunner {
            let probe = LabRunner(prefix: prefix, stateRoot: stateRoot)
            return LabRunner(prefix: prefix, stateRoot: stateRoot, options: probe.loadState()?.options ?? LabOptions())
        }
    }

    /// How the lab departs from the defaults (for `up` and `demo`).
    struct SetupOptions: ParsableArguments {
        @Option(help: ArgumentHelp(
            "Run keepalived on this director (V11 or V15) for VRRP (keepalived -P), with 'vigil run -C' beside it for the checkers and data plane.",
            valueName: "director"))
        var keepalivedOn: String?

        @Option(help: ArgumentHelp(
            "The web server command on each real server instead of nginx; {root} stands for the page directory (e.g. 'busybox httpd -f -p 80 -h {root}').",
            valueName: "command"))
        var webServer: String?

        @Option(help: "The directors' data plane: auto (IPVS if the kernel has it, else nftables), ipvs or nftables.")
        var dataplane: String?

        @Option(help: ArgumentHelp("The keepalived binary.", visibility: .hidden))
        var keepalived = "keepalived"

        var labOptions: LabOptions {
            LabOptions(
                keepalivedOn: keepalivedOn?.uppercased(),
                webServer: webServer.map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) },
                dataplane: dataplane, keepalived: keepalived)
        }

        func validate() throws {
            if let problem = labOptions.problem(in: LabTopology()) { throw ValidationError(problem) }
        }
    }

    static func requireRoot() throws {
        guard getuid() == 0 else {
            FileHandle.standardError.write(Data("vigil lab: needs root to create network namespaces\n".utf8))
            throw ExitCode(1)
        }
    }

    /// Ctrl-C (or SIGTERM) during a lab command removes what the lab created. A sigaction
    /// handler, run on the one thread that leaves the signals unblocked, wakes that thread, which
    /// removes the lab and exits with status 130; the command's own thread stops short of
    /// exiting meanwhile (`waitIfInterrupted`).
    static func cleanUpOnInterrupt(_ runner: LabRunner) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        labInterruptWriteFD = fds[1]
        let readFD = fds[0]
        let thread = Thread {
            // The command itself runs on a dispatch worker thread, which blocks SIGINT and
            // SIGTERM (as every thread it starts): this thread is where the kernel can deliver them.
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGINT)
            sigaddset(&set, SIGTERM)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            var byte: UInt8 = 0
            while read(readFD, &byte, 1) < 0 && errno == EINTR {}
            runner.log("interrupted: removing the lab")
            runner.down()
            Glibc.exit(130)
        }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            labInterrupted = 1
            var byte: UInt8 = 1
            _ = write(labInterruptWriteFD, &byte, 1)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
        thread.start()
    }

    /// Called where a lab command would return: after an interrupt, the cleanup thread owns
    /// the exit.
    static func waitIfInterrupted() {
        while labInterrupted != 0 { pause() }
    }

    struct Up: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the lab and start its directors.")
        @OptionGroup var options: Options
        @OptionGroup var setup: SetupOptions

        func run() throws {
            try requireRoot()
            let runner = LabRunner(prefix: options.prefix, stateRoot: options.stateRoot, options: setup.labOptions)
            // Refuse before installing the Ctrl-C handler: an existing lab is not ours to remove.
            do { try runner.refuseIfExists() } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(1)
            }
            cleanUpOnInterrupt(runner)
            defer { waitIfInterrupted() }
            do { try runner.up() } catch {
                if let f = error as? LabFailure, f.nothingCreated {
                    FileHandle.standardError.write(Data("\(error)\n".utf8))
                    throw ExitCode(1)
                }
                waitIfInterrupted()
                FileHandle.standardError.write(Data("\(error)\nremoving what was created\n".utf8))
                runner.down()
                throw ExitCode(1)
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Who is master, where the VIP is, each director's table and real-server health.")
        @OptionGroup var options: Options

        func run() throws {
            try requireRoot()
            let runner = options.runner()
            guard runner.loadState() != nil else {
                FileHandle.standardError.write(Data("vigil lab: no lab with prefix \(options.prefix) is up\n".utf8))
                throw ExitCode(1)
            }
            print(runner.status(), terminator: "")
        }
    }

    struct Demo: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Walk through the scenario: balancing, failover, preemption, a failing page; then remove the lab.")
        @OptionGroup var options: Options
        @OptionGroup var setup: SetupOptions

        @Flag(help: "Leave the lab up after the demo.")
        var keep = false

        @Option(help: ArgumentHelp(
            "The steps to run, comma-separated: rotation, failover, preemption, digest (default: all).", valueName: "steps"))
        var steps: String?

        @Option(help: ArgumentHelp("Pause between the failover probes, in milliseconds.", visibility: .hidden))
        var probeInterval = 10.0

        @Option(help: ArgumentHelp("Write the measurements as JSON to this file ('-' for standard output).", valueName: "file"))
        var report: String?

        func parsedSteps() throws -> Set<LabStep> {
            guard let steps else { return Set(LabStep.allCases) }
            var out: Set<LabStep> = []
            for word in steps.split(separator: ",") {
                guard let s = LabStep(rawValue: word.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--steps: unknown step '\(word)': use \(LabStep.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                out.insert(s)
            }
            return out
        }

        func validate() throws { _ = try parsedSteps() }

        func run() throws {
            try requireRoot()
            let runner = LabRunner(prefix: options.prefix, stateRoot: options.stateRoot, options: setup.labOptions)
            cleanUpOnInterrupt(runner)
            defer { waitIfInterrupted() }
            if runner.loadState() != nil {
                runner.log("a lab with prefix \(options.prefix) exists: removing it first")
                options.runner().down()
            }
            let demo = LabDemo(runner: runner, steps: try parsedSteps(), probeInterval: probeInterval / 1000)
            let failures = demo.run()
            waitIfInterrupted()
            if !keep {
                runner.log("Step 7: lab down")
                runner.down()
            }
            if let report {
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                let data = try enc.encode(demo.report)
                if report == "-" {
                    FileHandle.standardOutput.write(Data(("@@LAB-REPORT@@\n" + String(decoding: data, as: UTF8.self) + "\n@@LAB-REPORT-END@@\n").utf8))
                } else {
                    guard FileManager.default.createFile(atPath: report, contents: data) else {
                        throw ValidationError("--report: cannot write \(report)")
                    }
                }
            }
            runner.log(failures == 0 ? "demo: every check held" : "demo: \(failures) check(s) did not hold")
            if failures > 0 { throw ExitCode(1) }
        }
    }

    struct Down: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove the lab: its processes, namespaces and files (also after a crash).")
        @OptionGroup var options: Options

        func run() throws {
            try requireRoot()
            options.runner().down()
        }
    }

    struct Config: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the directors' keepalived.conf as the lab runs them (digests of the lab's pages).")
        @OptionGroup var options: Options

        @Argument(help: "V11 (master) or V15 (backup); both when omitted.")
        var director: String?

        func run() throws {
            let runner = options.runner()
            let t = runner.topology
            let digests: [IPv4Address: String]
            if runner.loadState() != nil, let d = try? runner.computeDigests() {
                digests = d
            } else {
                FileHandle.standardError.write(Data("vigil lab config: the lab is not up; showing the digests of the pages it serves\n".utf8))
                digests = Dictionary(uniqueKeysWithValues: t.realServers.map { ($0.address, LabPages.digest(of: t.page(of: $0))) })
            }
            switch director?.uppercased() {
            case "V11": print(LabConfigs.master(digests: digests))
            case "V15": print(LabConfigs.backup(digests: digests))
            case nil:
                print("# V11 (\(t.master.address)): keepalived.conf\n" + LabConfigs.master(digests: digests))
                print("\n# V15 (\(t.backup.address)): keepalived.conf\n" + LabConfigs.backup(digests: digests))
            default:
                throw ValidationError("unknown director '\(director!)': use V11 or V15")
            }
        }
    }
}
