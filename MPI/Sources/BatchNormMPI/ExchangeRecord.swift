/// The fixed-length record every rank contributes to one exchange (an `MPI_Allgather` of doubles),
/// so that each rank can check every other rank's call before using its data:
/// ```
/// [operation, status, count, channelCount, scalarByteCount, payload...]
/// ```
/// `Float` and `Double` values travel as `Double` (exactly), counts as `Double` (exact below 2^53).
/// The payload length is the same for every operation of a layer (`3 · channelCount`), so ranks that
/// by mistake enter different operations still exchange records of equal length and are told so.
struct ExchangeRecord: Equatable {
    /// Which collective the rank is in.
    enum Operation: Int, CustomStringConvertible {
        case handshake = 1
        case statistics = 2
        case gradientSums = 3

        var description: String {
            switch self {
            case .handshake: "layer handshake"
            case .statistics: "forward statistics"
            case .gradientSums: "backward sums"
            }
        }
    }

    static let headerLength = 5

    var operation: Operation
    /// Whether the rank's own arguments were accepted; a refused rank sends a zero payload.
    var accepted: Bool
    /// Values per channel behind the payload (statistics), 0 otherwise.
    var count: Int
    var channelCount: Int
    /// `MemoryLayout<Scalar>.size`: 4 for `Float`, 8 for `Double`.
    var scalarByteCount: Int
    var payload: [Double]

    var encoded: [Double] {
        [Double(operation.rawValue), accepted ? 1 : 0, Double(count), Double(channelCount), Double(scalarByteCount)]
            + payload
    }

    init(operation: Operation, accepted: Bool, count: Int, channelCount: Int, scalarByteCount: Int, payload: [Double]) {
        self.operation = operation
        self.accepted = accepted
        self.count = count
        self.channelCount = channelCount
        self.scalarByteCount = scalarByteCount
        self.payload = payload
    }

    /// Decodes a received record; `nil` when it is not one (wrong length, unknown operation,
    /// non-integral or negative counts).
    init?(decoding values: [Double], payloadLength: Int) {
        guard values.count == Self.headerLength + payloadLength,
              let operationCode = Int(exactly: values[0]), let operation = Operation(rawValue: operationCode),
              values[1] == 0 || values[1] == 1,
              let count = Int(exactly: values[2]), count >= 0,
              let channelCount = Int(exactly: values[3]), channelCount >= 0,
              let scalarByteCount = Int(exactly: values[4])
        else { return nil }
        self.init(operation: operation, accepted: values[1] == 1, count: count, channelCount: channelCount,
                  scalarByteCount: scalarByteCount, payload: Array(values[Self.headerLength...]))
    }

    /// Name of an element type for messages.
    static func scalarName(byteCount: Int) -> String {
        switch byteCount {
        case 4: "Float"
        case 8: "Double"
        default: "\(byteCount)-byte scalar"
        }
    }
}
