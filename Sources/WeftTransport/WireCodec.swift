import Foundation
import WeftProto
import WeftRuntime

/// Weft's framing, without sockets: what the frames of a message are, and whether received
/// frames form a valid message. Every check throws a `WeftError` that names the problem.
enum WireCodec {
    /// The envelope as sent: the protocol version and one `TensorMeta` per tensor, with the
    /// address of each tensor `lent` marks (which then needs `lender` set).
    static func header(for message: consuming WireMessage, lent: [Bool] = []) -> Weft_Envelope {
        // Taken, not copied, so setting its fields does not copy its storage.
        var envelope = Weft_Envelope()
        swap(&envelope, &message.envelope)
        envelope.protocolVersion = WireProtocol.version
        let names = envelope.tensors.count == message.tensors.count ? envelope.tensors.map(\.name) : nil
        envelope.tensors = message.tensors.enumerated().map { index, tensor in
            var meta = Weft_TensorMeta()
            meta.name = names?[index] ?? ""
            meta.dtype = tensor.dtype.proto
            meta.shape = tensor.shape.dimensions.map(Int64.init)
            if index < lent.count, lent[index] {
                meta.lentAddress = UInt64(UInt(bitPattern: tensor.buffer.base))
            }
            return meta
        }
        return envelope
    }

    /// The smallest reply frame a requester may ask for: smaller ones would only multiply the frames.
    static let minimumReplyFrameBytes = 64 << 10

    /// The frame size a request's `max_reply_frame_bytes` asks the reply's tensors to keep to;
    /// `nil` for any size.
    static func replyFrameBytes(asked: UInt64) -> Int? {
        guard asked > 0 else { return nil }
        return max(Int(clamping: asked), minimumReplyFrameBytes)
    }

    /// The frames of a message: the serialized header, then each tensor's bytes, uncopied.
    static func frames(for message: consuming WireMessage) throws(WeftError) -> [OutgoingFrame] {
        try frames(for: message, lent: [])
    }

    /// The frames of a request whose large tensors `lender` lends (see `PayloadLending`), and
    /// the tensors lent, which the caller holds until the request is answered.
    static func frames(
        for message: consuming WireMessage,
        lender: Weft_Lender
    ) throws(WeftError) -> (frames: [OutgoingFrame], lent: [Tensor]) {
        let lent = message.tensors.map(PayloadLending.lends)
        guard lent.contains(true) else { return (try frames(for: message, lent: []), []) }
        message.envelope.lender = lender
        let tensors = zip(message.tensors, lent).filter(\.1).map(\.0)
        return (try frames(for: message, lent: lent), tensors)
    }

    private static func frames(for message: consuming WireMessage, lent: [Bool]) throws(WeftError) -> [OutgoingFrame] {
        let tensors = message.tensors
        let header = header(for: message, lent: lent)
        let bytes: [UInt8]
        do {
            bytes = try header.serializedBytes()
        } catch {
            throw WeftError(.internal, "cannot serialize a \(header.messageKind.map(\.description) ?? "bodiless") envelope: \(error)")
        }
        var frames: [OutgoingFrame] = [.bytes(bytes)]
        frames.reserveCapacity(tensors.count + 1)
        for (index, tensor) in tensors.enumerated() where index >= lent.count || !lent[index] {
            frames.append(try frame(for: tensor))
        }
        return frames
    }

    /// A tensor's payload frame: its bytes, uncopied; for strings and resource handles, their
    /// `TensorProto`, since their elements are Swift values of any length.
    private static func frame(for tensor: Tensor) throws(WeftError) -> OutgoingFrame {
        guard tensor.dtype.isObject else { return .tensor(tensor) }
        guard tensor.dtype != .variant else {
            throw WeftError(
                .unimplemented,
                "a variant tensor (such as a TensorList) cannot be sent between processes; keep its producer and consumers on one worker"
            )
        }
        do {
            return .bytes(try tensor.proto.serializedBytes())
        } catch {
            throw WeftError(.internal, "cannot serialize a \(tensor.dtype) tensor: \(error)")
        }
    }

    /// Reads the `TensorProto` payload of a string or resource tensor and checks it is the
    /// tensor the envelope announced.
    static func objectTensor(_ bytes: UnsafeRawBufferPointer, dtype: DType, shape: TensorShape) throws(WeftError) -> Tensor {
        let proto: Tensorflow_TensorProto
        do {
            proto = try Tensorflow_TensorProto(serializedBytes: Array(bytes))
        } catch {
            throw WeftError(.invalidArgument, "the payload of a \(dtype) tensor is not a TensorProto: \(error)")
        }
        let tensor = try Tensor(proto: proto)
        guard tensor.dtype == dtype, tensor.shape == shape else {
            throw WeftError(
                .invalidArgument,
                "a payload holds a \(tensor.dtype) tensor of shape \(tensor.shape), but the envelope announced \(dtype) \(shape)"
            )
        }
        return tensor
    }

    /// Parses an envelope frame.
    static func envelope(from bytes: UnsafeRawBufferPointer) throws(WeftError) -> Weft_Envelope {
        do {
            // Parsed in place: the frame outlives the call.
            guard let base = bytes.baseAddress else { return try Weft_Envelope(serializedBytes: [UInt8]()) }
            let view = Data(
                bytesNoCopy: UnsafeMutableRawPointer(mutating: base),
                count: bytes.count,
                deallocator: .none
            )
            return try Weft_Envelope(serializedBytes: view)
        } catch {
            throw WeftError(.invalidArgument, "the first frame (\(bytes.count) bytes) is not a Weft envelope: \(error)")
        }
    }

    /// One tensor of a message as `validate` found it.
    struct Layout {
        let dtype: DType
        let shape: TensorShape
        /// Its payload frames; empty for a lent tensor.
        let frames: Range<Int>
        /// Where the lender holds a lent tensor's bytes; `nil` for one in frames.
        let lentAddress: UInt64?
        /// Its payload bytes (for strings and handles, their count of elements times one).
        let byteCount: Int
    }

    /// Checks that an envelope and the sizes of the payload frames after it form a message this
    /// process understands, and returns each tensor's dtype, shape and payload frames.
    ///
    /// A tensor of bytes travels as one frame of its size, or as several non-empty frames that add
    /// up to it (a node with CURVE splits large tensors so encryption, the wire and decryption
    /// overlap); the sizes the envelope announces say which frames belong to which tensor. A
    /// string or resource tensor is one frame (its `TensorProto`). A tensor split into frames may
    /// hold at most `maxSplitTensorBytes`, the cap a single frame meets in libzmq, and so may a
    /// lent one, which has no frame.
    static func validate(
        _ envelope: Weft_Envelope,
        payloadSizes: [Int],
        maxSplitTensorBytes: Int = .max
    ) throws(WeftError) -> [Layout] {
        guard envelope.protocolVersion == WireProtocol.version else {
            throw WeftError(
                .invalidArgument,
                "the message uses Weft wire protocol version \(envelope.protocolVersion), but this process speaks "
                    + "version \(WireProtocol.version); run the same Weft release in every process"
            )
        }
        var framed = envelope.tensors.count(where: { $0.lentAddress == 0 })  // tensors left that need frames
        var frameCountError: WeftError {
            WeftError(
                .invalidArgument,
                "the envelope describes \(envelope.tensors.count) tensor(s) but \(payloadSizes.count) payload "
                    + "frame(s) followed it"
            )
        }
        guard framed <= payloadSizes.count else { throw frameCountError }
        var result: [Layout] = []
        result.reserveCapacity(envelope.tensors.count)
        var next = 0  // the first payload frame not yet assigned to a tensor
        for (index, meta) in envelope.tensors.enumerated() {
            // Formatted only for an error message: this runs for every tensor of every message.
            var label: String { meta.name.isEmpty ? "tensor \(index)" : "tensor \(index) ('\(meta.name)')" }
            let (dtype, shape, expected) = try layout(of: meta, label: label)
            if meta.lentAddress != 0 {
                guard !dtype.isObject else {
                    throw WeftError(.invalidArgument, "\(label) of type \(dtype) is lent, but only tensors of numbers can be")
                }
                try checkSize(expected, limit: maxSplitTensorBytes, label: "\(label) of type \(dtype) and shape \(shape)")
                result.append(Layout(dtype: dtype, shape: shape, frames: next..<next, lentAddress: meta.lentAddress, byteCount: expected))
                continue
            }
            // Fewer frames than tensors left: the frames cannot cover them all.
            guard payloadSizes.count - next >= framed else { throw frameCountError }
            framed -= 1
            // Strings and handles travel as a TensorProto, checked when it is read.
            if dtype.isObject || payloadSizes[next] == expected {
                result.append(Layout(dtype: dtype, shape: shape, frames: next..<next + 1, lentAddress: nil, byteCount: expected))
                next += 1
                continue
            }
            let frames = try splitFrames(of: expected, from: next, payloadSizes, label: "\(label) of type \(dtype) and shape \(shape)")
            try checkSize(expected, limit: maxSplitTensorBytes, label: "\(label) of type \(dtype) and shape \(shape)")
            result.append(Layout(dtype: dtype, shape: shape, frames: frames, lentAddress: nil, byteCount: expected))
            next = frames.upperBound
        }
        guard next == payloadSizes.count else { throw frameCountError }
        return result
    }

    /// A tensor's dtype, shape and payload bytes, as its `TensorMeta` announces them.
    private static func layout(
        of meta: Weft_TensorMeta,
        label: @autoclosure () -> String
    ) throws(WeftError) -> (DType, TensorShape, Int) {
        let dtype: DType
        do {
            dtype = try DType(meta.dtype)
        } catch {
            throw WeftError(.invalidArgument, "\(label()) has data type \(meta.dtype), which Weft does not support")
        }
        guard meta.shape.allSatisfy({ $0 >= 0 }) else {
            throw WeftError(.invalidArgument, "\(label()) has the invalid shape \(meta.shape): sizes must be 0 or more")
        }
        // An empty tensor is 0 bytes however large its other sizes, as TensorFlow counts it;
        // strings and handles count elements, whose bytes their TensorProto payload holds.
        var expected = meta.shape.contains(0) ? 0 : Swift.max(dtype.byteSize, 1)
        for dimension in meta.shape where expected != 0 {
            let (product, overflow) = expected.multipliedReportingOverflow(by: Int(clamping: dimension))
            guard !overflow else {
                throw WeftError(.invalidArgument, "\(label()) has the shape \(meta.shape), which is too large")
            }
            expected = product
        }
        return (dtype, TensorShape(meta.shape.map { Int($0) }), expected)
    }

    /// Throws `resourceExhausted` when a tensor that is joined or read into a buffer of this
    /// process would hold more than `limit` bytes.
    private static func checkSize(_ bytes: Int, limit: Int, label: @autoclosure () -> String) throws(WeftError) {
        guard bytes > limit else { return }
        throw WeftError(
            .resourceExhausted,
            "\(label()) holds \(bytes) bytes, more than the \(limit)-byte message size limit of this process"
        )
    }

    /// The non-empty frames from `start` on that add up to `expected` bytes: a tensor split into
    /// frames. Throws when they do not add up exactly.
    private static func splitFrames(
        of expected: Int,
        from start: Int,
        _ payloadSizes: [Int],
        label: @autoclosure () -> String
    ) throws(WeftError) -> Range<Int> {
        var total = 0
        var end = start
        // Each size is at most a frame's, so the sum cannot overflow before it passes `expected`.
        while total < expected, end < payloadSizes.count, payloadSizes[end] > 0 {
            total += payloadSizes[end]
            end += 1
        }
        guard total == expected, end > start + 1 else {
            let carried =
                end <= start + 1
                ? "its payload frame has \(payloadSizes[start])"
                : "its \(end - start) payload frames have \(total)"
            throw WeftError(.invalidArgument, "\(label()) needs \(expected) bytes, but \(carried)")
        }
        return start..<end
    }
}
