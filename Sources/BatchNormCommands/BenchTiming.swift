#if canImport(Glibc)
import Glibc
#endif

/// The anchors' timing policy, so numbers compare side by side: warm-up calls, then at least
/// `minimumRuns` timed calls, continuing while the timed total is under `budgetSeconds`, at most
/// `maximumRuns`; the median (and minimum) of the per-call times.
struct BenchTiming {
    var warmUpRuns = 3
    var minimumRuns = 20
    var maximumRuns = 200
    var budgetSeconds = 0.3

    static let quick = BenchTiming(warmUpRuns: 1, minimumRuns: 3, maximumRuns: 5, budgetSeconds: 0.02)

    struct Result {
        var medianMilliseconds: Double
        var minimumMilliseconds: Double
        var runs: Int
    }

    func measure(_ body: () -> Void) -> Result {
        for _ in 0..<warmUpRuns { body() }
        var samples: [Double] = []
        var total = 0.0
        while samples.count < minimumRuns || (total < budgetSeconds && samples.count < maximumRuns) {
            let start = Self.now()
            body()
            let elapsed = Self.now() - start
            samples.append(elapsed)
            total += elapsed
        }
        samples.sort()
        let middle = samples.count / 2
        let median = samples.count % 2 == 1 ? samples[middle] : (samples[middle - 1] + samples[middle]) / 2
        return Result(medianMilliseconds: median * 1e3, minimumMilliseconds: samples[0] * 1e3, runs: samples.count)
    }

    /// Monotonic seconds.
    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }
}
