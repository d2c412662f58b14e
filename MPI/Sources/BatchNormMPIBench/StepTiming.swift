/// Where one training step (forward and backward) of one rank spent its time.
struct StepTiming {
    /// The local work: partial statistics, normalization, backward sums, elementwise backward.
    var compute: Duration = .zero
    /// The two collectives, including the merge of the gathered records.
    var communication: Duration = .zero
    /// Waiting at the barrier before each collective for slower ranks (load imbalance).
    var wait: Duration = .zero

    /// Adds the time `body` takes to `keyPath`.
    mutating func measure<Value, Failure: Error>(
        _ keyPath: WritableKeyPath<StepTiming, Duration>, _ body: () throws(Failure) -> Value
    ) throws(Failure) -> Value {
        let clock = ContinuousClock()
        let start = clock.now
        let value = try body()
        self[keyPath: keyPath] += clock.now - start
        return value
    }
}

extension Duration {
    /// The duration in milliseconds.
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1e3 + Double(attoseconds) * 1e-15
    }
}

/// The median of `values` (the mean of the middle two for an even count).
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
