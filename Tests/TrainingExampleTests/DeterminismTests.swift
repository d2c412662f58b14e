import Foundation
import Testing
import BatchNormKit
import BatchNormTestSupport
@testable import TrainingExample

/// Training is a function of the seed at one thread: two runs from the same seed end with bit-identical
/// weights, running statistics and reports (times aside); another seed gives other weights.
@Suite("Determinism and the digits data", .serialized)
struct DeterminismTests {
    /// The checkout's data/digits, found from this file's path so the test runs from any directory.
    static let digitsFolder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(Dataset.digitsFolder).path

    static func options(seed: UInt64) -> TrainingOptions {
        var options = TrainingOptions()
        options.hiddenLayerCount = 3
        options.width = 32
        options.activation = .relu
        options.learningRate = 0.05
        options.momentum = 0.9
        options.epochs = 2
        options.seed = seed
        return options
    }

    static func run(seed: UInt64) throws -> (network: Network<Float>, reports: [EpochReport]) {
        setBLASThreadCount(1)
        let digits = try Dataset.digits(folder: digitsFolder)
        let (train, test) = digits.stratifiedSplit(testFraction: TrainingOptions.testFraction, seed: TrainingOptions.splitSeed)
        var trainer = try Trainer<Float>(options: options(seed: seed), train: train, test: test)
        let reports = try (0..<2).map { _ in try trainer.runEpoch() }
        return (trainer.network, reports)
    }

    @Test("the same seed gives bit-identical training at one thread")
    func sameSeedSameRun() async throws {
        // One thread for the whole process while it runs, then the setting it found.
        try await ThreadCountGate.changing {
            let original = KernelThreads.count
            defer { KernelThreads.count = original }
            try checkSameSeedSameRun()
        }
    }

    func checkSameSeedSameRun() throws {
        let first = try Self.run(seed: 3)
        let second = try Self.run(seed: 3)
        let other = try Self.run(seed: 4)
        for (a, b) in zip(first.network.hiddenLayers, second.network.hiddenLayers) {
            #expect(a.dense.weights == b.dense.weights)
            #expect(a.norm == b.norm)  // gamma, beta, running statistics, batches tracked
        }
        #expect(first.network.outputLayer.weights == second.network.outputLayer.weights)
        #expect(first.reports.map(\.trainLoss) == second.reports.map(\.trainLoss))
        #expect(first.reports.map(\.testAccuracy) == second.reports.map(\.testAccuracy))
        #expect(first.network.hiddenLayers[0].dense.weights != other.network.hiddenLayers[0].dense.weights)
        // Two epochs of this small network learn the digits well past chance (10%), and the running
        // statistics give about the accuracy the test batch's own statistics give.
        let last = try #require(first.reports.last)
        #expect(last.testAccuracy > 0.8)
        #expect(abs(last.testAccuracy - last.testAccuracyBatchStatistics) < 0.05)
    }

    @Test("the split is stratified and complete")
    func stratifiedSplit() throws {
        let digits = try Dataset.digits(folder: Self.digitsFolder)
        #expect(digits.count == 1797)
        let (train, test) = digits.stratifiedSplit(testFraction: 0.2, seed: TrainingOptions.splitSeed)
        #expect(train.count + test.count == 1797)
        for label in 0..<10 {
            let total = digits.labels.count(where: { $0 == label })
            let held = test.labels.count(where: { $0 == label })
            #expect(held == Int((0.2 * Double(total)).rounded()))
            #expect(train.labels.count(where: { $0 == label }) == total - held)
        }
        #expect(digits.features.allSatisfy { (0...1).contains($0) })
    }

    @Test("missing data names the script")
    func missingData() {
        #expect(throws: DatasetError.self) { try Dataset.digits(folder: "/nonexistent-digits") }
        let message = "\(DatasetError.missing(folder: "x"))"
        #expect(message.contains("scripts/fetch-digits.sh"))
    }
}
