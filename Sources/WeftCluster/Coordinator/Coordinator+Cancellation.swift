import WeftRuntime
import WeftTransport

extension Coordinator {
    /// Ends the step in flight that the session's client numbered `step` with `cancelled`: the
    /// client stopped waiting for it. A step that already ended, or was never seen, is left
    /// alone, so a cancel that crosses the step's reply changes nothing.
    func cancelStep(_ handle: String, client: String, step: UInt64, caller: CurveKey?) throws(WeftError) -> WireMessage {
        let runs = try state.withLock { (state) throws(WeftError) -> [StepRun] in
            let session = try Self.session(handle, in: &state, caller: caller, client: client)
            return state.inFlight.values.filter { $0.setup.session === session && $0.setup.clientStep == step }
        }
        guard step != 0 else { return .ok }
        let error = WeftError(.cancelled, "the client of session \(handle) cancelled the step")
        for run in runs { drive(run, .cancelled(error)) }
        return .ok
    }
}
