import WeftRuntime

/// A task of the cluster, written as TensorFlow writes devices: `/job:ps/task:0`.
public struct DeviceName: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The job's name.
    public var job: String
    /// The task's index within the job.
    public var task: Int

    /// Names a task.
    public init(job: String, task: Int) {
        self.job = job
        self.task = task
    }

    /// Parses a full device name, `/job:worker/task:0`; a name that leaves the job or the task
    /// open is refused, since it names no one task.
    public init(parsing text: String) throws(WeftError) {
        let request = try DeviceRequest(parsing: text)
        guard let job = request.job, let task = request.task else {
            throw WeftError(.invalidArgument, "'\(text)' does not name one task; write /job:NAME/task:N")
        }
        self.init(job: job, task: task)
    }

    /// `/job:NAME/task:N`.
    public var description: String { "/job:\(job)/task:\(task)" }

    /// Jobs by name, then tasks by index.
    public static func < (lhs: DeviceName, rhs: DeviceName) -> Bool {
        (lhs.job, lhs.task) < (rhs.job, rhs.task)
    }
}

/// A device request as a node may carry it: any of job and task may be left open.
/// `/job:ps/replica:0/task:0/device:CPU:0` is accepted; replica and device are ignored, since
/// every Weft worker is one CPU device.
public struct DeviceRequest: Sendable, Hashable, CustomStringConvertible {
    /// The job asked for, if any.
    public var job: String?
    /// The task asked for, if any.
    public var task: Int?

    /// Parses a device string; an empty string asks for nothing.
    public init(parsing text: String) throws(WeftError) {
        for part in text.split(separator: "/") {
            let pieces = part.split(separator: ":", maxSplits: 1)
            guard pieces.count == 2 else {
                throw WeftError(.invalidArgument, "'\(text)' is not a device; devices look like /job:worker/task:0")
            }
            switch pieces[0].lowercased() {
            case "job": job = String(pieces[1])
            case "task":
                guard let task = Int(pieces[1]), task >= 0 else {
                    throw WeftError(.invalidArgument, "'\(text)' has a bad task index '\(pieces[1])'")
                }
                self.task = task
            case "replica", "device", "cpu", "gpu": continue
            default:
                throw WeftError(.invalidArgument, "'\(text)' is not a device; devices look like /job:worker/task:0")
            }
        }
    }

    /// Whether the request names nothing.
    public var isEmpty: Bool { job == nil && task == nil }

    /// Whether `device` satisfies the request.
    public func matches(_ device: DeviceName) -> Bool {
        (job == nil || job == device.job) && (task == nil || task == device.task)
    }

    /// The request in TensorFlow's form.
    public var description: String {
        (job.map { "/job:\($0)" } ?? "") + (task.map { "/task:\($0)" } ?? "")
    }
}
