import Foundation
import Lab
import Testing
import TestSupport

/// `../shared/tools/ipvs-vm`, when it and qemu are there.
var ipvsVM: String? {
    guard let shared = sharedDirectory else { return nil }
    let path = "\(shared)/tools/ipvs-vm"
    return FileManager.default.isExecutableFile(atPath: path) && haveProgram("qemu-system-x86_64") ? path : nil
}

/// The reference scenario inside a qemu guest whose kernel has IPVS: real servers and client
/// as namespaces in the guest (busybox httpd serves the pages, as nginx is not there), the
/// directors running `vigil run --dataplane ipvs`. One boot runs `lab demo` for rotation and
/// failover and reads the kernel's table back with ipvsadm.
@Suite(.serialized, .enabled(if: isRoot && ipvsVM != nil && FileManager.default.isExecutableFile(atPath: vigilBinaryPath), "needs root, qemu and ../shared/tools/ipvs-vm"))
struct IPVSGuestTests {
    @Test func rotationAndFailoverWithKernelIPVS() throws {
        let vm = try #require(ipvsVM)
        let prefix = "vgtvm"
        // ipvs-vm copies the binary to its resolved path (.build/debug is a symlink).
        let vigil = URL(fileURLWithPath: vigilBinaryPath).resolvingSymlinksInPath().path
        // The guest is a throwaway machine: namespace names cannot collide there, but the
        // prefix keeps the test's names recognisable. The guest lacks /usr/bin/env (the lab runs
        // its commands through it; busybox's would run its own `ip` applet instead of iproute2)
        // and a sysctl command (busybox has one).
        let script = """
            printf '#!/bin/bash\\nexec "$@"\\n' > /usr/bin/env; chmod +x /usr/bin/env; ln -sf /bin/busybox /sbin/sysctl
            \(vigil) lab demo --prefix \(prefix) --keep --steps rotation,failover --dataplane ipvs \
              --web-server 'busybox httpd -f -p 80 -h {root}' --probe-interval 50 --report - ; rc=$?
            echo "@@IPVSADM@@"
            for d in v11 v15; do echo "== $d"; ip netns exec \(prefix)-$d ipvsadm -Ln; done
            echo "@@LOG-V15@@"; tail -n 40 /run/vigil-lab/\(prefix)/V15.log
            \(vigil) lab down --prefix \(prefix)
            echo "@@AFTER-DOWN@@"; ip netns list; ls /run/vigil-lab
            exit $rc
            """
        let started = Date()
        let r = try runCommand([vm, "--add", vigil, "--timeout", "170", "--", script], timeout: 200)
        let elapsed = Date().timeIntervalSince(started)
        let comment = Comment(rawValue: "guest output (\(Int(elapsed)) s):\n\(r.stdout)\n\(r.stderr)")

        let report = try #require(Self.section(r.stdout, "@@LAB-REPORT@@", "@@LAB-REPORT-END@@"), comment)
        let lab = try JSONDecoder().decode(LabReport.self, from: Data(report.utf8))
        try #require(lab.upSucceeded, comment)

        // Kernel IPVS balanced: exact round robin over the three busybox servers.
        #expect(lab.rotationFailed == 0, comment)
        #expect(lab.rotation.count == 30 && isExactRotation(names: lab.rotation, over: 3), "rotation \(lab.rotation)")

        // Failover with IPVS on the backup: within the master-down interval + 1 s, no failure after.
        let takeover = try #require(lab.takeoverSeconds, comment)
        #expect(takeover <= lab.masterDownInterval + 1, "takeover after \(takeover) s")
        #expect(lab.probesAfterTakeover > 0)
        #expect(lab.failedAfterTakeover == 0, "failed after the takeover: \(lab.probeErrorsAfterTakeover)")
        #expect(lab.afterFailoverFailed == 0 && lab.afterFailover.count == 9 && isExactRotation(names: lab.afterFailover, over: 3), "after failover \(lab.afterFailover)")

        // The table is the kernel's: ipvsadm in the surviving director reads the service and
        // its three real servers in DR ("Route") mode.
        let table = Self.section(r.stdout, "== v15", "@@LOG-V15@@") ?? ""
        #expect(table.contains("TCP  192.168.0.21:80 rr"), comment)
        for rs in ["192.168.0.12:80", "192.168.0.13:80", "192.168.0.14:80"] {
            #expect(table.split(separator: "\n").contains { $0.contains(rs) && $0.contains("Route") }, "\(rs) in \(table)")
        }
        // `lab down` in the guest left no namespace and no state.
        let afterDown = Self.section(r.stdout, "@@AFTER-DOWN@@", nil) ?? "?"
        #expect(afterDown.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "after lab down: \(afterDown)")
        #expect(r.status == 0, comment)
    }

    /// The text between `begin` and `end` (or the end of the output) in the guest's output.
    static func section(_ text: String, _ begin: String, _ end: String?) -> String? {
        guard let b = text.range(of: begin) else { return nil }
        let rest = text[b.upperBound...]
        guard let end else { return String(rest) }
        guard let e = rest.range(of: end) else { return nil }
        return String(rest[..<e.lowerBound])
    }
}
