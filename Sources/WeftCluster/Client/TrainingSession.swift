import Foundation
import Logging
import Weft
import WeftRuntime

/// A session for a training loop that survives the loss of a worker holding variables, as
/// TensorFlow's `MonitoredTrainingSession` does on the client: it saves a checkpoint every
/// `saveEverySteps` steps, and when a step fails because a worker died (`unavailable` or
/// `aborted`), it opens a new session once the cluster is whole again (the worker restarted,
/// or another process took its task), restores the latest checkpoint and runs the step again.
/// A failure loses at most the steps since the last checkpoint; the global step, saved with
/// the variables, says where training stands.
///
/// On creation it restores the latest checkpoint of the directory if there is one, so a
/// restarted client resumes too; otherwise it initializes every variable and saves at once,
/// so there is always a checkpoint to go back to. Used from one thread, or one task: `run`,
/// `currentGlobalStep` and `save` come synchronous, for scripts, and awaited, running on the
/// caller's executor.
public final class TrainingSession {
    /// Where and how often to save, and how long to wait for the cluster to come back.
    public struct Configuration: Sendable {
        /// The directory of the checkpoints and their `checkpoint` state file.
        public var checkpointDirectory: String
        /// Steps between checkpoints.
        public var saveEverySteps: Int
        /// The checkpoints' file name before `-STEP` (TensorFlow's `model.ckpt`).
        public var checkpointBasename = "model.ckpt"
        /// How long one recovery may wait for the cluster before the step's error is thrown.
        public var recoveryTimeout: Duration = .seconds(60)
        /// The pause between attempts to open a session while the cluster is incomplete.
        public var retryInterval: Duration = .milliseconds(250)

        /// Saves to `checkpointDirectory` every `saveEverySteps` steps.
        public init(checkpointDirectory: String, saveEverySteps: Int) {
            self.checkpointDirectory = checkpointDirectory
            self.saveEverySteps = saveEverySteps
        }
    }

    /// The graph being trained.
    public let graph: Graph
    /// The configuration.
    public let configuration: Configuration
    /// How many times the session was recreated after a lost worker.
    public private(set) var recoveries = 0
    /// The checkpoint the current session was restored from; `nil` when it was initialized.
    public private(set) var restoredFrom: String?

    private let globalStep: Variable
    private let saver: Saver
    private let initialize: Weft.Operation
    private let makeSession: () throws(WeftError) -> Session
    private let logger: Logger
    private var session: Session?
    private var lastSavedStep: Int64 = 0

    /// Opens a training session on the graph of `globalStep`, with sessions `makeSession`
    /// opens. `saver` defaults to a sharded saver of every variable (each parameter server
    /// writes its own shard), `initialize` to `globalVariablesInitializer()`. Throws
    /// `invalidArgument` for an interval below 1, and what opening the first session throws
    /// once `recoveryTimeout` has passed.
    public init(
        globalStep: Variable,
        configuration: Configuration,
        saver: Saver? = nil,
        initialize: Weft.Operation? = nil,
        logger: Logger = Logger(label: "weft.training"),
        makeSession: @escaping () throws(WeftError) -> Session
    ) throws(WeftError) {
        guard configuration.saveEverySteps >= 1 else {
            throw WeftError(.invalidArgument, "saveEverySteps must be at least 1, got \(configuration.saveEverySteps)")
        }
        let graph = globalStep.operation.graph
        self.graph = graph
        self.globalStep = globalStep
        self.configuration = configuration
        if let saver {
            self.saver = saver
        } else {
            self.saver = try Saver(graph: graph, sharded: true)
        }
        self.initialize = initialize ?? graph.asDefault { globalVariablesInitializer(name: "training_init") }
        self.makeSession = makeSession
        self.logger = logger
        do {
            try FileManager.default.createDirectory(
                atPath: configuration.checkpointDirectory,
                withIntermediateDirectories: true
            )
        } catch {
            throw WeftError(
                .failedPrecondition,
                "cannot create the checkpoint directory \(configuration.checkpointDirectory): \(error.localizedDescription)"
            )
        }
        session = try recover(after: nil)
    }

    /// Runs one step, as `Session.run`; when a worker was lost, recovers and runs it again on the
    /// restored variables. Saves a checkpoint once the global step has advanced `saveEverySteps`
    /// past the last one saved: the step's fetches include the global step, which may be read
    /// before the step's increment, so a candidate step is confirmed by an exact read first, as
    /// TensorFlow's `CheckpointSaverHook` does.
    @discardableResult
    public func run(
        _ fetches: [any Fetchable],
        feeding feeds: [Output: Tensor] = [:],
        targets: [Weft.Operation] = []
    ) throws(WeftError) -> [Tensor] {
        let read = globalStep.value
        let values = try withRecovery { (session) throws(WeftError) in
            try session.run(fetches + [read], feeding: feeds, targets: targets)
        }
        if try saveMayBeDue(values), try currentGlobalStep() >= nextSave { try save() }
        return Array(values.dropLast())
    }

    /// Runs one step like the synchronous form, awaiting it (and the reads and saves that
    /// follow) without holding the caller's thread. A recovery, which waits for the cluster to
    /// come back, pauses between its attempts without holding it either.
    @discardableResult
    public nonisolated(nonsending) func run(
        _ fetches: [any Fetchable],
        feeding feeds: [Output: Tensor] = [:],
        targets: [Weft.Operation] = []
    ) async throws(WeftError) -> [Tensor] {
        // By name: the step's values cross to the session's executor, and names are sendable.
        let names = (fetches.map(\.fetchedOutput) + [globalStep.value]).map(\.name)
        let fed = Dictionary(feeds.map { ($0.key.name, $0.value) }, uniquingKeysWith: { $1 })
        let targets = targets.map(\.name)
        let values = try await withRecovery { (session) async throws(WeftError) in
            try await session.run(fetches: names, feeds: fed, targets: targets)
        }
        if try saveMayBeDue(values), try await currentGlobalStep() >= nextSave { try await save() }
        return Array(values.dropLast())
    }

    /// The global step at which the next checkpoint is due.
    private var nextSave: Int64 { lastSavedStep + Int64(configuration.saveEverySteps) }

    /// Whether a step whose fetches end with the global step may have reached the next save.
    private func saveMayBeDue(_ values: [Tensor]) throws(WeftError) -> Bool {
        try Self.step(in: values.last, of: globalStep) + 1 >= nextSave
    }

    /// The global step's value in the current session (recovering first if a worker was lost).
    public func currentGlobalStep() throws(WeftError) -> Int64 {
        let read = globalStep.value
        return try Self.step(in: withRecovery { (session) throws(WeftError) in try session.run(read) }, of: globalStep)
    }

    /// The global step's value, awaited.
    public nonisolated(nonsending) func currentGlobalStep() async throws(WeftError) -> Int64 {
        let read = globalStep.value.name
        let values = try await withRecovery { (session) async throws(WeftError) in
            try await session.run(fetches: [read])
        }
        return try Self.step(in: values.first, of: globalStep)
    }

    /// Saves a checkpoint now (`DIRECTORY/BASENAME-STEP`) and returns its prefix; a lost worker
    /// is recovered from first, and the save then writes the restored values.
    @discardableResult
    public func save() throws(WeftError) -> String {
        try withRecovery { (session) throws(WeftError) in try save(session) }
    }

    /// Saves a checkpoint now, recovering a lost worker first without holding the caller's thread.
    @discardableResult
    public nonisolated(nonsending) func save() async throws(WeftError) -> String {
        try await withRecovery { (session) async throws(WeftError) in try save(session) }
    }

    /// Closes the session; the checkpoints stay.
    public func close() {
        session?.close()
        session = nil
    }

    deinit { session?.close() }

    /// Runs `body` on the current session; when it fails on a lost worker, recovers and runs it
    /// again on the new session.
    private func withRecovery<R>(_ body: (Session) throws(WeftError) -> R) throws(WeftError) -> R {
        while true {
            let current: Session
            if let session {
                current = session
            } else {
                current = try recover(after: nil)
                session = current
            }
            do {
                return try body(current)
            } catch where Self.isRecoverable(error) {
                session = try recover(after: error)
            }
        }
    }

    /// Runs `body` like the synchronous form, awaiting it and any recovery.
    private nonisolated(nonsending) func withRecovery<R>(
        _ body: nonisolated(nonsending) (Session) async throws(WeftError) -> R
    ) async throws(WeftError) -> R {
        while true {
            let current: Session
            if let session {
                current = session
            } else {
                current = try await recover(after: nil)
                session = current
            }
            do {
                return try await body(current)
            } catch where Self.isRecoverable(error) {
                session = try await recover(after: error)
            }
        }
    }

    /// Saves the variables of `session` at its global step.
    private func save(_ session: Session) throws(WeftError) -> String {
        let read = globalStep.value
        let step = try Self.step(in: session.run(read), of: globalStep)
        let written = try saver.save(session, to: prefix, globalStep: Int(step))
        lastSavedStep = step
        logger.info("saved a checkpoint", metadata: ["checkpoint.path": "\(written)"])
        return written
    }

    /// The whole-number value of a fetched global step.
    static func step(in value: Tensor?, of variable: Variable) throws(WeftError) -> Int64 {
        let whole: Int64? =
            switch value?.dtype {
            case .int64: value?.scalar(as: Int64.self)
            case .int32: value?.scalar(as: Int32.self).map(Int64.init)
            default: nil
            }
        guard let whole else {
            throw WeftError(
                .invalidArgument,
                "the global step '\(variable.name)' must be an int32 or int64 scalar, got \(value.map { "\($0)" } ?? "nothing")"
            )
        }
        return whole
    }

    private var prefix: String { configuration.checkpointDirectory + "/" + configuration.checkpointBasename }

    /// TensorFlow's preemption errors: a worker went away, a step was cut short.
    static func isRecoverable(_ error: WeftError) -> Bool { [.unavailable, .aborted].contains(error.code) }

    /// Opens a new session and sets its variables from the latest checkpoint (or initializes
    /// and saves them when there is none), retrying while the cluster is incomplete.
    private func recover(after failure: WeftError?) throws(WeftError) -> Session {
        let deadline = beginRecovery(after: failure)
        while true {
            if let session = try attemptRecovery(until: deadline) { return session }
            Thread.sleep(forTimeInterval: configuration.retryInterval / .seconds(1))
        }
    }

    /// Recovers like the synchronous form, awaiting the pauses between attempts. Opening and
    /// restoring a session are synchronous: the caller's thread is held while each attempt runs.
    private nonisolated(nonsending) func recover(after failure: WeftError?) async throws(WeftError) -> Session {
        let deadline = beginRecovery(after: failure)
        while true {
            if let session = try attemptRecovery(until: deadline) { return session }
            do {
                try await Task.sleep(for: configuration.retryInterval)
            } catch {
                throw WeftError(.cancelled, "the task awaiting the recovery was cancelled")
            }
        }
    }

    /// Drops the failed session and returns when the recovery gives up.
    private func beginRecovery(after failure: WeftError?) -> ContinuousClock.Instant {
        session?.close()
        session = nil
        if let failure {
            recoveries += 1
            logger.info(
                "lost a worker, recovering from the latest checkpoint",
                metadata: ["error": "\(failure)", "checkpoint.directory": "\(configuration.checkpointDirectory)"]
            )
        }
        return ContinuousClock.now + configuration.recoveryTimeout
    }

    /// One attempt: the restored session, or `nil` when the cluster is incomplete and there is
    /// time to try again; throws once `deadline` passed or on an error no retry mends.
    private func attemptRecovery(until deadline: ContinuousClock.Instant) throws(WeftError) -> Session? {
        do {
            return try restoredSession()
        } catch where Self.isRecoverable(error) && ContinuousClock.now < deadline {
            return nil
        }
    }

    private func restoredSession() throws(WeftError) -> Session {
        let session = try makeSession()
        do {
            if let latest = latestCheckpoint(in: configuration.checkpointDirectory) {
                try saver.restore(session, from: latest)
                restoredFrom = latest
                let read = globalStep.value
                lastSavedStep = try Self.step(in: session.run(read), of: globalStep)
            } else {
                try session.run(initialize)
                restoredFrom = nil
                _ = try save(session)
            }
            return session
        } catch {
            session.close()
            throw error
        }
    }
}

extension TrainingSession {
    /// Opens a training session on the cluster whose coordinator is at `target`, each
    /// (re)created session with `options`, waiting for the graph's tasks to register at least
    /// as long as a recovery may last (a restarted parameter server takes a moment to come back).
    public convenience init(
        target: String,
        globalStep: Variable,
        configuration: Configuration,
        saver: Saver? = nil,
        options: RemoteSessionOptions = .init(),
        logger: Logger = Logger(label: "weft.training")
    ) throws(WeftError) {
        let graph = globalStep.operation.graph
        var options = options
        options.waitForWorkers = max(options.waitForWorkers, configuration.recoveryTimeout)
        try self.init(globalStep: globalStep, configuration: configuration, saver: saver, logger: logger) {
            () throws(WeftError) -> Session in
            try Session(target: target, graph: graph, options: options)
        }
    }
}
