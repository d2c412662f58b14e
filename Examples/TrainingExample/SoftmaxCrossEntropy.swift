import Foundation

/// Softmax cross-entropy over row-major `[batch, classes]` logits, computed stably
/// (`log Σ e^(z - max z)`) in `Double`.
enum SoftmaxCrossEntropy {
    /// `Σ_rows (logsumexp(z) - z[label])` and the number of rows whose largest logit is the label's.
    /// A row with a NaN logit counts as wrong and makes the sum NaN.
    static func evaluate<Scalar: NetworkScalar>(
        logits: [Scalar], labels: ArraySlice<Int>, classCount: Int
    ) -> (lossSum: Double, correctCount: Int) {
        var lossSum = 0.0
        var correctCount = 0
        for (row, label) in zip(0..., labels) {
            let rowLogits = logits[row * classCount..<(row + 1) * classCount].map(Double.init)
            let (largest, exponentialSum) = shiftedExponentialSum(rowLogits)
            lossSum += largest + log(exponentialSum) - rowLogits[label]
            if !rowLogits.contains(where: \.isNaN), rowLogits.indices.max(by: { rowLogits[$0] < rowLogits[$1] }) == label {
                correctCount += 1
            }
        }
        return (lossSum, correctCount)
    }

    /// `gradient = (softmax(z) - onehot(label)) / rowCount`: the gradient of the mean loss.
    static func gradientOfMean<Scalar: NetworkScalar>(
        logits: [Scalar], labels: ArraySlice<Int>, classCount: Int, into gradient: inout [Scalar]
    ) {
        let scale = 1 / Double(labels.count)
        for (row, label) in zip(0..., labels) {
            let rowStart = row * classCount
            let rowLogits = logits[rowStart..<rowStart + classCount].map(Double.init)
            let (largest, exponentialSum) = shiftedExponentialSum(rowLogits)
            for column in 0..<classCount {
                let probability = exp(rowLogits[column] - largest) / exponentialSum
                gradient[rowStart + column] = Scalar((probability - (column == label ? 1 : 0)) * scale)
            }
        }
    }

    /// `max z` and `Σ e^(z - max z)`.
    private static func shiftedExponentialSum(_ rowLogits: [Double]) -> (largest: Double, sum: Double) {
        let largest = rowLogits.max() ?? 0
        return (largest, rowLogits.reduce(0) { $0 + exp($1 - largest) })
    }
}
