import Weft
import WeftCluster
import WeftPlacement
import WeftRuntime

/// The cost model `weft bench placement` predicts with on a cluster: priced as the coordinator
/// prices it, plus the overheads of a distributed step, which small graphs are made of.
extension CostModel {
    /// A model of the cluster at `coordinator`: compute rates and cores measured with the routine
    /// each worker runs at start-up (`measureRates`, on this host, where the benchmark's workers
    /// run), each worker's host as the coordinator tells them apart, the links the coordinator
    /// measures between its workers (`ClusterClient.measureLinks`, which it keeps and places
    /// with), and the per-step and per-message overheads of trivial steps on `devices`
    /// (`measureStepOverheads`).
    public static func calibrated(forClusterAt coordinator: String, devices: [DeviceName]) throws(WeftError)
        -> CostModel
    {
        var model = CostModel(rates: try measureRates(), link: CostModel.default.link)
        model.useLinks(try ClusterClient.measureLinks(coordinator: coordinator))
        for (device, host) in try ClusterClient.workerHosts(coordinator: coordinator) {
            model.hosts.place(device, on: host)
        }
        let overheads = try measureStepOverheads(coordinator: coordinator, devices: devices)
        model.secondsPerStep = overheads.perStep
        model.secondsPerMessage = overheads.perMessage
        return model
    }

    /// The fixed seconds of a step and the seconds per worker it runs on, from the median of
    /// `steps` trivial steps (a scalar add per worker, nothing crossing) on the first of
    /// `devices` and on all of them: the difference over the extra workers is per message, the
    /// rest of the one-worker step per step.
    public static func measureStepOverheads(
        coordinator: String,
        devices: [DeviceName],
        steps: Int = 30
    ) throws(WeftError) -> (perStep: Double, perMessage: Double) {
        guard let first = devices.first else {
            throw WeftError(.invalidArgument, "measuring step overheads needs at least one worker")
        }
        let one = try medianTrivialStep(coordinator: coordinator, devices: [first], steps: steps)
        guard devices.count > 1 else { return (one, 0) }
        let all = try medianTrivialStep(coordinator: coordinator, devices: devices, steps: steps)
        let perMessage = max(all - one, 0) / Double(devices.count - 1)
        return (max(one - perMessage, 0), perMessage)
    }

    /// The median seconds of a step that adds two scalars on each of `devices`.
    private static func medianTrivialStep(coordinator: String, devices: [DeviceName], steps: Int) throws(WeftError)
        -> Double
    {
        let graph = Graph()
        let fetches = graph.asDefault {
            devices.enumerated().map { index, device in
                graph.device(device.description) {
                    add(constant(Float(index)), constant(Float(1)), name: "overhead\(index)").name
                }
            }
        }
        let session = try Session(target: coordinator, graph: graph, options: RemoteSessionOptions(strategy: "explicit"))
        defer { session.close() }
        _ = try session.run(fetches: fetches)
        let clock = ContinuousClock()
        var samples: [Double] = []
        for _ in 0..<max(steps, 1) {
            let start = clock.now
            _ = try session.run(fetches: fetches)
            samples.append((clock.now - start) / .seconds(1))
        }
        return Statistics(samples).median
    }
}
