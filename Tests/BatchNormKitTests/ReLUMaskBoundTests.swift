import Testing
import Kernels
import BatchNormTestSupport

/// The ReLU backward's mask as a bound on the centered input: `c <= bound` must decide exactly as the
/// recomputed pre-activation `c * scale + shift <= 0` (each operation rounded) for every `c`, including
/// the values next to the bound, zeros of both signs, subnormals, infinities and NaN; and the bound
/// must be refused where no bound can describe the mask (scale `<= 0`, non-finite coefficients).
@Suite("The recomputed ReLU mask as a bound on the centered input")
struct ReLUMaskBoundTests {
    @Test("decides as the pre-activation does, Float and Double")
    func agreesWithPreActivation() {
        check(Float.self)
        check(Double.self)
    }

    @Test("no bound where the mask is not a lower set")
    func refusals() {
        for (scale, shift) in [(0.0, 1.0), (-1.0, 0.0), (Double.nan, 0.0), (Double.infinity, 0.0),
                               (1.0, Double.nan), (1.0, -Double.infinity), (1.0, Double.infinity)] {
            #expect(ReLUCoefficients<Double>.maskBound(scale: scale, shift: shift) == nil, "\(scale) \(shift)")
            #expect(ReLUCoefficients<Float>.maskBound(scale: Float(scale), shift: Float(shift)) == nil)
        }
        let coefficients = ReLUCoefficients<Float>(scale: [1, -1], foldedShift: [0, 0])
        #expect(coefficients.maskBound == nil)
        #expect(ReLUCoefficients<Float>(scale: [1, 2], foldedShift: [0, -1]).maskBound?.count == 2)
    }

    func check<Scalar: BatchNormScalar>(_: Scalar.Type) where Scalar.RawSignificand: FixedWidthInteger {
        var generator = SeededGenerator.fresh()
        var pairs: [(Scalar, Scalar)] = [
            (1, 0), (1, -0.0), (0.5, 0.25), (3, -7), (.leastNonzeroMagnitude, 1), (.leastNonzeroMagnitude, -1),
            (.greatestFiniteMagnitude, -.greatestFiniteMagnitude), (.greatestFiniteMagnitude, .greatestFiniteMagnitude),
            (.leastNormalMagnitude, -.greatestFiniteMagnitude), (.leastNormalMagnitude, .greatestFiniteMagnitude),
            (1e-3, .leastNonzeroMagnitude), (7, -.leastNonzeroMagnitude),
        ]
        for _ in 0..<200 {
            let scale = Scalar(Double(sign: .plus, exponent: Int.random(in: -20...20, using: &generator),
                                      significand: Double.random(in: 1..<2, using: &generator)))
            let shift = Scalar(Double(sign: Bool.random(using: &generator) ? .plus : .minus,
                                      exponent: Int.random(in: -30...30, using: &generator),
                                      significand: Double.random(in: 1..<2, using: &generator)))
            pairs.append((scale, shift))
        }
        for (scale, shift) in pairs {
            guard let bound = ReLUCoefficients<Scalar>.maskBound(scale: scale, shift: shift) else {
                Issue.record("no bound for \(Scalar.self) scale \(scale) shift \(shift)")
                continue
            }
            var probes: [Scalar] = [
                bound, bound.nextUp, bound.nextDown, bound.nextUp.nextUp, 0, -0.0, .leastNonzeroMagnitude,
                -.leastNonzeroMagnitude, .infinity, -.infinity, .nan, .greatestFiniteMagnitude,
                -.greatestFiniteMagnitude, -shift / scale, (-shift / scale).nextUp, (-shift / scale).nextDown,
            ]
            for _ in 0..<50 {
                probes.append(Scalar(Double(-shift / scale) * Double.random(in: 0.99...1.01, using: &generator)))
                probes.append(.random(in: -1000...1000, using: &generator))
            }
            for centered in probes {
                let preActivation = centered * scale + shift
                #expect((centered <= bound) == (preActivation <= 0),
                        "\(Scalar.self) scale \(scale) shift \(shift) bound \(bound) centered \(centered)")
            }
        }
    }
}
