#if WEFT_LIBFUZZER
/// libFuzzer's driver (`LLVMFuzzerRunDriver`, in the sanitizer runtime that `-sanitize=fuzzer`
/// links): parses libFuzzer's flags and fuzzes `callback`.
@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// The start of a fuzz executable in the fuzz build. SwiftPM links a debug executable's `main`
/// to a function named after its module (`WeftFuzzGraphDef_main`), so libFuzzer's own `main`
/// is never linked: that function hands the process to libFuzzer's driver through this.
public enum FuzzDriver {
    /// Runs libFuzzer with the process's arguments on `callback`; returns its exit status.
    public static func run(
        _ argc: Int32,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32 {
        guard var arguments = argv else { return 64 }
        var count = argc
        return runFuzzerDriver(&count, &arguments, callback)
    }
}
#endif
