import Foundation
import Testing
import WeftRuntime
import WeftTestKit

@testable import Weft

@Suite struct ConformanceTests {
    static let cases = (try? ConformanceCase.load(directory: Fixtures.conformance)) ?? []
    static let pending = ConformanceCase.pending(directory: Fixtures.conformance)

    @Test func folder_holdsCases() {
        #expect(Self.cases.count(where: { $0.name.hasPrefix(Fixtures.coreCasePrefix) }) >= 5)
    }

    @Test(arguments: cases.map(\.name).filter { pending[$0] == nil })
    func localSession_matchesTensorFlow(name: String) throws {
        let testCase = try ConformanceCase.load(directory: Fixtures.conformance, name: name)
        let result = testCase.run { Session(graph: $0) }
        #expect(result.failures == [])
    }

    @Test func comparison_detectsADifferentValue() throws {
        let a = Tensor([Float(1), 2])
        #expect(ConformanceCase.difference(a, Tensor([Float(1), 2.000001])) == nil)
        #expect(ConformanceCase.difference(a, Tensor([Float(1), 2.1])) != nil)
        #expect(ConformanceCase.difference(a, Tensor([Double(1), 2])) != nil)
    }
}
