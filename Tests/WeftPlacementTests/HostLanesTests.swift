import Testing
import WeftRuntime

@testable import Weft
@testable import WeftPlacement

/// Devices on one host share its cores: the estimate runs at most that many nodes at once on
/// the host, whichever of its devices they are placed on, and a device with cores to spare runs
/// independent nodes side by side.
@Suite struct HostLanesTests {
    static let devices = (0..<2).map { DeviceName(job: "worker", task: $0) }

    /// Four independent 128×128 products, each of a constant of its own, so that placing them
    /// apart moves no tensor.
    static func independentProducts() throws -> RuntimeGraph {
        let input = try Tensor([Float](repeating: 0.5, count: 128 * 128), shape: [128, 128])
        let graph = Graph()
        graph.asDefault {
            for index in 0..<4 {
                let x = constant(input, name: "x\(index)")
                _ = matMul(x, x, name: "product\(index)")
            }
        }
        return try RuntimeGraph(nodes: graph.graphDef.node)
    }

    /// The default model with every device on `host` with `cores` cores (0: none known).
    static func model(cores: Int, host: String? = "h") -> CostModel {
        var model = CostModel.default
        model.rates.cores = cores
        if let host { for device in devices { model.hosts.place(device, on: host) } }
        return model
    }

    /// The estimated step of the products split over both devices, or all on the first.
    static func step(_ model: CostModel, split: Bool) throws -> Double {
        let runtime = try independentProducts()
        var placement: [String: DeviceName] = [:]
        for node in runtime.nodes {
            let index = node.info.name.last?.wholeNumberValue ?? 0
            placement[node.info.name] = split ? devices[index % 2] : devices[0]
        }
        let estimate = try PlacementStrategies.estimate(
            runtime,
            placement: placement,
            on: devices,
            options: PlacementOptions(costModel: model)
        )
        return estimate.stepSeconds
    }

    @Test func oneCoreHost_runsItsDevicesOneNodeAtATime() throws {
        let serial = try Self.step(Self.model(cores: 0), split: false)
        let apart = try Self.step(Self.model(cores: 0), split: true)
        let shared = try Self.step(Self.model(cores: 1), split: true)
        #expect(apart < serial * 0.75)
        #expect(abs(shared - serial) < serial * 1e-9)
    }

    @Test func deviceWithSpareCores_runsIndependentNodesSideBySide() throws {
        let apart = try Self.step(Self.model(cores: 0), split: true)
        let together = try Self.step(Self.model(cores: 2), split: false)
        let serial = try Self.step(Self.model(cores: 0), split: false)
        #expect(abs(together - apart) < apart * 1e-9)
        #expect(together < serial * 0.75)
    }

    @Test func unknownHost_keepsOneLanePerDevice() throws {
        let serial = try Self.step(Self.model(cores: 8, host: nil), split: false)
        let unknown = try Self.step(Self.model(cores: 0), split: false)
        #expect(abs(serial - unknown) < unknown * 1e-9)
    }
}
