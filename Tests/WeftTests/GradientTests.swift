import Testing
import WeftProto
import WeftRuntime
import WeftTestKit

@testable import Weft

/// The gradient walk itself: aggregation, stops, unconnected inputs, errors, names, sparse
/// gradients of variables.
@Suite struct GradientTests {
    @Test func twoPaths_addUp() throws {
        let x = GradientChecker.tensor([2, 3], seed: 3)
        try GradientChecker(inputs: [x]).check { xs in xs[0] * xs[0] + tanh(xs[0]) }
    }

    @Test func matMulAndBroadcastAdd() throws {
        let a = GradientChecker.tensor([2, 3], seed: 1)
        let b = GradientChecker.tensor([3, 4], seed: 2)
        let c = GradientChecker.tensor([4], seed: 3)
        try GradientChecker(inputs: [a, b, c]).check { xs in matMul(xs[0], xs[1]) + xs[2] }
    }

    @Test func checker_catchesAWrongGradient() throws {
        let registry = GradientRegistry()
        // Forgets the factor 1 − y² of tanh.
        registry.register("Tanh") { context throws(WeftError) in [.dense(try context.gradient())] }
        let checker = GradientChecker(inputs: [GradientChecker.tensor([3], seed: 5)], registry: registry)
        try withKnownIssue { try checker.check { xs in tanh(xs[0]) } }
    }

    @Test func gradientNodes_areNamedAsTensorFlowNamesThem() throws {
        let graph = Graph()
        let (a, b, y) = graph.asDefault { () -> (Output, Output, Output) in
            let a = placeholder(.float, shape: [2, 3], name: "a")
            let b = placeholder(.float, shape: [3, 2], name: "b")
            return (a, b, matMul(a, b) * matMul(a, b))
        }
        let first = try graph.gradients(of: [y], with: [a, b])
        #expect(first.map { $0?.operation.name } == ["gradients/AddN", "gradients/AddN_1"])
        #expect(graph.operation(named: "gradients/MatMul_grad/MatMul") != nil)
        #expect(graph.operation(named: "gradients/MatMul_grad/MatMul_1") != nil)
        #expect(graph.operation(named: "gradients/grad_ys_0")?.type == "Fill")
        let second = try graph.gradients(of: y, with: a)
        #expect(second?.operation.name.hasPrefix("gradients_1/") == true)
    }

    @Test func stopGradient_endsThePath() throws {
        let graph = Graph()
        let (x, y, stopped) = graph.asDefault { () -> (Output, Output, Output) in
            let x = placeholder(.double, shape: [3], name: "x")
            let stopped = OpBuilder.unary("StopGradient", x * x)
            return (x, x * x + stopped, stopped)
        }
        let gradient = try #require(try graph.gradients(of: y, with: x))
        let values = try Session(graph: graph).run(gradient, feeding: [x: Tensor([1.0, -2, 3])])
        #expect(values.doubleValues == [2, -4, 6])
        #expect(try graph.gradients(of: stopped, with: x) == nil)
        let zeros = try #require(try graph.gradients(of: stopped, with: x, unconnected: .zero))
        #expect(try Session(graph: graph).run(zeros, feeding: [x: Tensor([1.0, -2, 3])]).doubleValues == [0, 0, 0])
    }

    @Test func preventGradient_isAnErrorNamingTheNode() throws {
        let graph = Graph()
        let (x, y) = graph.asDefault { () -> (Output, Output) in
            let x = placeholder(.float, shape: [2], name: "x")
            let prevented = OpBuilder.node(
                "PreventGradient",
                [x],
                ["T": .type(.float), "message": .string("no second derivatives here")],
                name: "guard"
            ).output()
            return (x, square(prevented))
        }
        let error = try #require(throws: WeftError.self) { try graph.gradients(of: y, with: x) }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("'guard'") && error.message.contains("no second derivatives here"))
    }

    @Test func opWithoutGradient_isUnimplementedNamingOpAndType() throws {
        let graph = Graph()
        let (x, y) = graph.asDefault { () -> (Output, Output) in
            let x = placeholder(.float, shape: [2], name: "x")
            return (x, tanh(x, name: "squash"))
        }
        let error = try #require(throws: WeftError.self) {
            try graph.gradients(of: y, with: x, registry: GradientRegistry())
        }
        #expect(error.code == .unimplemented)
        #expect(error.message.contains("operation 'squash' (op type: Tanh)"))
    }

    @Test func unconnectedInputs_getNilOrZeros() throws {
        let graph = Graph()
        let (x, z, y) = graph.asDefault { () -> (Output, Output, Output) in
            let x = placeholder(.double, shape: [2], name: "x")
            let z = placeholder(.double, shape: [2, 2], name: "z")
            return (x, z, exp(x))
        }
        let gradients = try graph.gradients(of: [y], with: [x, z])
        #expect(gradients[0] != nil && gradients[1] == nil)
        let zeros = try #require(try graph.gradients(of: [y], with: [x, z], unconnected: .zero)[1])
        let feeds = [x: Tensor([0.0, 1]), z: try Tensor([1.0, 2, 3, 4], shape: [2, 2])]
        let value = try Session(graph: graph).run(zeros, feeding: feeds)
        #expect(value.shape == [2, 2] && value.doubleValues == [0, 0, 0, 0])
    }

    @Test func yItself_getsOnesOrItsGradY() throws {
        let graph = Graph()
        let (x, seed) = graph.asDefault { (placeholder(.float, shape: [2], name: "x"), constant([Float(3), 4])) }
        let ones = try #require(try graph.gradients(of: x, with: x))
        let given = try #require(try graph.gradients(of: x, with: x, gradY: seed))
        let session = Session(graph: graph)
        let feeds = [x: Tensor([Float(5), 6])]
        #expect(try session.run(ones, feeding: feeds).scalars(as: Float.self) == [1, 1])
        #expect(try session.run(given, feeding: feeds).scalars(as: Float.self) == [3, 4])
    }

    @Test func severalYs_addTheirGradients() throws {
        let graph = Graph()
        let (x, y1, y2) = graph.asDefault { () -> (Output, Output, Output) in
            let x = placeholder(.double, shape: [2], name: "x")
            let y1 = x * 3
            return (x, y1, square(y1))
        }
        // y2 depends on y1: its gradient reaches y1 before y1's own is passed on.
        let gradient = try #require(try graph.gradients(of: [y1, y2], with: [x])[0])
        let value = try Session(graph: graph).run(gradient, feeding: [x: Tensor([1.0, -1])])
        #expect(value.doubleValues == [21.0, -15])
    }

    @Test func gradYs_mustMatchTheYs() throws {
        let graph = Graph()
        let (x, y, wrongType) = graph.asDefault { () -> (Output, Output, Output) in
            let x = placeholder(.float, shape: [2], name: "x")
            return (x, square(x), constant([1.0, 1.0]))
        }
        #expect(throws: WeftError.self) { try graph.gradients(of: [y], with: [x], gradYs: []) }
        let error = try #require(throws: WeftError.self) {
            try graph.gradients(of: [y], with: [x], gradYs: [wrongType])
        }
        #expect(error.code == .invalidArgument)
        let other = Graph()
        let foreign = other.asDefault { placeholder(.float, name: "x") }
        #expect(throws: WeftError.self) { try graph.gradients(of: [y], with: [foreign]) }
    }

    @Test func customGradient_isUsed() throws {
        let registry = GradientRegistry()
        registry.register("Square") { context throws(WeftError) in [.dense(try context.gradient() * 10)] }
        let graph = Graph()
        let (x, y) = graph.asDefault { () -> (Output, Output) in
            let x = placeholder(.float, shape: [], name: "x")
            return (x, square(x))
        }
        let gradient = try #require(try graph.gradients(of: y, with: x, registry: registry))
        #expect(try Session(graph: graph).run(gradient, feeding: [x: Tensor(Float(2))]).scalar(as: Float.self) == 10)
    }

    @Test func colocateWithOps_placesGradientNodesWithTheirOp() throws {
        let graph = Graph()
        let (x, y) = graph.asDefault { () -> (Output, Output) in
            let x = placeholder(.float, shape: [2, 2], name: "x")
            let y = graph.device("/job:ps/task:0") { matMul(x, x, name: "product") }
            return (x, y)
        }
        _ = try graph.gradients(of: y, with: x, colocateWithOps: true)
        let node = try #require(graph.operation(named: "gradients/product_grad/MatMul"))
        #expect(node.device == "/job:ps/task:0")
        #expect(node.colocationGroups == ["product"])
    }

    /// An embedding table as a TensorFlow 1.x variable: the gradient through its `read` stays
    /// sparse, rows of the ids looked up.
    @Test func embeddingLookup_onRefVariable_givesSlices() throws {
        let graph = Graph()
        let table = try Tensor((0..<12).map { Double($0) / 10 }, shape: [4, 3])
        let (variable, ids, y, initialize) = graph.asDefault { () -> (Variable, Output, Output, Operation) in
            let variable = Variable(table, name: "embedding")
            let ids = placeholder(.int32, shape: [3], name: "ids")
            let rows = OpBuilder.gather(variable.value, ids, axis: constant(Int32(0)))
            let weights = constant(try! Tensor([1.0, 2, 3, 4, 5, 6, 7, 8, 9], shape: [3, 3]))
            return (variable, ids, sum(rows * weights), globalVariablesInitializer())
        }
        let gradients = try graph.gradientsKeepingSlices(of: [y], with: [variable.output])
        guard case .sparse(let slices)? = gradients[0] else {
            Issue.record("expected slices, got \(String(describing: gradients[0]))")
            return
        }
        let dense = try #require(try graph.gradients(of: y, with: variable.output))
        let session = Session(graph: graph)
        try session.run(initialize)
        let feeds = [ids: Tensor([Int32(3), 0, 3])]
        let values = try session.run([slices.values, slices.indices, slices.denseShape, dense], feeding: feeds)
        #expect(values[0].shape == [3, 3] && values[0].doubleValues == [1, 2, 3, 4, 5, 6, 7, 8, 9])
        #expect(try values[1].scalars(as: Int32.self) == [3, 0, 3])
        #expect(try values[2].scalars(as: Int32.self) == [4, 3])
        #expect(values[3].doubleValues == [4.0, 5, 6, 0, 0, 0, 0, 0, 0, 8, 10, 12])
    }

    /// A resource variable: `ResourceGather` gives slices to the handle, `ReadVariableOp` a
    /// dense gradient; both paths together are densified and added.
    @Test func resourceVariable_gatherAndRead() throws {
        let graph = Graph()
        let (handle, y, gathered, initialize) = graph.asDefault { () -> (Output, Output, Output, Operation) in
            let handle = OpBuilder.node(
                "VarHandleOp",
                [],
                [
                    "dtype": .type(.double), "shape": .shape(PartialShape([3, 2])), "container": .string(""),
                    "shared_name": .string("table"),
                ],
                name: "table"
            ).output()
            let initial = constant(try! Tensor([1.0, 2, 3, 4, 5, 6], shape: [3, 2]))
            let initialize = OpBuilder.node("AssignVariableOp", [handle, initial], ["dtype": .type(.double)])
            let gathered = OpBuilder.node(
                "ResourceGather",
                [handle, constant([Int32(2), 2])],
                [
                    "dtype": .type(.double), "Tindices": .type(.int32), "batch_dims": .int(0),
                    "validate_indices": .bool(true),
                ]
            ).output()
            let read = OpBuilder.node("ReadVariableOp", [handle], ["dtype": .type(.double)]).output()
            return (handle, sum(gathered) + sum(read * read), gathered, initialize)
        }
        guard case .sparse(let slices)? = try graph.gradientsKeepingSlices(of: [sum(gathered)], with: [handle])[0]
        else {
            Issue.record("ResourceGather should give slices")
            return
        }
        let dense = try #require(try graph.gradients(of: y, with: handle))
        let session = Session(graph: graph)
        try session.run(initialize)
        let values = try session.run([slices.indices, slices.denseShape, dense])
        #expect(try values[0].scalars(as: Int32.self) == [2, 2])
        #expect(try values[1].scalars(as: Int32.self) == [3, 2])
        #expect(values[2].doubleValues == [2.0, 4, 6, 8, 12, 14])
    }

    @Test func twoGathers_concatenateTheirSlices() throws {
        let graph = Graph()
        let (x, y) = graph.asDefault { () -> (Output, Output) in
            let x = placeholder(.double, shape: [4, 2], name: "x")
            let axis = constant(Int32(0))
            let first = OpBuilder.gather(x, constant([Int32(1)]), axis: axis)
            let second = OpBuilder.gather(x, constant([Int32(3), 1]), axis: axis)
            return (x, sum(first) + sum(second * 2))
        }
        guard case .sparse(let slices)? = try graph.gradientsKeepingSlices(of: [y], with: [x])[0] else {
            Issue.record("two sparse contributions should stay sparse")
            return
        }
        #expect(slices.indices.operation.type == "ConcatV2")
        let feeds = [x: try Tensor([Double](repeating: 1, count: 8), shape: [4, 2])]
        let session = Session(graph: graph)
        #expect(try session.run(slices.indices, feeding: feeds).scalars(as: Int32.self) == [1, 3, 1])
        #expect(try session.run(slices.densified(), feeding: feeds).doubleValues == [0, 0, 3, 3, 0, 0, 2, 2])
    }
}

extension GradientTests {
    @Test func stopGradients_treatsATensorAsAConstant_thatStillGetsItsGradient() throws {
        let graph = Graph()
        let (x, inner, y) = graph.asDefault { () -> (Output, Output, Output) in
            let x = placeholder(.double, shape: [2], name: "x")
            let inner = x * x
            return (x, inner, sum(inner * 3 + x))
        }
        let gradients = try graph.gradients(of: [y], with: [x, inner], stopGradients: [inner])
        let session = Session(graph: graph)
        let feeds = [x: Tensor([1.0, 2])]
        #expect(try session.run(try #require(gradients[0]), feeding: feeds).doubleValues == [1, 1])
        #expect(try session.run(try #require(gradients[1]), feeding: feeds).doubleValues == [3, 3])
    }

    @Test func unconnectedResourceVariable_getsZerosOfTheVariablesShape() throws {
        let graph = Graph()
        let (handle, y, initialize) = graph.asDefault { () -> (Output, Output, Operation) in
            let handle = OpBuilder.node(
                "VarHandleOp",
                [],
                [
                    "dtype": .type(.float), "shape": .shape(PartialShape([2, 3])), "container": .string(""),
                    "shared_name": .string("unused"),
                ],
                name: "unused"
            ).output()
            let initialize = OpBuilder.node(
                "AssignVariableOp",
                [handle, constant(Tensor([Float](repeating: 1, count: 6)).reshapedForTest([2, 3]))],
                ["dtype": .type(.float)]
            )
            return (handle, square(placeholder(.float, shape: [], name: "x")), initialize)
        }
        let zeros = try #require(try graph.gradients(of: y, with: handle, unconnected: .zero))
        let session = Session(graph: graph)
        try session.run(initialize)
        let value = try session.run(zeros)
        #expect(
            try value.dtype == .float && value.shape == [2, 3]
                && value.scalars(as: Float.self) == Array(repeating: 0, count: 6)
        )
    }
}

extension Tensor {
    /// The tensor in another shape of as many elements (or itself when the counts differ).
    fileprivate func reshapedForTest(_ shape: [Int]) -> Tensor { (try? reshaped(to: TensorShape(shape))) ?? self }
}

extension GradientTests {
    /// A while loop (`x = tanh(x + v)` 10,000 times) made by TensorFlow, in v1 (dataflow) or
    /// v2 (functional `While`) form.
    static func whileLoop(_ form: String = "v1") throws -> (Graph, Output, Output) {
        let testCase = try ConformanceCase.load(
            directory: Fixtures.conformance,
            name: "controlflow_bench_tanh_loop_\(form)"
        )
        guard case .text(let text) = testCase.graph else { throw WeftError(.invalidArgument, "expected a text graph") }
        let graph = try Graph(graphDefText: text)
        return (graph, try graph.tensor(named: "v:0"), try graph.tensor(named: "x:0"))
    }

    /// Checks that the gradient of the loop's `x` with respect to `v` is the fixed point's
    /// derivative.
    static func expectFixedPointDerivative(_ graph: Graph, v: Output, x: Output) throws {
        let gradient = try #require(try graph.gradients(of: x, with: v))
        let session = Session(graph: graph)
        defer { session.close() }
        for value: Float in [0.5, -1.0] {
            let results = try session.run([x, gradient], feeding: [v: Tensor(value)])
            let fixedPoint = try #require(results[0].scalar(as: Float.self))
            // x = tanh(x + v) at its fixed point gives dx/dv = s / (1 − s) with s = 1 − x².
            let slope = 1 - fixedPoint * fixedPoint
            let expected = slope / (1 - slope)
            let computed = try #require(results[1].scalar(as: Float.self))
            #expect(
                abs(computed - expected) <= 1e-4 * (1 + abs(expected)),
                "v \(value): \(computed) against \(expected)"
            )
        }
    }

    @Test func whileLoopOfTensorFlow_gradientIsTheFixedPointsDerivative() throws {
        let (graph, v, x) = try Self.whileLoop()
        try Self.expectFixedPointDerivative(graph, v: v, x: x)
    }

    @Test func whileLoopGradient_throughTheWalkOfAnotherRegistry_stillNeedsTheBodysGradients() throws {
        let (graph, v, x) = try Self.whileLoop()
        // The loop's own ops need no gradient functions, the ops of its body do.
        let registry = GradientRegistry()
        let error = try #require(throws: WeftError.self) { try graph.gradients(of: x, with: v, registry: registry) }
        #expect(error.code == .unimplemented && error.message.contains("No gradient defined"))
    }
}
