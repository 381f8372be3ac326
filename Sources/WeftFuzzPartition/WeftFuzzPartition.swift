import WeftFuzzing

#if WEFT_LIBFUZZER
/// libFuzzer's entry: one input through `FuzzTarget.partition`. Built only by `scripts/fuzz`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    FuzzTarget.partition.fuzz(data, count)
    return 0
}

/// The process's start in the fuzz build (see `FuzzDriver`): libFuzzer's driver.
@_cdecl("WeftFuzzPartition_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    FuzzDriver.run(argc, argv, fuzzOneInput)
}
#else
/// Without libFuzzer: replays inputs through the same entry (`replay PATH…`), or writes seeds.
@main
enum Replay {
    static func main() { FuzzReplay.main(.partition) }
}
#endif
