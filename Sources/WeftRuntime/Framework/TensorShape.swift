import WeftProto

/// The fully known shape of a tensor: its dimension sizes, outermost first.
public struct TensorShape: Sendable, Hashable, ExpressibleByArrayLiteral, CustomStringConvertible {
    /// Dimension sizes, each zero or more.
    public var dimensions: [Int]

    /// Makes a shape from dimension sizes.
    public init(_ dimensions: [Int]) { self.dimensions = dimensions }
    /// Makes a shape from a literal: `[2, 3]`.
    public init(arrayLiteral elements: Int...) { self.dimensions = elements }

    /// The shape of a scalar.
    public static let scalar = TensorShape([])

    /// The number of dimensions.
    public var rank: Int { dimensions.count }
    /// The number of elements: the product of the dimensions (0 when one is 0, however large
    /// the others).
    public var elementCount: Int { dimensions.contains(0) ? 0 : dimensions.reduce(1, *) }
    /// `[2, 3]`, the way TensorFlow's messages print shapes.
    public var description: String { "[" + dimensions.map(String.init).joined(separator: ",") + "]" }

    /// Reads a fully defined shape from TensorFlow's proto.
    public init(_ proto: Tensorflow_TensorShapeProto) throws(WeftError) {
        guard !proto.unknownRank, proto.dim.allSatisfy({ $0.size >= 0 }) else {
            throw WeftError(.invalidArgument, "expected a fully defined shape, got \(PartialShape(proto))")
        }
        self.dimensions = proto.dim.map { Int($0.size) }
    }

    /// TensorFlow's proto of this shape.
    public var proto: Tensorflow_TensorShapeProto {
        var proto = Tensorflow_TensorShapeProto()
        proto.dim = dimensions.map { size in
            var dim = Tensorflow_TensorShapeProto.Dim()
            dim.size = Int64(size)
            return dim
        }
        return proto
    }
}

/// A shape that may be partly unknown, as placeholders declare: `nil` dimensions are unknown,
/// and a `nil` `dimensions` means even the rank is unknown.
public struct PartialShape: Sendable, Hashable, CustomStringConvertible {
    /// Dimension sizes, `nil` where unknown; `nil` altogether for an unknown rank.
    public var dimensions: [Int?]?

    /// Makes a shape from dimensions, `nil` where unknown.
    public init(_ dimensions: [Int?]?) { self.dimensions = dimensions }

    /// A shape of unknown rank.
    public static let unknown = PartialShape(nil)

    /// Reads TensorFlow's proto, where `-1` is an unknown dimension.
    public init(_ proto: Tensorflow_TensorShapeProto) {
        dimensions = proto.unknownRank ? nil : proto.dim.map { $0.size < 0 ? nil : Int($0.size) }
    }

    /// TensorFlow's proto of this shape.
    public var proto: Tensorflow_TensorShapeProto {
        var proto = Tensorflow_TensorShapeProto()
        guard let dimensions else {
            proto.unknownRank = true
            return proto
        }
        proto.dim = dimensions.map { size in
            var dim = Tensorflow_TensorShapeProto.Dim()
            dim.size = Int64(size ?? -1)
            return dim
        }
        return proto
    }

    /// Whether a concrete shape fits this one.
    public func isCompatible(with shape: TensorShape) -> Bool {
        guard let dimensions else { return true }
        guard dimensions.count == shape.rank else { return false }
        return zip(dimensions, shape.dimensions).allSatisfy { $0 == nil || $0 == $1 }
    }

    /// `[?,3]` as TensorFlow's messages print it; `<unknown>` for an unknown rank.
    public var description: String {
        guard let dimensions else { return "<unknown>" }
        return "[" + dimensions.map { $0.map(String.init) ?? "?" }.joined(separator: ",") + "]"
    }
}
