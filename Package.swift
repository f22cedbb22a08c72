// swift-tools-version:6.0
// revserve: serving and training reversible residual networks (Chang et al., AAAI 2018).
import PackageDescription

let package = Package(
    name: "revserve",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "revserve", targets: ["revserve"]),
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "RevNet", targets: ["RevNet"]),
        // The three architectures as plugin libraries, loaded with dlopen like any third-party plugin.
        .library(name: "RevservePluginHamiltonian", type: .dynamic, targets: ["HamiltonianPlugin"]),
        .library(name: "RevservePluginMidpoint", type: .dynamic, targets: ["MidpointPlugin"]),
        .library(name: "RevservePluginLeapfrog", type: .dynamic, targets: ["LeapfrogPlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // System libraries: module maps only, flags from pkg-config.
        .systemLibrary(
            name: "CHDF5", pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(
            name: "CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]),
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),

        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        // C wrappers for what Swift cannot call directly: libhdf5's macro constants and
        // libpng's setjmp/longjmp error handling.
        .target(name: "CShims", dependencies: ["CHDF5", "CPNG"]),

        // The plugin C ABI (header only) and its two sides: PluginKit exports a Swift
        // architecture through it, PluginHost loads libraries and drives them.
        .target(name: "PluginABI"),
        // A pthread-backed lock (ThreadSanitizer sees it; Synchronization.Mutex it does not).
        .target(name: "Locking"),
        // Named bounds for values from outside the process, and checked arithmetic on them.
        .target(name: "Bounds"),
        // AVX2 loops for the Winograd transforms, picked at run time (Tensor/Winograd.swift).
        .target(name: "CKernels"),
        .target(name: "Tensor", dependencies: ["CBLAS", "CKernels", "Locking"]),
        .target(name: "RevNet", dependencies: ["Locking", "Tensor"]),
        .target(name: "PluginKit", dependencies: ["Locking", "PluginABI", "RevNet", "Tensor"]),
        .target(name: "PluginHost", dependencies: ["Locking", "PluginABI", "RevNet", "Tensor"]),
        .target(name: "HamiltonianPlugin", dependencies: ["PluginKit", "PluginABI", "RevNet"], path: "Plugins/Hamiltonian"),
        .target(name: "MidpointPlugin", dependencies: ["PluginKit", "PluginABI", "RevNet"], path: "Plugins/Midpoint"),
        .target(name: "LeapfrogPlugin", dependencies: ["PluginKit", "PluginABI", "RevNet"], path: "Plugins/Leapfrog"),
        .target(name: "Formats", dependencies: ["Bounds", "Locking", "Tensor", "CShims", "CHDF5", "CZlib"]),
        // A network to and from a checkpoint file: what Inference and Training share.
        .target(name: "NetworkCheckpoint", dependencies: ["Formats", "RevNet", "Tensor"]),
        .target(name: "Training", dependencies: ["Bounds", "Formats", "NetworkCheckpoint", "RevNet", "Tensor"]),
        .target(name: "Inference", dependencies: ["Bounds", "Locking", "NetworkCheckpoint", "Formats", "RevNet", "Tensor", "CShims", "PluginHost", .product(name: "Logging", package: "swift-log")]),
        // HTTP over the Unix socket: routes, protocol codecs, errors → statuses, metrics, and the
        // small NIO client `revserve classify` and the tests use. Never touches kernels.
        .target(
            name: "Server",
            dependencies: [
                "Bounds", "Inference", "Formats", "PluginHost", "CShims", "Locking",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),

        // The decoders that take outside bytes, as fuzz targets, and their libFuzzer runner
        // (`make fuzz`; a normal build makes it a replay tool).
        .target(name: "FuzzTargets", dependencies: ["Bounds", "CZlib", "Server", "Formats", "Inference", "NetworkCheckpoint"]),
        // Kernel and whole-network benchmarks (`revserve bench`), apart from the code they time.
        .target(name: "Benchmarks", dependencies: ["RevNet", "Tensor", "Training"]),
        .executableTarget(name: "revserve-fuzz", dependencies: ["FuzzTargets"], path: "Fuzz/Runner"),

        .executableTarget(
            name: "revserve",
            dependencies: [
                "Benchmarks", "Bounds", "Tensor", "RevNet", "Formats", "NetworkCheckpoint", "Training", "Inference", "Server", "PluginHost", "Locking",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        .testTarget(name: "BoundsTests", dependencies: ["Bounds"]),
        .testTarget(name: "CShimsTests", dependencies: ["CShims", "CHDF5"]),
        .testTarget(name: "TensorTests", dependencies: ["Locking", "Tensor"]),
        // Rewrites a checkpoint until killed; FormatsTests SIGKILL it mid-write.
        .executableTarget(name: "checkpoint-writer", dependencies: ["Formats", "Tensor"], path: "Tests/CheckpointWriter"),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "Tensor", "CShims", "CHDF5", "CZlib", "checkpoint-writer"]),
        // An independent float64 implementation of NETWORKS.md that several test targets compare against.
        .target(name: "RevNetTestSupport", dependencies: ["RevNet", "Tensor"], path: "Tests/RevNetTestSupport"),
        .testTarget(name: "RevNetTests", dependencies: ["RevNet", "Tensor", "RevNetTestSupport"]),
        .testTarget(name: "PluginHostTests", dependencies: ["PluginABI", "PluginHost", "RevNet", "Tensor"]),
        .testTarget(name: "TrainingTests", dependencies: ["Benchmarks", "Locking", "NetworkCheckpoint", "Training", "RevNet", "Tensor"]),
        .testTarget(name: "InferenceTests", dependencies: ["Bounds", "Locking", "Inference", "RevNet", "Tensor", "NetworkCheckpoint", "Formats", .product(name: "Logging", package: "swift-log")]),
        // The real daemon as a subprocess on a temporary socket, for the two suites below.
        .target(name: "ServerTestSupport", dependencies: ["Server"], path: "Tests/ServerTestSupport"),
        // Starts the real daemon as a subprocess on temporary sockets; also the codecs' unit tests.
        .testTarget(name: "ServerTests", dependencies: ["Locking", "Server", "ServerTestSupport", "revserve", "Inference", "NetworkCheckpoint", "Training", "Formats",
                                                        "RevNet", "Tensor", "PluginHost"]),
        // Hostile input against the live daemon while good requests keep flowing.
        .testTarget(name: "HostileInputTests", dependencies: ["Bounds", "Locking", "ServerTestSupport", "Server", "Formats", "revserve", "FuzzTargets"]),
        // Runs the built executable as a subprocess (it depends on it so that it is built first).
        .testTarget(name: "CLITests", dependencies: ["revserve", "NetworkCheckpoint", "Training", "RevNetTestSupport", "Formats", "ServerTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
