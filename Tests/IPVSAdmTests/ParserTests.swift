import DataPlane
import IPVSAdm
import NetCore
import Testing

private func run(_ args: [String], _ backend: MemoryBackend = MemoryBackend(), stdin: String = "") async -> IPVSAdmResult {
    await IPVSAdm.run(arguments: args, standardInput: stdin, backend: backend)
}

private func words(_ s: String) -> [String] { s.split(separator: " ").map(String.init) }

@Suite struct ParserTests {
    @Test(arguments: [
        ("-A", "You need to supply the 'service-address' option for the 'add-service' command\n", Int32(2)),
        ("-E -t 10.0.0.1:80 -r 10.0.0.2", "Illegal 'real-server' option with the 'edit-service' command\n", 2),
        ("-L -c -t 10.0.0.1:80", "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n", 2),
        ("-L --timeout --stats", "options conflicts in the list command\n", 2),
        ("-A -t 10.0.0.1:80 -L", "invalid option `-L'\n", 2),
        ("-A -t 10.0.0.1", "Zero port specified for non-persistent service\n", 2),
        ("-A -t 10.0.0.1:80 -o", "One-Packet Scheduling is only for UDP virtual services\n", 2),
        ("-A -t 10.0.0.1:80 -6", "-6 used before -f\n\n", 2),
        ("-a -t 10.0.0.1:80 -r [::1]:80", "Different address family is allowed only for tunneling servers\n", 2),
        ("-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue", "You need to supply the 'tun-port' option for the 'gue' tunnel type\n", 2),
        ("-a -t 10.0.0.1:80 -r 10.0.0.2 --tun-type gre", "Tunnel options conflict with forward method\n", 2),
        ("-a -t 10.0.0.1:80 -r 10.0.0.2 -w 2147483648", "illegal weight specified\n", 2),
        ("-A -t 10.0.0.1:80 -p 2678401", "invalid timeout value `2678401' specified\n", 2),
        ("-A -t 10.0.0.1:80 -s sh -b mh-port", "incompatible scheduler flag `mh-port'\n", 2),
        ("-A -t 10.0.0.1:80 -b ,", "invalid scheduler flag `,'\n", 2),
        ("-A -f 4294967296", "invalid fwmark value `4294967296' specified\n", 2),
        ("--set 1 2", "--set option requires 3 timeout values\n", 2),
        ("-L -n extra", "unexpected argument extra\n", 2),
        ("-L -t", "-t: missing argument\n", 255),
        ("-Lq", "-Lq: unknown option\n", 255),
        ("-L -n=5", "-n=5: option does not take an argument\n", 255),
        ("-L=n", "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n", 255),
        ("--numeric", "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n", 255),
        ("-A -t 10.0.0.1:80 -p -1", "-1: unknown option\n", 255),
        ("-A -t 10.0.0.1:80 -M 255.255.255.3 -p", "vigil: non-contiguous persistence netmask 255.255.255.3 is not supported\n", 2),
    ])
    func errorMessages(args: String, stderr: String, code: Int32) async {
        let r = await run(words(args))
        #expect(r.stderr == stderr)
        #expect(r.exitCode == code)
        #expect(r.stdout == "")
    }

    @Test func optionalPersistenceArgument() async {
        let b = MemoryBackend()
        for (args, expected) in [
            ("-A -t 10.0.0.1:1 -p", "360"), ("-A -t 10.0.0.1:2 -p 50", "50"), ("-A -t 10.0.0.1:3 -p77", "77"),
            ("-A -t 10.0.0.1:4 --persistent=70", "70"), ("-A -t 10.0.0.1:5 -p=40", "40"), ("-A -t 10.0.0.1:6 -p -s rr", "360"),
            ("-Ap -t 10.0.0.1:7", "360"),
        ] {
            #expect(await run(words(args), b).exitCode == 0, "\(args)")
            let port = args.split(separator: ":")[1].prefix(1)
            #expect(await run(words("-Ln -t 10.0.0.1:\(port)"), b).stdout.contains("persistent \(expected)\n"), "\(args)")
        }
        #expect(await run(words("-Apt 10.0.0.1:8"), b).stderr == "invalid timeout value `t' specified\n")
    }

    @Test func editSendsCompleteObjectFromDefaults() async {
        let b = MemoryBackend()
        _ = await run(words("-A -t 10.0.0.1:80 -s rr -p 100"), b)
        _ = await run(words("-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 5 -x 10"), b)
        _ = await run(words("-E -t 10.0.0.1:80 -o -u 10.0.0.1:80"), b)  // rejected: two services
        #expect(await run(words("-E -t 10.0.0.1:80 -p"), b).exitCode == 0)
        #expect(await run(words("-Ln -t 10.0.0.1:80"), b).stdout.contains("TCP  10.0.0.1:80 wlc persistent 360\n"))
        // -e without -m means DR, which forces the service port: 10.0.0.2:80 (exists).
        #expect(await run(words("-e -t 10.0.0.1:80 -r 10.0.0.2:8080"), b).exitCode == 0)
        #expect(await run(words("-Ln -t 10.0.0.1:80 --thresholds"), b).stdout.contains("  -> 10.0.0.2:80                  0          0          0          0         \n"))
    }

    @Test func shortClustersAndAttachedArguments() async {
        let b = MemoryBackend()
        #expect(await run(["-A", "-t10.0.0.1:80", "-srr"], b).exitCode == 0)
        #expect(await run(["-a", "--tcp-service=10.0.0.1:80", "-r", "10.1:80", "-mw", "3"], b).exitCode == 0)
        #expect(await run(["-Lnt", "10.0.0.1:80"], b).stdout.contains("  -> 10.0.0.1:80                  Masq    3"))
        #expect(await run(["-Sn"], b).stdout == "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.1:80 -m -w 3\n")
    }

    @Test func kernelErrorsUseIpvsStrerror() async {
        let b = MemoryBackend()
        #expect(await run(words("-D -t 10.0.0.1:80"), b).stderr == "No such service\n")
        #expect(await run(words("-a -t 10.0.0.1:80 -r 10.0.0.2"), b).stderr == "Service not defined\n")
        _ = await run(words("-A -t 10.0.0.1:80"), b)
        let dup = await run(words("-A -t 10.0.0.1:80"), b)
        #expect(dup.stderr == "Service already exists\n" && dup.exitCode == 255)
        #expect(await run(words("-A -t 10.0.0.2:80 -s nope"), b).stderr == "Scheduler or persistence engine not found\n")
        #expect(await run(words("-a -t 10.0.0.1:80 -r 10.0.0.2 -y 5"), b).stderr == "Numerical result out of range\n")
        #expect(await run(words("-a -t 10.0.0.1:80 -r 224.0.0.1"), b).stderr == "Invalid operation.  Possibly wrong module version, address not unicast, ...\n")
        let missing = await run(words("-L -n -t 10.0.0.9:80"), b)
        #expect(missing.stderr == "No such service\n" && missing.exitCode == 1)
    }

    @Test func restoreRunsLinesAndStopsOnOptionErrors() async {
        let b = MemoryBackend()
        let r = await run(["-R"], b, stdin: "-A -t 10.0.0.1:80 -s rr\nipvsadm -a -t 10.0.0.1:80 -r 10.0.0.2\n\n  \n-a -t 10.0.0.1:80 -r 10.0.0.2\n-a -t 10.0.0.1:80 -r 10.0.0.3 -w x\n-a -t 10.0.0.1:80 -r 10.0.0.4\n")
        #expect(r.stderr == "Destination already exists\nillegal weight specified\n")
        #expect(r.exitCode == 2)
        #expect(await run(["-S", "-n"], b).stdout == "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 1\n")
        // A popt error only ends that line.
        let p = await run(["-R"], b, stdin: "-D -t 10.0.0.1:80 --bogus\n-D -t 10.0.0.1:80\n")
        #expect(p.stderr == "--bogus: unknown option\n" && p.exitCode == 0)
        #expect(await run(["-R"], b, stdin: "-R\n").exitCode == 255)
        // A last line ending in blanks without a newline is lost, as in ipvsadm.
        _ = await run(["-R"], b, stdin: "-A -t 10.0.0.5:80  ")
        #expect(await run(["-S", "-n"], b).stdout == "")
    }

    @Test func noArgumentsListsWithNames() async {
        let b = MemoryBackend()
        _ = await run(words("-A -t 127.0.0.1:80"), b)
        let r = await run([], b)
        #expect(r.stdout.hasSuffix("TCP  localhost:http wlc\n"))
    }

    @Test func versionLine() async {
        let r = await run(["-v"])
        #expect(r.stdout == "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n")
        #expect(r.exitCode == 0)
    }
}
