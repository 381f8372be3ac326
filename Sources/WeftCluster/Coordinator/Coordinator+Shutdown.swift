import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

extension Coordinator {
    /// A worker that shuts down says so: it is marked gone at once, so new steps are refused
    /// and steps that still need it fail now rather than at the heartbeat timeout. A message
    /// from an older process of the task changes nothing.
    func leave(_ body: Weft_Heartbeat, role: PeerRole?) throws(WeftError) -> WireMessage {
        let device = DeviceName(job: body.job, task: Int(body.task))
        if configuration.security != nil, role != .worker(device) {
            throw WeftError(.permissionDenied, "only \(device)'s key may say that \(device) leaves")
        }
        let (worker, directives) = state.withLock { $0.cluster.leave(device, incarnation: body.incarnation) }
        guard worker != nil else { return .ok }
        logger.info("worker left the cluster", metadata: ["worker.device": "\(device)"])
        perform(directives)
        return .ok
    }

    /// Shuts down gracefully: refuses steps from now on, lets the steps in flight finish until
    /// `timeout`, fails those still running with `unavailable`, and stops. Returns whether every
    /// step finished in time.
    public func drain(timeout: Duration) async -> Bool {
        state.withLock { $0.cluster.beginDrain() }
        let deadline = ContinuousClock.now + timeout
        // A shutdown waits at most once; polling costs nothing that matters here.
        while state.withLock({ !$0.runs.isEmpty }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let unfinished = state.withLock { Array($0.runs.values) }
        let error = WeftError(.unavailable, "the coordinator shut down before the step finished; run it again")
        for run in unfinished { drive(run, .cancelled(error)) }
        stop()
        return unfinished.isEmpty
    }
}
