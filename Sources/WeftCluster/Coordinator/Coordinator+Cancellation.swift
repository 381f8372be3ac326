import WeftRuntime
import WeftTransport

extension Coordinator {
    /// Ends the step in flight that the session's client numbered `step` with `cancelled` (the
    /// rule is `ClusterState.cancelStep`).
    func cancelStep(_ handle: String, client: String, step: UInt64, caller: CurveKey?) throws(WeftError) -> WireMessage {
        let directives = try state.withLock { (state) throws(WeftError) in
            try state.cluster.cancelStep(step, of: handle, caller: caller, client: client)
        }
        perform(directives)
        return .ok
    }
}
