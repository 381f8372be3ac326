import Foundation
import WeftRuntime

/// The outcome of running one conformance case.
public struct ConformanceResult: Sendable {
    /// The case's name.
    public var name: String
    /// What differed from TensorFlow, one line each; empty when the case passed.
    public var failures: [String]
    /// Whether every step matched.
    public var passed: Bool { failures.isEmpty }
}

extension ConformanceCase {
    /// Whether the case's graph has a while loop or a cond, in either form, which placement
    /// can split across workers.
    public var hasControlFlow: Bool {
        let routing: Set<String> = [
            "Switch", "RefSwitch", "Enter", "RefEnter", "If", "StatelessIf", "While", "StatelessWhile", "Case",
            "StatelessCase",
        ]
        guard let graph = try? loadGraph() else { return false }
        let definition = graph.graphDef
        return definition.node.contains { routing.contains($0.op) }
            || definition.library.function.contains { function in function.nodeDef.contains { routing.contains($0.op) } }
    }

    private func loadGraph() throws -> Graph {
        switch self.graph {
        case .text(let text): try Graph(graphDefText: text)
        case .binary(let data): try Graph(serializedGraphDef: data)
        }
    }

    /// Runs every session of the case on sessions that `makeSession` opens on the case's graph,
    /// and compares each step with what TensorFlow gave.
    public func run(makeSession: (Graph) throws -> Session) -> ConformanceResult {
        var failures: [String] = []
        let graph: Graph
        do {
            graph = try loadGraph()
        } catch {
            return ConformanceResult(name: name, failures: ["loading the graph: \(error)"])
        }
        for (sessionNumber, steps) in sessions.enumerated() {
            let session: Session
            do {
                session = try makeSession(graph)
            } catch {
                failures.append("session \(sessionNumber + 1): could not open: \(error)")
                continue
            }
            defer { session.close() }
            for (stepNumber, step) in steps.enumerated() {
                let place = "session \(sessionNumber + 1) step \(stepNumber + 1)"
                failures += check(step, on: session).map { "\(place): \($0)" }
            }
        }
        return ConformanceResult(name: name, failures: failures)
    }

    private func check(_ step: Step, on session: Session) -> [String] {
        let result: Result<[Tensor], WeftError>
        do throws(WeftError) {
            result = .success(try session.run(fetches: step.fetches, feeds: step.feeds, targets: step.targets))
        } catch {
            result = .failure(error)
        }
        switch (step.expectation, result) {
        case (.values(let expected), .success(let values)):
            return zip(step.fetches, values).compactMap { name, value in
                guard let want = expected[name] else { return nil }
                return ConformanceCase.difference(value, want, tolerance: tolerance).map { "\(name): \($0)" }
            }
        case (.values, .failure(let error)):
            return ["expected values, got error \(error)"]
        case (.error(let code, let message), .success):
            return ["expected \(code) (\(message)), but the step succeeded"]
        case (.error(let code, let message), .failure(let error)):
            return error.code == code ? [] : ["expected \(code) (\(message)), got \(error)"]
        }
    }

    /// How `actual` differs from `expected`, or `nil` when they agree: floats (and both parts
    /// of complex numbers) within `tolerance`, NaN matching NaN, everything else exactly.
    public static func difference(_ actual: Tensor, _ expected: Tensor, tolerance: Tolerance = .standard) -> String? {
        guard actual.dtype == expected.dtype else { return "dtype \(actual.dtype), expected \(expected.dtype)" }
        guard actual.shape == expected.shape else { return "shape \(actual.shape), expected \(expected.shape)" }
        guard actual.dtype.isFloatingPoint || actual.dtype.isComplex else {
            return actual == expected ? nil : "\(actual), expected \(expected)"
        }
        let parts = [(actual.doubleValues, expected.doubleValues), (actual.imaginaryValues, expected.imaginaryValues)]
        for (part, (gotValues, wantValues)) in parts.enumerated() {
            for (index, (got, want)) in zip(gotValues, wantValues).enumerated() {
                let close =
                    got == want || (got.isNaN && want.isNaN)
                    || Swift.abs(got - want) <= tolerance.absolute + tolerance.relative * Swift.max(Swift.abs(want), Swift.abs(got))
                if !close { return "element \(index)\(part == 1 ? " (imaginary part)" : "") is \(got), expected \(want)" }
            }
        }
        return nil
    }
}
