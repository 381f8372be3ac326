// `import Weft` is all a user needs: the value types of the runtime come with it.
@_exported import struct WeftRuntime.BFloat16
@_exported import struct WeftRuntime.ComplexElement
@_exported import enum WeftRuntime.DType
@_exported import struct WeftRuntime.GraphOptimizations
@_exported import struct WeftRuntime.PartialShape
@_exported import struct WeftRuntime.ResourceHandle
@_exported import struct WeftRuntime.Tensor
@_exported import protocol WeftRuntime.TensorElement
@_exported import struct WeftRuntime.TensorShape
@_exported import struct WeftRuntime.WeftError
