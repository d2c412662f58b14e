// swift-tools-version:6.1
import PackageDescription

import struct Foundation.URL

// Benchmarks of swift-batchnorm's public API with ordo-one/package-benchmark, kept in their own
// package so the library itself does not depend on the benchmark tooling. Run from the repository root:
//
//     OPENBLAS_NUM_THREADS=1 swift package --package-path Benchmarks benchmark
//
// (see README.md beside this file).

// SwiftPM names a path dependency after its folder (lowercased), whatever the clone is called.
let libraryPackage = URL(fileURLWithPath: Context.packageDirectory)
    .deletingLastPathComponent().standardizedFileURL.lastPathComponent.lowercased()

let package = Package(
    name: "swift-batchnorm-benchmarks",
    dependencies: [
        .package(path: ".."),
        // Swift 6.3 on Linux needs the MallocInterposer trait spelled out (it also leaves the default
        // RuntimeInterposer trait, and its extra dependency, off).
        .package(
            url: "https://github.com/ordo-one/package-benchmark", from: "1.29.0",
            traits: ["MallocInterposer"]),
    ],
    targets: [
        // MARK: - Benchmark suites (one executable per suite, found by the benchmark plugin)
        .executableTarget(
            name: "ForwardTraining",
            dependencies: suiteDependencies,
            path: "Benchmarks/ForwardTraining",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "ForwardInference",
            dependencies: suiteDependencies,
            path: "Benchmarks/ForwardInference",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "Backward",
            dependencies: suiteDependencies,
            path: "Benchmarks/Backward",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),

        // MARK: - Implementation details
        // Shapes, data and the registration shared by the suites (a library, so the plugin skips it).
        .target(
            name: "BatchNormWorkloads",
            dependencies: [
                .product(name: "BatchNormKit", package: libraryPackage),
                .product(name: "BatchNormReference", package: libraryPackage),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/BatchNormWorkloads"
        ),
    ]
)

var suiteDependencies: [Target.Dependency] {
    [
        "BatchNormWorkloads",
        .product(name: "Benchmark", package: "package-benchmark"),
    ]
}
