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
        let (worker, steps) = state.withLock { state -> (Membership.Worker?, [StepRun]) in
            guard let worker = state.membership[device], worker.incarnation == body.incarnation else { return (nil, []) }
            state.membership.markUnreachable(device)
            return (worker, Array(state.inFlight.values))
        }
        guard let worker else { return .ok }
        logger.info("worker left the cluster", metadata: ["worker.device": "\(device)"])
        let error = Self.unavailable(worker, reason: "it left the cluster")
        for run in steps { drive(run, .workerDied(device, error)) }
        return .ok
    }

    /// Shuts down gracefully: refuses steps from now on, lets the steps in flight finish until
    /// `timeout`, fails those still running with `unavailable`, and stops. Returns whether every
    /// step finished in time.
    public func drain(timeout: Duration) async -> Bool {
        state.withLock { $0.draining = true }
        let deadline = ContinuousClock.now + timeout
        // A shutdown waits at most once; polling costs nothing that matters here.
        while state.withLock({ !$0.inFlight.isEmpty }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let unfinished = state.withLock { Array($0.inFlight.values) }
        let error = WeftError(.unavailable, "the coordinator shut down before the step finished; run it again")
        for run in unfinished { drive(run, .cancelled(error)) }
        stop()
        return unfinished.isEmpty
    }
}
