import Foundation
import Testing

@testable import BatchNormCommands

/// `batchnorm bench --json` writes one JSON object per line through `JSONEncoder`, with the field names
/// the comparison scripts (scripts/bench_compare.py, bench_ab.py, fused_compare.py) read.
@Suite("bench --json lines")
struct BenchJSONTests {
    static func decoded(_ line: String) throws -> [String: Any] {
        #expect(!line.contains("\n"))
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(object as? [String: Any])
    }

    static func row(speedUp: Double?, error: Double = 1.25e-7) -> BenchReport.RowRecord {
        BenchReport.RowRecord(
            shape: "32x64x56x56", layout: "channels-last", precision: "float", direction: "fwd-train",
            path: "fused", threads: 2, medianMilliseconds: BenchReport.rounded(1.234_567_89, 4),
            minimumMilliseconds: 1.2, runs: 9, gbps: 31.1, copyGbps: 40.5, speedUpOverNaive: speedUp,
            maximumError: error, parity: true)
    }

    @Test("a row has exactly the documented fields, rounded as the table prints them")
    func rowFields() throws {
        let fields = try Self.decoded(BenchReport.jsonLine(Self.row(speedUp: 40.87)))
        #expect(Set(fields.keys) == [
            "shape", "layout", "precision", "direction", "path", "threads", "median_ms", "min_ms", "runs",
            "gbps", "copy_gbps", "speedup_vs_naive", "max_error", "parity",
        ])
        #expect(fields["shape"] as? String == "32x64x56x56")
        #expect(fields["threads"] as? Int == 2)
        #expect(fields["median_ms"] as? Double == 1.2346)
        #expect(fields["speedup_vs_naive"] as? Double == 40.87)
        #expect(fields["max_error"] as? Double == 1.25e-7)
        #expect(fields["parity"] as? Bool == true)
    }

    @Test("the naive rows carry speedup_vs_naive as null, not a missing key")
    func naiveRowHasNull() throws {
        let line = BenchReport.jsonLine(Self.row(speedUp: nil))
        #expect(line.contains(#""speedup_vs_naive":null"#))
        #expect(try Self.decoded(line)["speedup_vs_naive"] is NSNull)
    }

    @Test("a non-finite error is still a line of valid JSON")
    func nonFinite() throws {
        let fields = try Self.decoded(BenchReport.jsonLine(Self.row(speedUp: 1, error: .nan)))
        #expect(fields["max_error"] as? String == "nan")
    }

    @Test("the bandwidth header line")
    func header() throws {
        let fields = try Self.decoded(BenchReport.jsonLine(BenchReport.BandwidthRecord(gbps: 40.25, blas: "OpenBLAS 0.3.21")))
        #expect(fields["kind"] as? String == "copy_bandwidth")
        #expect(fields["gbps"] as? Double == 40.25)
        #expect(fields["blas"] as? String == "OpenBLAS 0.3.21")
    }
}
