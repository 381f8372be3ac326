extension StepPlan {
    /// What `SimpleStepExecution` reads of every node it runs, in flat buffers the plan owns:
    /// node after node in contiguous memory, so a step's hot loop touches no `Node` object (10k
    /// separate heap objects do not stay in cache) and retains nothing to read it.
    final class NodeTable: @unchecked Sendable {
        // Sendable: the buffers are written once, in init, and only read until deinit (the
        // executor calls kernels in place, through `inout`, but `compute` mutates nothing).

        /// A node's ranges in `sources` and `targets`, which end where the next entry's start
        /// (a last entry past the nodes closes them), and what the hot loop asks of it.
        struct Entry {
            let sourceStart: Int
            let targetStart: Int
            let outputCount: Int
            let flags: Flags
        }

        /// A node's properties the hot loop branches on.
        struct Flags: OptionSet {
            let rawValue: UInt8
            static let isAsync = Flags(rawValue: 1)
            static let isExpensive = Flags(rawValue: 2)
            /// The caller fetches one of its outputs (`Node.fetched`).
            static let hasFetch = Flags(rawValue: 4)
            /// Its kernel has one output (`SingleOutputKernel`): `computeOutput` runs it.
            static let singleOutput = Flags(rawValue: 8)
            /// A `_Send` with no edges out, which the executor corks (`CorkedSends`).
            static let corksSend = Flags(rawValue: 16)
        }

        /// Where a data input is read from: input slot `slot`, or feed `-1 - slot` when negative
        /// (one word where `Source` takes two).
        struct Input {
            let slot: Int
        }

        /// One edge out of a node (`StepPlan.Edge`), as the hot loop needs it.
        struct Target {
            let consumer: Int
            let output: Int
            /// The consumer's input slot; -1 for a control edge.
            let slot: Int
            /// The consumer waits for nothing but this edge: it is ready without counting down.
            /// (Counted in the root frame: only the executor of plans without frames reads this.)
            let isOnlyInput: Bool
            /// The last data edge of its output among the node's edges: the value moves into
            /// this consumer's slot rather than being copied.
            let takesOutput: Bool
        }

        /// One entry per node, and one more that ends the last node's ranges.
        let entries: UnsafeMutablePointer<Entry>
        /// Every node's data inputs, node after node.
        let sources: UnsafeMutablePointer<Input>
        /// Every node's edges, node after node, as `StepPlan.edges`.
        let targets: UnsafeMutablePointer<Target>
        /// Per node, its kernel and its name (for `OpKernelContext`).
        let kernels: UnsafeMutablePointer<any OpKernel>
        /// Per node, its kernel again where it is a `SingleOutputKernel` (a cast per call would
        /// cost more than the kernel), and a kernel that fails where it is not.
        let singleOutputKernels: UnsafeMutablePointer<any SingleOutputKernel>
        let names: UnsafeMutablePointer<String>
        private let count: Int

        /// Runs node `index`'s kernel where the table keeps it: a kernel read out of the table
        /// is a copy, which retains its closure's context.
        func compute(_ index: Int, _ context: OpKernelContext) throws(WeftError) -> [Value] {
            try Self.call(&kernels[index], context)
        }

        /// Runs node `index`'s kernel, which has the `singleOutput` flag, where the table keeps it.
        func computeOutput(_ index: Int, _ context: inout OpKernelContext) throws(WeftError) -> Value {
            try Self.call(&singleOutputKernels[index], &context)
        }

        /// Calls `kernel` where it is kept. `inout` only for that: `compute` does not mutate, so
        /// steps that run the same node at once write nothing.
        static func call(_ kernel: inout any OpKernel, _ context: OpKernelContext) throws(WeftError) -> [Value] {
            try kernel.compute(context)
        }

        private static func call(
            _ kernel: inout any SingleOutputKernel,
            _ context: inout OpKernelContext
        ) throws(WeftError)
            -> Value
        {
            try kernel.computeOutput(&context)
        }

        /// Lays out `nodes`, whose edges are in `edges`; `initialPending` is what each node
        /// waits for when a step starts.
        init(nodes: [Node], edges: [Edge], initialPending: [Int32]) {
            var inputs: [Input] = []
            var entries: [Entry] = []
            entries.reserveCapacity(nodes.count + 1)
            for node in nodes {
                var flags: Flags = []
                if node.isAsync { flags.insert(.isAsync) }
                if node.isExpensive { flags.insert(.isExpensive) }
                if !node.fetched.isEmpty { flags.insert(.hasFetch) }
                if node.kernel is any SingleOutputKernel { flags.insert(.singleOutput) }
                if node.kernel is SendKernel, node.edges.isEmpty { flags.insert(.corksSend) }
                entries.append(
                    Entry(
                        sourceStart: inputs.count,
                        targetStart: node.edges.lowerBound,
                        outputCount: node.outputCount,
                        flags: flags
                    )
                )
                for source in node.inputs {
                    switch source {
                    case .slot(let slot): inputs.append(Input(slot: slot))
                    case .feed(let feed): inputs.append(Input(slot: -1 - feed))
                    }
                }
            }
            entries.append(Entry(sourceStart: inputs.count, targetStart: edges.count, outputCount: 0, flags: []))
            var edgesIn = [Int](repeating: 0, count: nodes.count)
            for edge in edges { edgesIn[edge.consumer] += 1 }
            var lastRead = Set<Int>()
            for node in nodes {
                var outputsSeen = Set<Int>()
                for position in node.edges.reversed() where edges[position].input >= 0 {
                    if outputsSeen.insert(edges[position].output).inserted { lastRead.insert(position) }
                }
            }
            let targets = edges.enumerated().map { position, edge in
                Target(
                    consumer: edge.consumer,
                    output: edge.output,
                    slot: edge.input >= 0 ? edge.slot : -1,
                    isOnlyInput: edgesIn[edge.consumer] == 1 && initialPending[edge.consumer] == 1,
                    takesOutput: lastRead.contains(position)
                )
            }
            self.entries = Self.copy(entries)
            self.sources = Self.copy(inputs)
            self.targets = Self.copy(targets)
            self.kernels = Self.copy(nodes.map(\.kernel))
            self.singleOutputKernels = Self.copy(
                nodes.map { $0.kernel as? any SingleOutputKernel ?? NotSingleOutput() }
            )
            self.names = Self.copy(nodes.map(\.name))
            self.count = nodes.count
        }

        deinit {
            entries.deallocate()
            sources.deallocate()
            targets.deallocate()
            kernels.deinitialize(count: count).deallocate()
            singleOutputKernels.deinitialize(count: count).deallocate()
            names.deinitialize(count: count).deallocate()
        }

        private static func copy<Element>(_ elements: [Element]) -> UnsafeMutablePointer<Element> {
            let buffer = UnsafeMutablePointer<Element>.allocate(capacity: max(elements.count, 1))
            elements.withUnsafeBufferPointer { source in
                if let start = source.baseAddress { buffer.initialize(from: start, count: source.count) }
            }
            return buffer
        }
    }
}

/// What `NodeTable` keeps for a node whose kernel is not a `SingleOutputKernel`: the executors
/// never call it, as the node's flags say.
private struct NotSingleOutput: SingleOutputKernel {
    func computeOutput(_ context: inout OpKernelContext) throws(WeftError) -> Value {
        throw WeftError(.internal, "the kernel of '\(context.node)' was run as a single-output kernel")
    }
}
