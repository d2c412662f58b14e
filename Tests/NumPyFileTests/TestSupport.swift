import Foundation
@testable import NumPyFile

/// Builders for hand-made `.npy` byte strings.
enum NPY {
    /// Magic, version `major.0`, the header length field (2 bytes for version 1, else 4),
    /// `header` verbatim (no padding is added), then `data`.
    static func file(header: String, version: UInt8 = 1, data: [UInt8] = []) -> [UInt8] {
        let headerBytes = Array(header.utf8)
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0]
        let fieldSize = version == 1 ? 2 : 4
        for index in 0..<fieldSize {
            bytes.append(UInt8(truncatingIfNeeded: headerBytes.count >> (8 * index)))
        }
        return bytes + headerBytes + data
    }

    /// A header dict in NumPy's layout with the given value texts, newline-terminated.
    static func header(descr: String = "'<f4'", fortranOrder: String = "False", shape: String = "(3,)") -> String {
        "{'descr': \(descr), 'fortran_order': \(fortranOrder), 'shape': \(shape), }\n"
    }

    /// `count` float32 little-endian values 1, 2, 3, ...
    static func float32Data(count: Int) -> [UInt8] {
        (0..<count).flatMap { index in littleEndianBytes(Float(index + 1).bitPattern) }
    }

    static func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}

/// A fresh directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("NumPyFileTests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func contents() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Bit patterns, so NaN payloads and signed zeros compare exactly.
extension NumPyArrayPayload {
    var bitPatterns: [UInt64] {
        switch self {
        case .float32(let values): return values.map { UInt64($0.bitPattern) }
        case .float64(let values): return values.map { $0.bitPattern }
        }
    }
}
