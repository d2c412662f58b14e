import BatchNormKit

/// The plain parity suites' checks on one shape and the fused path: training forward and backward with
/// and without γ and β, inference forward and backward, `Float` and `Double`, each against the float64
/// reference at its suite's tolerances. What every forced variant of the fused kernels must still pass.
func checkFusedParity(entry: ([Int], TensorLayout)) throws {
    let forward = ForwardParityTests(), backward = BackwardParityTests()
    for affine in [true, false] {
        try forward.checkTraining(Float.self, entry: entry, path: .fused, affine: affine)
        try forward.checkTraining(Double.self, entry: entry, path: .fused, affine: affine)
        try backward.checkTraining(Float.self, entry: entry, path: .fused, affine: affine)
        try backward.checkTraining(Double.self, entry: entry, path: .fused, affine: affine)
    }
    try forward.checkInference(Float.self, entry: entry, path: .fused)
    try forward.checkInference(Double.self, entry: entry, path: .fused)
    try backward.checkInference(Float.self, entry: entry, path: .fused)
    try backward.checkInference(Double.self, entry: entry, path: .fused)
}

/// The fused ReLU and residual add + ReLU on `entry` against the float64 reference: training forward
/// and backward in both precisions, inference in `Float` (`ActivationParityTests`' checks).
func checkFusedActivationParity(entry: ([Int], TensorLayout)) throws {
    let activation = ActivationParityTests()
    for epilogue in [EpilogueCase.relu, .addRelu] {
        try activation.checkTraining(Float.self, entry: entry, epilogue: epilogue, path: .fused)
        try activation.checkTraining(Double.self, entry: entry, epilogue: epilogue, path: .fused)
        try activation.checkInference(Float.self, entry: entry, epilogue: epilogue, path: .fused)
    }
}

/// The nasty-data suite's checks (`NastyDataTests`) on one walk and the fused path: large offsets, a
/// trend, constant channels, huge and tiny magnitudes, NaN and infinity. What every forced variant of the
/// fused kernels must still pass.
func checkFusedNastyData(walk: TensorWalk) throws {
    let nasty = NastyDataTests()
    try nasty.largeOffset(walk: walk, path: .fused)
    try nasty.trend(walk: walk, path: .fused)
    try nasty.constantChannels(walk: walk, path: .fused)
    try nasty.magnitudes(walk: walk, path: .fused)
    try nasty.nonFinite(walk: walk, path: .fused)
}
