import Foundation
import FoundationXML
import Testing
import Weft
import WeftCluster
import WeftPlacement
import WeftRuntime
import WeftTestKit

@testable import WeftBench

/// Runs `body` on a thread of its own: these tests block for seconds (steps, 100,000-node
/// graphs, child processes), and blocking the cooperative pool would starve the timing-sensitive
/// async tests of other suites that run at the same time.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// The placement benchmark on a real in-process cluster, its reports, and planning only.
@Suite(.serialized) struct PlacementBenchmarkTests {
    static let cluster: LocalCluster = try! LocalCluster(jobs: JobCounts(parsing: "worker=2"))

    static func smallWorkloads() throws -> [Workload] {
        try ["chain", "fanout", "mlp", "transformer"].map { try Workloads.named($0, size: .small, seed: 1) }
    }

    static func temporaryFolder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("weft-bench-\(UUID().uuidString)")
    }

    @Test func twoStrategiesOnTwoWorkers_matchTheLocalSession_andWriteParseableReports() async throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (rows, progress, files, pictures) = try await onOwnThread {
            var configuration = PlacementBenchmark.Configuration(
                workloads: try Self.smallWorkloads(),
                strategies: [ExplicitPlacement(), RoundRobinPlacement()],
                coordinator: Self.cluster.address
            )
            configuration.warmupSteps = 1
            configuration.measuredSteps = 3
            var progress: [String] = []
            var pictures: [URL] = []
            let report = try PlacementReport(directory: folder)
            let rows = try PlacementBenchmark(configuration).run(
                progress: { progress.append($0) },
                placed: { pictures += try report.drawPlacements($0).files }
            )
            return (rows, progress, try report.writeRows(rows), pictures)
        }

        #expect(rows.count == 8)
        for row in rows {
            #expect(row.problem == nil, "\(row.workload) × \(row.strategy)")
            #expect(row.valuesMatch == true, "\(row.workload) × \(row.strategy)")
            #expect(row.steps == 3)
            #expect(row.workers == 2)
            #expect(row.trafficSource == .measured)
            #expect((row.medianStepSeconds ?? 0) > 0)
        }
        // Explicit placement keeps everything on task 0; round-robin must cut and send.
        for row in rows where row.strategy == "explicit" { #expect(row.tensorsPerStep == 0 && row.cutEdges == 0) }
        for row in rows where row.strategy == "round-robin" {
            #expect((row.tensorsPerStep ?? 0) > 0 && (row.bytesPerStep ?? 0) > 0 && row.cutEdges > 0)
        }
        #expect(progress.contains { $0.contains("[2/8] chain × round-robin: placing") })

        try Self.checkCSV(folder.appendingPathComponent("placement.csv"), rows: rows.count)
        let decoded = try JSONDecoder().decode(
            [PlacementRow].self,
            from: Data(contentsOf: folder.appendingPathComponent("placement.json"))
        )
        #expect(decoded == rows)
        for svg in files.filter({ $0.pathExtension == "svg" }) + pictures.filter({ $0.pathExtension == "svg" }) {
            let document = try XMLDocument(contentsOf: svg)
            #expect(document.rootElement()?.name == "svg", "\(svg.lastPathComponent)")
        }
        #expect(pictures.filter { $0.pathExtension == "dot" }.count == 8)
    }

    static func checkCSV(_ file: URL, rows: Int) throws {
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == rows + 1)
        let columns = lines[0].split(separator: ",").count
        // No field of these rows holds a comma, so a plain split counts the columns.
        for line in lines { #expect(line.split(separator: ",", omittingEmptySubsequences: false).count == columns) }
    }

    @Test func differingValues_areFound() {
        let expected = [Tensor([Float(1), 2, 3])]
        #expect(
            ValueComparison.firstDifference(
                expected: expected,
                actual: [Tensor([Float(1), 2, 3.000_01])],
                names: ["y:0"]
            ) == nil
        )
        let difference = ValueComparison.firstDifference(
            expected: expected,
            actual: [Tensor([Float(1), 2, 3.1])],
            names: ["y:0"]
        )
        #expect(difference?.contains("y:0[2]") == true)
        #expect(
            ValueComparison.firstDifference(expected: expected, actual: [Tensor([Float(1), 2])], names: ["y:0"]) != nil
        )
    }

    @Test func planningOnly_on100kNodes_placesAndCountsWithoutACluster() async throws {
        let devices = (0..<4).map { DeviceName(job: "worker", task: $0) }
        let (rows, picture) = try await onOwnThread { () -> ([PlacementRow], PlacedGraphPicture) in
            let configuration = PlacementBenchmark.Configuration(
                workloads: [try Workloads.named("chain", size: .large, seed: 1)],
                strategies: [RoundRobinPlacement()],
                coordinator: nil,
                plannedDevices: devices
            )
            var placed: PlacementBenchmark.PlacedWorkload?
            let rows = try PlacementBenchmark(configuration).run(placed: { placed = $0 })
            let picture = PlacedGraphPicture(
                graph: placed!.runtime,
                placement: placed!.placements["round-robin"]!,
                devices: devices,
                title: "chain"
            )
            return (rows, picture)
        }
        let row = try #require(rows.first)
        #expect(row.nodes >= 100_000)
        #expect(row.placementSeconds.isFinite && row.placementSeconds > 0)
        #expect(row.valuesMatch == nil && row.medianStepSeconds == nil && row.bytesPerStep == nil)
        #expect(row.trafficSource == .partition && (row.tensorsPerStep ?? 0) > 0)
        #expect(picture.collapsed)
        #expect(
            picture.dot.components(separatedBy: "fillcolor").count - 1 <= PlacedGraphPicture.boxLimit + devices.count
        )
    }

    @Test func command_plansOnly_andRefusesBadFlags() async throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (run, bad, unknown) = try await onOwnThread {
            (
                try Fixtures.runWeft([
                    "bench", "placement", "--planning-only", "--size", "small", "--workloads", "chain,mlp", "--jobs",
                    "worker=3", "--output", folder.path,
                ]),
                try Fixtures.runWeft(["bench", "placement", "--steps", "0"]),
                try Fixtures.runWeft(["bench", "placement", "--planning-only", "--strategies", "nope"])
            )
        }
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("round-robin") && run.output.contains("mlp"))
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("placement.csv").path))
        #expect(bad.status != 0 && bad.output.contains("--steps"))
        #expect(unknown.status != 0 && unknown.output.contains("no placement strategy 'nope'"))
    }
}
