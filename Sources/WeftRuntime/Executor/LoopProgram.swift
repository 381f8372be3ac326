/// A while loop compiled to straight-line code, for a loop that runs all its iterations on one
/// thread (`StepPlan.sequentialLoops`) and has the shape `tf.while_loop` gives it: Merges fed by
/// an `Enter` and a `NextIteration`, one `LoopCond`, Switches on it, Exits on their false side,
/// and no cond inside.
///
/// In such a loop nothing is ever dead in an iteration that continues, and in the last one
/// exactly the nodes after the Switches are, so the executor's bookkeeping (pending counts, dead
/// counts, ready queues) always reaches the same schedule. The program runs that schedule
/// directly: the nodes before the Switches (`head`), the predicate, then the body (`body`).
/// Values live in registers, one per node output; routing ops move registers instead of running
/// kernels, and constants inside the loop are computed once. Values, errors and deadlines are
/// those of the general executor.
struct LoopProgram: Sendable {
    /// What one instruction does with its operands.
    enum Action: Sendable {
        /// Runs the node's kernel; its outputs go to the registers from `output`.
        case kernel
        /// Runs the node's kernel, a `SingleOutputKernel`; its output goes to register `output`.
        case singleOutput
        /// `Identity` or `LoopCond`: the operand, a referenced variable read now.
        case read
        /// A `Switch` in an iteration that continues: the data operand to output 1.
        case `switch`
        /// A `Merge`: the `Enter`'s register in iteration 0, carried value `carried` after it;
        /// output 1, when something reads it, is the index of the input forwarded (the enter is
        /// input `enterInput`, 0 or 1).
        case merge(enter: Int, carried: Int, enterInput: Int, readsIndex: Bool)
        /// A `NextIteration`: the operand becomes carried value `carried`.
        case carry(Int)
    }

    /// One register read: the last read of a register in an iteration takes its value out, so
    /// memory goes as soon as its last consumer ran, as in the general executor.
    struct Operand: Sendable {
        let register: Int
        let takes: Bool
    }

    struct Instruction: Sendable {
        let node: Int
        let action: Action
        let operands: Range<Int>
        /// The node's first output register.
        let output: Int
    }

    /// Registers: one per output of the loop's nodes and enters.
    let registerCount: Int
    /// Whether anything reads each register: outputs nobody reads are not kept.
    let isRead: [Bool]
    /// The register of each enter (plan index to register).
    let enterRegister: [Int: Int]
    /// Constants inside the loop, computed once before the first iteration.
    let constants: [Instruction]
    /// The nodes before the Switches, every iteration, the last one too.
    let head: [Instruction]
    /// The `LoopCond`'s register, and a Switch named in a predicate's error.
    let predicate: Int
    let switchName: String
    /// The nodes after the Switches, in iterations that continue.
    let body: [Instruction]
    let operands: [Operand]
    /// Each exit and the register holding its value when the loop ends.
    let exits: [(node: Int, register: Int)]
    let carriedCount: Int
    /// The values of a Merge's output 1: made once, so instructions hold no references and
    /// copying one is free.
    private static let inputIndices = [Tensor(Int32(0)), Tensor(Int32(1))]

    /// Iterations between checks of the deadline and of the step's other failures. Every kernel
    /// of such a loop was seen to run in microseconds, so a check per iteration costs more than
    /// it gains.
    static let checkInterval = 16
}

extension LoopProgram {
    /// Compiles loop frame `frame`, or `nil` when its shape is not the one described above;
    /// the frame then runs on the general executor.
    init?(frame: Int, nodes: [StepPlan.Node], edges: [StepPlan.Edge]) {
        var builder = LoopProgramBuilder(frame: frame, nodes: nodes, edges: edges)
        guard let program = builder.build() else { return nil }
        self = program
    }

    /// Runs the loop from its enters' live values until its predicate is false, and returns
    /// each exit's value. `kernels` runs a node's kernel on `context`, whose inputs the program
    /// fills; `check` throws when the step must stop.
    func run(
        entries: [(node: Int, value: Value)],
        context: inout OpKernelContext,
        kernels: Kernels,
        check: () throws(WeftError) -> Void
    ) throws(WeftError) -> [(node: Int, value: Value)] {
        let storage = Storage(registers: registerCount, carried: carriedCount)
        defer { storage.free() }
        for (node, value) in entries {
            guard let register = enterRegister[node] else { continue }
            storage.registers[register] = value
        }
        for instruction in constants { try execute(instruction, iteration: 0, storage, &context, kernels) }
        var iteration = 0
        while true {
            for instruction in head { try execute(instruction, iteration: iteration, storage, &context, kernels) }
            guard try holds(storage.registers[predicate]) else {
                return try exits.map { (exit) throws(WeftError) in
                    guard let value = storage.registers[exit.register] else {
                        throw WeftError(.internal, "a loop's exit found no value (register \(exit.register))")
                    }
                    return (exit.node, value)
                }
            }
            for instruction in body { try execute(instruction, iteration: iteration, storage, &context, kernels) }
            iteration += 1
            if iteration % Self.checkInterval == 0 { try check() }
        }
    }

    /// One run's registers and carried values. Plain memory the run owns and frees: an array
    /// would check its uniqueness on every write.
    private struct Storage {
        let registers: UnsafeMutableBufferPointer<Value?>
        let carried: UnsafeMutableBufferPointer<Value?>

        init(registers: Int, carried: Int) {
            self.registers = .allocate(capacity: registers)
            self.registers.initialize(repeating: nil)
            self.carried = .allocate(capacity: carried)
            self.carried.initialize(repeating: nil)
        }

        func free() {
            for buffer in [registers, carried] {
                buffer.deinitialize()
                buffer.deallocate()
            }
        }
    }

    /// Whether the predicate, a bool scalar, holds; the Switch's error otherwise.
    private func holds(_ value: Value?) throws(WeftError) -> Bool {
        guard let predicate = try value?.read() else {
            throw WeftError(.internal, "a loop's predicate was not computed before its Switch '\(switchName)'")
        }
        guard predicate.dtype == .bool, predicate.shape.rank == 0, let taken = predicate.scalar(as: Bool.self) else {
            throw WeftError(
                .invalidArgument,
                "the predicate of Switch '\(switchName)' must be a bool scalar, not a \(predicate.dtype) of shape \(predicate.shape)"
            )
        }
        return taken
    }

    private func execute(
        _ instruction: Instruction,
        iteration: Int,
        _ storage: Storage,
        _ context: inout OpKernelContext,
        _ kernels: Kernels
    ) throws(WeftError) {
        let registers = storage.registers
        switch instruction.action {
        case .singleOutput:
            defer { while context.inputs.popLast() != nil {} }
            for index in instruction.operands { context.inputs.append(try read(operands[index], registers)) }
            let value = try kernels.computeOutput(instruction.node, &context)
            if isRead[instruction.output] { registers[instruction.output] = value }
        case .kernel:
            // Emptied after each kernel, so a value goes once its last consumer ran; one at a
            // time, which costs less than the generic `removeAll(keepingCapacity:)`.
            defer { while context.inputs.popLast() != nil {} }
            for index in instruction.operands { context.inputs.append(try read(operands[index], registers)) }
            var outputs = try kernels.compute(instruction.node, &context)
            // Moved out, last first: copying would retain each value once more, only for the
            // array to release it.
            while let value = outputs.popLast() {
                let register = instruction.output + outputs.count
                if isRead[register] { registers[register] = value }
            }
        case .read:
            let value = try read(operands[instruction.operands.lowerBound], registers)
            // A tensor moves on as it is; only a variable is read into one.
            if case .tensor = value {
                registers[instruction.output] = value
            } else {
                registers[instruction.output] = .tensor(try value.read())
            }
        case .switch:
            let value = try read(operands[instruction.operands.lowerBound], registers)
            if isRead[instruction.output + 1] { registers[instruction.output + 1] = value }
        case .merge(let enter, let index, let enterInput, let readsIndex):
            let value = iteration == 0 ? registers[enter] : storage.carried[index].take()
            guard let value else {
                throw WeftError(.internal, "a loop's Merge found no value in iteration \(iteration)")
            }
            registers[instruction.output] = value
            if readsIndex {
                registers[instruction.output + 1] = .tensor(
                    Self.inputIndices[iteration == 0 ? enterInput : 1 - enterInput]
                )
            }
        case .carry(let index):
            storage.carried[index] = try read(operands[instruction.operands.lowerBound], registers)
        }
    }

    private func read(_ operand: Operand, _ registers: UnsafeMutableBufferPointer<Value?>) throws(WeftError) -> Value {
        let value = operand.takes ? registers[operand.register].take() : registers[operand.register]
        guard let value else {
            throw WeftError(.internal, "a loop's register \(operand.register) was read before it was written")
        }
        return value
    }
}

extension LoopProgram {
    /// Calls a node's kernel on a context whose inputs the program filled, where the plan's table
    /// keeps it (reading a `Node` or a kernel out of the plan retains), timed when the costs ask.
    struct Kernels {
        let table: StepPlan.NodeTable
        let costs: KernelCosts
        let step: UInt64

        /// Any kernel's outputs.
        func compute(_ index: Int, _ context: inout OpKernelContext) throws(WeftError) -> [Value] {
            context.node = table.names[index]
            let values =
                shouldTime(index)
                ? try learn(index, &context) { (context) throws(WeftError) in try table.compute(index, context) }
                : try table.compute(index, context)
            guard values.count == table.entries[index].outputCount else {
                throw WeftError(
                    .internal,
                    "kernel of '\(context.node)' returned the wrong number of outputs, expected \(table.entries[index].outputCount)"
                )
            }
            return values
        }

        /// The output of a `SingleOutputKernel`, without an array.
        func computeOutput(_ index: Int, _ context: inout OpKernelContext) throws(WeftError) -> Value {
            context.node = table.names[index]
            // The closures take the context as an argument: capturing it would copy it.
            guard shouldTime(index) else { return try table.computeOutput(index, &context) }
            return try learn(index, &context) { (context) throws(WeftError) in try table.computeOutput(index, &context)
            }
        }

        @inline(__always)
        private func shouldTime(_ index: Int) -> Bool {
            table.entries[index].flags.contains(.isExpensive) && costs.shouldTime(index, step: step)
        }

        /// Runs `body`, node `index`'s kernel call, and learns its time. Out of line: the
        /// clock's types are resilient, and would cost every untimed call their value witnesses.
        @inline(never)
        private func learn<Output>(
            _ index: Int,
            _ context: inout OpKernelContext,
            _ body: (inout OpKernelContext) throws(WeftError) -> Output
        ) throws(WeftError) -> Output {
            let began = ContinuousClock.now
            let output = try body(&context)
            costs.learn(index, ranFor: ContinuousClock.now - began)
            return output
        }
    }
}

/// Checks a loop frame's shape and lays out its `LoopProgram`.
private struct LoopProgramBuilder {
    let frame: Int
    let nodes: [StepPlan.Node]
    let edges: [StepPlan.Edge]
    /// The loop's nodes, in plan order (producers first, back edges aside).
    let members: [Int]
    /// Each node's data producers (node, output), by input.
    var producers: [Int: [(node: Int, output: Int)?]] = [:]
    var hasControlInput: Set<Int> = []
    var registerBase: [Int: Int] = [:]
    var registerCount = 0

    init(frame: Int, nodes: [StepPlan.Node], edges: [StepPlan.Edge]) {
        self.frame = frame
        self.nodes = nodes
        self.edges = edges
        members = nodes.indices.filter { nodes[$0].frame == frame }
    }

    private func isEnter(_ node: Int, constant: Bool? = nil) -> Bool {
        guard case .enter(let target, let isConstant) = nodes[node].kind, target == frame else { return false }
        return constant.map { $0 == isConstant } ?? true
    }

    private func consumers(of node: Int) -> ArraySlice<StepPlan.Edge> { edges[nodes[node].edges] }

    mutating func build() -> LoopProgram? {
        let enters = nodes.indices.filter { isEnter($0) }
        guard collectProducers(enters: enters), let loopCond = soleLoopCond(), let body = bodyNodes(),
            checkRouting(enters: enters, body: body)
        else { return nil }
        for node in enters + members where nodes[node].kind != .exit {
            registerBase[node] = registerCount
            registerCount += nodes[node].outputCount
        }
        let hoisted = members.filter { nodes[$0].op == "Const" && nodes[$0].inputs.isEmpty }
        let carried = members.filter { nodes[$0].kind == .nextIteration }
        let routing = Set(members.filter { [.switch, .exit].contains(nodes[$0].kind) })
        let headNodes = members.filter { !body.contains($0) && !routing.contains($0) && !hoisted.contains($0) }
        let bodyNodes = members.filter { body.contains($0) && !hoisted.contains($0) }
        guard let predicate = registerBase[loopCond], headNodes.contains(loopCond),
            let firstSwitch = members.first(where: { nodes[$0].kind == .switch })
        else { return nil }

        var operands: [LoopProgram.Operand] = []
        func instruction(_ node: Int) -> LoopProgram.Instruction? {
            guard let action = action(node, carried: carried), let inputs = producers[node],
                let output = registerBase[node]
            else {
                return nil
            }
            let start = operands.count
            for case let (producer, output)? in inputs where !isMerge(node) {
                guard let base = registerBase[producer] else { return nil }
                operands.append(LoopProgram.Operand(register: base + output, takes: false))
            }
            if case .switch = action { operands.removeLast() }  // the predicate: known true in the body
            return LoopProgram.Instruction(node: node, action: action, operands: start..<operands.count, output: output)
        }
        let switches = members.filter { nodes[$0].kind == .switch }
        let constants = hoisted.compactMap(instruction)
        let head = headNodes.compactMap(instruction)
        let tail = (switches + bodyNodes).sorted().compactMap(instruction)
        guard constants.count == hoisted.count, head.count == headNodes.count,
            tail.count == switches.count + bodyNodes.count
        else { return nil }
        var exits: [(node: Int, register: Int)] = []
        for exit in members where nodes[exit].kind == .exit {
            guard case let (switchNode, _)?? = producers[exit]?.first, let data = producers[switchNode]?.first ?? nil,
                let base = registerBase[data.node]
            else { return nil }
            exits.append((exit, base + data.output))
        }
        let pinned = Set(
            enters.filter { isEnter($0, constant: true) }.compactMap { registerBase[$0] } + constants.map(\.output)
        )
        let marked = Self.markLastReads(
            operands,
            head: head,
            body: tail,
            exitRegisters: exits.map(\.register),
            pinned: pinned
        )
        var isRead = [Bool](repeating: false, count: registerCount)
        for operand in operands { isRead[operand.register] = true }
        for exit in exits { isRead[exit.register] = true }
        isRead[predicate] = true
        for case .merge(let enter, _, _, _) in (head + tail).map(\.action) { isRead[enter] = true }
        return LoopProgram(
            registerCount: registerCount,
            isRead: isRead,
            enterRegister: Dictionary(
                uniqueKeysWithValues: enters.compactMap { node in registerBase[node].map { (node, $0) } }
            ),
            constants: constants,
            head: head,
            predicate: predicate,
            switchName: nodes[firstSwitch].name,
            body: tail,
            operands: marked,
            exits: exits,
            carriedCount: carried.count
        )
    }

    private func isMerge(_ node: Int) -> Bool { nodes[node].kind == .merge }

    /// What node `node` does in the program; `nil` for a node no instruction stands for.
    private func action(_ node: Int, carried: [Int]) -> LoopProgram.Action? {
        switch nodes[node].kind {
        case .switch: return .switch
        case .nextIteration: return carried.firstIndex(of: node).map(LoopProgram.Action.carry)
        case .merge: return mergeAction(node, carried: carried)
        case .compute where ["Identity", "LoopCond"].contains(nodes[node].op): return .read
        case .compute: return nodes[node].kernel is any SingleOutputKernel ? .singleOutput : .kernel
        default: return nil
        }
    }

    private func mergeAction(_ node: Int, carried: [Int]) -> LoopProgram.Action? {
        guard let inputs = producers[node], inputs.count == 2 else { return nil }
        guard let enterInput = inputs.firstIndex(where: { $0.map { isEnter($0.node) } ?? false }),
            let enter = inputs[enterInput].flatMap({ registerBase[$0.node] }),
            let next = inputs[1 - enterInput].flatMap({ carried.firstIndex(of: $0.node) })
        else { return nil }
        let readsIndex = consumers(of: node).contains { $0.input >= 0 && $0.output == 1 }
        return .merge(enter: enter, carried: next, enterInput: enterInput, readsIndex: readsIndex)
    }

    /// Records every data producer of the loop's nodes; `false` for what the program cannot
    /// follow: a feed or a fetch inside the loop, an edge leaving it other than through an exit.
    private mutating func collectProducers(enters: [Int]) -> Bool {
        let inLoop = Set(members)
        for node in members {
            let fetched = nodes[node].kind != .exit && !nodes[node].fetched.isEmpty
            guard nodes[node].inputs.allSatisfy({ if case .slot = $0 { true } else { false } }), !fetched else {
                return false
            }
            producers[node] = Array(repeating: nil, count: nodes[node].inputs.count)
        }
        for producer in enters + members where nodes[producer].kind != .exit {
            for edge in consumers(of: producer) {
                guard inLoop.contains(edge.consumer) else { return false }
                if edge.input < 0 {
                    hasControlInput.insert(edge.consumer)
                } else {
                    producers[edge.consumer]?[edge.input] = (producer, edge.output)
                }
            }
        }
        return members.allSatisfy { producers[$0]?.allSatisfy { $0 != nil } ?? false }
    }

    private func soleLoopCond() -> Int? {
        let conds = members.filter { nodes[$0].op == "LoopCond" }
        guard conds.count == 1, let loopCond = conds.first else { return nil }
        let switchesOnIt = members.filter { nodes[$0].kind == .switch }.allSatisfy { node in
            guard let inputs = producers[node], inputs.count == 2, case let (producer, _)? = inputs[1] else {
                return false
            }
            return producer == loopCond
        }
        return switchesOnIt ? loopCond : nil
    }

    /// The nodes after the Switches: reached from a Switch's true side (back edges aside).
    /// `nil` when the false side reaches anything but an `Exit` or a Switch has control edges.
    private func bodyNodes() -> Set<Int>? {
        var body = Set<Int>()
        var stack: [Int] = []
        for node in members where nodes[node].kind == .switch {
            for edge in consumers(of: node) {
                guard edge.input >= 0 else { return nil }
                if edge.output == 1 {
                    stack.append(edge.consumer)
                } else if nodes[edge.consumer].kind != .exit {
                    return nil
                }
            }
        }
        while let node = stack.popLast() {
            guard body.insert(node).inserted else { continue }
            guard nodes[node].kind != .exit, nodes[node].kind != .switch else { return nil }
            for edge in consumers(of: node) where !(nodes[node].kind == .nextIteration && isMerge(edge.consumer)) {
                stack.append(edge.consumer)
            }
        }
        return body
    }

    /// Merges take an enter and a `NextIteration` and nothing else; a non-constant enter feeds
    /// only Merges; a `NextIteration` runs in the body and feeds only Merges; an exit reads a
    /// Switch's false side. Anything else (a cond inside the loop, a control trigger) is left
    /// to the general executor.
    private func checkRouting(enters: [Int], body: Set<Int>) -> Bool {
        for enter in enters where isEnter(enter, constant: false) {
            guard consumers(of: enter).allSatisfy({ $0.input >= 0 && isMerge($0.consumer) }) else { return false }
        }
        for node in members {
            switch nodes[node].kind {
            case .merge:
                guard !hasControlInput.contains(node), !body.contains(node) else { return false }
            case .nextIteration:
                guard body.contains(node), consumers(of: node).allSatisfy({ $0.input >= 0 && isMerge($0.consumer) })
                else {
                    return false
                }
            case .exit:
                guard case let (producer, output)?? = producers[node]?.first, nodes[producer].kind == .switch,
                    output == 0
                else {
                    return false
                }
            case .switch, .compute: continue
            default: return false
            }
        }
        return true
    }

    /// Marks each register's last read in an iteration as taking its value, except registers
    /// that must outlive it: constants. The exits read their registers between the head and
    /// the body, so the head never takes those.
    static func markLastReads(
        _ operands: [LoopProgram.Operand],
        head: [LoopProgram.Instruction],
        body: [LoopProgram.Instruction],
        exitRegisters: [Int],
        pinned: Set<Int>
    ) -> [LoopProgram.Operand] {
        var marked = operands
        var seen = pinned
        func mark(_ instructions: [LoopProgram.Instruction]) {
            for instruction in instructions.reversed() {
                for index in instruction.operands.reversed() where seen.insert(operands[index].register).inserted {
                    marked[index] = LoopProgram.Operand(register: operands[index].register, takes: true)
                }
            }
        }
        mark(body)
        seen.formUnion(exitRegisters)
        mark(head)
        return marked
    }
}
