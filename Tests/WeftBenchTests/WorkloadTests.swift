import Foundation
import Testing
import Weft
import WeftRuntime

@testable import WeftBench

/// The generated workloads build the node counts their documentation promises and compute
/// what they should in a local session.
@Suite struct WorkloadTests {
    /// Each small workload with the node count its generator documents.
    static let advertised: [(Workload, Int)] = [
        (Workloads.chain(length: 50, width: 4, seed: 3), 50 + 3),
        (Workloads.fanout(branches: 8, depth: 2, width: 4, seed: 3), 8 * (2 + 2) + 2),
        (Workloads.mlp(layers: 3, width: 8, batch: 2, seed: 3), 3 * 11 + 3),
        (Workloads.transformer(blocks: 2, model: 8, heads: 2, sequence: 4, seed: 3), 2 * (25 * 2 + 26) + 3),
    ]

    @Test(arguments: 0..<advertised.count)
    func workload_buildsItsAdvertisedNodeCount_andRunsLocally(index: Int) throws {
        let (workload, nodes) = Self.advertised[index]
        let built = try workload.build()
        #expect(built.graph.nodeCount == nodes, "\(workload.name)")
        let session = Session(graph: built.graph)
        defer { session.close() }
        if !built.initializers.isEmpty { _ = try session.run(fetches: [], targets: built.initializers) }
        let values = try session.run(fetches: built.fetches, feeds: built.feeds)
        #expect(values.allSatisfy { $0.doubleValues.allSatisfy(\.isFinite) }, "\(workload.name)")
    }

    @Test func chain_ofAdditions_computesInputPlusLengthTimesDelta() throws {
        let built = try Workloads.chain(length: 50, width: 4, seed: 3).build()
        let session = Session(graph: built.graph)
        defer { session.close() }
        let values = try session.run(fetches: built.fetches + ["delta:0"], feeds: built.feeds)
        let delta = try values[1].scalars(as: Float.self)
        var expected = try built.feeds["x:0"]!.scalars(as: Float.self)
        // One addition per link, in order, exactly as the graph adds them.
        for _ in 0..<50 { expected = zip(expected, delta).map { $0 + $1 } }
        #expect(try values[0].scalars(as: Float.self) == expected)
    }

    @Test func fanout_sumsEveryBranchsScaledInput() throws {
        let (branches, depth) = (8, 2)
        let built = try Workloads.fanout(branches: branches, depth: depth, width: 4, seed: 5).build()
        let scales = ["branch/scale:0"] + (1..<branches).map { "branch_\($0)/scale:0" }
        let session = Session(graph: built.graph)
        defer { session.close() }
        let values = try session.run(fetches: built.fetches + scales, feeds: built.feeds)
        let x = built.feeds["x:0"]!.doubleValues
        var expected = 0.0
        for scale in values.dropFirst() {
            for (xi, ci) in zip(x, scale.doubleValues) { expected += xi * Foundation.pow(ci, Double(depth)) }
        }
        let total = try #require(values[0].doubleValues.first)
        #expect(Swift.abs(total - expected) <= 1e-5 * Swift.max(1, Swift.abs(expected)))
    }

    @Test func sameSeed_buildsTheSameGraph_otherSeedAnother() throws {
        let one = try Workloads.mlp(layers: 2, width: 4, batch: 2, seed: 9).build().graph.graphDef
        let again = try Workloads.mlp(layers: 2, width: 4, batch: 2, seed: 9).build().graph.graphDef
        let other = try Workloads.mlp(layers: 2, width: 4, batch: 2, seed: 10).build().graph.graphDef
        #expect(one == again)
        #expect(one != other)
    }

    @Test func presets_andKnobs() throws {
        let chain = try Workloads.named("chain", size: .small, overrides: ["length": 7], seed: 1)
        #expect(try chain.build().graph.nodeCount == 10)
        #expect(throws: WeftError.self) { try Workloads.named("chain", size: .small, overrides: ["depth": 3], seed: 1) }
        #expect(throws: WeftError.self) {
            try Workloads.named("chain", size: .small, overrides: ["length": 0], seed: 1)
        }
        let unknown = try #require(throws: WeftError.self) { try Workloads.named("nope", size: .small, seed: 1) }
        #expect(unknown.message.contains("transformer"))
    }

    /// The large presets, by the node formulas the small workloads verify above (building all
    /// four 100,000-node graphs would cost the suite seconds; the planning test builds one).
    @Test func largePresets_haveAtLeast100kNodes() throws {
        func large(_ name: String, _ knob: String) throws -> Int {
            try #require(try Workloads.kind(named: name).knobs.first { $0.name == knob }?.presets[.large])
        }
        #expect(try large("chain", "length") + 3 >= 100_000)
        #expect(try large("fanout", "branches") * (large("fanout", "depth") + 2) + 2 >= 100_000)
        #expect(try large("mlp", "layers") * 11 + 3 >= 100_000)
        #expect(try large("transformer", "blocks") * (25 * large("transformer", "heads") + 26) + 3 >= 100_000)
    }

    @Test func transformer_refusesAModelWidthThatHeadsDoNotDivide() {
        #expect(throws: WeftError.self) {
            try Workloads.transformer(blocks: 1, model: 10, heads: 3, sequence: 2, seed: 1).build()
        }
    }

    @Test func graphDefFile_runsLikeTheGraphItWasSavedFrom() throws {
        let original = try Workloads.chain(length: 5, width: 3, seed: 2).build()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("weft-chain-\(UUID().uuidString).pb")
        defer { try? FileManager.default.removeItem(at: file) }
        try original.graph.serializedGraphDef().write(to: file)
        let loaded = try Workloads.graphDef(file: file, fetches: original.fetches, feeds: original.feeds).build()
        let a = try Session(graph: original.graph).run(fetches: original.fetches, feeds: original.feeds)
        let b = try Session(graph: loaded.graph).run(fetches: loaded.fetches, feeds: loaded.feeds)
        #expect(a == b)
        #expect(throws: WeftError.self) { try Workloads.graphDef(file: file, fetches: ["missing:0"]).build() }
    }
}
