import Foundation
import Testing
import WeftRuntime
import WeftTestKit

@testable import Weft

/// A TensorFlow run of a tf1.train optimizer that the Swift optimizers must reproduce
/// (Tests/Conformance/optimizers, written by scripts/conformance/cases_optimizers.py).
struct OptimizerFixture {
    struct Step {
        var loss: Double?
        var globalNorm: Double?
        var variables: [String: Tensor]
    }

    var problem: String
    var optimizer: String
    var schedule: String?
    var inputs: [String: Tensor]
    var initial: [String: Tensor]
    var sparseFeeds: [(indices: Tensor, rows: Tensor)]
    var steps: [Step]

    static let directory = Fixtures.conformance.appendingPathComponent("optimizers")

    static var names: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    init(name: String) throws {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent(name + ".json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        func tensors(_ object: Any?) throws -> [String: Tensor] {
            let values = try #require(object as? [String: Any])
            return try values.mapValues { try ConformanceCase.parseValue($0) }
        }
        problem = try #require(root["problem"] as? String)
        optimizer = try #require(root["optimizer"] as? String)
        schedule = root["schedule"] as? String
        inputs = try tensors(["x": root["x"] as Any, "y": root["y"] as Any, "labels": root["labels"] as Any] as [String: Any])
        initial = try tensors(root["initial"])
        let feeds = root["sparse_feeds"] as? [[String: Any]] ?? []
        sparseFeeds = try feeds.map { feed in
            let indices = try #require(feed["indices"] as? [Int]).map(Int32.init)
            let rows = try #require(feed["rows"] as? [[Double]])
            return (
                Tensor(indices),
                try Tensor(rows.flatMap { $0.map(Float.init) }, shape: TensorShape([rows.count, 3]))
            )
        }
        steps = try #require(root["steps"] as? [[String: Any]]).map { step in
            Step(
                loss: step["loss"] as? Double,
                globalNorm: step["global_norm"] as? Double,
                variables: try tensors(step["variables"])
            )
        }
    }
}

@Suite struct OptimizerTests {
    /// The optimizers of cases_optimizers.py, with the same hyperparameters.
    static func optimizer(_ name: String, learningRate: Hyperparameter?) -> Optimizer? {
        switch name {
        case "gradient_descent": GradientDescentOptimizer(learningRate: learningRate ?? 0.1)
        case "momentum": MomentumOptimizer(learningRate: learningRate ?? 0.1, momentum: 0.9)
        case "momentum_nesterov":
            MomentumOptimizer(learningRate: learningRate ?? 0.05, momentum: 0.8, useNesterov: true)
        case "adam": AdamOptimizer(learningRate: learningRate ?? 0.1, beta1: 0.8, beta2: 0.95, epsilon: 1e-3)
        case "adagrad": AdagradOptimizer(learningRate: learningRate ?? 0.2, initialAccumulatorValue: 0.5)
        case "rmsprop": RMSPropOptimizer(learningRate: learningRate ?? 0.05, decay: 0.8, momentum: 0.5, epsilon: 1e-3)
        case "rmsprop_centered":
            RMSPropOptimizer(
                learningRate: learningRate ?? 0.05,
                decay: 0.8,
                momentum: 0.3,
                epsilon: 1e-2,
                centered: true
            )
        case "rmsprop_plain": RMSPropOptimizer(learningRate: learningRate ?? 0.01)
        default: nil
        }
    }

    /// The learning-rate schedules of cases_optimizers.py.
    static func schedule(_ name: String, step: Output) -> Output? {
        switch name {
        case "piecewise": piecewiseConstant(step, boundaries: [1, 3], values: [0.2, 0.1, 0.02])
        case "exponential": exponentialDecay(learningRate: 0.2, globalStep: step, decaySteps: 3, decayRate: 0.5)
        case "staircase":
            exponentialDecay(learningRate: 0.1, globalStep: step, decaySteps: 2, decayRate: 0.5, staircase: true)
        default: nil
        }
    }

    /// The graph of a fixture: its problem, the gradients written out as in the Python, and
    /// the optimizer's training op.
    struct Problem {
        var graph = Graph()
        var loss: Output?
        var globalNorm: Output?
        var train: Weft.Operation
        var feeds: [[Output: Tensor]]
    }

    static func build(_ fixture: OptimizerFixture, useResource: Bool = false) throws -> Problem {
        let graph = Graph()
        return try graph.asDefault {
            let step = fixture.schedule == nil ? nil : createGlobalStep()
            let rate = fixture.schedule.flatMap { name in step.flatMap { Self.schedule(name, step: $0.value) } }
            #expect((rate == nil) == (fixture.schedule == nil), "unknown schedule \(fixture.schedule ?? "")")
            let optimizer = try #require(Self.optimizer(fixture.optimizer, learningRate: rate.map { .tensor($0) }))
            if fixture.problem == "sparse" {
                let table = Variable(try #require(fixture.initial["embedding"]), name: "embedding", useResource: useResource)
                let indices = placeholder(.int32, shape: [nil], name: "indices")
                let rows = placeholder(.float, shape: [nil, 3], name: "rows")
                let slices = IndexedSlices(values: rows, indices: indices, denseShape: constant([Int32(6), 3]))
                let train = optimizer.applyGradients([(Gradient.sparse(slices), table)], globalStep: step)
                let feeds = fixture.sparseFeeds.map { [indices: $0.indices, rows: $0.rows] }
                return Problem(graph: graph, loss: nil, globalNorm: nil, train: train, feeds: feeds)
            }
            if fixture.problem == "mlp" {
                let x = constant(try #require(fixture.inputs["x"]))
                let y = constant(try #require(fixture.inputs["y"]))
                let w1 = Variable(try #require(fixture.initial["w1"]), name: "w1", useResource: useResource)
                let b1 = Variable(try #require(fixture.initial["b1"]), name: "b1", useResource: useResource)
                let w2 = Variable(try #require(fixture.initial["w2"]), name: "w2", useResource: useResource)
                let b2 = Variable(try #require(fixture.initial["b2"]), name: "b2", useResource: useResource)
                let hidden = tanh(matMul(x, w1.value) + b1.value)
                let loss = mean(square(matMul(hidden, w2.value) + b2.value - y))
                let train = try optimizer.minimize(loss, globalStep: step)
                let feeds = Array(repeating: [Output: Tensor](), count: fixture.steps.count)
                return Problem(graph: graph, loss: loss, globalNorm: nil, train: train, feeds: feeds)
            }
            let w = Variable(try #require(fixture.initial["w"]), name: "w", useResource: useResource)
            let b = Variable(try #require(fixture.initial["b"]), name: "b", useResource: useResource)
            let x = constant(try #require(fixture.inputs["x"]))
            let count = Double(try #require(fixture.inputs["x"]).shape.dimensions[0])
            let loss: Output
            let error: Output
            if fixture.problem == "linear" {
                error = matMul(x, w.value) + b.value - constant(try #require(fixture.inputs["y"]))
                loss = sum(error * error) / (2 * count)
            } else {
                let labels = constant(try #require(fixture.inputs["labels"]))
                let p = sigmoid(matMul(x, w.value) + b.value)
                loss = -mean(labels * log(p) + (1 - labels) * log(1 - p))
                error = p - labels
            }
            var gradients = [matMul(x, error, transposeA: true) / count, sum(error, axes: [0]) / count]
            var norm: Output?
            if fixture.schedule == "exponential" {
                (gradients, norm) = clipByGlobalNorm(gradients, clipNorm: 0.5)
            }
            let train = optimizer.applyGradients([(gradients[0], w), (gradients[1], b)], globalStep: step)
            let feeds = Array(repeating: [Output: Tensor](), count: fixture.steps.count)
            return Problem(graph: graph, loss: loss, globalNorm: norm, train: train, feeds: feeds)
        }
    }

    @Test func fixtures_coverEveryOptimizerAndProblem() {
        #expect(OptimizerFixture.names.count >= 35)
    }

    /// Runs steps `range` (0-based) of `fixture`, comparing the loss before each and every
    /// variable after it with TensorFlow's.
    static func runSteps(
        _ range: Range<Int>,
        of fixture: OptimizerFixture,
        named name: String,
        _ problem: Problem,
        in session: Session
    ) throws {
        let tolerance = ConformanceCase.Tolerance(relative: 1e-5, absolute: 1e-6)
        func close(_ actual: Double, _ expected: Double) -> Bool {
            Swift.abs(actual - expected) <= 1e-6 + 1e-5 * Swift.abs(expected)
        }
        for index in range {
            let expected = fixture.steps[index]
            if let loss = problem.loss, let value = expected.loss {
                let actual = try #require(try session.run(loss).doubleValues.first)
                #expect(close(actual, value), "\(name): loss before step \(index + 1): \(actual), expected \(value)")
            }
            if let norm = problem.globalNorm, let value = expected.globalNorm {
                let actual = try #require(try session.run(norm).doubleValues.first)
                #expect(close(actual, value), "\(name): global norm, step \(index + 1): \(actual), expected \(value)")
            }
            try session.run([], feeding: problem.feeds[index], targets: [problem.train])
            for (variable, value) in expected.variables.sorted(by: { $0.key < $1.key }) {
                let actual = try session.run(try Self.value(of: variable, in: problem.graph))
                let difference = ConformanceCase.difference(actual, value, tolerance: tolerance)
                #expect(difference == nil, "\(name): \(variable) after step \(index + 1): \(difference ?? "")")
            }
        }
    }

    /// The tensor that reads variable `name`: the reference, or a resource variable's read.
    static func value(of name: String, in graph: Graph) throws -> Output {
        let handle = try graph.tensor(named: name + ":0")
        return handle.dtype == .resource ? try graph.tensor(named: name + "/Read/ReadVariableOp:0") : handle
    }

    /// The same TensorFlow runs with every variable a resource variable (global steps aside):
    /// the `ResourceApply*`, `ResourceSparseApply*` and `ResourceScatter*` forms, slots and
    /// beta powers resource variables too, must give the same values.
    @Test(arguments: OptimizerFixture.names)
    func fiveSteps_onResourceVariables_matchTensorFlow(name: String) throws {
        let fixture = try OptimizerFixture(name: name)
        let problem = try Self.build(fixture, useResource: true)
        let graph = problem.graph
        let handles = graph.nodes().nodes.filter { $0.op == "VarHandleOp" }.map(\.name)
        #expect(Set(handles).union(fixture.schedule == nil ? [] : ["global_step"]) == Set(fixture.initial.keys))
        #expect(!graph.nodes().nodes.contains { $0.op.hasPrefix("Apply") || $0.op.hasPrefix("SparseApply") })
        try Session(graph: graph).run { session in
            try session.run(graph.asDefault { globalVariablesInitializer() })
            try Self.runSteps(0..<fixture.steps.count, of: fixture, named: name, problem, in: session)
        }
    }

    @Test(arguments: OptimizerFixture.names)
    func fiveSteps_matchTensorFlow(name: String) throws {
        let fixture = try OptimizerFixture(name: name)
        let problem = try Self.build(fixture)
        let graph = problem.graph
        // The same variables as TensorFlow's, slots and beta powers named as TensorFlow names them.
        let variables = graph.nodes().nodes.filter { $0.op == "VariableV2" }.map(\.name).sorted()
        #expect(variables == fixture.initial.keys.sorted())
        try Session(graph: graph).run { session in
            try session.run(graph.asDefault { globalVariablesInitializer() })
            try Self.runSteps(0..<fixture.steps.count, of: fixture, named: name, problem, in: session)
        }
    }

    /// Two steps, a checkpoint, and the last three steps in a new session restored from it:
    /// the slots, beta powers and global step come back, so training goes on as TensorFlow's.
    @Test(arguments: [
        "mlp_adam", "linear_rmsprop_centered", "sparse_momentum", "linear_momentum_exponential_decay_clipped",
        "logistic_adagrad",
    ])
    func trainingResumedFromACheckpoint_matchesTensorFlow(name: String) throws {
        let fixture = try OptimizerFixture(name: name)
        let problem = try Self.build(fixture)
        let graph = problem.graph
        let saver = try graph.asDefault { try Saver() }
        let directory = try temporaryDirectory("resume-\(name)")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Session(graph: graph).run { session in
            try session.run(graph.asDefault { globalVariablesInitializer() })
            try Self.runSteps(0..<2, of: fixture, named: name, problem, in: session)
            try saver.save(session, to: directory + "/model", globalStep: 2)
        }
        try Session(graph: graph).run { session in
            try saver.restore(session, from: try #require(latestCheckpoint(in: directory)))
            try Self.runSteps(2..<fixture.steps.count, of: fixture, named: name, problem, in: session)
        }
    }

    @Test func minimize_skipsVariablesTheLossDoesNotUse() throws {
        let graph = Graph()
        let (used, unused, train) = try graph.asDefault {
            let used = Variable([Float(2)], name: "used")
            let unused = Variable([Float(5)], name: "unused")
            _ = createGlobalStep()
            let train = try GradientDescentOptimizer(learningRate: 0.25).minimize(sum(square(used.value)))
            return (used, unused, train)
        }
        try Session(graph: graph).run { session in
            try session.run(graph.asDefault { globalVariablesInitializer() })
            try session.run(train)
            // d(u²)/du = 2u = 4: 2 - 0.25·4.
            #expect(try session.run(used).scalars(as: Float.self) == [1])
            #expect(try session.run(unused).scalars(as: Float.self) == [5])
        }
    }

    @Test func minimize_refusesALossWithoutVariables() throws {
        let graph = Graph()
        let error = try graph.asDefault { () throws -> WeftError in
            let w = Variable([Float(2)], name: "w")
            let optimizer = AdamOptimizer()
            let independent = try #require(throws: WeftError.self) {
                try optimizer.minimize(sum(constant([Float(1), 2])), variables: [w])
            }
            #expect(throws: WeftError.self) { try optimizer.minimize(constant(Int32(1))) }
            return independent
        }
        #expect(error.code == .invalidArgument)
        #expect(error.message.hasPrefix("No gradients provided for any variable"))
    }

    @Test func slots_areColocatedWithTheirVariable() throws {
        let graph = Graph()
        let (w, b, train) = graph.asDefault {
            let w = graph.device("/job:ps/task:1") { Variable([Float(1), 2], name: "w") }
            let b = graph.device("/job:ps/task:0") { Variable([Float(3)], name: "b") }
            let train = graph.device("/job:worker/task:0") {
                AdamOptimizer().applyGradients([(constant([Float(1), 1]), w), (constant([Float(1)]), b)])
            }
            return (w, b, train)
        }
        #expect(graph.buildError == nil)
        #expect(train.name == "Adam")
        for (slot, primary, device) in [
            ("w/Adam", w, "/job:ps/task:1"), ("w/Adam_1", w, "/job:ps/task:1"), ("b/Adam", b, "/job:ps/task:0"),
        ] {
            let node = try #require(graph.operation(named: slot))
            #expect(node.type == "VariableV2")
            #expect(node.colocationGroups == [primary.name], "\(slot)")
            #expect(node.device == device, "\(slot)")
        }
        // The beta powers go with the first variable by name: b.
        #expect(graph.operation(named: "beta1_power")?.colocationGroups == ["b"])
        #expect(graph.operation(named: "Adam/update_w/ApplyAdam")?.colocationGroups == ["w"])
        #expect(graph.operation(named: "Adam/update_w/ApplyAdam")?.device == "/job:ps/task:1")
    }

    @Test func globalStep_isAdvancedAfterTheUpdates() throws {
        let graph = Graph()
        let (w, step, train) = graph.asDefault {
            let w = Variable([Float(1)], name: "w")
            let step = createGlobalStep()
            let train = MomentumOptimizer(learningRate: 0.5, momentum: 0.5)
                .applyGradients([(constant([Float(2)]), w)], globalStep: step)
            return (w, step, train)
        }
        #expect(train.name == "Momentum")
        #expect(train.type == "AssignAdd")
        #expect(graph.operation(named: "Momentum/update")?.type == "NoOp")
        try Session(graph: graph).run { session in
            try session.run(graph.asDefault { globalVariablesInitializer() })
            try session.run(train)
            try session.run(train)
            #expect(try session.run(step).scalar(as: Int64.self) == 2)
            // accum = 2, then 0.5·2 + 2 = 3; w = 1 - 0.5·2 - 0.5·3.
            #expect(try session.run(w).scalars(as: Float.self) == [-1.5])
        }
    }

    @Test func applyingTwice_reusesTheSlots() {
        let graph = Graph()
        let optimizer = RMSPropOptimizer(learningRate: 0.1, centered: true)
        graph.asDefault {
            let w = Variable([Float(1)], name: "w")
            optimizer.applyGradients([(constant([Float(1)]), w)])
            optimizer.applyGradients([(constant([Float(2)]), w)])
            #expect(optimizer.slot("rms", for: w)?.name == "w/RMSProp")
            #expect(optimizer.slot("mg", for: w)?.name == "w/RMSProp_1")
            #expect(optimizer.slot("momentum", for: w)?.name == "w/RMSProp_2")
        }
        #expect(optimizer.slotNames == ["mg", "momentum", "rms"])
        #expect(graph.nodes().nodes.filter { $0.op == "VariableV2" }.count == 4)
        #expect(graph.operation(named: "RMSProp_1") != nil)
    }

    @Test func noGradient_isRecordedAsInvalidArgument() {
        let graph = Graph()
        graph.asDefault {
            let w = Variable([Float(1)], name: "w")
            GradientDescentOptimizer(learningRate: 0.1).applyGradients([(nil as Gradient?, w)])
        }
        #expect(graph.buildError?.code == .invalidArgument)
        #expect(graph.buildError?.message.contains("No gradients provided for any variable: [w]") == true)
    }

    @Test func integerVariable_isRecordedAsInvalidArgument() {
        let graph = Graph()
        graph.asDefault {
            let counter = Variable([Int32(1)], name: "counter")
            AdamOptimizer().applyGradients([(constant([Int32(1)]), counter)])
        }
        #expect(graph.buildError?.code == .invalidArgument)
    }

    @Test func adagrad_refusesANonPositiveAccumulator() {
        let graph = Graph()
        graph.asDefault {
            let w = Variable([Float(1)], name: "w")
            AdagradOptimizer(learningRate: 0.1, initialAccumulatorValue: 0).applyGradients([(constant([Float(1)]), w)])
        }
        #expect(graph.buildError == WeftError(.invalidArgument, "initial_accumulator_value must be positive: 0.0"))
    }

    @Test func largeSlots_startFromAFillNotAConstant() throws {
        let graph = Graph()
        let optimizer = MomentumOptimizer(learningRate: 0.1, momentum: 0.9)
        let slot = try graph.asDefault {
            let w = Variable(
                initialValue: constant(Tensor([Float](repeating: 1, count: 2000))),
                shape: [2000],
                name: "w"
            )
            optimizer.applyGradients([(constant(Tensor([Float](repeating: 1, count: 2000))), w)])
            return try #require(optimizer.slot("momentum", for: w))
        }
        #expect(graph.operation(named: "w/Momentum/Initializer/zeros")?.type == "Fill")
        try Session(graph: graph).run { session in
            try session.run(graph.asDefault { globalVariablesInitializer() })
            #expect(try session.run(slot).scalars(as: Float.self) == [Float](repeating: 0, count: 2000))
        }
    }

    @Test(arguments: [(0, 0.2), (1, 0.2), (2, 0.1), (3, 0.1), (4, 0.02), (100, 0.02)] as [(Int64, Float)])
    func piecewiseConstant_picksTheInterval(step: Int64, expected: Float) throws {
        let graph = Graph()
        let (x, rate) = graph.asDefault {
            let x = placeholder(.int64, shape: [], name: "step")
            return (x, piecewiseConstant(x, boundaries: [1, 3], values: [0.2, 0.1, 0.02]))
        }
        let value = try Session(graph: graph).run(rate, feeding: [x: Tensor(step)])
        #expect(value.scalar(as: Float.self) == expected)
    }

    @Test func piecewiseConstant_refusesMismatchedLists() {
        let graph = Graph()
        graph.asDefault { _ = piecewiseConstant(constant(Int64(1)), boundaries: [1, 2], values: [0.1, 0.2]) }
        #expect(graph.buildError?.code == .invalidArgument)
    }

    @Test func clipByGlobalNorm_scalesOnlyAboveTheLimitAndKeepsSparseIndices() throws {
        let graph = Graph()
        let (small, large, norm) = graph.asDefault {
            let a = constant([Float(3), 0])
            let rows = IndexedSlices(
                values: constant([[Float(0), 4]]),
                indices: constant([Int32(2)]),
                denseShape: constant([Int32(3), 2])
            )
            let small = clipByGlobalNorm([.dense(a), nil, .sparse(rows)], clipNorm: 10)
            let large = clipByGlobalNorm([.dense(a), .sparse(rows)], clipNorm: 1)
            return (small, large, small.globalNorm)
        }
        #expect(graph.buildError == nil)
        #expect(small.clipped[1] == nil)
        guard case .sparse(let clipped)? = large.clipped[1] else {
            Issue.record("the sparse gradient lost its form")
            return
        }
        let smallDense = try #require(small.clipped[0]).values
        let largeDense = try #require(large.clipped[0]).values
        let session = Session(graph: graph)
        defer { session.close() }
        let values = try session.run([norm, smallDense, largeDense, clipped.values, clipped.indices])
        #expect(values[0].scalar(as: Float.self) == 5)
        #expect(try values[1].scalars(as: Float.self) == [3, 0])
        #expect(try values[2].scalars(as: Float.self) == [0.6, 0])
        #expect(try values[3].scalars(as: Float.self) == [0, 0.8])
        #expect(try values[4].scalars(as: Int32.self) == [2])
    }

    @Test func clipByGlobalNorm_ofAnInfiniteNormIsNaN() throws {
        let graph = Graph()
        let clipped = graph.asDefault { clipByGlobalNorm([constant([Float.infinity, 1])], clipNorm: 1).clipped[0] }
        let values = try Session(graph: graph).run(clipped as any Fetchable).scalars(as: Float.self)
        #expect(values.allSatisfy { $0.isNaN })
    }
}
