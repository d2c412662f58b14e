import Foundation

/// What one epoch measured.
public struct EpochReport: Sendable, Hashable {
    public var epoch: Int
    /// Mean of the training batches' mean losses (each before its step).
    public var trainLoss: Double
    /// Mean loss over the test set in inference mode (running statistics).
    public var testLoss: Double
    /// Test accuracy in inference mode (running statistics).
    public var testAccuracy: Double
    /// Test accuracy with the test batch's own statistics: checks the running statistics.
    public var testAccuracyBatchStatistics: Double
    /// Wall time of the epoch's training steps (batch assembly, forward, backward, update).
    public var seconds: Double
    /// Of `seconds`: in BatchNormKit, and in `cblas_sgemm`.
    public var batchNormSeconds: Double
    public var matrixProductSeconds: Double
    /// Wall time of the evaluation after the epoch (not in `seconds`).
    public var evaluationSeconds: Double

    /// Whether training diverged (the training loss is no longer finite).
    public var diverged: Bool { !trainLoss.isFinite }

    /// One JSON object on one line; non-finite numbers are `null`:
    /// `{"epoch":1,"train_loss":...,"test_loss":...,"test_accuracy":...,"seconds":...,...}`.
    public var jsonLine: String {
        let fields: [(String, Double)] = [
            ("train_loss", trainLoss), ("test_loss", testLoss), ("test_accuracy", testAccuracy), ("seconds", seconds),
            ("test_accuracy_batch_statistics", testAccuracyBatchStatistics),
            ("batch_norm_seconds", batchNormSeconds), ("sgemm_seconds", matrixProductSeconds),
            ("other_seconds", seconds - batchNormSeconds - matrixProductSeconds),
            ("evaluation_seconds", evaluationSeconds),
        ]
        let members = fields.map { "\"\($0.0)\":\($0.1.isFinite ? "\($0.1)" : "null")" }
        return "{\"epoch\":\(epoch)," + members.joined(separator: ",") + "}"
    }

    /// One human-readable line.
    public var summaryLine: String {
        func format(_ value: Double, _ digits: Int = 4) -> String {
            value.isFinite ? String(format: "%.\(digits)f", value) : "nan"
        }
        return "epoch \(epoch): train loss \(format(trainLoss)), test loss \(format(testLoss)), "
            + "test accuracy \(format(testAccuracy)) (batch statistics \(format(testAccuracyBatchStatistics))), "
            + "\(format(seconds * 1000, 1)) ms (batch norm \(format(batchNormSeconds * 1000, 1)), "
            + "sgemm \(format(matrixProductSeconds * 1000, 1)))"
    }
}
