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
    /// Runs every session of the case on sessions that `makeSession` opens on the case's graph,
    /// and compares each step with what TensorFlow gave.
    public func run(makeSession: (Graph) throws -> Session) -> ConformanceResult {
        var failures: [String] = []
        let graph: Graph
        do {
            graph = try Graph(graphDefText: graphText)
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
                failures += Self.check(step, on: session).map { "\(place): \($0)" }
            }
        }
        return ConformanceResult(name: name, failures: failures)
    }

    private static func check(_ step: Step, on session: Session) -> [String] {
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
                return ConformanceCase.difference(value, want).map { "\(name): \($0)" }
            }
        case (.values, .failure(let error)):
            return ["expected values, got error \(error)"]
        case (.error(let code, let message), .success):
            return ["expected \(code) (\(message)), but the step succeeded"]
        case (.error(let code, let message), .failure(let error)):
            return error.code == code ? [] : ["expected \(code) (\(message)), got \(error)"]
        }
    }

    /// How `actual` differs from `expected`, or `nil` when they agree (floats within 1e-5 relative).
    public static func difference(_ actual: Tensor, _ expected: Tensor) -> String? {
        guard actual.dtype == expected.dtype else { return "dtype \(actual.dtype), expected \(expected.dtype)" }
        guard actual.shape == expected.shape else { return "shape \(actual.shape), expected \(expected.shape)" }
        for (index, (got, want)) in zip(actual.doubleValues, expected.doubleValues).enumerated() {
            let close = got == want || Swift.abs(got - want) <= 1e-5 * Swift.max(Swift.abs(want), Swift.abs(got)) + 1e-7
            if !close { return "element \(index) is \(got), expected \(want)" }
        }
        return nil
    }
}
