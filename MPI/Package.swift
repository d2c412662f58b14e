// swift-tools-version:6.1
import PackageDescription

import struct Foundation.URL

// Synchronized batch norm over Open MPI, kept in its own package so the library itself builds and
// tests on machines without MPI. Needs Debian's `libopenmpi-dev` (headers, libmpi, pkg-config files)
// and `openmpi-bin` (mpirun). From the repository root:
//
//     bash scripts/test-mpi.sh                                   # installs Open MPI, builds, runs the tests
//     swift build --package-path MPI -c release
//     mpirun --allow-run-as-root -np 2 MPI/.build/release/batchnorm-mpi-bench
//
// (see README.md beside this file).

// SwiftPM names a path dependency after its folder (lowercased), whatever the clone is called.
let libraryPackage = URL(fileURLWithPath: Context.packageDirectory)
    .deletingLastPathComponent().standardizedFileURL.lastPathComponent.lowercased()

let package = Package(
    name: "swift-batchnorm-mpi",
    products: [
        // MARK: - Public API
        .library(name: "BatchNormMPI", targets: ["BatchNormMPI"]),
        .executable(name: "batchnorm-mpi-bench", targets: ["BatchNormMPIBench"]),
        .executable(name: "batchnorm-mpi-tests", targets: ["BatchNormMPITests"]),
    ],
    dependencies: [
        .package(path: ".."),
    ],
    targets: [
        // MARK: - Public API
        .target(
            name: "BatchNormMPI",
            dependencies: [
                "CMPI",
                .product(name: "BatchNormKit", package: libraryPackage),
            ],
            // Swift's floating-point rounding calls libm (`rint`, `sqrt`, ...), which only the Glibc and
            // Foundation modules link by themselves; this target imports neither.
            linkerSettings: [.linkedLibrary("m", .when(platforms: [.linux]))]
        ),
        .executableTarget(
            name: "BatchNormMPIBench",
            dependencies: ["BatchNormMPI"]
        ),

        // MARK: - Implementation details
        // `mpi.h` and accessors for what Swift cannot import (Open MPI's handles are macros); no
        // stable API, imported `internal` by BatchNormMPI.
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]
        ),

        // MARK: - Tests (an executable run under mpirun; see scripts/test-mpi.sh)
        .executableTarget(
            name: "BatchNormMPITests",
            dependencies: ["BatchNormMPI", "CMPI", .product(name: "BatchNormReference", package: libraryPackage)]
        ),
    ]
)
