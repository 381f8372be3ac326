import ArgumentParser
import Foundation
import WeftCluster
import WeftPlacement
import WeftRuntime

/// `weft health`: asks a coordinator or worker whether it serves, for liveness and readiness
/// probes, load balancers and scripts. Exits 0 when it answers a ping in time, 1 otherwise.
struct HealthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Exit 0 when the process at an address answers a ping in time, 1 when it does not.",
        discussion:
            "Name the process with --address, or with --config FILE (the coordinator) plus --job and --task (a worker)."
    )

    @Option(help: "The process's address, like tcp://127.0.0.1:7071.")
    var address: String?

    @Option(help: "A cluster file to take the address from.")
    var config: String?

    @Option(help: "With --config: the worker's job.")
    var job: String?

    @Option(help: "With --config: the worker's task.")
    var task: Int?

    @Option(help: "With --config of a cluster with keys: this client's secret key file.")
    var key: String?

    @Option(help: "Milliseconds to wait for the answer.")
    var timeoutMs = 2000

    @Flag(name: .shortAndLong, help: "Print nothing; only the exit status tells.")
    var quiet = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard (address == nil) != (config == nil) else {
            throw ValidationError("give one of --address ADDRESS or --config FILE")
        }
        guard (job == nil) == (task == nil) else { throw ValidationError("--job and --task go together") }
        guard timeoutMs > 0 else { throw ValidationError("--timeout-ms must be positive") }
    }

    func run() throws {
        global.bootstrapLogging()
        let target = try resolvedAddress()
        let security = try targetSecurity()
        let start = ContinuousClock.now
        do {
            try ClusterClient.ping(target, security: security, timeout: .milliseconds(timeoutMs))
            let elapsed = (ContinuousClock.now - start) / .milliseconds(1)
            if !quiet { say("\(target) is healthy (answered in \(fixed(elapsed)) ms)") }
        } catch {
            if !quiet { say("\(target) is not healthy: \(error)") }
            throw ExitCode.failure
        }
    }

    /// With a cluster file that has keys: `--key` and the key of the process pinged.
    private func targetSecurity() throws -> ClientSecurity? {
        guard let config, let security = try ClusterConfig(contentsOfFile: config).security else {
            guard key == nil else { throw ValidationError("--key needs --config with a security section") }
            return nil
        }
        guard let key else { throw ValidationError("the cluster file has keys: give a client's secret key with --key FILE") }
        var client = try ClientSecurity(secretKeyFile: key, cluster: security)
        if let job, let task {
            guard let keys = security.tasks[DeviceName(job: job, task: task)] else {
                throw ValidationError("the security section has no keys for /job:\(job)/task:\(task)")
            }
            client.coordinatorKey = keys.publicKey
        }
        return client
    }

    private func resolvedAddress() throws -> String {
        if let address { return address }
        let cluster = try ClusterConfig(contentsOfFile: config!)  // validate() made sure one of them is set
        guard let job, let task else { return cluster.coordinatorAddress }
        return try cluster.task(job: job, index: task).address
    }
}
