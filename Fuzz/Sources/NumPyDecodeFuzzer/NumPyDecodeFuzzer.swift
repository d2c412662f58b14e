import NumPyFile
import LibFuzzerDriver

/// libFuzzer entry point: `NumPyFile.decode` on arbitrary bytes.
///
/// The decoder's contract (see `NumPyFile.decode`): every input either decodes or throws a
/// `NumPyFileError`; it never traps, and it allocates element storage only after checking the declared
/// shape against the bytes present (so a header declaring 2^60 elements cannot exhaust memory: the run's
/// `-rss_limit_mb` and `-malloc_limit_mb` would report it). Beyond "no trap, no sanitizer report" this
/// checks what the contract implies:
/// - a decoded array is consistent (`elementCount == payload.count`) and survives `encode` then
///   `decode` with the same shape and bit patterns (NaN payloads and signed zeros included);
/// - a refusal describes itself in one non-empty line.
///
/// A violated check traps (`precondition`), which libFuzzer reports as a crash with the input saved.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNumPyDecode(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do {
        let array = try NumPyFile.decode(bytes)
        precondition(array.elementCount == array.payload.count, "inconsistent array \(array.shape)")
        let again: NumPyArray
        do {
            again = try NumPyFile.decode(NumPyFile.encode(array))
        } catch {
            preconditionFailure("re-encoded array of shape \(array.shape) does not decode: \(error)")
        }
        precondition(again.shape == array.shape, "round trip changed the shape \(array.shape)")
        precondition(bitPatterns(again.payload) == bitPatterns(array.payload), "round trip changed the values")
    } catch {
        let message = error.description
        precondition(
            !message.isEmpty && !message.contains(where: \.isNewline), "bad message: \(message.debugDescription)")
    }
    return 0
}

/// The payload's values as bit patterns, so NaNs compare equal to themselves.
private func bitPatterns(_ payload: NumPyArrayPayload) -> [UInt64] {
    switch payload {
    case .float32(let values): values.map { UInt64($0.bitPattern) }
    case .float64(let values): values.map(\.bitPattern)
    }
}

/// The process entry point. SwiftPM links `main` to `NumPyDecodeFuzzer_main` (see LibFuzzerDriver.h), so this hands
/// the command line to libFuzzer's driver with the fuzz target above.
@_cdecl("NumPyDecodeFuzzer_main")
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, fuzzNumPyDecode)
}
