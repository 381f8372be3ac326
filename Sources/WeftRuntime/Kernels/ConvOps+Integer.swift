/// `Conv2D` and `Conv2DBackpropInput` on `int32`, the integer type TensorFlow's CPU registers
/// them for (it has no integer `Conv2DBackpropFilter` or depthwise kernel). BLAS has no integer
/// product, so these are direct loops over the windows; sums wrap in two's complement as
/// TensorFlow's do, which also makes them independent of the order of the terms.
struct IntegerConvolution<T: IntegerElement>: Sendable {
    let problem: ConvProblem

    /// `output[pixel, co] = Σ over taps and the group's input channels input · filter`.
    func forward(input: UnsafePointer<T>, filter: UnsafePointer<T>, output: UnsafeMutablePointer<T>) {
        let (g, p) = (problem.geometry, problem)
        output.initialize(repeating: 0, count: g.batch * g.outPixels * p.outDepth)
        let (x, w, y) = (
            SharedPointer(UnsafeMutablePointer(mutating: input)), SharedPointer(UnsafeMutablePointer(mutating: filter)),
            SharedPointer(output)
        )
        forEachTap { outPixel, tap, inPixel in
            let (o, pixel) = (y.pointer + outPixel * p.outDepth, x.pointer + inPixel * g.depth)
            let taps = w.pointer + tap * p.groupInDepth * p.outDepth
            for group in 0..<p.groups {
                let (groupOut, groupIn) = (o + group * p.groupOutDepth, pixel + group * p.groupInDepth)
                for channel in 0..<p.groupInDepth {
                    let value = groupIn[channel]
                    let row = taps + channel * p.outDepth + group * p.groupOutDepth
                    for out in 0..<p.groupOutDepth { groupOut[out] &+= value &* row[out] }
                }
            }
        }
    }

    /// `input[pixel, ci] = Σ over the windows reading it and the output channels
    /// outBackprop · filter`; the caller has refused groups.
    func inputGradient(filter: UnsafePointer<T>, outBackprop: UnsafePointer<T>, input: UnsafeMutablePointer<T>) {
        let (g, p) = (problem.geometry, problem)
        input.initialize(repeating: 0, count: g.batch * g.inPixels * g.depth)
        let (w, dy, dx) = (
            SharedPointer(UnsafeMutablePointer(mutating: filter)),
            SharedPointer(UnsafeMutablePointer(mutating: outBackprop)), SharedPointer(input)
        )
        forEachTap { outPixel, tap, inPixel in
            let (gradient, pixel) = (dy.pointer + outPixel * p.outDepth, dx.pointer + inPixel * g.depth)
            let taps = w.pointer + tap * g.depth * p.outDepth
            for channel in 0..<g.depth {
                let row = taps + channel * p.outDepth
                var total: T = 0
                for out in 0..<p.outDepth { total &+= gradient[out] &* row[out] }
                pixel[channel] &+= total
            }
        }
    }

    /// Calls `body(outPixel, tap, inPixel)` for every window tap inside the input, images in
    /// parallel (each writes only its own image's pixels).
    private func forEachTap(_ body: @Sendable (Int, Int, Int) -> Void) {
        let (g, p) = (problem.geometry, problem)
        Parallel.forEach(g.batch, work: Parallel.work(g.outPixels, p.patchSize, p.groupOutDepth)) { image in
            for oy in 0..<g.outRows {
                for ox in 0..<g.outCols {
                    let outPixel = (image * g.outRows + oy) * g.outCols + ox
                    for ty in g.rowTaps(oy) {
                        let iy = g.inputRow(oy, tap: ty)
                        for tx in g.colTaps(ox) {
                            let ix = g.inputCol(ox, tap: tx)
                            body(outPixel, ty * g.windowCols + tx, (image * g.inRows + iy) * g.inCols + ix)
                        }
                    }
                }
            }
        }
    }
}
