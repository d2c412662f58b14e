import Foundation

/// A draw from the standard normal distribution (Box–Muller on 53-bit uniforms), for seeded weights.
func standardNormal(using generator: inout some RandomNumberGenerator) -> Double {
    let first = Double(generator.next() >> 11 | 1) * 0x1p-53  // in (0, 1): log never sees 0
    let second = Double(generator.next() >> 11) * 0x1p-53
    return (-2 * log(first)).squareRoot() * cos(2 * Double.pi * second)
}
