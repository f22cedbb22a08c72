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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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

        .target(name: "Tensor", dependencies: ["CBLAS"]),
        .target(name: "RevNet", dependencies: ["Tensor"]),
        .target(name: "Formats", dependencies: ["Tensor", "CShims", "CHDF5", "CZlib"]),
        .target(name: "Training", dependencies: ["Formats", "RevNet", "Tensor"]),
        .target(name: "Inference", dependencies: ["Training", "Formats", "RevNet", "Tensor"]),

        .executableTarget(
            name: "revserve",
            dependencies: [
                "Tensor", "RevNet", "Formats", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "CShimsTests", dependencies: ["CShims", "CHDF5"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        // Rewrites a checkpoint until killed; FormatsTests SIGKILL it mid-write.
        .executableTarget(name: "checkpoint-writer", dependencies: ["Formats", "Tensor"], path: "Tests/CheckpointWriter"),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "Tensor", "CShims", "CHDF5", "CZlib", "checkpoint-writer"]),
        // An independent float64 implementation of NETWORKS.md that several test targets compare against.
        .target(name: "RevNetTestSupport", dependencies: ["RevNet", "Tensor"], path: "Tests/RevNetTestSupport"),
        .testTarget(name: "RevNetTests", dependencies: ["RevNet", "Tensor", "RevNetTestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "RevNet", "Tensor"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "RevNet", "Tensor"]),
        // Runs the built executable as a subprocess (it depends on it so that it is built first).
        .testTarget(name: "CLITests", dependencies: ["revserve", "Training", "RevNetTestSupport", "Formats"]),
    ],
    swiftLanguageModes: [.v6]
)
