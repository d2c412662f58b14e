// The MPI test program: run under mpirun with any number of ranks, e.g.
//
//     mpirun --allow-run-as-root --oversubscribe -np 4 MPI/.build/debug/batchnorm-mpi-tests [seed]
//
// Every rank checks its outputs, gradients and running statistics against one `BatchNorm` over the
// concatenated batch (tolerance 64 unit roundoffs, as the core parity tests), and the refusals that
// must reach every rank. Rank 0 prints the largest errors and each rank's tally; every rank exits
// non-zero when any rank failed.
#if canImport(Glibc)
import Glibc
#endif
import BatchNormKit
import BatchNormMPI
import CMPI

let seed = CommandLine.arguments.dropFirst().first.flatMap { UInt64($0) } ?? 20_251_122

do {
    try MPIRuntime.initialize()
} catch {
    print("batchnorm-mpi-tests: \(error)")
    exit(2)
}

var failedEverywhere = 1
do {
    let communicator = try Communicator.world()
    var log = TestLog(rank: communicator.rank)
    if communicator.rank == 0 {
        print("batchnorm-mpi-tests: \(communicator.size) ranks, seed \(seed)")
    }

    do {
        try RefusalCases.run(communicator: communicator, log: &log)
    } catch {
        log.expect(false, "refusal cases: unexpected \(error)")
    }

    // Unequal local batches with a single-sample rank; then with a rank that holds no samples.
    let size = communicator.size
    let unequal = (0..<size).map { [3, 1, 5, 2][$0 % 4] + $0 / 4 }
    let oneEmpty = unequal.enumerated().map { $0.offset == size - 1 && size > 1 ? 0 : $0.element }
    let samples: [([Int], TensorLayout)] = [
        ([6, 5, 7], .channelsFirst),    // NCHW
        ([5, 7, 6], .channelsLast),     // NHWC
        ([8], .channelsFirst),          // NC
    ]
    var cases = [ParityCase]()
    for (dimensions, layout) in samples {
        cases.append(ParityCase(sampleDimensions: dimensions, layout: layout, batchSizes: unequal, affine: true, momentum: 0.1))
        cases.append(ParityCase(sampleDimensions: dimensions, layout: layout, batchSizes: oneEmpty, affine: false, momentum: nil))
    }
    for (index, parityCase) in cases.enumerated() {
        let caseSeed = seed &+ UInt64(index)
        do {
            try parityCase.run(Float.self, seed: caseSeed, communicator: communicator, log: &log)
            try parityCase.run(Double.self, seed: caseSeed, communicator: communicator, log: &log)
        } catch {
            log.expect(false, "\(parityCase) seed \(caseSeed): unexpected \(error)")
        }
    }

    // Two independent groups on communicators the program made itself (even and odd ranks, split from
    // the world as a data-parallel program would): each normalizes its own batch, at the same time as
    // the other, against its own whole-batch reference. A collective that leaked to the world would
    // mix the groups' statistics and fail the comparison (or hang, which mpirun's timeout catches).
    do {
        var groupHandle: MPI_Comm? = nil
        try MPIRuntime.checked(MPI_Comm_split(communicator.handle, Int32(communicator.rank % 2),
                                              Int32(communicator.rank), &groupHandle), "MPI_Comm_split")
        guard let handle = groupHandle else { throw MPIError.nullCommunicator }
        let group = try Communicator(borrowing: handle)
        log.expect(group.size == (size + 1 - communicator.rank % 2) / 2,
                   "group of rank \(communicator.rank): size \(group.size)")
        let groupCase = ParityCase(
            sampleDimensions: [6, 5, 7], layout: .channelsFirst,
            batchSizes: (0..<group.size).map { [3, 1, 5, 2][$0 % 4] }, affine: true, momentum: 0.1)
        let groupSeed = seed &+ 1_000 &+ UInt64(communicator.rank % 2)
        try groupCase.run(Float.self, seed: groupSeed, communicator: group, log: &log)
        try groupCase.run(Double.self, seed: groupSeed, communicator: group, log: &log)
        try MPIRuntime.checked(MPI_Comm_free(&groupHandle), "MPI_Comm_free")
    } catch {
        log.expect(false, "two groups: unexpected \(error)")
    }

    // The report: the largest error per quantity over all ranks, then each rank's tally.
    let worst = try communicator.allGather(TestLog.quantities.map { log.worstErrors[$0] ?? 0 })
    let tallies = try communicator.allGather([Double(log.passed), Double(log.failed)])
    let failed = tallies.reduce(0) { $0 + Int($1[1]) }
    if communicator.rank == 0 {
        print("largest error against one process over the whole batch, in unit roundoffs (tolerance 64):")
        for (index, quantity) in TestLog.quantities.enumerated() {
            let largest = worst.map { $0[index] }.max() ?? 0
            let label = quantity + String(repeating: " ", count: max(0, 24 - quantity.count))
            print("  \(label) \((largest * 100).rounded() / 100)")
        }
        for (rank, tally) in tallies.enumerated() {
            print("rank\(rank): \(Int(tally[0])) passed, \(Int(tally[1])) failed")
        }
        let passed = tallies.reduce(0) { $0 + Int($1[0]) }
        print("batchnorm-mpi-tests: \(passed) passed, \(failed) failed")
    }
    failedEverywhere = failed
} catch {
    print("batchnorm-mpi-tests: unexpected \(error)")
}

do {
    try MPIRuntime.finalize()
} catch {
    print("batchnorm-mpi-tests: \(error)")
    exit(2)
}
exit(failedEverywhere == 0 ? 0 : 1)
