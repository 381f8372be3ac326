import Foundation
import Testing
import WeftRuntime

@testable import WeftCluster

/// Cluster files: what they configure, and every problem reported with its place.
@Suite struct ClusterConfigTests {
    static let valid = """
        coordinator:
          address: tcp://10.0.0.1:7070
          strategy: round-robin
        jobs:
          ps:
            - tcp://10.0.0.2:7071
          worker:
            - tcp://10.0.0.3:7071
            - address: tcp://worker-1.weft:7071
              listen: tcp://0.0.0.0:9000
        heartbeat:
          interval: 200ms
          timeout: 1.5s
        deadlines:
          request: 3s
          step: 2m
        """

    @Test func validYAML_configuresCoordinatorAndWorkers() throws {
        let config = try ClusterConfig(parsing: Self.valid, file: "cluster.yaml")
        #expect(config.jobCounts == "ps=1,worker=2")
        let coordinator = try config.coordinatorConfiguration()
        #expect(coordinator.listen == "tcp://0.0.0.0:7070")
        #expect(coordinator.defaultStrategy == "round-robin")
        #expect(coordinator.heartbeatInterval == .milliseconds(200))
        #expect(coordinator.heartbeatTimeout == .milliseconds(1500))
        #expect(coordinator.requestTimeout == .seconds(3))
        #expect(coordinator.stepTimeout == .seconds(120))
        let worker = try config.workerConfiguration(job: "worker", task: 1)
        #expect(worker.listen == "tcp://0.0.0.0:9000")
        #expect(worker.advertise == "tcp://worker-1.weft:7071")
        #expect(worker.coordinator == "tcp://10.0.0.1:7070")
        #expect(worker.task == 1 && worker.job == "worker")
        #expect(worker.requestTimeout == .seconds(3))
    }

    @Test func json_readsLikeYAML() throws {
        let json = """
            {"coordinator": {"address": "tcp://10.0.0.1:7070"},
             "jobs": {"worker": ["tcp://10.0.0.3:7071", "tcp://10.0.0.4:7071"]}}
            """
        let config = try ClusterConfig(parsing: json, file: "cluster.json")
        #expect(config.jobs.map(\.name) == ["worker"])
        #expect(config.jobs[0].tasks.map(\.address) == ["tcp://10.0.0.3:7071", "tcp://10.0.0.4:7071"])
        #expect(try config.coordinatorConfiguration().heartbeatTimeout == .milliseconds(1500))
    }

    @Test func unknownTask_isNotFoundNamingTheTasks() throws {
        let config = try ClusterConfig(parsing: Self.valid, file: "cluster.yaml")
        let error = try #require(throws: WeftError.self) { try config.workerConfiguration(job: "worker", task: 2) }
        #expect(error.code == .notFound)
        #expect(error.message.contains("tasks 0 to 1"))
        let job = try #require(throws: WeftError.self) { try config.workerConfiguration(job: "chief", task: 0) }
        #expect(job.message.contains("ps, worker"))
    }

    @Test func everyProblem_isReportedWithItsPlace() {
        let text = """
            coordinator:
              address: tcp://0.0.0.0:7070
              strategy: fastest
            jobs:
              worker:
                - tcp://10.0.0.3:7071
                - address: 10.0.0.4:7071
                - tcp://10.0.0.3:7071
              ps: tcp://10.0.0.2:7071
            heartbeat:
              interval: 500ms
              timeout: 600
            deadline:
              step: 1s
            """
        let (config, problems) = ClusterConfig.check(text, file: "c.yaml")
        #expect(config == nil)
        let places = problems.map { "\($0.path)@\($0.line ?? 0):\($0.column ?? 0)" }
        #expect(places.contains("coordinator.address@2:12"), "\(problems)")
        #expect(places.contains("coordinator.strategy@3:13"), "\(problems)")
        #expect(places.contains("jobs.worker[1].address@7:16"), "\(problems)")
        #expect(places.contains("jobs.worker[2]@8:7"), "\(problems)")
        #expect(places.contains("jobs.ps@9:7"), "\(problems)")
        #expect(places.contains("heartbeat.timeout@12:12"), "\(problems)")
        #expect(places.contains("deadline@13:1"), "\(problems)")
        #expect(problems.count == 7, "\(problems)")
        let described = problems.first { $0.path == "jobs.worker[1].address" }?.description
        #expect(
            described
                == "c.yaml:7:16: jobs.worker[1].address: '10.0.0.4:7071' is not an address; write tcp://HOST:PORT, like tcp://10.0.0.1:7070"
        )
    }

    @Test func missingSectionsAndSyntaxErrors_haveAPlace() {
        let missing = ClusterConfig.check("heartbeat:\n  interval: 1s\n", file: "m.yaml").problems.map(\.description)
        #expect(missing.contains("m.yaml:1:1: coordinator: 'coordinator' is missing"), "\(missing)")
        #expect(missing.contains("m.yaml:1:1: jobs: 'jobs' is missing"), "\(missing)")
        let broken = ClusterConfig.check("jobs: [a, b\ncoordinator: x\n", file: "b.yaml").problems
        #expect(
            broken.count == 1 && broken[0].line != nil && broken[0].message.hasPrefix("not valid YAML or JSON"),
            "\(broken)"
        )
        let empty = ClusterConfig.check("", file: "e.yaml").problems
        #expect(empty.count == 1 && empty[0].message.contains("empty"))
    }

    @Test func shortHeartbeatTimeout_andUnknownSecurityKey_areProblems() {
        let text = """
            coordinator: {address: "tcp://10.0.0.1:7070"}
            jobs: {worker: ["tcp://10.0.0.3:7071"]}
            heartbeat: {interval: 1s, timeout: 1500ms}
            security: {server_key: abc}
            """
        let paths = ClusterConfig.check(text, file: "s.yaml").problems.map(\.path)
        #expect(paths == ["heartbeat.timeout", "security.server_key"])
    }

    @Test(arguments: [
        ("250ms", 250), ("1.5s", 1500), ("2m", 120_000), ("1h", 3_600_000), ("0.1ms", 1),
    ])
    func durations_parse(text: String, milliseconds: Int) throws {
        #expect(try ConfigDuration.parse(text) == .milliseconds(milliseconds))
    }

    @Test(arguments: ["", "12", "-1s", "1 fortnight", "ms", "1e300h", "1e20s"])
    func badDurations_areInvalidArgument(text: String) {
        #expect(throws: WeftError.self) { try ConfigDuration.parse(text) }
    }

    @Test(arguments: ["tcp://h:1", "tcp://10.0.0.1:7070", "tcp://*:0", "tcp://weft-worker-0.weft-worker:7071"])
    func addresses_parse(text: String) throws {
        #expect(try ClusterAddress(parsing: text).description == text)
    }

    @Test(arguments: ["10.0.0.1:7070", "tcp://:70", "tcp://h:", "tcp://h:70000", "udp://h:1", "tcp://a b:1"])
    func badAddresses_areInvalidArgument(text: String) {
        #expect(throws: WeftError.self) { try ClusterAddress(parsing: text) }
    }
}
