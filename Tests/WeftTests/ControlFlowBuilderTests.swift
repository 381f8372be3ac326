import Testing
import WeftProto
import WeftRuntime

@testable import Weft

/// `cond` and `whileLoop` built from Swift, run by a real session, and gradients through conds.
@Suite struct ControlFlowBuilderTests {
    @Test func cond_runsOnlyTheTakenBranch() throws {
        let graph = Graph()
        let (flag, x, y, counter) = graph.asDefault { () -> (Output, Output, Output, Variable) in
            let flag = placeholder(.bool, shape: [], name: "flag")
            let x = placeholder(.float, shape: [], name: "x")
            let counter = Variable(Float(0), name: "counter")
            let y = cond(flag, then: { x * 2 }, else: { counter.assignAdd(Float(1)) + x })
            return (flag, x, y, counter)
        }
        let session = Session(graph: graph)
        defer { session.close() }
        try session.run(graph.asDefault { globalVariablesInitializer() })
        for _ in 0..<3 {
            let value = try session.run(y, feeding: [flag: Tensor(true), x: Tensor(Float(5))])
            #expect(value.scalar(as: Float.self) == 10)
        }
        #expect(try session.run(counter.value).scalar(as: Float.self) == 0)
        let other = try session.run(y, feeding: [flag: Tensor(false), x: Tensor(Float(5))])
        #expect(other.scalar(as: Float.self) == 6)
        #expect(try session.run(counter.value).scalar(as: Float.self) == 1)
    }

    @Test func constantsOfTheUntakenBranch_areDead() throws {
        let graph = Graph()
        let (flag, y) = graph.asDefault { () -> (Output, Output) in
            let flag = placeholder(.bool, shape: [], name: "flag")
            return (flag, cond(flag, then: { constant(Float(1)) }, else: { constant(Float(2)) }))
        }
        let session = Session(graph: graph)
        defer { session.close() }
        for _ in 0..<5 {
            #expect(try session.run(y, feeding: [flag: Tensor(true)]).scalar(as: Float.self) == 1)
            #expect(try session.run(y, feeding: [flag: Tensor(false)]).scalar(as: Float.self) == 2)
        }
    }

    @Test func condNodes_areNamedAsTensorFlowNamesThem() throws {
        let graph = Graph()
        graph.asDefault {
            let flag = placeholder(.bool, shape: [], name: "flag")
            let x = placeholder(.float, shape: [], name: "x")
            _ = cond(flag, then: { x * 2 }, else: { x })
        }
        for name in ["cond/Switch", "cond/switch_t", "cond/switch_f", "cond/pred_id", "cond/Merge"] {
            #expect(graph.operation(named: name) != nil, "\(name)")
        }
        #expect(graph.buildError == nil)
    }

    @Test func nestedConds() throws {
        let graph = Graph()
        let (p, q, x, y) = graph.asDefault { () -> (Output, Output, Output, Output) in
            let p = placeholder(.bool, shape: [], name: "p")
            let q = placeholder(.bool, shape: [], name: "q")
            let x = placeholder(.float, shape: [], name: "x")
            let y = cond(p, then: { cond(q, then: { x * 2 }, else: { x * 3 }) }, else: { x - 1 })
            return (p, q, x, y)
        }
        let session = Session(graph: graph)
        defer { session.close() }
        for (pv, qv, expected): (Bool, Bool, Float) in [(true, true, 8), (true, false, 12), (false, true, 3), (false, false, 3)] {
            let value = try session.run(y, feeding: [p: Tensor(pv), q: Tensor(qv), x: Tensor(Float(4))])
            #expect(value.scalar(as: Float.self) == expected, "p \(pv), q \(qv)")
        }
    }

    @Test func mismatchedBranches_areABuildError() throws {
        let graph = Graph()
        graph.asDefault {
            let flag = placeholder(.bool, shape: [], name: "flag")
            _ = cond(flag, then: { [constant(Float(1))] }, else: { [constant(Int32(1))] })
        }
        let error = try #require(graph.buildError)
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("the branches of a cond"))
    }

    @Test func whileLoop_sumsWithACapturedStep() throws {
        let graph = Graph()
        let (step, results) = graph.asDefault { () -> (Output, [Output]) in
            let step = placeholder(.int32, shape: [], name: "step")
            let results = whileLoop(
                [constant(Int32(0)), constant(Int32(0))],
                condition: { less($0[0], constant(Int32(10))) },
                body: { [$0[0] + step, $0[1] + $0[0]] }
            )
            return (step, results)
        }
        #expect(graph.buildError == nil)
        let session = Session(graph: graph)
        defer { session.close() }
        let values = try session.run(results, feeding: [step: Tensor(Int32(1))])
        #expect(values.map { $0.scalar(as: Int32.self) } == [10, 45])
        let byTwo = try session.run(results, feeding: [step: Tensor(Int32(2))])
        #expect(byTwo.map { $0.scalar(as: Int32.self) } == [10, 20])
    }

    @Test func nestedLoops_andACondInTheBody() throws {
        let graph = Graph()
        let results = graph.asDefault { () -> [Output] in
            // Collatz from 27 counts 111 steps; the inner loop adds 1 three times per step.
            whileLoop(
                [constant(Int64(27)), constant(Int64(0))],
                condition: { notEqual($0[0], constant(Int64(1))) },
                body: { values in
                    let n = values[0]
                    let even = equal(floorMod(n, constant(Int64(2))), constant(Int64(0)))
                    let next = cond(even, then: { floorDiv(n, constant(Int64(2))) }, else: { n * 3 + 1 })
                    let counted = whileLoop(
                        [constant(Int64(0)), values[1]],
                        condition: { less($0[0], constant(Int64(3))) },
                        body: { [$0[0] + 1, $0[1] + 1] }
                    )
                    return [next, counted[1]]
                }
            )
        }
        #expect(graph.buildError == nil)
        let session = Session(graph: graph)
        defer { session.close() }
        let values = try session.run(results)
        #expect(values.map { $0.scalar(as: Int64.self) } == [1, 333])
    }

    @Test func loopInsideACond() throws {
        let graph = Graph()
        let (flag, y) = graph.asDefault { () -> (Output, Output) in
            let flag = placeholder(.bool, shape: [], name: "flag")
            let y = cond(
                flag,
                then: {
                    whileLoop(
                        [constant(Float(1))],
                        condition: { less($0[0], constant(Float(100))) },
                        body: { [$0[0] * 2] }
                    )[0]
                },
                else: { constant(Float(-1)) }
            )
            return (flag, y)
        }
        let session = Session(graph: graph)
        defer { session.close() }
        #expect(try session.run(y, feeding: [flag: Tensor(true)]).scalar(as: Float.self) == 128)
        #expect(try session.run(y, feeding: [flag: Tensor(false)]).scalar(as: Float.self) == -1)
    }

    @Test func controlInputFromOutsideALoop_isABuildError() throws {
        let graph = Graph()
        graph.asDefault {
            let before = noOp(name: "before")
            _ = whileLoop(
                [constant(Float(1))],
                condition: { less($0[0], constant(Float(4))) },
                body: { values in graph.controlDependencies(on: [before]) { [values[0] * 2] } }
            )
        }
        let error = try #require(graph.buildError)
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("outside the while loop"))
    }

    @Test func gradientThroughACond_matchesFiniteDifferences() throws {
        let x = GradientChecker.tensor([3], seed: 11)
        for taken in [true, false] {
            try GradientChecker(inputs: [x]).check { xs in
                cond(constant(taken), then: { xs[0] * xs[0] }, else: { tanh(xs[0]) * 3 })
            }
        }
    }

    @Test func gradientThroughACondOnTheInput_andAnInputUsedOutsideToo() throws {
        for seed in [1, 2, 3] as [UInt64] {
            let x = GradientChecker.tensor([2, 2], seed: seed)
            let w = GradientChecker.tensor([2, 2], seed: seed + 10)
            try GradientChecker(inputs: [x, w]).check { xs in
                let positive = greater(sum(xs[0]), constant(0.0))
                let branch = cond(positive, then: { matMul(xs[0], xs[1]) }, else: { exp(xs[0]) })
                return branch + xs[0] * xs[1]
            }
        }
    }

    @Test func gradientThroughNestedConds() throws {
        let x = GradientChecker.tensor([3], seed: 4)
        for (p, q) in [(true, true), (true, false), (false, true)] {
            try GradientChecker(inputs: [x]).check { xs in
                cond(
                    constant(p),
                    then: { cond(constant(q), then: { sin(xs[0]) }, else: { xs[0] * xs[0] * xs[0] }) },
                    else: { xs[0] }
                )
            }
        }
    }

    @Test func gradientThroughAWhileLoop_matchesFiniteDifferences() throws {
        let x = GradientChecker.tensor([3], seed: 21)
        let w = GradientChecker.tensor([3], seed: 22)
        // Three iterations of v ← tanh(v·w) + 0.1·v: a loop variable and an invariant.
        try GradientChecker(inputs: [x, w]).check { xs in
            whileLoop(
                [xs[0], constant(Int32(0))],
                condition: { less($0[1], constant(Int32(3))) },
                body: { [tanh($0[0] * xs[1]) + $0[0] * 0.1, $0[1] + 1] }
            )[0]
        }
    }

    @Test func gradientThroughALoopWithACondInItsBody() throws {
        let x = GradientChecker.tensor([4], seed: 31, range: 0.1...0.9)
        try GradientChecker(inputs: [x]).check { xs in
            let results = whileLoop(
                [xs[0], constant(Int32(0))],
                parallelIterations: 1,
                condition: { less($0[1], constant(Int32(4))) },
                body: { values in
                    let even = equal(floorMod(values[1], constant(Int32(2))), constant(Int32(0)))
                    return [cond(even, then: { sin(values[0]) * 2 }, else: { values[0] * values[0] }), values[1] + 1]
                }
            )
            return results[0]
        }
    }

    @Test func gradientOfTwoLoopVariables_eachReachesItsInitialValue() throws {
        let a = GradientChecker.tensor([2], seed: 41)
        let b = GradientChecker.tensor([2], seed: 42)
        // (a, b) ← (a·b, a + b) twice: the gradients cross between the variables.
        try GradientChecker(inputs: [a, b]).check { xs in
            let results = whileLoop(
                [xs[0], xs[1], constant(Int32(0))],
                condition: { less($0[2], constant(Int32(2))) },
                body: { [$0[0] * $0[1], $0[0] + $0[1], $0[2] + 1] }
            )
            return results[0] * results[1]
        }
    }

    @Test func loopBodyWithAStatefulOp_cannotBeDifferentiated() throws {
        let graph = Graph()
        let (x, y) = graph.asDefault { () -> (Output, Output) in
            let counter = Variable(Float(0), name: "counter")
            let x = placeholder(.float, shape: [], name: "x")
            let y = whileLoop(
                [x],
                condition: { less($0[0], constant(Float(10))) },
                body: { [$0[0] * 2 + counter.assignAdd(Float(1))] }
            )[0]
            return (x, y)
        }
        #expect {
            _ = try graph.gradients(of: y, with: x)
        } throws: { error in
            guard let error = error as? WeftError else { return false }
            return error.code == .unimplemented && error.message.contains("stateful")
        }
    }

    @Test func trainingThroughALoop_matchesTheUnrolledModel() throws {
        func train(unrolled: Bool) throws -> [Float] {
            let graph = Graph()
            let (loss, step, weight) = try graph.asDefault { () -> (Output, Operation, Variable) in
                let weight = Variable(try Tensor([Float(0.3), -0.2, 0.5, 0.1], shape: [2, 2]), name: "w")
                let inputs = constant(try Tensor([Float(0.5), -1, 0.25, 0.75], shape: [2, 2]))
                let cell = { (state: Output) in tanh(matMul(state, weight.value)) + inputs }
                var state = inputs
                if unrolled {
                    for _ in 0..<4 { state = cell(state) }
                } else {
                    state = whileLoop(
                        [inputs, constant(Int32(0))],
                        condition: { less($0[1], constant(Int32(4))) },
                        body: { [cell($0[0]), $0[1] + 1] }
                    )[0]
                }
                let loss = sum(square(state))
                return (loss, try GradientDescentOptimizer(learningRate: 0.05).minimize(loss), weight)
            }
            let session = Session(graph: graph)
            defer { session.close() }
            try session.run(graph.asDefault { globalVariablesInitializer() })
            var losses: [Float] = []
            for _ in 0..<5 {
                losses.append(try #require(try session.run(loss).scalar(as: Float.self)))
                try session.run(step)
            }
            return losses + (try session.run(weight.value).scalars(as: Float.self))
        }
        let looped = try train(unrolled: false)
        let unrolled = try train(unrolled: true)
        #expect(looped.count == unrolled.count)
        for (a, b) in zip(looped, unrolled) { #expect(abs(a - b) <= 1e-5 * (1 + abs(b)), "\(looped) against \(unrolled)") }
        #expect(looped[4] < looped[0])
    }

    @Test func trainingThroughACond_followsTheTakenBranch() throws {
        let graph = Graph()
        let (flag, loss, train, weight) = try graph.asDefault { () -> (Output, Output, Operation, Variable) in
            let flag = placeholder(.bool, shape: [], name: "flag")
            let weight = Variable(Float(3), name: "w")
            // Squared error when the flag holds, absolute error otherwise.
            let loss = cond(flag, then: { square(weight.value - 1) }, else: { abs(weight.value - 1) })
            let train = try GradientDescentOptimizer(learningRate: 0.25).minimize(loss)
            return (flag, loss, train, weight)
        }
        #expect(graph.buildError == nil)
        let session = Session(graph: graph)
        defer { session.close() }
        try session.run(graph.asDefault { globalVariablesInitializer() })
        // w − 0.25·2(w − 1): 3 → 2.
        try session.run(train, feeding: [flag: Tensor(true)])
        #expect(try session.run(weight.value).scalar(as: Float.self) == 2)
        // w − 0.25·sign(w − 1): 2 → 1.75.
        try session.run(train, feeding: [flag: Tensor(false)])
        #expect(try session.run(weight.value).scalar(as: Float.self) == 1.75)
        #expect(try session.run(loss, feeding: [flag: Tensor(false)]).scalar(as: Float.self) == 0.75)
    }
}
