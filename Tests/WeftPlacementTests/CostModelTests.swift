import Testing
import WeftRuntime

@testable import Weft
@testable import WeftPlacement

/// Shapes, work and seconds as strategies see them.
@Suite struct CostModelTests {
    static func shapes(_ graph: Graph, feeds: [String: TensorShape] = [:]) throws -> (RuntimeGraph, ShapeInference) {
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        return (runtime, ShapeInference(graph: runtime, feedShapes: feeds))
    }

    @Test func shapes_flowThroughMatMulBroadcastReductionsAndReshape() throws {
        let graph = Graph()
        graph.asDefault {
            let x = placeholder(.float, shape: [nil, 784], name: "x")
            // the count matches
            let w = Variable(try! Tensor([Float](repeating: 0, count: 784 * 10), shape: [784, 10]), name: "w")
            let b = constant(Tensor([Float](repeating: 0, count: 10)), name: "b")
            let logits = add(matMul(x, w.value), b, name: "logits")
            _ = sum(logits, axes: [1], name: "rows")
            _ = mean(logits, name: "all")
            _ = reshape(logits, to: [-1, 5, 2], name: "cube")
            _ = matMul(x, x, transposeA: true, name: "gram")
        }
        let (runtime, inferred) = try Self.shapes(graph, feeds: ["x:0": [32, 784]])
        func shape(_ name: String) throws -> TensorShape {
            inferred.shape(node: try runtime.node(named: name), output: 0)
        }
        #expect(try shape("x") == [32, 784])
        #expect(try shape("w") == [784, 10])
        #expect(try shape("logits") == [32, 10])
        #expect(try shape("rows") == [32])
        #expect(try shape("all") == .scalar)
        #expect(try shape("cube") == [32, 5, 2])
        #expect(try shape("gram") == [784, 784])
        #expect(inferred.bytes(node: try runtime.node(named: "logits"), output: 0) == 32 * 10 * 4)
    }

    @Test func unknownDimensions_countAsOne() throws {
        let graph = Graph()
        graph.asDefault { _ = relu(placeholder(.double, shape: [nil, 3], name: "x"), name: "r") }
        let (runtime, inferred) = try Self.shapes(graph)
        #expect(inferred.shape(node: try runtime.node(named: "r"), output: 0) == [1, 3])
        #expect(inferred.bytes(node: try runtime.node(named: "r"), output: 0) == 24)
    }

    @Test func feeds_byNodeOrTensorName_theTensorNameWinning() throws {
        let graph = Graph()
        graph.asDefault {
            _ = relu(placeholder(.float, shape: [nil, 3], name: "x"), name: "r")
            _ = relu(placeholder(.float, shape: [nil, 3], name: "y"), name: "s")
        }
        let (runtime, inferred) = try Self.shapes(graph, feeds: ["x": [5, 3], "x:0": [7, 3], "y": [2, 3]])
        #expect(inferred.shape(node: try runtime.node(named: "r"), output: 0) == [7, 3])
        #expect(inferred.shape(node: try runtime.node(named: "s"), output: 0) == [2, 3])
    }

    @Test func work_isTwoMNKForMatMulAndNForElementwise() throws {
        let graph = Graph()
        graph.asDefault {
            let a = placeholder(.float, shape: [64, 128], name: "a")
            let b = placeholder(.float, shape: [128, 32], name: "b")
            _ = matMul(a, b, name: "product")
            _ = a * a
        }
        let (runtime, inferred) = try Self.shapes(graph)
        let product = OpWork.of(node: try runtime.node(named: "product"), in: runtime, shapes: inferred)
        #expect(product.flops == 2 * 64 * 128 * 32)
        #expect(product.bytes == Double((64 * 128 + 128 * 32 + 64 * 32) * 4))
        let square = OpWork.of(node: try runtime.node(named: "mul"), in: runtime, shapes: inferred)
        #expect(square.flops == 64 * 128)
        #expect(square.bytes == Double(3 * 64 * 128 * 4))
    }

    @Test func seconds_areARooflineAndTransfersLatencyPlusBandwidth() throws {
        var model = CostModel(
            rates: .init(flopsPerSecond: 1e9, bytesPerSecond: 1e9, secondsPerOp: 1e-6),
            link: .init(latency: 1e-4, bytesPerSecond: 1e8)
        )
        let a = DeviceName(job: "worker", task: 0)
        let b = DeviceName(job: "worker", task: 1)
        #expect(model.computeSeconds(OpWork(flops: 2e9, bytes: 1e9), node: "n", on: a) == 1e-6 + 2)
        #expect(model.computeSeconds(OpWork(flops: 2e9, bytes: 1e9, dtype: .double), node: "n", on: a) == 1e-6 + 4)
        #expect(model.transferSeconds(bytes: 1_000_000, from: a, to: a) == 0)
        #expect(model.transferSeconds(bytes: 1_000_000, from: a, to: b) == 1e-4 + 1e-2)
        model.setLink(.init(latency: 0, bytesPerSecond: 1e6), between: a, and: b)
        #expect(model.transferSeconds(bytes: 1_000_000, from: b, to: a) == 1)
        model.setMeasuredCost(.milliseconds(3), node: "n")
        #expect(model.computeSeconds(OpWork(flops: 2e9, bytes: 1e9), node: "n", on: a) == 0.003)
    }

    @Test func measuredCosts_comeFromStepStatistics() throws {
        var steps = [StepStatistics(), StepStatistics(), StepStatistics()]
        for (index, milliseconds) in [4, 2, 9].enumerated() {
            steps[index].nodes = [
                .init(
                    node: "n",
                    op: "MatMul",
                    device: "",
                    start: .zero,
                    duration: .milliseconds(milliseconds),
                    outputBytes: 0
                ),
                .init(
                    node: "_weft/send_1",
                    op: "_Send",
                    device: "",
                    start: .zero,
                    duration: .seconds(1),
                    outputBytes: 0
                ),
            ]
        }
        var model = CostModel.default
        model.useMeasuredCosts(from: steps)
        let device = DeviceName(job: "worker", task: 0)
        #expect(model.computeSeconds(.none, node: "n", on: device) == 0.004)
        #expect(model.measuredSeconds(node: "_weft/send_1", on: device) == nil)
        #expect(ProfilePlacement(steps: steps).measuredCosts == ["n": .milliseconds(4)])
    }

    @Test func measuredLinks_setEachDirection() throws {
        let a = DeviceName(job: "worker", task: 0)
        let b = DeviceName(job: "worker", task: 1)
        var model = CostModel.default
        model.useLinks([
            LinkMeasurement(source: a, destination: b, latency: .microseconds(50), bytesPerSecond: 1e9),
            LinkMeasurement(source: b, destination: a, latency: .microseconds(20), bytesPerSecond: 2e9),
        ])
        #expect(Swift.abs(model.transferSeconds(bytes: 1_000_000, from: a, to: b) - (50e-6 + 1e-3)) < 1e-12)
        #expect(Swift.abs(model.transferSeconds(bytes: 1_000_000, from: b, to: a) - (20e-6 + 0.5e-3)) < 1e-12)
    }
}
