/// The attributes shared by TensorFlow's sliding-window ops (convolutions and pooling):
/// `strides`, `dilations`, `padding` (`SAME`, `VALID` or `EXPLICIT` with `explicit_paddings`)
/// over NHWC tensors, parsed and checked once when a kernel is built.
struct WindowAttributes: Sendable {
    /// Steps between windows along rows and columns.
    var strides: (rows: Int, cols: Int)
    /// Spacing between a window's taps along rows and columns (1 for pooling).
    var dilations: (rows: Int, cols: Int)
    /// How the input is padded.
    var padding: Padding

    /// TensorFlow's padding schemes.
    enum Padding: Sendable {
        /// No padding: windows lie inside the input.
        case valid
        /// Enough zero padding that `output = ceil(input / stride)`, split evenly with any odd
        /// element after.
        case same
        /// The given padding before and after the rows and the columns.
        case explicit(top: Int, bottom: Int, left: Int, right: Int)
    }

    /// Reads `strides`, `dilations`, `padding` and `explicit_paddings` of a node, with
    /// TensorFlow's checks. `stridesKey` names the strides attribute; `dilated` says whether
    /// the op has dilations.
    init(_ node: NodeInfo, stridesKey: String = "strides", dilated: Bool) throws(WeftError) {
        try self.init(strides: try node.attributes.ints(stridesKey), node, stridesKey: stridesKey, dilated: dilated)
    }

    /// The same with `strides` given as values: `MaxPoolV2` takes them as an input.
    init(strides: [Int], _ node: NodeInfo, stridesKey: String = "strides", dilated: Bool) throws(WeftError) {
        guard strides.count == 4 else {
            throw Self.error("Sliding window \(stridesKey) field must specify 4 dimensions", node)
        }
        guard strides[0] == 1, strides[3] == 1 else {
            throw Self.error(
                "Current implementation does not yet support strides in the batch and depth dimensions.",
                node
            )
        }
        guard strides[1] > 0, strides[2] > 0 else {
            throw Self.error("Sliding window \(stridesKey) must be positive: \(strides)", node)
        }
        self.strides = (strides[1], strides[2])
        let dilations = dilated ? try node.attributes.ints("dilations", default: [1, 1, 1, 1]) : [1, 1, 1, 1]
        guard dilations.count == 4 else {
            throw Self.error("Sliding window dilations field must specify 4 dimensions", node)
        }
        guard dilations[0] == 1, dilations[3] == 1 else {
            throw Self.error(
                "Current implementation does not yet support dilations in the batch and depth dimensions.",
                node
            )
        }
        guard dilations[1] > 0, dilations[2] > 0 else {
            throw Self.error("Dilated rates should be larger than 0.", node)
        }
        self.dilations = (dilations[1], dilations[2])
        padding = try Self.padding(node)
    }

    private static func padding(_ node: NodeInfo) throws(WeftError) -> Padding {
        let name = try node.attributes.string("padding")
        switch name {
        case "VALID": return .valid
        case "SAME": return .same
        case "EXPLICIT":
            let pads = try node.attributes.ints("explicit_paddings", default: [])
            guard pads.count == 8 else {
                throw error("explicit_paddings attribute must contain 8 values, but got: \(pads.count)", node)
            }
            guard pads.allSatisfy({ $0 >= 0 }) else {
                throw error("All elements of explicit_paddings must be nonnegative", node)
            }
            guard pads[0] == 0, pads[1] == 0, pads[6] == 0, pads[7] == 0 else {
                throw error("Nonzero explicit padding in the batch or depth dimensions is not supported", node)
            }
            return .explicit(top: pads[2], bottom: pads[3], left: pads[4], right: pads[5])
        default:
            throw error("Invalid padding '\(name)': expected SAME, VALID or EXPLICIT", node)
        }
    }

    private static func error(_ message: String, _ node: NodeInfo) -> WeftError {
        WeftError(.invalidArgument, "\(message) (node '\(node.name)')")
    }

    /// The output size and the padding before the first element along one spatial dimension,
    /// or TensorFlow's error when the window does not fit.
    func outputSize(
        input: Int,
        window: Int,
        stride: Int,
        dilation: Int,
        explicitPads: (Int, Int),
        node: String
    ) throws(WeftError) -> (size: Int, padBefore: Int) {
        // Attributes and `input_sizes` come from outside: sizes that overflow are refused.
        let limit = Int(Int32.max)
        guard input <= limit, window <= limit, stride <= limit, dilation <= limit,
            explicitPads.0 <= limit, explicitPads.1 <= limit
        else {
            throw .invalidArgument("Window sizes, strides, dilations and paddings must be below 2^31", node: node)
        }
        let effective = (window - 1) * dilation + 1
        let size: Int
        var padBefore = 0
        switch padding {
        case .valid: size = (input - effective + stride) / stride
        case .explicit:
            size = (input + explicitPads.0 + explicitPads.1 - effective + stride) / stride
            padBefore = explicitPads.0
        case .same:
            size = (input + stride - 1) / stride
            padBefore = max(0, (size - 1) * stride + effective - input) / 2
        }
        guard size >= 0 else {
            throw .invalidArgument(
                "Computed output size would be negative: \(size) [input_size: \(input), effective_filter_size: \(effective), stride: \(stride)]",
                node: node
            )
        }
        return (size, padBefore)
    }

    /// The geometry of a window of `window` taps sliding over an NHWC `input`.
    func geometry(input: TensorShape, window: (rows: Int, cols: Int), node: String) throws(WeftError) -> WindowGeometry
    {
        let dims = input.dimensions
        var rowPads = (0, 0)
        var colPads = (0, 0)
        if case .explicit(let top, let bottom, let left, let right) = padding {
            rowPads = (top, bottom)
            colPads = (left, right)
        }
        let rows = try outputSize(
            input: dims[1],
            window: window.rows,
            stride: strides.rows,
            dilation: dilations.rows,
            explicitPads: rowPads,
            node: node
        )
        let cols = try outputSize(
            input: dims[2],
            window: window.cols,
            stride: strides.cols,
            dilation: dilations.cols,
            explicitPads: colPads,
            node: node
        )
        return WindowGeometry(
            batch: dims[0],
            inRows: dims[1],
            inCols: dims[2],
            depth: dims[3],
            windowRows: window.rows,
            windowCols: window.cols,
            strideRows: strides.rows,
            strideCols: strides.cols,
            dilationRows: dilations.rows,
            dilationCols: dilations.cols,
            outRows: rows.size,
            outCols: cols.size,
            padTop: rows.padBefore,
            padLeft: cols.padBefore
        )
    }
}

/// Where every window of a sliding-window op lies on an NHWC input.
struct WindowGeometry: Sendable {
    var batch: Int
    var inRows: Int
    var inCols: Int
    /// The input's channel count.
    var depth: Int
    var windowRows: Int
    var windowCols: Int
    var strideRows: Int
    var strideCols: Int
    var dilationRows: Int
    var dilationCols: Int
    var outRows: Int
    var outCols: Int
    var padTop: Int
    var padLeft: Int

    /// Output positions per image.
    var outPixels: Int { outRows * outCols }
    /// Input positions per image.
    var inPixels: Int { inRows * inCols }

    /// Input row of tap `tap` of the windows in output row `row` (may lie in the padding).
    @inline(__always)
    func inputRow(_ row: Int, tap: Int) -> Int { row &* strideRows &- padTop &+ tap &* dilationRows }

    /// Input column of tap `tap` of the windows in output column `col` (may lie in the padding).
    @inline(__always)
    func inputCol(_ col: Int, tap: Int) -> Int { col &* strideCols &- padLeft &+ tap &* dilationCols }

    /// The taps of the windows in output row `row` that lie inside the input: loops over them
    /// cost nothing for the padding, however large the window.
    @inline(__always)
    func rowTaps(_ row: Int) -> Range<Int> {
        Self.taps(start: inputRow(row, tap: 0), step: dilationRows, window: windowRows, size: inRows)
    }

    /// The taps of the windows in output column `col` that lie inside the input.
    @inline(__always)
    func colTaps(_ col: Int) -> Range<Int> {
        Self.taps(start: inputCol(col, tap: 0), step: dilationCols, window: windowCols, size: inCols)
    }

    /// The taps `t < window` with `0 <= start + t · step < size`.
    @inline(__always)
    private static func taps(start: Int, step: Int, window: Int, size: Int) -> Range<Int> {
        let lower = start >= 0 ? 0 : (step - 1 - start) / step
        let upper = start >= size ? 0 : min(window, (size - start + step - 1) / step)
        return lower..<max(lower, upper)
    }
}
