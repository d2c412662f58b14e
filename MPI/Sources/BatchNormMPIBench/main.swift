// Communication against computation in a synchronized training step (forward and backward), for a
// realistic shape split over the ranks of an MPI job:
//
//     swift build --package-path MPI -c release
//     OPENBLAS_NUM_THREADS=1 mpirun --allow-run-as-root -np 2 MPI/.build/release/batchnorm-mpi-bench
//
// Each rank times its phases (median over the steps); rank 0 prints one line per rank.
#if canImport(Glibc)
import Glibc
#endif
import BatchNormKit
import BatchNormMPI

let options: BenchOptions
switch BenchOptions.parse(Array(CommandLine.arguments.dropFirst())) {
case .success(let parsed):
    options = parsed
case .failure(let error):
    print("batchnorm-mpi-bench: \(error)\n\(BenchOptions.usage)")
    exit(2)
}

var exitCode: Int32 = 0
do {
    try MPIRuntime.initialize()
    let communicator = try Communicator.world()
    let result = options.doublePrecision
        ? try SynchronizedStepBench.run(Double.self, options: options, communicator: communicator)
        : try SynchronizedStepBench.run(Float.self, options: options, communicator: communicator)
    let compute = median(result.steps.map(\.compute.milliseconds))
    let communication = median(result.steps.map(\.communication.milliseconds))
    let fastestCommunication = result.steps.map(\.communication.milliseconds).min() ?? 0
    let wait = median(result.steps.map(\.wait.milliseconds))
    let rows = try communicator.allGather([Double(result.localBatch), compute, communication, fastestCommunication, wait])
    if communicator.rank == 0 {
        let shape = options.dimensions.map(String.init).joined(separator: "x")
        let channelCount = options.layout == .channelsFirst ? options.dimensions[1] : options.dimensions.last ?? 0
        let bytesPerStep = 2 * communicator.size * (5 + 3 * channelCount) * 8
        print("batchnorm-mpi-bench: \(shape) \(options.layout) \(options.doublePrecision ? "Double" : "Float"), "
              + "\(communicator.size) ranks, median of \(options.steps) steps (after \(options.warmup) warm-up)")
        print("one step = forward + backward; 2 MPI_Allgather per step, \(bytesPerStep) bytes received per rank")
        print("communication = the two collectives with their merges, timed after a barrier (barrier wait = load imbalance)")
        print("rank  local N  compute ms  communication ms  (fastest step)  barrier wait ms  communication share")
        for (rank, row) in rows.enumerated() {
            let share = row[2] / max(row[1] + row[2], .leastNonzeroMagnitude) * 100
            print(pad("\(rank)", 4) + pad("\(Int(row[0]))", 9) + pad(rounded(row[1]), 12) + pad(rounded(row[2]), 18)
                  + pad(rounded(row[3]), 16) + pad(rounded(row[4]), 17) + pad(rounded(share) + " %", 21))
        }
    }
    try MPIRuntime.finalize()
} catch {
    print("batchnorm-mpi-bench: \(error)")
    exitCode = 1
}
exit(exitCode)

/// `value` with three decimals.
func rounded(_ value: Double) -> String { "\((value * 1000).rounded() / 1000)" }

/// `text` right-aligned in `width` characters.
func pad(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
