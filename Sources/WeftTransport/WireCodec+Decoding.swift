import Logging
import WeftProto
import WeftRuntime

extension WireCodec {
    /// Validates an envelope against its payload frames and makes the message's tensors: string
    /// and resource tensors from their `TensorProto`, the others over the bytes `buffer` gives
    /// for a frame (uncopied where it can be), or, for a tensor split into several frames, in a
    /// buffer of its own the frames are copied into, or, for a lent tensor, in a buffer `lent`
    /// reads. Every size is checked before anything is made; `maxSplitTensorBytes` bounds a
    /// split or lent tensor (see `validate`).
    static func decode<Frame>(
        _ envelope: Weft_Envelope,
        payloads: some RandomAccessCollection<Frame>,
        maxSplitTensorBytes: Int = .max,
        lent: LentPayloadReader? = nil,
        bytes: (Frame) -> UnsafeRawBufferPointer,
        buffer: (Frame, _ alignment: Int) -> TensorBuffer
    ) throws(WeftError) -> WireMessage {
        let layouts = try validate(
            envelope,
            payloadSizes: payloads.map { bytes($0).count },
            maxSplitTensorBytes: maxSplitTensorBytes
        )
        var tensors: [Tensor] = []
        tensors.reserveCapacity(layouts.count)
        for layout in layouts {
            let (dtype, shape, frames) = (layout.dtype, layout.shape, layout.frames)
            if let address = layout.lentAddress {
                guard let lent else {
                    throw WeftError(.invalidArgument, "the message lends a tensor but names no lender this process knows")
                }
                tensors.append(Tensor(dtype: dtype, shape: shape, buffer: try lent.read(address: address, byteCount: layout.byteCount)))
                continue
            }
            let first = payloads[payloads.index(payloads.startIndex, offsetBy: frames.lowerBound)]
            if dtype.isObject {
                tensors.append(try objectTensor(bytes(first), dtype: dtype, shape: shape))
            } else if frames.count == 1 {
                tensors.append(Tensor(dtype: dtype, shape: shape, buffer: buffer(first, dtype.byteSize)))
            } else {
                let parts = payloads.dropFirst(frames.lowerBound).prefix(frames.count)
                tensors.append(Tensor(dtype: dtype, shape: shape, buffer: joined(parts, bytes: bytes)))
            }
        }
        return WireMessage(envelope: envelope, tensors: tensors)
    }

    /// Validates a received message and wraps its payload frames as tensors without copying
    /// them (see `ReceivedFrame.makeBuffer`); a tensor split into frames is joined, and may hold
    /// no more than one frame may.
    static func decode(
        _ envelope: Weft_Envelope,
        payloads: ArraySlice<ReceivedFrame>,
        maxSplitTensorBytes: Int,
        lent: LentPayloadReader? = nil,
        logger: Logger
    ) throws(WeftError) -> WireMessage {
        try decode(envelope, payloads: payloads, maxSplitTensorBytes: maxSplitTensorBytes, lent: lent, bytes: \.bytes) {
            frame,
            alignment in
            let (buffer, copied) = frame.makeBuffer(alignment: alignment)
            if copied { logger.trace("misaligned payload frame copied", metadata: ["bytes": "\(buffer.byteCount)"]) }
            return buffer
        }
    }

    /// What a reply from `address` answers its request with: its message, the error its status
    /// reports, or why it is malformed.
    static func reply(
        _ envelope: Weft_Envelope,
        payloads: ArraySlice<ReceivedFrame>,
        from address: String,
        maxSplitTensorBytes: Int,
        logger: Logger
    ) -> Result<WireMessage, WeftError> {
        do throws(WeftError) {
            let message = try decode(envelope, payloads: payloads, maxSplitTensorBytes: maxSplitTensorBytes, logger: logger)
            try envelope.validateReply()
            return message.error.map { .failure($0) } ?? .success(message)
        } catch {
            return .failure(WeftError(error.code, "the reply from \(address) is malformed: \(error.message)"))
        }
    }

    /// One buffer holding the bytes of `frames` in order: a tensor that arrived split. Its size
    /// was bounded by `validate`, so it counts in `TensorMemory` without a check, as a received
    /// frame does.
    private static func joined<Frame>(
        _ frames: some Collection<Frame>,
        bytes: (Frame) -> UnsafeRawBufferPointer
    ) -> TensorBuffer {
        let buffer = TensorBuffer(byteCount: frames.reduce(0) { $0 + bytes($1).count })
        var offset = 0
        for frame in frames {
            let part = bytes(frame)
            guard let base = part.baseAddress else { continue }
            (buffer.base + offset).copyMemory(from: base, byteCount: part.count)
            offset += part.count
        }
        return buffer
    }
}

extension WireMessage {
    /// Reads a request from its frames as a node's ROUTER receives it (the envelope, then one
    /// payload frame per tensor; without the routing identity), with every check the transport
    /// makes before a handler sees the message. For tools that hold messages as bytes: the fuzz
    /// targets and the replay of their corpus.
    public init(requestFrames frames: [[UInt8]]) throws(WeftError) {
        guard let first = frames.first else {
            throw WeftError(.invalidArgument, "the message has no envelope frame")
        }
        guard frames.count <= Socket.maxFrames else {
            throw WeftError(.invalidArgument, "the message has more than \(Socket.maxFrames) frames")
        }
        let envelope = try first.withUnsafeBytes { bytes in
            Result { () throws(WeftError) in try WireCodec.envelope(from: bytes) }
        }.get()
        // Each payload in an aligned buffer of its own, as a frame libzmq received.
        let payloads = frames.dropFirst().map { frame in
            let buffer = TensorBuffer(byteCount: frame.count)
            frame.withUnsafeBytes { source in
                guard let base = source.baseAddress else { return }
                buffer.base.copyMemory(from: base, byteCount: source.count)
            }
            return buffer
        }
        let message = try WireCodec.decode(
            envelope,
            payloads: payloads,
            maxSplitTensorBytes: MessageSizeLimit.bytes,
            bytes: { UnsafeRawBufferPointer(start: $0.base, count: $0.byteCount) },
            buffer: { buffer, _ in buffer }
        )
        try envelope.validateRequest()
        self = message
    }

    /// The frames this message travels as, copied into arrays: the envelope the transport
    /// would send, then each tensor's payload. For tools that store messages (a fuzz corpus).
    public func frameBytes() throws(WeftError) -> [[UInt8]] {
        try WireCodec.frames(for: self).map { frame in
            switch frame {
            case .bytes(let bytes): bytes
            case .tensor(let tensor): Array(tensor.bytes)
            }
        }
    }
}
