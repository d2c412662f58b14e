import BatchNormKit
import Foundation

/// The output of `batchnorm bench`: an aligned table, or one JSON object per line.
struct BenchReport {
    struct Row {
        var shape: TensorShape
        var precision: String
        var direction: String
        var implementation: String
        var threads: Int
        var timing: BenchTiming.Result
        var gigabytesPerSecond: Double
        var copyBandwidth: Double
        var speedUp: Double?
        var maximumError: Double
        var errorBound: Double

        var passes: Bool { maximumError <= errorBound }
    }

    let json: Bool
    private(set) var parityFailures = 0
    private var rows = 0

    init(json: Bool) { self.json = json }

    mutating func header(bandwidth: Double, blasConfiguration: String) {
        if json {
            print(Self.jsonLine(BandwidthRecord(gbps: Self.rounded(bandwidth, 2), blas: blasConfiguration)))
            return
        }
        print("batchnorm bench — \(blasConfiguration)")
        print("copy bandwidth (measured now): \(Self.format(bandwidth, 1)) GB/s")
        print("GB/s counts minimal traffic: forward reads x and writes y once (2·S), backward reads x, dy and writes dx once (3·S).")
        print("error = max |out - out₆₄| / (|out₆₄| + 1) against the float64 reference on the same data.")
        print("")
        let columns = ["shape", "layout", "prec", "dir", "path", "thr", "ms", "GB/s", "% copy", "× naive", "max error", "parity"]
        print(Self.line(columns))
        print(Self.line(columns.map { String(repeating: "-", count: $0.count) }))
    }

    mutating func row(_ row: Row) {
        rows += 1
        if !row.passes { parityFailures += 1 }
        let layout = row.shape.layout == .channelsFirst ? "channels-first" : "channels-last"
        let shape = row.shape.dimensions.map(String.init).joined(separator: "x")
        if json {
            print(Self.jsonLine(RowRecord(
                shape: shape, layout: layout, precision: row.precision, direction: row.direction,
                path: row.implementation, threads: row.threads,
                medianMilliseconds: Self.rounded(row.timing.medianMilliseconds, 4),
                minimumMilliseconds: Self.rounded(row.timing.minimumMilliseconds, 4), runs: row.timing.runs,
                gbps: Self.rounded(row.gigabytesPerSecond, 2), copyGbps: Self.rounded(row.copyBandwidth, 2),
                speedUpOverNaive: row.speedUp.map { Self.rounded($0, 2) }, maximumError: row.maximumError,
                parity: row.passes)))
        } else {
            print(Self.line([
                shape, layout, row.precision, row.direction, row.implementation, "\(row.threads)",
                Self.format(row.timing.medianMilliseconds, 3), Self.format(row.gigabytesPerSecond, 1),
                Self.format(100 * row.gigabytesPerSecond / row.copyBandwidth, 0),
                row.speedUp.map { Self.format($0, 1) } ?? "-", Self.scientific(row.maximumError),
                row.passes ? "ok" : "FAIL",
            ]))
        }
    }

    func footer() {
        guard !json else { return }
        print("")
        print(parityFailures == 0
              ? "parity: all \(rows) rows within 1024 unit roundoffs of the float64 reference"
              : "parity: \(parityFailures) of \(rows) rows FAILED")
    }

    // MARK: - JSON lines

    /// The first line of `--json`: the copy bandwidth measured in this run and the BLAS build.
    struct BandwidthRecord: Encodable {
        var kind = "copy_bandwidth"
        var gbps: Double
        var blas: String
    }

    /// One measured row of `--json`; the field names are those the comparison scripts read.
    struct RowRecord: Encodable {
        var shape: String
        var layout: String
        var precision: String
        var direction: String
        var path: String
        var threads: Int
        var medianMilliseconds: Double
        var minimumMilliseconds: Double
        var runs: Int
        var gbps: Double
        var copyGbps: Double
        /// `null` for the naive rows themselves.
        var speedUpOverNaive: Double?
        var maximumError: Double
        var parity: Bool

        enum CodingKeys: String, CodingKey {
            case shape, layout, precision, direction, path, threads
            case medianMilliseconds = "median_ms", minimumMilliseconds = "min_ms", runs, gbps
            case copyGbps = "copy_gbps", speedUpOverNaive = "speedup_vs_naive", maximumError = "max_error", parity
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(shape, forKey: .shape)
            try container.encode(layout, forKey: .layout)
            try container.encode(precision, forKey: .precision)
            try container.encode(direction, forKey: .direction)
            try container.encode(path, forKey: .path)
            try container.encode(threads, forKey: .threads)
            try container.encode(medianMilliseconds, forKey: .medianMilliseconds)
            try container.encode(minimumMilliseconds, forKey: .minimumMilliseconds)
            try container.encode(runs, forKey: .runs)
            try container.encode(gbps, forKey: .gbps)
            try container.encode(copyGbps, forKey: .copyGbps)
            try container.encode(speedUpOverNaive, forKey: .speedUpOverNaive)  // null, not omitted
            try container.encode(maximumError, forKey: .maximumError)
            try container.encode(parity, forKey: .parity)
        }
    }

    /// `record` as one line of JSON (keys sorted, so lines diff cleanly). Non-finite numbers, which
    /// JSON cannot carry, are written as the strings "nan", "inf" and "-inf".
    static func jsonLine(_ record: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return String(decoding: try encoder.encode(record), as: UTF8.self)
        } catch {
            return #"{"kind":"error","message":"cannot encode a bench record"}"#
        }
    }

    /// `value` rounded to `decimals` decimal places (the precision the table prints; JSON then shows
    /// `1.2345`, not `1.2344999999999999`).
    static func rounded(_ value: Double, _ decimals: Int) -> Double {
        guard value.isFinite else { return value }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        return (value * scale).rounded() / scale
    }

    // MARK: - Table

    static let widths = [14, 14, 6, 9, 5, 3, 9, 7, 6, 7, 9, 6]

    /// `cells` left-aligned in columns of `widths` characters (a longer cell pushes the rest right).
    static func line(_ cells: [String], widths: [Int] = widths) -> String {
        zip(cells, widths).map { cell, width in
            cell.count >= width ? cell : cell + String(repeating: " ", count: width - cell.count)
        }.joined(separator: " ")
    }

    static func format(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = "\(rounded)"
        if decimals == 0, text.hasSuffix(".0") { text.removeLast(2) }
        if let dot = text.firstIndex(of: ".") {
            let have = text.distance(from: dot, to: text.endIndex) - 1
            if have < decimals { text += String(repeating: "0", count: decimals - have) }
        }
        return text
    }

    static func scientific(_ value: Double) -> String {
        guard value.isFinite, value > 0 else { return value == 0 ? "0" : "\(value)" }
        var exponent = 0
        var mantissa = value
        while mantissa >= 10 { mantissa /= 10; exponent += 1 }
        while mantissa < 1 { mantissa *= 10; exponent -= 1 }
        return "\(format(mantissa, 1))e\(exponent)"
    }
}
