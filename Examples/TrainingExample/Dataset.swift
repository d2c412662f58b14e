import BatchNormReference
import Foundation
import NumPyFile

/// A labelled data set held in memory: `count` rows of `featureCount` features (row-major) and a class
/// per row.
public struct Dataset: Sendable, Hashable {
    public let featureCount: Int
    public let classCount: Int
    public internal(set) var features: [Float]
    public internal(set) var labels: [Int]

    public var count: Int { labels.count }

    public init(featureCount: Int, classCount: Int, features: [Float], labels: [Int]) {
        precondition(features.count == labels.count * featureCount && labels.allSatisfy { (0..<classCount).contains($0) })
        self.featureCount = featureCount
        self.classCount = classCount
        self.features = features
        self.labels = labels
    }

    /// The rows at `indices`, in that order.
    public func rows(_ indices: some Collection<Int>) -> Dataset {
        var subset = [Float]()
        subset.reserveCapacity(indices.count * featureCount)
        for index in indices { subset += features[index * featureCount..<(index + 1) * featureCount] }
        return Dataset(featureCount: featureCount, classCount: classCount, features: subset, labels: indices.map { labels[$0] })
    }

    /// A stratified split: from each class, `round(testFraction · classSize)` rows drawn at random
    /// (seeded) go to the test set, the rest to the training set; each set is in its original row order.
    public func stratifiedSplit(testFraction: Double, seed: UInt64) -> (train: Dataset, test: Dataset) {
        var generator = SplitMix64(seed: seed)
        var testRows = Set<Int>()
        for label in 0..<classCount {
            var classRows = labels.indices.filter { labels[$0] == label }
            classRows.shuffle(using: &generator)
            testRows.formUnion(classRows.prefix(Int((testFraction * Double(classRows.count)).rounded())))
        }
        return (rows(labels.indices.filter { !testRows.contains($0) }), rows(labels.indices.filter(testRows.contains)))
    }
}

// MARK: - The digits data set

/// Why the digits could not be loaded.
public enum DatasetError: Error, Sendable, CustomStringConvertible {
    /// The folder lacks the files `scripts/fetch-digits.sh` exports.
    case missing(folder: String)
    /// The files are there but not what the script exports.
    case malformed(String)

    public var description: String {
        switch self {
        case .missing(let folder): "no digits data in \(folder); run scripts/fetch-digits.sh"
        case .malformed(let reason): "the digits data are malformed: \(reason); run scripts/fetch-digits.sh"
        }
    }
}

extension Dataset {
    /// The folder of the checkout that `scripts/fetch-digits.sh` fills.
    public static let digitsFolder = "data/digits"

    /// The UCI optical handwritten digits (scikit-learn's `load_digits`) from `folder`'s `images.npy`
    /// (float32 `[n, 64]`, values 0-16) and `labels.npy` (float32 `[n]`, 0-9). Pixel values are scaled
    /// to `[0, 1]` (divided by 16).
    public static func digits(folder: String = digitsFolder) throws(DatasetError) -> Dataset {
        let imagesPath = folder + "/images.npy", labelsPath = folder + "/labels.npy"
        guard FileManager.default.fileExists(atPath: imagesPath), FileManager.default.fileExists(atPath: labelsPath) else {
            throw .missing(folder: folder)
        }
        let images: NumPyArray, labels: NumPyArray
        do {
            images = try NumPyFile.read(contentsOf: imagesPath)
            labels = try NumPyFile.read(contentsOf: labelsPath)
        } catch {
            throw .malformed("\(error)")
        }
        guard case .float32(let pixels) = images.payload, images.shape.count == 2, images.shape[1] == 64,
              case .float32(let classes) = labels.payload, labels.shape == [images.shape[0]]
        else {
            throw .malformed("expected float32 images [n, 64] and labels [n], got \(images.shape) and \(labels.shape)")
        }
        guard pixels.allSatisfy({ (0...16).contains($0) }), classes.allSatisfy({ (0...9).contains($0) && $0.rounded() == $0 })
        else { throw .malformed("pixel values outside 0...16 or labels outside 0...9") }
        return Dataset(featureCount: 64, classCount: 10, features: pixels.map { $0 / 16 }, labels: classes.map { Int($0) })
    }
}
