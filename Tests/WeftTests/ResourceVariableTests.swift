import Foundation
import Testing
import WeftRuntime

@testable import Weft

/// Resource variables built from Swift (`useResource`): TensorFlow's node structure, updates
/// that yield the value after them, one value per session, and a Saver that round-trips them.
@Suite struct ResourceVariableTests {
    @Test func nodes_areTensorFlowsResourceVariable() throws {
        let graph = Graph()
        let variable = graph.asDefault { Variable(Float(1.5), name: "w", useResource: true) }
        #expect(variable.isResource)
        #expect(variable.operation.type == "VarHandleOp")
        #expect(variable.operation.nodeDef.attr["shared_name"]?.s == Data("w".utf8))
        #expect(variable.initializer.type == "AssignVariableOp")
        #expect(variable.value.name == "w/Read/ReadVariableOp:0")
        #expect(variable.fetchedOutput == variable.value)
    }

    @Test func updates_yieldTheValueAfterThem_andSessionsKeepTheirOwnValue() throws {
        let graph = Graph()
        let (variable, initialize, add, subtract, set) = graph.asDefault {
            let variable = Variable(Int32(10), name: "counter", useResource: true)
            return (
                variable, globalVariablesInitializer(), variable.assignAdd(Int32(5)), variable.assignSub(Int32(2)),
                variable.assign(Int32(-1))
            )
        }
        let first = Session(graph: graph)
        let second = Session(graph: graph)
        let uninitialized = #expect(throws: WeftError.self) { try first.run(variable) }
        #expect(uninitialized?.code == .failedPrecondition)
        try first.run(initialize)
        try second.run(initialize)
        #expect(try first.run(add).scalar(as: Int32.self) == 15)
        #expect(try first.run(add).scalar(as: Int32.self) == 20)
        #expect(try first.run(subtract).scalar(as: Int32.self) == 18)
        #expect(try second.run(variable).scalar(as: Int32.self) == 10)
        #expect(try second.run(set).scalar(as: Int32.self) == -1)
        #expect(try first.run(variable).scalar(as: Int32.self) == 18)
    }

    @Test func minimize_updatesResourceVariables_withTheirResourceKernels() throws {
        let graph = Graph()
        let (w, loss, train, initialize) = try graph.asDefault {
            let w = Variable(try Tensor([Float(1), -2], shape: [2, 1]), name: "w", useResource: true)
            let x = constant(try Tensor([Float(1), 2, 3, 4], shape: [2, 2]))
            let loss = mean(square(matMul(x, w.value) - constant(try Tensor([Float(0), 1], shape: [2, 1]))))
            let train = try AdamOptimizer(learningRate: 0.1).minimize(loss)
            return (w, loss, train, globalVariablesInitializer())
        }
        let ops = Set(graph.nodes().nodes.map(\.op))
        #expect(ops.contains("ResourceApplyAdam"))
        #expect(!ops.contains("ApplyAdam") && !ops.contains("VariableV2"))
        try Session(graph: graph).run { session in
            try session.run(initialize)
            let before = try #require(try session.run(loss).scalar(as: Float.self))
            for _ in 0..<20 { try session.run(train) }
            #expect(try #require(try session.run(loss).scalar(as: Float.self)) < before / 4)
            #expect(try session.run(w).scalars(as: Float.self) != [1, -2])
        }
    }

    @Test func aSaver_restoresResourceVariablesIntoAnotherSession() throws {
        let graph = Graph()
        let (variable, initialize, add) = graph.asDefault {
            let variable = Variable(Tensor([Float(1), 2, 3]), name: "table", useResource: true)
            return (variable, globalVariablesInitializer(), variable.assignAdd(Tensor([Float(10), 10, 10])))
        }
        let saver = try graph.asDefault { try Saver() }
        let directory = try temporaryDirectory("resource-saver")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Session(graph: graph).run { session in
            try session.run(initialize)
            try session.run(add)
            try saver.save(session, to: directory + "/model")
        }
        try Session(graph: graph).run { session in
            try saver.restore(session, from: directory + "/model")
            #expect(try session.run(variable).scalars(as: Float.self) == [11, 12, 13])
        }
    }
}
