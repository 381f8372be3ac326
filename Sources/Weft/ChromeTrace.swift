import Foundation
import WeftRuntime

/// A step's timeline in Chrome's Trace Event Format, which Perfetto (ui.perfetto.dev) and
/// `chrome://tracing` open: a process row per device, a thread row per executor thread, a
/// slice per node, and a flow arrow from each `_Send` to the `_Recv` that took its tensor.
///
/// Devices' times are put on the client's clock with the offsets measured during the step;
/// each process row's name shows its offset and the most that offset can be off by, so a
/// reader knows how far to trust arrows between rows.
public struct ChromeTrace: Sendable {
    /// One trace event; fields a phase does not use stay out of the JSON.
    public struct Event: Sendable, Encodable, Hashable {
        /// The slice's or metadata record's name.
        public var name: String
        /// The category, which viewers filter by.
        public var cat: String?
        /// The phase: `X` a complete slice, `M` metadata, `s`/`f` a flow's start and finish.
        public var ph: String
        /// Microseconds from the start of the trace.
        public var ts: Double?
        /// A complete slice's length in microseconds.
        public var dur: Double?
        /// The process row (a device).
        public var pid: Int
        /// The thread row (an executor thread).
        public var tid: Int?
        /// A flow's identifier, the same on its start and finish.
        public var id: Int?
        /// `e`: a flow's finish binds to the slice around it rather than the next one.
        public var bp: String?
        /// Details a viewer shows for the event.
        public var args: [String: Argument]?
    }

    /// A value in an event's `args`.
    public enum Argument: Sendable, Encodable, Hashable {
        /// A string.
        case string(String)
        /// An integer.
        case integer(Int64)
        /// A list of strings.
        case strings([String])

        /// Encodes the bare value.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let value): try container.encode(value)
            case .integer(let value): try container.encode(value)
            case .strings(let value): try container.encode(value)
            }
        }
    }

    /// The events, metadata first, then slices and flows in time order per row.
    public private(set) var events: [Event] = []

    /// Builds the timeline of one step's statistics.
    public init(_ statistics: StepStatistics) {
        let devices = Set(statistics.nodes.map(\.device)).union(statistics.clocks.map(\.device)).sorted()
        let clocks = Dictionary(statistics.clocks.map { ($0.device, $0) }, uniquingKeysWith: { first, _ in first })
        let base = clocks.values.map(\.alignedOriginMicros).min() ?? 0
        var slices: [Event] = []
        var sends: [String: [Event]] = [:]
        var receives: [String: [Event]] = [:]
        for (index, device) in devices.enumerated() {
            let pid = index + 1
            let origin = Double(clocks[device].map { $0.alignedOriginMicros &- base } ?? 0)
            events.append(Self.processName(device, clock: clocks[device], pid: pid))
            var threads: [UInt64: Int] = [:]
            let nodes = statistics.nodes.filter { $0.device == device }.sorted { $0.start < $1.start }
            for node in nodes {
                let tid: Int
                if let known = threads[node.thread] {
                    tid = known
                } else {
                    tid = threads.count + 1
                    threads[node.thread] = tid
                    events.append(
                        Event(
                            name: "thread_name",
                            ph: "M",
                            pid: pid,
                            tid: tid,
                            args: ["name": .string("executor thread \(tid)")]
                        )
                    )
                }
                let slice = Self.slice(node, pid: pid, tid: tid, at: origin + node.start.microseconds)
                slices.append(slice)
                if node.op == "_Send" { sends[node.rendezvousKey, default: []].append(slice) }
                if node.op == "_Recv" { receives[node.rendezvousKey, default: []].append(slice) }
            }
        }
        events += slices
        events += Self.flows(sends: sends, receives: receives)
    }

    /// The trace as JSON: `{"traceEvents": [...], "displayTimeUnit": "ms"}`.
    public func jsonData() -> Data {
        struct File: Encodable {
            var traceEvents: [Event]
            var displayTimeUnit = "ms"
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every field is a string, a number or a list of strings: encoding cannot fail.
        return (try? encoder.encode(File(traceEvents: events))) ?? Data()
    }

    private static func processName(_ device: String, clock: StepStatistics.DeviceClock?, pid: Int) -> Event {
        var name = device.isEmpty ? "local" : device
        if let clock, !device.isEmpty {
            name +=
                " (clock \(clock.offsetMicros >= 0 ? "+" : "")\(clock.offsetMicros) µs ± \(clock.offsetErrorMicros) µs)"
        }
        return Event(name: "process_name", ph: "M", pid: pid, args: ["name": .string(name)])
    }

    private static func slice(_ node: StepStatistics.NodeRun, pid: Int, tid: Int, at start: Double) -> Event {
        var args: [String: Argument] = [
            "name": .string(node.node),
            "op": .string(node.op),
            "inputs": .strings(node.inputShapes),
            "outputs": .strings(node.outputShapes),
            "output_bytes": .integer(Int64(node.outputBytes)),
        ]
        if !node.rendezvousKey.isEmpty { args["rendezvous_key"] = .string(node.rendezvousKey) }
        return Event(
            name: node.op,
            cat: "op",
            ph: "X",
            ts: start,
            dur: node.duration.microseconds,
            pid: pid,
            tid: tid,
            args: args
        )
    }

    /// An arrow from each send to its receive: the n-th send of an edge to its n-th receive.
    /// It leaves the middle of the send and lands at the end of the receive, when the tensor
    /// arrived.
    private static func flows(sends: [String: [Event]], receives: [String: [Event]]) -> [Event] {
        var flows: [Event] = []
        for key in sends.keys.sorted() {
            for (send, receive) in zip(sends[key] ?? [], receives[key] ?? []) {
                let id = flows.count / 2 + 1
                let tensor = key.split(separator: ";").last.map(String.init) ?? key
                let sendTime = (send.ts ?? 0) + (send.dur ?? 0) / 2
                let receiveTime = (receive.ts ?? 0) + max(0, (receive.dur ?? 0) - 0.001)
                flows.append(
                    Event(name: tensor, cat: "transfer", ph: "s", ts: sendTime, pid: send.pid, tid: send.tid, id: id)
                )
                flows.append(
                    Event(
                        name: tensor,
                        cat: "transfer",
                        ph: "f",
                        ts: receiveTime,
                        pid: receive.pid,
                        tid: receive.tid,
                        id: id,
                        bp: "e"
                    )
                )
            }
        }
        return flows
    }
}

extension RunMetadata {
    /// The step as a Chrome trace (JSON in the Trace Event Format) across every device that
    /// ran it: open it in Perfetto or `chrome://tracing`.
    public func chromeTrace() -> ChromeTrace { ChromeTrace(stepStatistics) }
}

extension Duration {
    /// The duration in microseconds, with fractions.
    fileprivate var microseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1_000_000 + Double(attoseconds) / 1_000_000_000_000
    }
}
