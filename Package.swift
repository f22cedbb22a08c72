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

        // C wrappers for what Swift cannot call directly (HDF5's macro constants).
        .target(name: "CShims", dependencies: ["CHDF5"]),

        .target(name: "Tensor", dependencies: ["CBLAS"]),
        .target(name: "RevNet", dependencies: ["Tensor"]),
        .target(name: "Training", dependencies: ["RevNet", "Tensor"]),

        .executableTarget(
            name: "revserve",
            dependencies: [
                "Tensor", "RevNet", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "CShimsTests", dependencies: ["CShims", "CHDF5"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "RevNetTests", dependencies: ["RevNet", "Tensor"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "RevNet", "Tensor"]),
        // Runs the built executable as a subprocess (it depends on it so that it is built first).
        .testTarget(name: "CLITests", dependencies: ["revserve"]),
    ],
    swiftLanguageModes: [.v6]
)
