import BatchNormKit

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
            print(#"{"kind":"copy_bandwidth","gbps":\#(Self.format(bandwidth, 2)),"blas":"\#(blasConfiguration)"}"#)
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
            print(#"{"shape":"\#(shape)","layout":"\#(layout)","precision":"\#(row.precision)","direction":"\#(row.direction)","path":"\#(row.implementation)","threads":\#(row.threads),"median_ms":\#(Self.format(row.timing.medianMilliseconds, 4)),"min_ms":\#(Self.format(row.timing.minimumMilliseconds, 4)),"runs":\#(row.timing.runs),"gbps":\#(Self.format(row.gigabytesPerSecond, 2)),"copy_gbps":\#(Self.format(row.copyBandwidth, 2)),"speedup_vs_naive":\#(row.speedUp.map { Self.format($0, 2) } ?? "null"),"max_error":\#(Self.scientific(row.maximumError)),"parity":\#(row.passes)}"#)
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

    static let widths = [14, 14, 6, 9, 5, 3, 9, 7, 6, 7, 9, 6]

    static func line(_ cells: [String]) -> String {
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
