import Foundation
import Testing
import WeftRuntime
import WeftTestKit

@testable import Weft
@testable import WeftCluster

/// Training that survives its parameter server: real `weft` processes, the ps killed with
/// SIGKILL mid-training and started again on the same task.
@Suite(.serialized) struct TrainingSessionTests {
    /// Linear regression with its variables on the ps and its gradient on the worker.
    struct Model {
        let graph = Graph()
        let features: Output
        let targets: Output
        let loss: Output
        let train: Weft.Operation
        let globalStep: Variable
        let feeds: [Output: Tensor]

        init() throws {
            let graph = self.graph
            (features, targets, loss, train, globalStep) = try graph.asDefault {
                let (weights, bias, step) = try graph.device("/job:ps/task:0") {
                    (
                        Variable(try Tensor([Float](repeating: 0, count: 4), shape: [4, 1]), name: "weights"),
                        Variable(Float(0), name: "bias"),
                        Variable(Int64(0), name: "global_step")
                    )
                }
                return try graph.device("/job:worker/task:0") {
                    let features = placeholder(.float, shape: [8, 4], name: "features")
                    let targets = placeholder(.float, shape: [8, 1], name: "targets")
                    let loss = mean(square(matMul(features, weights.value) + bias.value - targets))
                    let train = try GradientDescentOptimizer(learningRate: 0.05).minimize(loss, globalStep: step)
                    return (features, targets, loss, train, step)
                }
            }
            let x: [Float] = (0..<32).map { Float(($0 * 7) % 11) / 11 - 0.5 }
            let truth: [Float] = [1.5, -2, 0.5, 3]
            let y: [Float] = (0..<8).map { row in (0..<4).reduce(Float(0.25)) { $0 + x[row * 4 + $1] * truth[$1] } }
            feeds = [features: try Tensor(x, shape: [8, 4]), targets: try Tensor(y, shape: [8, 1])]
        }
    }

    /// Steps run in the synchronous form, or awaited.
    @Test(.serialized, arguments: [false, true])
    func killedParameterServer_resumesFromTheLatestCheckpoint(awaited: Bool) async throws {
        let cluster = try ProcessCluster(executable: Fixtures.weftExecutable, jobs: JobCounts(parsing: "ps=1,worker=1"))
        defer { cluster.stop() }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("weft-training-session-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = try Model()
        var configuration = TrainingSession.Configuration(checkpointDirectory: directory, saveEverySteps: 5)
        configuration.recoveryTimeout = .seconds(30)
        let training = try TrainingSession(
            target: cluster.address,
            globalStep: model.globalStep,
            configuration: configuration
        )
        defer { training.close() }
        #expect(training.restoredFrom == nil)
        #expect(latestCheckpoint(in: directory)?.hasSuffix("model.ckpt-0") == true)

        var losses: [Int64: Float] = [:]
        func blockingStep() throws -> (loss: Tensor, step: Int64) {
            (try training.run([model.loss], feeding: model.feeds, targets: [model.train])[0], try training.currentGlobalStep())
        }
        func step() async throws -> Int64 {
            let (loss, step) =
                if awaited {
                    (
                        try await training.run([model.loss], feeding: model.feeds, targets: [model.train])[0],
                        try await training.currentGlobalStep()
                    )
                } else {
                    try blockingStep()
                }
            losses[step] = loss.scalar(as: Float.self)
            return step
        }
        for expected in Int64(1)...12 { #expect(try await step() == expected) }
        #expect(latestCheckpoint(in: directory)?.hasSuffix("model.ckpt-10") == true)

        cluster.kill("/job:ps/task:0")
        let replacement = try ProcessCluster.worker(
            executable: Fixtures.weftExecutable,
            coordinator: cluster.address,
            job: "ps",
            task: 0
        )
        defer {
            replacement.terminate()
            replacement.waitUntilExit()
        }
        // The first step after the kill fails on the dead ps, recovers from step 10 (steps 11
        // and 12 are lost) and runs again: it is step 11 once more.
        #expect(try await step() == 11)
        #expect(training.recoveries == 1)
        #expect(training.restoredFrom?.hasSuffix("model.ckpt-10") == true)
        var last: Int64 = 11
        while last < 30 {
            let next = try await step()
            #expect(next == last + 1, "the global step goes on one by one after the recovery")
            last = next
        }
        #expect(training.recoveries == 1)
        #expect(latestCheckpoint(in: directory)?.hasSuffix("model.ckpt-30") == true)
        let first = try #require(losses[1])
        let atCheckpoint = try #require(losses[10])
        let final = try #require(losses[30])
        #expect(first > atCheckpoint && atCheckpoint > final, "loss \(first) → \(atCheckpoint) → \(final)")

        // A new client resumes from the last checkpoint too.
        training.close()
        let resumed = try TrainingSession(target: cluster.address, globalStep: model.globalStep, configuration: configuration)
        defer { resumed.close() }
        #expect(resumed.restoredFrom?.hasSuffix("model.ckpt-30") == true)
        #expect(try await resumed.currentGlobalStep() == 30)
    }

    @Test func intervalBelowOne_isInvalidArgument() throws {
        let model = try Model()
        let error = try #require(throws: WeftError.self) {
            try TrainingSession(
                globalStep: model.globalStep,
                configuration: .init(checkpointDirectory: NSTemporaryDirectory(), saveEverySteps: 0)
            ) { () throws(WeftError) -> Session in Session(graph: model.graph) }
        }
        #expect(error.code == .invalidArgument)
    }
}
