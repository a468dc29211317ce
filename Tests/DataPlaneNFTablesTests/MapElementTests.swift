import Foundation
import Testing

@testable import DataPlaneNFTables

/// `nft -j list map` output (captured from nftables 1.0.6) read into key, data and seconds left.
@Suite struct MapElementTests {
    @Test func concatKeysWithAndWithoutTimeout() throws {
        let json = #"""
            {"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"map": {"family": "netdev", "name": "conn_1", "table": "t", "type": ["inet_service", "ipv4_addr"], "handle": 1, "map": "mark", "flags": ["timeout"], "elem": [[{"elem": {"val": {"concat": [1234, "10.0.0.5"]}, "timeout": 300, "expires": 299}}, 2], [{"concat": [80, "10.0.0.6"]}, 3]]}}]}
            """#
        let elems = try #require(NFTablesBackend.mapElements(json: json))
        #expect(elems.count == 2)
        let concat = elems.map { (($0.key as? [String: Any])?["concat"] as? [Any]).map { "\($0[0]) \($0[1])" } }
        #expect(concat == ["1234 10.0.0.5", "80 10.0.0.6"])
        #expect(elems.map { ($0.data as? NSNumber)?.intValue } == [2, 3])
        #expect(elems.map(\.expires) == [299, 0])
    }

    @Test func plainKeys() throws {
        let json = #"""
            {"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"map": {"family": "netdev", "name": "pers_1", "table": "t", "type": "ipv4_addr", "handle": 2, "map": "mark", "flags": ["timeout"], "elem": [[{"elem": {"val": "10.0.0.7", "timeout": 60, "expires": 59}}, 4]]}}]}
            """#
        let elems = try #require(NFTablesBackend.mapElements(json: json))
        #expect(elems.map { $0.key as? String } == ["10.0.0.7"])
        #expect(elems.map { ($0.data as? NSNumber)?.intValue } == [4])
        #expect(elems.map(\.expires) == [59])
    }

    @Test func emptyMapAndNotJSON() {
        let empty = #"{"nftables": [{"metainfo": {"json_schema_version": 1}}, {"map": {"name": "pers_1", "type": "ipv4_addr", "map": "mark"}}]}"#
        #expect(NFTablesBackend.mapElements(json: empty)?.isEmpty == true)
        #expect(NFTablesBackend.mapElements(json: "Error: No such file or directory") == nil)
        #expect(NFTablesBackend.mapElements(json: #"{"other": []}"#) == nil)
    }
}
