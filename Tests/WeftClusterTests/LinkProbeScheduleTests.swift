import Testing
import WeftPlacement
import WeftRuntime

@testable import WeftCluster

/// Which links the coordinator probes and when, driven by events with an injected clock.
@Suite struct LinkProbeScheduleTests {
    typealias Schedule = LinkProbeSchedule
    let start = ContinuousClock.now

    func device(_ task: Int) -> DeviceName { DeviceName(job: "worker", task: task) }

    /// `workers` workers spread over `hosts` hosts (`10.0.0.H`), registered at `start`.
    func schedule(
        workers: Int,
        hosts: Int,
        _ configuration: Schedule.Configuration = .init()
    ) -> Schedule {
        var schedule = Schedule(configuration)
        for task in 0..<workers {
            schedule.joined(device(task), address: "tcp://10.0.0.\(task % hosts):\(7000 + task)", now: start)
        }
        return schedule
    }

    func probes(_ directives: [Schedule.Directive]) -> [Schedule.Probe] {
        directives.compactMap { if case .probe(let probe) = $0 { probe } else { nil } }
    }

    func measurement(_ probe: Schedule.Probe, microseconds: Int64 = 50) -> LinkMeasurement {
        LinkMeasurement(
            source: probe.source.device,
            destination: probe.destination.device,
            latency: .microseconds(microseconds),
            bytesPerSecond: 1e9
        )
    }

    /// Runs every probe the schedule starts until none is left; returns how many ran.
    func drain(_ schedule: inout Schedule, _ directives: [Schedule.Directive], at now: ContinuousClock.Instant) -> Int {
        var pending = probes(directives)
        var ran = 0
        while let probe = pending.popLast() {
            ran += 1
            pending += probes(schedule.finished(probe.id, .success(measurement(probe)), now: now))
        }
        return ran
    }

    @Test func hostOfAnAddress_isItsHostPart() {
        #expect(Schedule.host(of: "tcp://10.1.2.3:7070") == "10.1.2.3")
        #expect(Schedule.host(of: "tcp://node-4.example:0") == "node-4.example")
        #expect(Schedule.host(of: "inproc://worker-1") == "worker-1")
    }

    @Test func nothingProbed_untilRegistrationsSettle() {
        var schedule = schedule(workers: 4, hosts: 1)
        #expect(schedule.nextDeadline == start + .milliseconds(500))
        #expect(schedule.tick(now: start + .milliseconds(499)).isEmpty)
        // A late registration pushes the start back.
        schedule.joined(device(9), address: "tcp://10.0.0.0:7999", now: start + .milliseconds(400))
        #expect(schedule.tick(now: start + .milliseconds(600)).isEmpty)
        #expect(probes(schedule.tick(now: start + .milliseconds(900))).count == 1)
    }

    @Test func manyWorkersOnOneHost_shareOneProbe() {
        var schedule = schedule(workers: 100, hosts: 1)
        let started = probes(schedule.tick(now: start + .seconds(1)))
        #expect(started.count == 1)
        let probe = started[0]
        #expect(probe.pair == Schedule.HostPair(source: "10.0.0.0", destination: "10.0.0.0"))
        #expect(probe.source.device != probe.destination.device)
        _ = schedule.finished(probe.id, .success(measurement(probe, microseconds: 30)), now: start + .seconds(2))
        // Every pair of workers on the host is priced by that one measurement.
        let model = { var model = CostModel.default; model.hosts = schedule.costLinks; return model }()
        #expect(model.link(from: device(17), to: device(63)).latency == 30e-6)
        #expect(schedule.probesStarted == 1)
    }

    @Test(arguments: [(10, 10), (100, 25), (1000, 1000), (1000, 7)])
    func probesAtStart_neverMoreThanTwicePerHost(workers: Int, hosts: Int) {
        var schedule = schedule(workers: workers, hosts: hosts)
        let ran = drain(&schedule, schedule.tick(now: start + .seconds(1)), at: start + .seconds(2))
        // Within each host with two workers, and to the next host of the ring.
        let within = workers >= 2 * hosts ? hosts : max(0, workers - hosts)
        #expect(ran == within + (hosts > 1 ? hosts : 0))
        #expect(ran <= 2 * workers)
    }

    @Test func probesSharingNoHost_runInParallel_upToTheLimit() {
        var configuration = Schedule.Configuration()
        configuration.maximumInFlight = 3
        var schedule = schedule(workers: 16, hosts: 8, configuration)
        let first = probes(schedule.tick(now: start + .seconds(1)))
        #expect(first.count == 3)
        let hosts = first.flatMap { [$0.pair.source, $0.pair.destination] }
        let distinct = Set(first.flatMap { Set([$0.pair.source, $0.pair.destination]) })
        #expect(distinct.count == Set(hosts).count)
        #expect(first.allSatisfy { probe in
            first.filter { $0.id != probe.id }.allSatisfy {
                Set([$0.pair.source, $0.pair.destination]).isDisjoint(with: [probe.pair.source, probe.pair.destination])
            }
        })
        // One ends: the next pair whose hosts are free starts.
        let next = probes(schedule.finished(first[0].id, .success(measurement(first[0])), now: start + .seconds(2)))
        #expect(next.count == 1)
        #expect(schedule.running.count == 3)
    }

    @Test func unmeasuredPair_isEstimatedFromItsReverse_thenFromTheMedian() {
        var schedule = schedule(workers: 3, hosts: 3)
        let ran = drain(&schedule, schedule.tick(now: start + .seconds(1)), at: start + .seconds(2))
        #expect(ran == 3)  // the ring 0 -> 1 -> 2 -> 0
        #expect(schedule.link(from: "10.0.0.1", to: "10.0.0.0") == schedule.link(from: "10.0.0.0", to: "10.0.0.1"))
        #expect(schedule.link(from: "10.0.0.0", to: "10.0.0.0") == nil)  // nothing measured within a host
        let model = { var model = CostModel.default; model.hosts = schedule.costLinks; return model }()
        #expect(model.link(from: device(1), to: device(0)).latency == 50e-6)
    }

    @Test func placementNeedingAnEstimatedLink_getsItMeasured() {
        var schedule = schedule(workers: 4, hosts: 4)
        _ = drain(&schedule, schedule.tick(now: start + .seconds(1)), at: start + .seconds(2))
        let pair = Schedule.HostPair(source: "10.0.0.0", destination: "10.0.0.2")
        let reverse = Schedule.HostPair(source: "10.0.0.2", destination: "10.0.0.0")
        #expect(schedule.measured[pair] == nil && schedule.measured[reverse] == nil)
        // Both directions share both hosts: one runs now, the other after it.
        let needed = probes(schedule.needed([device(0), device(2)], now: start + .seconds(3)))
        #expect(needed.count == 1)
        #expect([pair, reverse].contains(needed[0].pair))
        // Asking again while it runs starts nothing more.
        #expect(probes(schedule.needed([device(0), device(2)], now: start + .seconds(3))).isEmpty)
        #expect(drain(&schedule, needed.map { .probe($0) }, at: start + .seconds(4)) == 2)
        #expect(schedule.measured[pair] != nil && schedule.measured[reverse] != nil)
        #expect(probes(schedule.needed([device(0), device(2)], now: start + .seconds(5))).isEmpty)
    }

    @Test func measureAll_answersOnceEveryPairEnded_withItsFailures() {
        var schedule = schedule(workers: 4, hosts: 2)
        var directives = schedule.measureAll(request: 7, roundTrips: 3, payloadBytes: 1024, now: start)
        var answer: [Schedule.HostPair: WeftError]?
        var ran = 0
        while answer == nil {
            let started = probes(directives)
            #expect(!started.isEmpty)
            directives = []
            for probe in started {
                ran += 1
                #expect(probe.roundTrips == 3 && probe.payloadBytes == 1024)
                let result: Result<LinkMeasurement, WeftError> =
                    probe.pair.source == "10.0.0.1" && probe.pair.destination == "10.0.0.0"
                    ? .failure(WeftError(.unavailable, "gone")) : .success(measurement(probe))
                for directive in schedule.finished(probe.id, result, now: start + .seconds(1)) {
                    if case .answer(7, let failures) = directive { answer = failures } else { directives.append(directive) }
                }
            }
        }
        #expect(ran == 4)  // within each of the two hosts, and both ways between them
        #expect(answer?.keys.map(\.description) == ["10.0.0.1 -> 10.0.0.0"])
        #expect(schedule.measurements.count == 3)
    }

    @Test func measureAll_withOneWorker_isAnsweredAtOnce() {
        var schedule = schedule(workers: 1, hosts: 1)
        #expect(schedule.measureAll(request: 1, roundTrips: 1, payloadBytes: 1, now: start) == [.answer(request: 1, failures: [:])])
    }

    @Test func hostWhoseWorkersLeft_losesItsLinks_andItsProbes() {
        var schedule = schedule(workers: 4, hosts: 2)
        _ = drain(&schedule, schedule.tick(now: start + .seconds(1)), at: start + .seconds(2))
        #expect(schedule.measurements.count == 4)
        _ = schedule.left(device(1), now: start + .seconds(3))
        #expect(schedule.measurements.count == 4)  // host 10.0.0.1 still has task 3
        _ = schedule.left(device(3), now: start + .seconds(3))
        #expect(schedule.measurements.map(\.pair.description) == ["10.0.0.0 -> 10.0.0.0"])
    }

    @Test func refresh_measuresTheStalestPairAgain_onePerInterval() {
        var configuration = Schedule.Configuration()
        configuration.refreshInterval = .seconds(60)
        var schedule = schedule(workers: 4, hosts: 2, configuration)
        _ = drain(&schedule, schedule.tick(now: start + .seconds(1)), at: start + .seconds(2))
        #expect(schedule.nextDeadline == start + .seconds(61))
        #expect(schedule.tick(now: start + .seconds(30)).isEmpty)
        let refreshed = probes(schedule.tick(now: start + .seconds(61)))
        #expect(refreshed.count == 1)
        #expect(schedule.nextDeadline == start + .seconds(121))
    }

    @Test func failedProbe_isNotRetriedByItself() {
        var schedule = schedule(workers: 2, hosts: 1)
        let probe = probes(schedule.tick(now: start + .seconds(1)))[0]
        #expect(schedule.finished(probe.id, .failure(WeftError(.unavailable, "x")), now: start + .seconds(2)).isEmpty)
        #expect(schedule.measurements.isEmpty)
        #expect(schedule.running.isEmpty)
    }
}
