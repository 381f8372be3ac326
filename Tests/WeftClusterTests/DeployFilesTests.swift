import Foundation
import Testing
import WeftTestKit
import Yams

@testable import WeftCluster

/// The files under deploy/: they parse, and the cluster files in them are valid and agree with
/// the manifests around them. (scripts/check-deploy runs the checks that need other tools.)
@Suite struct DeployFilesTests {
    static let deploy = Fixtures.repository.appendingPathComponent("deploy")

    static func yamlFiles() -> [URL] {
        let files =
            FileManager.default.enumerator(at: deploy, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        return files.filter { $0.pathExtension == "yaml" }.sorted { $0.path < $1.path }
    }

    static func documents(_ relativePath: String) throws -> [Node] {
        let text = try String(contentsOf: deploy.appendingPathComponent(relativePath), encoding: .utf8)
        return Array(try Yams.compose_all(yaml: text))
    }

    @Test func everyYAMLFile_parses() throws {
        let files = Self.yamlFiles()
        #expect(files.count >= 6)
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            #expect(throws: Never.self, "\(file.lastPathComponent)") { _ = Array(try Yams.compose_all(yaml: text)) }
        }
    }

    @Test func exampleClusterFile_isValid() throws {
        let config = try ClusterConfig(contentsOfFile: Self.deploy.appendingPathComponent("cluster.yaml").path)
        #expect(config.jobCounts == "ps=1,worker=2")
    }

    @Test func kubernetes_configMapIsValid_andMatchesTheStatefulSet() throws {
        let configMap = try #require(try Self.documents("kubernetes/configmap.yaml").first)
        let text = try #require(configMap["data"]?["cluster.yaml"]?.string)
        let config = try ClusterConfig(parsing: text, file: "configmap.yaml#cluster.yaml")
        let workers = try #require(config.jobs.first { $0.name == "worker" })
        let statefulSet = try #require(
            try Self.documents("kubernetes/worker.yaml").first { $0["kind"]?.string == "StatefulSet" }
        )
        #expect(statefulSet["spec"]?["replicas"]?.int == workers.tasks.count)
        // Task N must be pod N of the StatefulSet, through the headless Service's DNS record.
        for (index, task) in workers.tasks.enumerated() {
            #expect(task.address.hasPrefix("tcp://weft-worker-\(index).weft-worker."), "\(task.address)")
        }
        let coordinatorText = try String(
            contentsOf: Self.deploy.appendingPathComponent("kubernetes/coordinator.yaml"),
            encoding: .utf8
        )
        let workerText = try String(
            contentsOf: Self.deploy.appendingPathComponent("kubernetes/worker.yaml"),
            encoding: .utf8
        )
        for manifest in [coordinatorText, workerText] {
            #expect(manifest.contains("readinessProbe") && manifest.contains("livenessProbe"))
            #expect(manifest.contains(#"["weft", "health", "--address""#))
        }
    }
}
