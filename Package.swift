// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Weft",
    products: [
        .library(name: "Weft", targets: ["Weft"]),
        .library(name: "WeftCluster", targets: ["WeftCluster"]),
        .executable(name: "weft", targets: ["weft"]),
        .executable(name: "weft-train-example", targets: ["WeftTrainExample"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(name: "CZeroMQ", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CBLAS", providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CCrc32c"),
        .target(name: "CProcessMemory"),
        .target(
            name: "WeftProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Protos"]
        ),
        .target(
            name: "WeftRuntime",
            dependencies: [
                "WeftProto", "CBLAS", "CCrc32c", .product(name: "Logging", package: "swift-log"),
                .product(name: "ComplexModule", package: "swift-numerics"),
                .product(name: "RealModule", package: "swift-numerics"),
            ]
        ),
        .target(
            name: "Weft",
            dependencies: ["WeftRuntime", "WeftProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .target(
            name: "WeftTransport",
            dependencies: [
                "CZeroMQ", "CProcessMemory", "WeftRuntime", "WeftProto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "WeftPlacement",
            dependencies: ["WeftRuntime", "WeftProto", .product(name: "HeapModule", package: "swift-collections")]
        ),
        .target(
            name: "WeftCluster",
            dependencies: [
                "Weft", "WeftPlacement", "WeftTransport", "WeftRuntime", "WeftProto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "WeftObservability",
            dependencies: [
                "Weft", "WeftCluster", "WeftRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "WeftBench",
            dependencies: [
                "Weft", "WeftCluster", "WeftPlacement", "WeftRuntime", "WeftTransport", "WeftProto", "CBLAS",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "weft",
            dependencies: [
                "Weft", "WeftCluster", "WeftBench", "WeftObservability", "WeftPlacement", "WeftRuntime", "WeftProto",
                "WeftTransport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "WeftTrainExample",
            dependencies: [
                "Weft", "WeftCluster", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "WeftTestKit", dependencies: ["Weft", "WeftRuntime"], path: "Tests/WeftTestKit"),
        .testTarget(name: "WeftRuntimeTests", dependencies: ["WeftRuntime", "WeftTestKit"]),
        .testTarget(name: "WeftTests", dependencies: ["Weft", "WeftRuntime", "WeftProto", "WeftTestKit"]),
        .testTarget(
            name: "WeftBenchTests",
            dependencies: [
                "WeftBench", "WeftCluster", "WeftPlacement", "Weft", "WeftRuntime", "WeftTransport", "WeftTestKit",
            ]
        ),
        .testTarget(
            name: "WeftPlacementTests",
            dependencies: ["WeftPlacement", "Weft", "WeftRuntime", "WeftProto", "WeftTestKit"]
        ),
        .testTarget(
            name: "WeftObservabilityTests",
            dependencies: [
                "WeftObservability", "WeftCluster", "Weft", "WeftRuntime", "WeftTransport", "WeftTestKit",
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["trace-event-format.schema.json"]
        ),
        .testTarget(name: "WeftTransportTests", dependencies: ["WeftTransport", "WeftRuntime", "WeftProto"]),
        .testTarget(
            name: "WeftClusterTests",
            dependencies: [
                "WeftCluster", "WeftPlacement", "Weft", "WeftRuntime", "WeftTransport", "WeftProto", "WeftTestKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "WeftFuzzing",
            dependencies: ["Weft", "WeftCluster", "WeftRuntime", "WeftTransport", "WeftProto"]
        ),
        .executableTarget(name: "WeftFuzzWireMessage", dependencies: ["WeftFuzzing"]),
        .executableTarget(name: "WeftFuzzGraphDef", dependencies: ["WeftFuzzing"]),
        .executableTarget(name: "WeftFuzzPartition", dependencies: ["WeftFuzzing"]),
        .testTarget(name: "WeftFuzzingTests", dependencies: ["WeftFuzzing", "WeftTestKit"]),
    ],
    swiftLanguageModes: [.v6]
)
