import Foundation
import Testing
import WeftRuntime
import WeftTestKit

@testable import Weft

/// Weft's gradients of forward graphs TensorFlow wrote, against the values TensorFlow's
/// `tf.gradients` gave (`scripts/conformance/cases_gradients.py`; the `"gradients"` list of the
/// cases' JSON).
@Suite struct GradientConformanceTests {
    static let names: [String] = {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: Fixtures.conformance.path)) ?? []
        return files.filter { $0.hasPrefix("gradients_") && $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }
            .sorted()
    }()

    @Test func folder_holdsGradientCases() {
        #expect(Self.names.count >= 8)
    }

    @Test(arguments: names) func gradients_matchTensorFlow(name: String) throws {
        let testCase = try ConformanceCase.load(directory: Fixtures.conformance, name: name)
        let data = try Data(contentsOf: Fixtures.conformance.appendingPathComponent(name + ".json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let entries = try #require(root["gradients"] as? [[String: Any]], "\(name) has no gradients")
        let limits = root["gradient_tolerance"] as? [String: Double] ?? [:]
        let tolerance = ConformanceCase.Tolerance(relative: limits["rtol"] ?? 1e-4, absolute: limits["atol"] ?? 1e-6)
        for (number, entry) in entries.enumerated() {
            let graph: Graph
            switch testCase.graph {
            case .text(let text): graph = try Graph(graphDefText: text)
            case .binary(let data): graph = try Graph(serializedGraphDef: data)
            }
            try check(entry, on: graph, tolerance: tolerance, place: "\(name) entry \(number + 1)")
        }
    }

    private func check(
        _ entry: [String: Any],
        on graph: Graph,
        tolerance: ConformanceCase.Tolerance,
        place: String
    ) throws {
        let tensors = { (key: String) throws -> [Output] in
            try (entry[key] as? [String] ?? []).map { try graph.tensor(named: $0) }
        }
        let xNames = entry["xs"] as? [String] ?? []
        let gradYs = try tensors("grad_ys")
        let gradients = try graph.gradientsKeepingSlices(
            of: try tensors("ys"),
            with: try tensors("xs"),
            gradYs: gradYs.isEmpty ? nil : gradYs,
            unconnected: entry["unconnected"] as? String == "zero" ? .zero : .none,
            stopGradients: try tensors("stop_gradients")
        )
        let feeds = try (entry["feeds"] as? [String: Any] ?? [:]).mapValues(ConformanceCase.parseValue)
        let expected = entry["expect"] as? [String: Any] ?? [:]
        let slices = entry["slices"] as? [String: [String: Any]] ?? [:]
        let densified = gradients.map { $0?.densified }
        let session = Session(graph: graph)
        defer { session.close() }
        _ = try session.run(fetches: [], feeds: feeds, targets: entry["targets"] as? [String] ?? [])
        for (x, (gradient, dense)) in zip(xNames, zip(gradients, densified)) {
            guard let want = expected[x], !(want is NSNull) else {
                #expect(gradient == nil, "\(place): \(x) should get no gradient")
                continue
            }
            let dense = try #require(dense, "\(place): \(x) got no gradient")
            let got = try session.run(fetches: [dense.name], feeds: feeds)[0]
            let difference = ConformanceCase.difference(got, try ConformanceCase.parseValue(want), tolerance: tolerance)
            #expect(difference == nil, "\(place): gradient of \(x): \(difference ?? "")")
            guard let parts = slices[x] else { continue }
            guard case .sparse(let slice)? = gradient else {
                Issue.record("\(place): TensorFlow's gradient of \(x) is IndexedSlices, Weft's is dense")
                continue
            }
            let values = try session.run(
                fetches: [slice.values.name, slice.indices.name, slice.denseShape.name],
                feeds: feeds
            )
            for (key, value) in zip(["values", "indices", "dense_shape"], values) {
                let want = try ConformanceCase.parseValue(parts[key] as Any)
                let difference = ConformanceCase.difference(value, want, tolerance: tolerance)
                #expect(difference == nil, "\(place): slices of \(x), \(key): \(difference ?? "")")
            }
        }
    }
}
