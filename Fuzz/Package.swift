// swift-tools-version:6.1
import PackageDescription

import struct Foundation.URL

// libFuzzer targets for the code of swift-batchnorm that reads untrusted input: the `.npy` decoder and
// the option parsing of `batchnorm forward`/`backward`. A tool in its own package (like Benchmarks/), so
// the library never carries fuzzing flags. Build and run it with scripts/fuzz.sh from the repository
// root; the sanitizer flags go on the command line:
//
//     swift build --package-path Fuzz --scratch-path .build-fuzz -c debug \
//         -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing
//
// (see README.md beside this file).

// SwiftPM names a path dependency after its folder (lowercased), whatever the clone is called.
let libraryPackage = URL(fileURLWithPath: Context.packageDirectory)
    .deletingLastPathComponent().standardizedFileURL.lastPathComponent.lowercased()

let package = Package(
    name: "swift-batchnorm-fuzz",
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - Fuzz targets (one executable each; libFuzzer supplies `main`)
        .executableTarget(
            name: "NumPyDecodeFuzzer",
            dependencies: ["LibFuzzerDriver", .product(name: "NumPyFile", package: libraryPackage)]
        ),
        // The CLI's own option parsing, from the BatchNormCommands library that `batchnorm` runs
        // (imported @testable: scripts/fuzz.sh builds with -enable-testing).
        .executableTarget(
            name: "OptionParsingFuzzer",
            dependencies: [
                "LibFuzzerDriver",
                .product(name: "BatchNormKit", package: libraryPackage),
                .product(name: "BatchNormCommands", package: libraryPackage),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Implementation details
        // The declaration of libFuzzer's driver, which each target's entry point calls (see its header).
        .target(name: "LibFuzzerDriver"),
    ]
)
