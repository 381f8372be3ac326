import Testing
import WeftProto
import WeftRuntime

@testable import Weft

@Suite struct GraphBuildingTests {
    @Test func uniqueNames_followTensorFlowsRule() {
        let graph = Graph()
        let names = graph.asDefault { () -> [String] in
            let a = constant(Float(1), name: "foo")
            let b = constant(Float(2), name: "foo")
            let c = constant(Float(3), name: "foo")
            let d = constant(Float(4), name: "Foo")
            return [a, b, c, d].map(\.operation.name)
        }
        #expect(names == ["foo", "foo_1", "foo_2", "Foo_3"])
    }

    @Test func nameScopes_prefixAndNest() {
        let graph = Graph()
        let (outer, inner, again) = graph.asDefault { () -> (String, String, String) in
            let x = constant(Float(1), name: "x")
            let outer = graph.nameScope("scope") { x + x }
            let inner = graph.nameScope("scope") { graph.nameScope("inner") { x * x } }
            let again = graph.nameScope("scope") { x + x }
            return (outer.operation.name, inner.operation.name, again.operation.name)
        }
        #expect(outer == "scope/add")
        #expect(inner == "scope_1/inner/mul")
        #expect(again == "scope_2/add")
    }

    @Test func defaultGraph_isScopedToTheBlock() {
        let graph = Graph()
        let before = Graph.global.nodeCount
        graph.asDefault { _ = constant(Float(1)) }
        #expect(graph.nodeCount == 1)
        #expect(Graph.global.nodeCount == before)
        #expect(Graph.current === Graph.global)
    }

    @Test func devicesColocationAndControlDependencies_areRecorded() {
        let graph = Graph()
        let (variable, read, late) = graph.asDefault { () -> (Variable, Output, Output) in
            let variable = graph.device("/job:ps/task:0") { Variable(Float(1), name: "w") }
            let first = constant(Float(2), name: "first")
            let late = graph.controlDependencies(on: [first.operation]) { constant(Float(3), name: "late") }
            return (variable, variable.value, late)
        }
        #expect(variable.operation.device == "/job:ps/task:0")
        #expect(variable.initializer.device == "/job:ps/task:0")
        #expect(read.operation.nodeDef.attr["_class"]?.list.s.map { String(decoding: $0, as: UTF8.self) } == ["loc:@w"])
        #expect(late.operation.nodeDef.input == ["^first"])
    }

    @Test func variable_buildsTensorFlowsNodes() {
        let graph = Graph()
        graph.asDefault {
            let variable = Variable(42, name: "foo")
            _ = globalVariablesInitializer()
            _ = variable.assign(13, name: "assign")
        }
        let nodes = graph.graphDef.node.map { "\($0.name)=\($0.op)" }
        #expect(
            nodes == [
                "foo/initial_value=Const", "foo=VariableV2", "foo/Assign=Assign", "foo/read=Identity", "init=NoOp",
                "assign/value=Const", "assign=Assign",
            ]
        )
        #expect(graph.operation(named: "init")?.nodeDef.input == ["^foo/Assign"])
        #expect(graph.operation(named: "foo")?.nodeDef.attr["dtype"]?.type == .dtInt32)
    }

    @Test func mismatchedDtypes_areRecordedNotCrashed() throws {
        let graph = Graph()
        let sum = graph.asDefault { constant(Float(1)) + constant(Int32(1)) }
        let error = try #require(graph.buildError)
        #expect(error.code == .invalidArgument)
        #expect(throws: WeftError.self) { try Session(graph: graph).run(sum) }
    }

    @Test func inputFromAnotherGraph_isRecordedNotCrashed() throws {
        let other = Graph()
        let foreign = other.asDefault { constant(Float(1), name: "elsewhere") }
        let graph = Graph()
        _ = graph.asDefault { constant(Float(2)) + foreign }
        let error = try #require(graph.buildError)
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("elsewhere") && error.message.contains("another graph"))
        #expect(other.buildError == nil)
    }

    @Test func intLiterals_becomeInt32WhereTheyFit() {
        #expect(Int(7).tensor.dtype == .int32)
        #expect(Int(1 << 40).tensor.dtype == .int64)
        #expect(Int(1 << 40).tensor.shape == .scalar)
    }

    /// A ragged literal is the graph's build error, not a trap, and the session reports it.
    @Test func raggedArrayLiteral_isABuildError() throws {
        #expect(throws: WeftError.self) { try [[Float(1), 2], [3]].tensor }
        let graph = Graph()
        let c = graph.asDefault { constant([[Float(1), 2], [3]], name: "ragged") }
        let error = try #require(graph.buildError)
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("rectangular"))
        let thrown = #expect(throws: WeftError.self) { try Session(graph: graph).run(c) }
        #expect(thrown?.code == .invalidArgument)
        #expect(try [[Int32(1), 2], [3, 4]].tensor.shape == [2, 2])
    }

    /// Reading a tensor as another element type throws; `scalar(as:)` answers `nil`.
    @Test func readingAsTheWrongElementType_throws() throws {
        let t = Tensor([Float(1), 2])
        let error = #expect(throws: WeftError.self) { try t.scalars(as: Int32.self) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("float") == true)
        #expect(Tensor(Float(1)).scalar(as: Double.self) == nil)
        #expect(Tensor(Float(1)).scalar(as: Float.self) == 1)
        #expect(try t.scalars(as: Float.self) == [1, 2])
    }
}
