import DataPlane
import NetCore
import Testing

@testable import HealthCheckCore

/// A deterministic RNG so warmup offsets are reproducible.
struct SeqRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state
    }
}

/// Drives a scheduler with a scripted list of results and returns the timeline.
func drive(_ s: inout CheckerScheduler, start: Duration, results: [Bool]) -> [(at: Duration, step: CheckerScheduler.Step)] {
    var t = start
    var out: [(Duration, CheckerScheduler.Step)] = []
    for r in results {
        let step = s.record(r ? .ok() : .failed("failure detail"), now: t)
        out.append((t, step))
        t = step.nextCheck
    }
    return out
}

@Suite struct SchedulerTests {
    let target = "[192.168.0.12]:tcp:80"

    @Test func firstCheckIsOneSecondPlusRandomWarmup() {
        var rng = SeqRNG(state: 1)
        var firsts: Set<Duration> = []
        for _ in 0..<50 {
            var s = CheckerScheduler(kind: .tcp, policy: CheckerPolicy(delayLoop: .seconds(6)), target: target)
            let t = s.start(now: .seconds(100), using: &rng)
            #expect(t >= .seconds(101) && t <= .seconds(107))
            firsts.insert(t)
        }
        #expect(firsts.count > 10)  // really random
        var s = CheckerScheduler(kind: .tcp, policy: CheckerPolicy(delayLoop: .seconds(6), warmup: .zero), target: target)
        #expect(s.start(now: .seconds(100), using: &rng) == .seconds(101))
    }

    @Test func upServerGoesDownOnlyAfterRetryPlusOneFailures() {
        var s = CheckerScheduler(kind: .httpGet, policy: CheckerPolicy(delayLoop: .seconds(10), retry: 3, delayBeforeRetry: .seconds(2)), target: target)
        // First round succeeds (no transition: non-alpha starts up), then 4 failures.
        let tl = drive(&s, start: .seconds(1), results: [true, false, false, false, false])
        #expect(tl[0].step.transition == nil && tl[0].step.nextCheck == .seconds(11))
        #expect(tl[1].step.transition == nil && tl[1].step.nextCheck == .seconds(13))
        #expect(tl[2].step.nextCheck == .seconds(15))
        #expect(tl[3].step.transition == nil && tl[3].step.nextCheck == .seconds(17))
        #expect(tl[4].step.transition == .down)
        #expect(tl[4].step.logs.contains("HTTP_GET on service [192.168.0.12]:tcp:80 failed after 3 retries."))
        #expect(!s.isUp)
        // Intermediate failures are not logged without log_all_failures.
        #expect(tl[1].step.logs.isEmpty)
    }

    @Test func recoveryAfterFailureResetsRetries() {
        var s = CheckerScheduler(kind: .tcp, policy: CheckerPolicy(delayLoop: .seconds(5), retry: 1, delayBeforeRetry: .seconds(1)), target: target)
        let tl = drive(&s, start: .seconds(1), results: [true, false, true, false, true])
        #expect(tl.allSatisfy { $0.step.transition == nil })
        #expect(s.isUp)
    }

    @Test func downCheckerChecksEveryDelayLoopAndOneSuccessBringsItUp() {
        var s = CheckerScheduler(kind: .tcp, policy: CheckerPolicy(delayLoop: .seconds(5), retry: 2, delayBeforeRetry: .seconds(1)), target: target)
        let tl = drive(&s, start: .seconds(1), results: [true, false, false, false, false, false, true])
        #expect(tl[3].step.transition == .down)
        #expect(tl[3].step.logs.last == "TCP_CHECK on service [192.168.0.12]:tcp:80 failed after 2 retries.")
        // While down: every delay_loop, no more retries.
        #expect(tl[4].step.nextCheck - tl[4].at == .seconds(5))
        #expect(tl[5].step.nextCheck - tl[5].at == .seconds(5))
        #expect(tl[6].step.transition == .up)
        #expect(tl[6].step.logs == ["TCP connection to [192.168.0.12]:tcp:80 success."])
    }

    @Test func nonAlphaFirstFailureRemovesWithoutRetries() {
        var s = CheckerScheduler(kind: .tcp, policy: CheckerPolicy(delayLoop: .seconds(5), retry: 3), target: target)
        #expect(s.isUp)
        let step = s.record(.failed("x"), now: .seconds(1))
        #expect(step.transition == .down)
        #expect(step.nextCheck == .seconds(6))
    }

    @Test func alphaStartsDownAndFirstSuccessBringsItUp() {
        var s = CheckerScheduler(kind: .httpGet, policy: CheckerPolicy(delayLoop: .seconds(5), alpha: true), target: target)
        #expect(!s.isUp)
        let f = s.record(.failed("x"), now: .seconds(1))
        #expect(f.transition == nil)
        let ok = s.record(.ok(), now: f.nextCheck)
        #expect(ok.transition == .up)
        #expect(ok.logs == ["Remote Web server [192.168.0.12]:tcp:80 succeed on service."])
    }

    @Test func httpDownRetryWaitsMaxOfDelayBeforeRetryAndDelayLoop() {
        var s = CheckerScheduler(kind: .httpGet, policy: CheckerPolicy(delayLoop: .seconds(2), retry: 0, delayBeforeRetry: .seconds(7)), target: target)
        let step = s.record(.failed("x"), now: .seconds(1))
        #expect(step.transition == .down)
        #expect(step.nextCheck == .seconds(8))
        var t = CheckerScheduler(kind: .tcp, policy: CheckerPolicy(delayLoop: .seconds(2), retry: 0, delayBeforeRetry: .seconds(7)), target: target)
        #expect(t.record(.failed("x"), now: .seconds(1)).nextCheck == .seconds(3))
    }

    @Test func logAllFailuresLogsIntermediateFailures() {
        var s = CheckerScheduler(kind: .tcp, policy: CheckerPolicy(retry: 2, logAllFailures: true), target: target)
        _ = s.record(.ok(), now: .zero)
        let step = s.record(.failed("TCP connection to [192.168.0.12]:tcp:80 failed."), now: .seconds(60))
        #expect(step.logs == ["TCP connection to [192.168.0.12]:tcp:80 failed."])
    }

    @Test func urlsRotateOnePerDelayLoopAndFailedURLIsRecheckedFirst() {
        var s = CheckerScheduler(kind: .httpGet, policy: CheckerPolicy(delayLoop: .seconds(1), retry: 1), target: target, urlCount: 3)
        #expect(s.urlIndex == 0)
        #expect(s.record(.ok(), now: .seconds(1)).nextURL == 1)
        #expect(s.record(.ok(), now: .seconds(2)).nextURL == 2)
        #expect(s.record(.failed("x"), now: .seconds(3)).nextURL == 2)
        #expect(s.record(.ok(), now: .seconds(4)).nextURL == 0)
    }

    @Test func perKindDefaults() {
        #expect(CheckerPolicy.defaults(for: .httpGet).delayBeforeRetry == .seconds(3))
        #expect(CheckerPolicy.defaults(for: .dns, delayLoop: .seconds(9)).delayBeforeRetry == .seconds(9))
        #expect(CheckerPolicy.defaults(for: .dns).retry == 3)
        #expect(CheckerPolicy.defaults(for: .misc).retry == 0)
        #expect(CheckerPolicy.defaults(for: .tcp).warmup == .seconds(60))
    }
}

@Suite struct RealServerHealthTests {
    @Test func aliveOnlyWhileAllCheckersUp() {
        var rs = RealServerHealth(baseWeight: 5, initiallyUp: [true, true])
        #expect(rs.isAlive)
        #expect(rs.update(checker: 0, isUp: false) == .down)
        #expect(rs.update(checker: 1, isUp: false) == nil)
        #expect(rs.update(checker: 0, isUp: true) == nil)
        #expect(rs.update(checker: 1, isUp: true) == .up(weight: 5))
    }

    @Test func alphaServerStartsDead() {
        var rs = RealServerHealth(baseWeight: 1, initiallyUp: [false])
        #expect(!rs.isAlive)
        #expect(rs.update(checker: 0, isUp: true) == .up(weight: 1))
    }

    @Test func miscDynamicReplacesWeightAndFileCheckAdds() {
        var rs = RealServerHealth(baseWeight: 10, initiallyUp: [true, true])
        #expect(rs.update(checker: 0, isUp: true, weight: .replace(3)) == .weight(3))
        #expect(rs.update(checker: 1, isUp: true, weight: .add(4)) == .weight(7))
        #expect(rs.update(checker: 1, isUp: true, weight: .add(-20)) == .weight(0))
        #expect(rs.update(checker: 0, isUp: false) == .down)
        #expect(rs.update(checker: 0, isUp: true, weight: .replace(50)) == .up(weight: 30))
    }

    @Test func miscExitCodes() {
        let t = "[192.168.0.12]:tcp:80 VS [10.0.0.1]:tcp:80"
        #expect(MiscCheckRules.outcome(.exited(0), dynamic: true, target: t, script: "/s").success)
        #expect(!MiscCheckRules.outcome(.exited(1), dynamic: true, target: t, script: "/s").success)
        let o = MiscCheckRules.outcome(.exited(12), dynamic: true, target: t, script: "/s")
        #expect(o.success && o.weight == 10)
        #expect(!MiscCheckRules.outcome(.exited(12), dynamic: false, target: t, script: "/s").success)
        let to = MiscCheckRules.outcome(.timedOut, dynamic: false, target: t, script: "/bin/hang")
        #expect(!to.success && to.detail == "Misc check for [\(t)] by [/bin/hang] timed out.")
        #expect(MiscCheckRules.outcome(.exited(1), dynamic: false, target: t, script: "/s").detail == "Misc check for [\(t)] by [/s] failed (exited with status 1).")
    }

    @Test func miscPathSplitting() {
        #expect(MiscCheckRules.splitCommand("/bin/check -a 'two words' \"x y\" a\\ b") == ["/bin/check", "-a", "two words", "x y", "a b"])
        #expect(MiscCheckRules.splitCommand("  /bin/true  ") == ["/bin/true"])
        #expect(MiscCheckRules.splitCommand("a ''") == ["a", ""])
    }

    @Test func fileCheckWeights() {
        #expect(FileCheckRules.outcome(fileText: "3\n", weight: 2, reverse: false, target: "f").weight == 6)
        #expect(FileCheckRules.outcome(fileText: "3", weight: 2, reverse: true, target: "f").weight == -6)
        #expect(!FileCheckRules.outcome(fileText: "1", weight: 0, reverse: false, target: "f").success)
        #expect(FileCheckRules.outcome(fileText: "0", weight: 0, reverse: false, target: "f").success)
        #expect(!FileCheckRules.outcome(fileText: "-300", weight: 1, reverse: false, target: "f").success)
        #expect(!FileCheckRules.outcome(fileText: nil, weight: 1, reverse: false, target: "f").success)
    }

    @Test func realServerIDSpelling() {
        let id = RealServerID(
            virtualService: .address(.tcp, SocketAddress(address: IPAddress("10.0.0.1")!, port: 80)),
            server: SocketAddress(address: IPAddress("192.168.0.12")!, port: 80))
        #expect(id.serverDescription == "[192.168.0.12]:tcp:80")
        #expect(id.description == "[192.168.0.12]:tcp:80 VS [10.0.0.1]:tcp:80")
    }
}
