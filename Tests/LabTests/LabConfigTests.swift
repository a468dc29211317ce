import Testing
import NetCore
@testable import Lab

@Suite struct LabConfigTests {
    let digests: [IPv4Address: String] = [
        IPv4Address(192, 168, 0, 12): "00000000000000000000000000000012",
        IPv4Address(192, 168, 0, 13): "00000000000000000000000000000013",
        IPv4Address(192, 168, 0, 14): "00000000000000000000000000000014",
    ]

    @Test func digestsAreReplacedPerRealServerKeepingTheRest() {
        let text = LabConfigs.master(digests: digests)
        #expect(text.contains("digest 00000000000000000000000000000012"))
        #expect(text.contains("digest  00000000000000000000000000000013"))
        #expect(text.contains("digest  00000000000000000000000000000014"))
        #expect(!text.contains("c2e7b1048523a6fc9a1a78d5fd783605"))
        // Everything but the three digests is the scenario's text.
        let before = LabConfigs.originalMaster.split(separator: "\n", omittingEmptySubsequences: false)
        let after = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(before.count == after.count)
        #expect(zip(before, after).filter { $0 != $1 }.count == 3)
    }

    @Test func backupKeepsItsCommentsAndPriority() {
        let text = LabConfigs.backup(digests: digests)
        #expect(text.contains("priority 100      ##优先级比master 低些<150"))
        #expect(text.contains("digest  00000000000000000000000000000014"))
    }

    @Test func topologyNamesDeriveFromThePrefix() {
        let t = LabTopology(prefix: "t1")
        #expect(t.namespaces == ["t1-client", "t1-v11", "t1-v15", "t1-v12", "t1-v13", "t1-v14", "t1-sw"])
        #expect(t.master.address.description == "192.168.0.11")
        #expect(t.page(of: t.realServers[0]) == "web1 V12 192.168.0.12\n")
        #expect(LabTopology.validate(prefix: "bad name") != nil)
        #expect(LabTopology.validate(prefix: "vlab-2") == nil)
    }
}
