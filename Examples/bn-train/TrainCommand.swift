import ArgumentParser
import Foundation
import TrainingExample

/// `bn-train`: trains an MLP on the digits data set with or without batch norm and prints one line per
/// epoch (JSON with `--json`). Deterministic for a seed at one thread.
@main
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bn-train",
        abstract: "Train a fully connected classifier on the UCI digits with or without batch norm.",
        discussion: """
            Data: \(Dataset.digitsFolder)/ (scripts/fetch-digits.sh). A fixed stratified split (seed \
            \(TrainingOptions.splitSeed)) holds out \(Int(TrainingOptions.testFraction * 100))% of each class for testing.
            """)

    enum Switch: String, ExpressibleByArgument, CaseIterable {
        case on, off
    }

    @Option(name: .customLong("batch-norm"), help: "Batch norm after every hidden dense layer.")
    var batchNorm: Switch = .on
    @Option(help: "Hidden layers.") var layers = TrainingOptions().hiddenLayerCount
    @Option(help: "Units per hidden layer.") var width = TrainingOptions().width
    @Option(help: "sigmoid or relu.") var activation = TrainingOptions().activation
    @Option(name: .customLong("learning-rate")) var learningRate = TrainingOptions().learningRate
    @Option(help: "SGD momentum in [0, 1).") var momentum = TrainingOptions().momentum
    @Option var epochs = TrainingOptions().epochs
    @Option(name: .customLong("batch-size")) var batchSize = TrainingOptions().batchSize
    @Option(help: "Seeds the weights and the batch order.") var seed = TrainingOptions().seed
    @Option(help: "OpenBLAS (and batch-norm kernel) threads.") var threads = 1
    @Option(help: "Folder of images.npy and labels.npy.") var data = Dataset.digitsFolder
    @Flag(help: "One JSON object per epoch.") var json = false

    func run() throws {
        var options = TrainingOptions()
        options.usesBatchNorm = batchNorm == .on
        options.hiddenLayerCount = layers
        options.width = width
        options.activation = activation
        options.learningRate = learningRate
        options.momentum = momentum
        options.epochs = epochs
        options.batchSize = batchSize
        options.seed = seed
        let configurationProblem = options.networkConfiguration(inputCount: 64, classCount: 10).problem
        if let problem = options.problem ?? configurationProblem { throw ValidationError(problem) }
        guard threads >= 1 else { throw ValidationError("threads \(threads) must be at least 1") }
        setBLASThreadCount(threads)

        let digits: Dataset
        do {
            digits = try Dataset.digits(folder: data)
        } catch {
            FileHandle.standardError.write(Data("bn-train: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let (train, test) = digits.stratifiedSplit(testFraction: TrainingOptions.testFraction, seed: TrainingOptions.splitSeed)
        if !json {
            print("bn-train: \(train.count) training and \(test.count) test rows; \(layers) x \(width) \(activation), "
                  + "batch norm \(batchNorm), learning rate \(learningRate), momentum \(momentum), batch \(batchSize), seed \(seed)")
        }
        var trainer = try Trainer<Float>(options: options, train: train, test: test)
        for _ in 0..<epochs {
            let report = try trainer.runEpoch()
            print(json ? report.jsonLine : report.summaryLine)
            if report.diverged {
                if !json { print("bn-train: the training loss is no longer finite; stopping") }
                break
            }
        }
    }
}

extension Activation: ExpressibleByArgument {}
