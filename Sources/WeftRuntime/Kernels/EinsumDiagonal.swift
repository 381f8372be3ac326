// Einsum labels repeated within one term. In an operand (`'ii->i'`, `'iij->j'`) they select
// a diagonal: the elements whose indices agree along those dimensions. In the output
// (`'i->ii'`, which TensorFlow's gradient of a diagonal uses) they place the values on a
// diagonal of an otherwise zero tensor. Both are one strided copy: a dimension that stands for
// several equal indices steps by the sum of their strides.

extension LabeledTensor {
    /// Labels `tensor`, taking the diagonal over labels it repeats; its labels are then each
    /// label once, in order of first appearance. `invalidArgument` when the dimensions of one
    /// label differ, with TensorFlow's message.
    static func diagonal(of tensor: Tensor, labels: [Int], node: String) throws(WeftError) -> LabeledTensor {
        let unique = labels.uniqued()
        guard unique.count < labels.count else { return LabeledTensor(tensor: tensor, labels: labels) }
        let dims = tensor.shape.dimensions
        var sizes: [Int] = []
        for label in unique {
            let axes = labels.indices.filter { labels[$0] == label }
            for axis in axes where dims[axis] != dims[axes[0]] {
                throw .invalidArgument(
                    "Expected dimension \(dims[axes[0]]) at axis \(axis) of the input shaped \(tensor.shape) but got dimension \(dims[axis])",
                    node: node
                )
            }
            sizes.append(dims[axes[0]])
        }
        let out = try KernelChecks.allocate(tensor.dtype, TensorShape(sizes), node: node)
        StridedCopy(
            sizes: sizes,
            source: Self.mergedStrides(of: tensor.shape, labels: labels, onto: unique),
            target: TensorShape(sizes).rowMajorStrides
        ).run(from: tensor, into: out)
        return LabeledTensor(tensor: out, labels: unique)
    }

    /// The tensor whose labels are `labels` (this tensor's labels, some repeated): zero except
    /// where the indices of each repeated label agree, where it holds this tensor's values.
    func inflated(to labels: [Int], node: String) throws(WeftError) -> LabeledTensor {
        let unique = labels.uniqued()
        guard unique.count < labels.count else { return transposed(to: labels) }
        let compact = transposed(to: unique)
        let shape = TensorShape(labels.map { compact.size(of: $0) })
        let out = try KernelChecks.allocate(tensor.dtype, shape, node: node)
        // Zero bits are zero (or false) in every numeric dtype.
        out.buffer.base.initializeMemory(as: UInt8.self, repeating: 0, count: out.byteCount)
        let sizes = compact.tensor.shape.dimensions
        StridedCopy(
            sizes: sizes,
            source: compact.tensor.shape.rowMajorStrides,
            target: Self.mergedStrides(of: shape, labels: labels, onto: unique)
        ).run(from: compact.tensor, into: out)
        return LabeledTensor(tensor: out, labels: labels)
    }

    /// For each of `unique`, the sum of the row-major strides of the dimensions of `shape`
    /// labelled with it: the step along the diagonal.
    private static func mergedStrides(of shape: TensorShape, labels: [Int], onto unique: [Int]) -> [Int] {
        let strides = shape.rowMajorStrides
        return unique.map { label in labels.indices.filter { labels[$0] == label }.reduce(0) { $0 + strides[$1] } }
    }
}

extension [Int] {
    /// The elements in order of first appearance, each once.
    func uniqued() -> [Int] {
        var seen: Set<Int> = []
        return filter { seen.insert($0).inserted }
    }
}

extension TensorShape {
    /// The distance in elements between neighbours along each dimension, row-major.
    var rowMajorStrides: [Int] {
        var strides = [Int](repeating: 1, count: rank)
        var step = 1
        for axis in dimensions.indices.reversed() {
            strides[axis] = step
            step *= dimensions[axis]
        }
        return strides
    }
}

/// Copies every element of an index space of `sizes`, reading at `source` strides and writing
/// at `target` strides (both in elements). Elements move as their bit patterns, so one loop
/// per element width serves every dtype.
private struct StridedCopy {
    let sizes: [Int]
    let source: [Int]
    let target: [Int]

    func run(from input: Tensor, into out: Tensor) {
        guard !sizes.contains(0) else { return }
        switch input.dtype.byteSize {
        case 1: copy(UInt8.self, input, out)
        case 2: copy(UInt16.self, input, out)
        case 4: copy(UInt32.self, input, out)
        case 8: copy(UInt64.self, input, out)
        default: copy(SIMD2<UInt64>.self, input, out)
        }
    }

    private func copy<T: BitwiseCopyable>(_ type: T.Type, _ input: Tensor, _ out: Tensor) {
        let from = UnsafeRawPointer(input.buffer.base)
        let to = out.buffer.base
        let width = MemoryLayout<T>.stride
        // Raw loads and stores: the memory is bound to the dtype's element type, not to `T`.
        @inline(__always) func move(_ read: Int, _ write: Int) {
            to.storeBytes(of: from.load(fromByteOffset: read &* width, as: T.self), toByteOffset: write &* width, as: T.self)
        }
        let rank = sizes.count
        guard rank > 0 else { return move(0, 0) }
        var index = [Int](repeating: 0, count: rank)
        var (read, write) = (0, 0)
        let (innerSize, innerRead, innerWrite) = (sizes[rank - 1], source[rank - 1], target[rank - 1])
        while true {
            for i in 0..<innerSize { move(read &+ i &* innerRead, write &+ i &* innerWrite) }
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                read += source[axis]
                write += target[axis]
                if index[axis] < sizes[axis] { break }
                read -= source[axis] * sizes[axis]
                write -= target[axis] * sizes[axis]
                index[axis] = 0
                axis -= 1
            }
            if axis < 0 { return }
        }
    }
}
