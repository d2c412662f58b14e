import BatchNormKit
import NumPyFile

/// Reading the `.npy` inputs, each named by its option in error messages.
enum InputFiles {
    /// Reads and decodes `path`.
    static func read(_ option: String, path: String) throws(CommandFailure) -> NumPyArray {
        do {
            return try NumPyFile.read(contentsOf: path)
        } catch .unreadableFile(let path, let reason) {
            throw .data("\(option) \(MessageText.quoted(path)): cannot read the file: \(reason)")
        } catch {
            throw .data("\(option) \(MessageText.quoted(path)): \(error.description)")
        }
    }

    /// The values of `array` (read from `path` for `option`) as `Scalar`, refused unless the file has
    /// the dtype of the file that sets it (`--input`, or `--weight` for `fold`).
    static func values<Scalar: NumPyScalar>(
        of array: NumPyArray, as _: Scalar.Type, option: String, path: String, dtypeOf reference: String = "--input"
    ) throws(CommandFailure) -> [Scalar] {
        guard let values = Scalar.values(in: array.payload) else {
            let noun = reference.dropFirst(2)
            throw .data(
                "\(option) \(MessageText.quoted(path)) holds \(array.elementType.name) but \(reference) holds "
                    + "\(Scalar.numPyElementType.name); every file must have the \(noun)'s dtype")
        }
        return values
    }

    /// The batch-norm shape of the `--input` array (rank >= 2, no empty dimension).
    static func shape(of array: NumPyArray, layout: TensorLayout, path: String) throws(CommandFailure) -> TensorShape {
        do {
            return try TensorShape(array.shape, layout: layout)
        } catch {
            throw .data("--input \(MessageText.quoted(path)): \(error.description)")
        }
    }

    /// A per-channel vector: shape `(channelCount,)` and the input's dtype.
    static func readVector<Scalar: NumPyScalar>(
        _ option: String, path: String, channelCount: Int, as type: Scalar.Type
    ) throws(CommandFailure) -> [Scalar] {
        let array = try read(option, path: path)
        let values = try values(of: array, as: type, option: option, path: path)
        guard array.shape == [channelCount] else {
            throw .data(
                "\(option) \(MessageText.quoted(path)) has shape \(MessageText.shape(array.shape)) but needs "
                    + "\(MessageText.shape([channelCount])): one value per channel of --input")
        }
        return values
    }

    /// A tensor with exactly the input's shape and dtype.
    static func readTensor<Scalar: NumPyScalar>(
        _ option: String, path: String, shape: [Int], as type: Scalar.Type
    ) throws(CommandFailure) -> [Scalar] {
        let array = try read(option, path: path)
        let values = try values(of: array, as: type, option: option, path: path)
        guard array.shape == shape else {
            throw .data(
                "\(option) \(MessageText.quoted(path)) has shape \(MessageText.shape(array.shape)) but --input has "
                    + "shape \(MessageText.shape(shape))")
        }
        return values
    }
}
