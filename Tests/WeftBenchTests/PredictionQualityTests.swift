import Testing
import WeftPlacement
import WeftProto
import WeftRuntime

@testable import WeftBench

/// The rank correlation and regret that `weft bench placement` reports per workload.
@Suite struct PredictionQualityTests {
    static func row(_ strategy: String, predicted: Double, measured: Double) -> PlacementRow {
        PlacementRow(
            workload: "mlp",
            parameters: "layers=3",
            nodes: 10,
            strategy: strategy,
            workers: 2,
            placementSeconds: 0.001,
            predicted: PlacementFigures(predictedStepSeconds: predicted),
            steps: 5,
            medianStepSeconds: measured,
            trafficSource: .measured,
            cutEdges: 0,
            nodeBalance: 1,
            valuesMatch: true
        )
    }

    @Test func sameOrder_isRhoOneAndNoRegret() throws {
        let rows = [
            Self.row("a", predicted: 1, measured: 10), Self.row("b", predicted: 2, measured: 20),
            Self.row("c", predicted: 3, measured: 40),
        ]
        let quality = try #require(PredictionQuality.of(rows).first)
        #expect(quality.spearman == 1)
        #expect(quality.regret == 1)
        #expect(quality.predictedBest == "a")
    }

    @Test func reversedOrder_isRhoMinusOneAndTheRegretOfTheWorst() throws {
        let rows = [
            Self.row("a", predicted: 1, measured: 40), Self.row("b", predicted: 2, measured: 20),
            Self.row("c", predicted: 3, measured: 10),
        ]
        let quality = try #require(PredictionQuality.of(rows).first)
        #expect(quality.spearman == -1)
        #expect(quality.regret == 4)
        #expect(quality.measuredBest == "c")
    }

    @Test func stepsPooledOverLikePlacements_decideTheRegret() throws {
        // a and c placed alike: c's faster median is noise, and their pooled median is a's too.
        var a = Self.row("a", predicted: 1, measured: 12)
        var c = Self.row("c", predicted: 1, measured: 10)
        (a.pooledMedianStepSeconds, c.pooledMedianStepSeconds) = (11, 11)
        let rows = [a, Self.row("b", predicted: 2, measured: 20), c]
        let quality = try #require(PredictionQuality.of(rows).first)
        #expect(quality.regret == 1)
        #expect(quality.spearman == 1)
    }

    @Test func partition_numbersGroupsInGraphOrder() throws {
        let nodes = ["x", "y", "z"].map { name in
            Tensorflow_NodeDef.with {
                $0.name = name
                $0.op = "NoOp"
            }
        }
        let graph = try RuntimeGraph(nodes: nodes)
        let (one, two) = (DeviceName(job: "worker", task: 1), DeviceName(job: "worker", task: 2))
        let first = PlacementBenchmark.partition(["x": one, "y": one, "z": two], of: graph)
        let renamed = PlacementBenchmark.partition(["x": two, "y": two, "z": one], of: graph)
        let other = PlacementBenchmark.partition(["x": one, "y": two, "z": two], of: graph)
        #expect(first == renamed)
        #expect(first != other)
    }

    @Test func ties_shareTheirMeanRank() {
        #expect(PredictionQuality.ranks([5, 1, 5, 2]) == [3.5, 1, 3.5, 2])
        #expect(PredictionQuality.spearman([1, 1], [1, 2]) == nil)
    }
}
