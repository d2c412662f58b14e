// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "swift-batchnorm",
    products: [
        // MARK: - Public API
        .library(name: "BatchNormKit", targets: ["BatchNormKit"]),
        .library(name: "BatchNormReference", targets: ["BatchNormReference"]),
        .library(name: "NumPyFile", targets: ["NumPyFile"]),
        .executable(name: "batchnorm", targets: ["BatchNormCLI"]),
        // The `batchnorm` tool's commands as a library, for the fuzzers (Fuzz/, a separate package).
        .library(name: "BatchNormCommands", targets: ["BatchNormCommands"]),
        .executable(name: "bn-train", targets: ["BatchNormTrain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.0"),
    ],
    targets: [
        // MARK: - Public API
        .target(
            name: "BatchNormKit",
            dependencies: ["Kernels"]
        ),
        .target(
            name: "BatchNormReference",
            dependencies: ["BatchNormKit"]
        ),
        .executableTarget(
            name: "BatchNormCLI",
            dependencies: ["BatchNormCommands"]
        ),
        // Everything `batchnorm` does (option types, .npy in and out, bench); the executable is its main.
        .target(
            name: "BatchNormCommands",
            dependencies: [
                "BatchNormKit",
                "BatchNormReference",
                "NumPyFile",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Examples
        // A real program on the public API: an MLP trained on the digits data set (docs/TRAINING.md).
        // It binds cblas_sgemm itself (a program brings its own BLAS binding; BatchNormKit exports none).
        .target(
            name: "TrainingExample",
            dependencies: ["BatchNormKit", "BatchNormReference", "NumPyFile", "CBLAS"],
            path: "Examples/TrainingExample"
        ),
        .executableTarget(
            name: "BatchNormTrain",
            dependencies: [
                "TrainingExample",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/bn-train"
        ),

        // MARK: - Implementation details
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "LAPACKE",
            pkgConfig: "lapacke",
            providers: [.apt(["liblapacke-dev"])]
        ),
        .target(
            name: "Kernels",
            dependencies: ["CBLAS", "LAPACKE", "CKernelSupport"]
        ),
        .target(name: "CKernelSupport"),
        .target(name: "NumPyFile"),

        // MARK: - Unit test bundles
        // Helpers the test targets share (the error metric, the seeded generator).
        .target(
            name: "BatchNormTestSupport",
            dependencies: ["BatchNormReference"],
            path: "Tests/BatchNormTestSupport"
        ),
        .testTarget(
            name: "BatchNormKitTests",
            dependencies: ["BatchNormKit", "BatchNormReference", "Kernels", "BatchNormTestSupport"]
        ),
        .testTarget(
            name: "BatchNormCommandsTests",
            dependencies: [
                "BatchNormCommands", "NumPyFile",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "TrainingExampleTests",
            dependencies: ["TrainingExample", "BatchNormKit", "BatchNormReference", "BatchNormTestSupport"]
        ),
        .testTarget(
            name: "DocumentationSnippetTests",
            dependencies: ["BatchNormKit"]
        ),
        .testTarget(
            name: "NumPyFileTests",
            dependencies: ["NumPyFile"]
        ),
        .testTarget(
            name: "BatchNormPropertyTests",
            dependencies: [
                "BatchNormKit", "BatchNormReference", "Kernels", "BatchNormTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
    ]
)
