#!/usr/bin/env python3
"""Mutation check: do the tests catch the bugs they exist for?

Usage: python3 scripts/mutants.py [--scratch DIR] [--only NAME ...] [--list]
(scripts/mutants.sh runs it; not part of the test command: it takes 15-30 minutes.)

Copies the committed tree (git ls-files) into a scratch folder, builds it once, then for each mutation
below: applies the one-line change to the copy (the original text must occur exactly as written, at the
given occurrence), rebuilds incrementally, runs the suites that should catch it, and restores the file.
A mutant is caught when a suite fails; it survives when every suite passes. A mutation whose text no
longer occurs, or that no longer compiles, is reported as stale (the list must follow the code). The
working tree is never touched.

Prints one line per mutant and ends with `N mutants, K caught`, then the survivors and stale ones;
exits 1 on any survivor or stale mutation.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

# What runs against a mutant. "swift": the Swift test suite (unit, parity, property, error and
# concurrency tests; the same as the test command's last step). "e2e": the end-to-end checks of the
# `batchnorm` tool against NumPy. "sweep": the test command's seeded random shapes (scripts/shape_sweep.py).
# "numpy": the .npy reader's Swift tests only.
SWIFT = "swift"
E2E = "e2e"
SWEEP = "sweep"
NUMPY = "numpy"

# (name, file, original text, replacement, occurrence (1-based), suites, what the bug is)
MUTATIONS = [
    ("double-mean-low-word-dropped", "Sources/Kernels/Statistics/ErrorFreeSums.swift",
     "return (high, Scalar(finiteOrZero((value - Double(high)) + low)))",
     "return (high, Scalar(finiteOrZero(Scalar.self == Double.self ? 0 : (value - Double(high)) + low)))", 1, [SWIFT],
     "the rounding of the kernels' Double moments forgets the low word of a Double mean"),
    ("untracked-inference-drops-affine", "Sources/BatchNormKit/BatchNorm+Forward.swift",
     "input, geometry: shape.geometry, gamma: gammaIfAffine, beta: betaIfAffine, epsilon: epsilon,",
     "input, geometry: shape.geometry, gamma: nil, beta: nil, epsilon: epsilon,", 2, [SWIFT],
     "inference without running statistics ignores gamma and beta"),
    ("message-element-count-swapped", "Sources/BatchNormKit/BatchNormError.swift",
     '"\\(argument) has \\(actual) elements but the shape needs \\(expected)"',
     '"\\(argument) has \\(expected) elements but the shape needs \\(actual)"', 1, [SWIFT],
     "an error message reports its two numbers the wrong way round"),
    ("message-channel-count-swapped", "Sources/BatchNormKit/BatchNormError.swift",
     '"the layer has \\(layer) channels but the shape has \\(shape)"',
     '"the layer has \\(shape) channels but the shape has \\(layer)"', 1, [SWIFT],
     "an error message reports its two numbers the wrong way round"),
    ("message-parameter-length-swapped", "Sources/BatchNormKit/BatchNormError.swift",
     '"\\(argument) has length \\(actual) but there are \\(expected) channels"',
     '"\\(argument) has length \\(expected) but there are \\(actual) channels"', 1, [SWIFT],
     "an error message reports its two numbers the wrong way round"),
    ("running-variance-biased", "Sources/BatchNormKit/BatchNorm+Forward.swift",
     "let unbiasedVariance = moments.unbiasedVariance",
     "let unbiasedVariance = moments.biasedVariance", 1, [SWIFT],
     "the running variance takes the biased batch variance (the Swift loops: CPUs without AVX2, scaled moments)"),
    ("avx-running-variance-biased", "Sources/Kernels/Statistics/ChannelLoops+AVX.swift",
     "Wide.floats(sumOfSquaredDeviations), Float(count - 1), factor, channelCount)",
     "Wide.floats(sumOfSquaredDeviations), Float(count), factor, channelCount)", 1, [SWIFT],
     "the AVX running update of Float layers takes the biased batch variance"),
    ("momentum-weights-swapped", "Sources/BatchNormKit/BatchNorm+Forward.swift",
     "runningMean[channel] = Scalar((1 - factor) * Double(runningMean[channel]) + factor * Double(batchMean[channel]))",
     "runningMean[channel] = Scalar(factor * Double(runningMean[channel]) + (1 - factor) * Double(batchMean[channel]))",
     1, [SWIFT], "the running mean weighs old and new the wrong way round (the Swift loops)"),
    ("avx-momentum-weights-swapped", "Sources/CKernelSupport/ChannelMath.c",
     "__builtin_convertvector(keep_vector * old_mean + factor_vector * batch_mean, VECTOR));",
     "__builtin_convertvector(factor_vector * old_mean + keep_vector * batch_mean, VECTOR));", 1, [SWIFT],
     "the AVX running update weighs old and new means the wrong way round"),
    ("cumulative-average-off-by-one", "Sources/BatchNormKit/BatchNorm+Forward.swift",
     "?? 1 / Double(numBatchesTracked)", "?? 1 / Double(numBatchesTracked + 1)", 1, [SWIFT],
     "momentum nil averages over one batch too many"),
    ("inference-epsilon-ignored", "Sources/Kernels/BatchNormKernels+Passes.swift",
     "ChannelLoops.map(variance) { Double($0) }, epsilon: Double(epsilon))",
     "ChannelLoops.map(variance) { Double($0) }, epsilon: 1e-5)", 1, [SWIFT, E2E],
     "inference (and split passes) treat every epsilon as the default 1e-5"),
    ("fused-inference-epsilon-ignored", "Sources/Kernels/Statistics/ChannelLoops+AVX.swift",
     "beta.map { Wide.floats($0 + first) }, epsilon, Wide.floats(scale + first),",
     "beta.map { Wide.floats($0 + first) }, 1e-5, Wide.floats(scale + first),", 1, [SWIFT, E2E],
     "the fused inference of Float layers treats every epsilon as the default 1e-5 (the AVX coefficients)"),
    ("training-epsilon-ignored", "Sources/Kernels/Statistics/MomentsAccumulator.swift",
     "return StandardDeviation.inverse(variance: variance, epsilon: epsilon)",
     "return StandardDeviation.inverse(variance: variance, epsilon: 1e-5)", 1, [SWIFT, E2E],
     "training treats every epsilon as the default 1e-5"),
    ("channels-last-first-channel", "Sources/Kernels/Fused/FusedPasses.swift",
     "channelCount: period, firstChannel: range.lowerBound % period,",
     "channelCount: period, firstChannel: (range.lowerBound + 1) % period,", 1, [SWIFT],
     "the channels-last normalize step starts at the wrong channel"),
    ("channels-first-run-channel", "Sources/Kernels/Fused/FusedPasses.swift",
     "channel = channel + 1 == channelCount ? 0 : channel + 1",
     "channel = channel + 1 == channelCount ? 1 % channelCount : channel + 1", 1, [SWIFT],
     "the channels-first moments step to the wrong channel after each image's last run"),
    ("lane-sum-drops-lanes", "Sources/Kernels/Fused/FusedSupport.swift",
     "return Double(two[0] + two[1])", "return Double(two[0] + two[0])", 1, [SWIFT],
     "the pairwise lane sum of the channels-first runs loses half of its lanes"),
    ("moments-rounding-drops-low-word", "Sources/Kernels/Statistics/ChannelMoments+Accumulator.swift",
     "accumulator.mean, low: accumulator.meanLow, as: Scalar.self)", "accumulator.mean, low: 0, as: Scalar.self)",
     1, [SWIFT], "the rounding of the moments to Scalar forgets the low word of the mean"),
    ("moments-rounding-skips-rescaled", "Sources/Kernels/Statistics/ChannelMoments+Accumulator.swift",
     "setRescaling(channel, deviationScale: rounded.deviationScale,",
     "setRescaling(channel, deviationScale: 1,", 1, [SWIFT],
     "channels that need rescaling (near the top of the range) keep a scale of 1"),
    ("avx2-flush-second-from-first", "Sources/CKernelSupport/WideLoopsTemplate.h",
     "+ __builtin_convertvector(WIDE_LOAD(scalar4, second_accumulator + channel), double4));",
     "+ __builtin_convertvector(WIDE_LOAD(scalar4, first_accumulator + channel), double4));", 1, [SWIFT],
     "the AVX2 flush of the row accumulators adds the first accumulator into the second sums"),
    ("avx-divisions-by-reciprocal", "Sources/CKernelSupport/ChannelMath.c",
     "return __builtin_frexp(count, &exponent) == 0.5 && exponent <= 1000 && exponent >= -1000;",
     "return __builtin_frexp(count, &exponent) != 0 || exponent != 0;", 1, [SWIFT],
     "the AVX per-channel steps multiply by a rounded reciprocal for every count, not only powers of two"),
    ("avx-channel-step-reassociated", "Sources/CKernelSupport/ChannelMath.c",
     "CHANNEL_DIVIDE(-k * invstd * d_gamma, by_reciprocal, count_vector, reciprocal_vector), \\",
     "CHANNEL_DIVIDE(-k * (invstd * d_gamma), by_reciprocal, count_vector, reciprocal_vector), \\", 1, [SWIFT],
     "the AVX backward channel step multiplies in another order than the Swift step (other bits)"),
    ("avx-finish-no-amplification-check", "Sources/CKernelSupport/ChannelMath.c",
     "rejected |= (squares_ > amplification * m2) & (squares_ > zero);",
     "rejected |= (squares_ > amplification * m2) & (squares_ < zero);", 1, [SWIFT],
     "the AVX one-loop statistics accept a shift too far from the mean (no exact fallback)"),
    ("avx-finish-drops-low-word", "Sources/CKernelSupport/ChannelMath.c",
     "(mean - __builtin_convertvector(mean_word, channel_double4)) + low);",
     "(mean - __builtin_convertvector(mean_word, channel_double4)) + 0 * low);", 1, [SWIFT],
     "the AVX one-loop statistics drop the TwoSum error from the mean's low word"),
    ("avx512-dx-bound-strict", "Sources/CKernelSupport/WideLoopsTemplate.h",
     "scaled = centered <= bound_[v] ? masked_[v] : scaled;", "scaled = centered < bound_[v] ? masked_[v] : scaled;",
     1, [SWIFT], "the AVX-512 register dx step passes dy where the recomputed pre-activation is exactly 0"),
    ("run-loop-tail-shift-sign", "Sources/CKernelSupport/RunLoopsTemplate.h",
     "VECTOR8 value = (WIDE_LOAD(VECTOR8, input + index) - center) * scale + shift;",
     "VECTOR8 value = (WIDE_LOAD(VECTOR8, input + index) - center) * scale - shift;", 1, [SWIFT],
     "the AVX2 channels-first normalize subtracts the shift in its 8-lane tail step"),
    ("run-loop-first-channel", "Sources/CKernelSupport/RunLoopsTemplate.h",
     "ptrdiff_t channel = first_run % channel_count;", "ptrdiff_t channel = (first_run + 1) % channel_count;", 3,
     [SWIFT], "the AVX2 channels-first moments add each run into the next channel"),
    ("run-loop-lane-sum-in-double", "Sources/CKernelSupport/RunLoopsTemplate.h",
     "return (double)(two[0] + two[1]);", "return (double)two[0] + (double)two[1];", 1, [SWIFT],
     "the AVX2 run loops add the last two lanes in double: right to within rounding, not the Swift loop's bits"),
    ("run-loop-block-length", "Sources/CKernelSupport/RunLoopsTemplate.h",
     "#define RUN_BLOCK_LENGTH 1024", "#define RUN_BLOCK_LENGTH 2048", 1, [SWIFT],
     "the AVX2 run loops move their lane sums to double every 2,048 values, not Fused.blockLength"),
    ("run-loop-mask-not-stored", "Sources/CKernelSupport/RunLoopsTemplate.h",
     "NAME(store)(masked_gradient + index, dz, 0);", "(void)masked_gradient;", 1, [SWIFT],
     "the AVX2 channels-first backward sums mask dy by y but do not store dz (the residual's gradient)"),
    ("run-loop-bound-strict", "Sources/CKernelSupport/RunLoopsTemplate.h",
     "run_dz_ = (V)((M)run_dz_ & ~(run_centered_ <= (bound)));", "run_dz_ = (V)((M)run_dz_ & ~(run_centered_ < (bound)));",
     1, [SWIFT], "the AVX2 channels-first dx step passes dy where the pre-activation is exactly 0"),
    ("row-view-channel-of-position", "Sources/Kernels/Fused/RowGrouping.swift",
     "for value in perChannel {\n                        for _ in 0..<runLength {",
     "for _ in 0..<runLength {\n                        for value in perChannel {", 1, [SWIFT],
     "short channels-first runs read as rows take each position's channel as in channels-last rows"),
    ("row-view-takes-long-runs", "Sources/Kernels/Fused/RowGrouping.swift",
     "static let longestRowRun = 64", "static let longestRowRun = 128", 1, [SWIFT],
     "channels-first runs of 64 to 127 values are read as rows, not by the run loops"),
    ("scaled-moments-uncompensated", "Sources/Kernels/Statistics/ScaledMoments.swift",
     "error += roundingError", "_ = roundingError", 1, [SWIFT],
     "the scaled moments of a channel at the top of the range sum in plain Double (up to M·u off)"),
    ("one-loop-statistics-drop-low-word", "Sources/Kernels/Statistics/ChannelLoops.swift",
     "store(finiteOrZero((mean - rounded(mean, to: Scalar.self)) + low), roundedTo: words.meanLow + channel)",
     "store(finiteOrZero((mean - rounded(mean, to: Scalar.self)) + 0 * low), roundedTo: words.meanLow + channel)", 1,
     [SWIFT],
     "the one-loop training statistics drop the mean's low word (no longer the general route's bits)"),
    ("one-loop-statistics-split-overlap", "Sources/Kernels/Statistics/ChannelLoops.swift",
     "let channels = Fused.slice(channelCount, part: part, of: finishParts)",
     "let channels = Fused.slice(channelCount, part: 0, of: finishParts)", 1, [SWIFT],
     "the one-loop statistics split over threads computes the first part's channels twice"),
    ("mask-bound-walk-overshoots", "Sources/Kernels/Fused/ReLUCoefficients.swift",
     "if !masked(value(ofOrderedKey: low + 1)) { return value(ofOrderedKey: low) }",
     "if !masked(value(ofOrderedKey: low + 1)) { return value(ofOrderedKey: low + 1) }", 1, [SWIFT],
     "the ReLU mask's bound, found next to -shift/scale, is one value too large (passes dy where y is 0)"),
    ("channels-last-backward-first-channel", "Sources/Kernels/Fused/FusedPasses.swift",
     "count: range.count, channelCount: period, firstChannel: range.lowerBound % period,",
     "count: range.count, channelCount: period, firstChannel: (range.lowerBound + 1) % period,", 1,
     [SWIFT], "the channels-last backward step starts at the wrong channel"),
    ("backward-bias-sign", "Sources/Kernels/BatchNormKernels+Passes.swift",
     "Scalar(-k * Double(sumGradient) / count)", "Scalar(k * Double(sumGradient) / count)", 1, [SWIFT],
     "the training backward adds dβ/M instead of subtracting it"),
    ("inference-backward-drops-gamma", "Sources/Kernels/BatchNormKernels+Passes.swift",
     "gradientScale: foldedScale(inverseStandardDeviation: inverseStandardDeviation, gamma: gamma),",
     "gradientScale: foldedScale(inverseStandardDeviation: inverseStandardDeviation, gamma: nil),", 1,
     [SWIFT], "the inference backward forgets gamma in dx"),
    ("merge-cross-term-dropped", "Sources/Kernels/Statistics/ChannelMoments.swift",
     "+= other.sumOfSquaredDeviations[channel] + delta * delta * crossWeight",
     "+= other.sumOfSquaredDeviations[channel]", 1, [SWIFT],
     "merging partial statistics forgets the spread between the parts' means"),
    ("cli-pair-not-required", "Sources/BatchNormCommands/OptionValues.swift",
     'case (.some, nil): throw .usage("\\(first.name) needs \\(second.name) as well")',
     "case (.some, nil): return", 1, [E2E], "--gamma without --beta is accepted"),
    ("cli-pair-message-swapped", "Sources/BatchNormCommands/OptionValues.swift",
     'case (.some, nil): throw .usage("\\(first.name) needs \\(second.name) as well")',
     'case (.some, nil): throw .usage("\\(second.name) needs \\(first.name) as well")', 1, [E2E],
     "the tool names the wrong option of a pair as the missing one"),
    ("cli-negative-epsilon", "Sources/BatchNormCommands/OptionValues.swift",
     "guard let value = Double(text), value.isFinite, value > 0 else {",
     "guard let value = Double(text), value.isFinite, value > -2 else {", 1, [E2E],
     "the tool's own epsilon check lets -1 through to the library"),
    ("wide-loops-narrow-row-wrap", "Sources/CKernelSupport/WideLoopsTemplate.h",
     "(channel_count >= WIDE_LANES ? next - channel_count : next % channel_count)",
     "(next - channel_count)", 1, [SWEEP],
     "the AVX2 loops' next channel (16 values on) subtracts the period once, wrong where the coefficients' "
     "period (channels-first C x inner) is shorter than a vector: reads past the coefficients"),
    ("wide-loops-block-tail-short", "Sources/CKernelSupport/WideLoopsTemplate.h",
     "        for (; channel < channel_count; channel++) {\n            for (int r = 0; r < WIDE_BLOCK_ROWS; r++) {\n"
     "                NAME(normalize_value)",
     "        for (; channel + 1 < channel_count; channel++) {\n            for (int r = 0; r < WIDE_BLOCK_ROWS; r++) {\n"
     "                NAME(normalize_value)", 1, [E2E, SWEEP],
     "the AVX2 normalize's row blocks leave the last channel of rows that are not whole vectors unwritten"),
    ("npy-truncation-bound", "Sources/NumPyFile/NumPyFile.swift",
     "guard size.byteCount <= available else {", "guard size.byteCount <= available + 8 else {", 1,
     [NUMPY, E2E], "the .npy reader's truncation check is off by a few bytes"),
]


def run(command, cwd, log, timeout=1800):
    """Runs `command`, appending its output to `log`; returns whether it exited 0."""
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        try:
            result = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            out.write("timed out\n")
            return False
    return result.returncode == 0


def copy_tree(source, destination):
    files = subprocess.run(["git", "ls-files", "-z"], cwd=source, check=True, capture_output=True).stdout
    for name in filter(None, files.decode().split("\0")):
        target = os.path.join(destination, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(os.path.join(source, name)):
            if os.path.lexists(target):
                os.remove(target)
            os.symlink(os.readlink(os.path.join(source, name)), target)
        else:
            shutil.copy2(os.path.join(source, name), target)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scratch", help="scratch folder (kept between runs for incremental builds)")
    parser.add_argument("--only", nargs="*", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    options = parser.parse_args()

    if options.list:
        for name, path, *_, suites, bug in MUTATIONS:
            print(f"{name:38} {path:48} {'+'.join(suites):10} {bug}")
        return 0

    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], check=True, capture_output=True,
                         text=True, cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    scratch = options.scratch or os.path.join(tempfile.gettempdir(), "batchnorm-mutants")
    source = os.path.join(scratch, "src")
    build = os.path.join(scratch, "build")
    log = os.path.join(scratch, "mutants.log")
    if os.path.exists(source):
        shutil.rmtree(source)
    os.makedirs(source)
    copy_tree(top, source)
    open(log, "w").close()
    print(f"mutants: scratch copy in {source}, log in {log}")

    swift_build = ["swift", "build", "--build-tests", "--scratch-path", build]
    if not run(swift_build, source, log):
        print("mutants: the unmutated tree does not build; see the log")
        return 1
    binary = os.path.join(build, "debug", "batchnorm")
    suites = {
        SWIFT: ["swift", "test", "--skip-build", "--scratch-path", build],
        NUMPY: ["swift", "test", "--skip-build", "--scratch-path", build, "--filter", "NumPyFileTests"],
        E2E: [sys.executable, os.path.join(source, "scripts", "e2e_cli.py"), binary],
        SWEEP: [sys.executable, os.path.join(source, "scripts", "shape_sweep.py"), binary, "--seed", "1", "--cases",
                "60", "--max-elements", "300000"],
    }
    for suite, command in suites.items():
        if not run(command, source, log):
            print(f"mutants: the unmutated tree fails its {suite} suite; see the log")
            return 1

    selected = [m for m in MUTATIONS if not options.only or m[0] in options.only]
    caught, survivors, stale = [], [], []
    for name, path, original, replacement, occurrence, mutant_suites, bug in selected:
        started = time.monotonic()
        file_path = os.path.join(source, path)
        with open(file_path) as f:
            text = f.read()
        parts = text.split(original)
        if len(parts) <= occurrence:
            stale.append(f"{name}: the text no longer occurs {occurrence} time(s) in {path}")
            print(f"STALE    {name}")
            continue
        mutated = original.join(parts[:occurrence]) + replacement + original.join(parts[occurrence:])
        with open(log, "a") as out:
            out.write(f"\n===== mutant {name}: {path}\n- {original}\n+ {replacement}\n")
        try:
            with open(file_path, "w") as f:
                f.write(mutated)
            if not run(swift_build, source, log):
                stale.append(f"{name}: the mutated tree does not compile")
                print(f"STALE    {name} (does not compile)")
                continue
            failing = [suite for suite in mutant_suites if not run(suites[suite], source, log)]
        finally:
            with open(file_path, "w") as f:
                f.write(text)
        seconds = time.monotonic() - started
        if failing:
            caught.append(name)
            print(f"CAUGHT   {name} by {', '.join(failing)} ({seconds:.0f} s): {bug}")
        else:
            survivors.append(name)
            print(f"SURVIVED {name} ({seconds:.0f} s): {bug}")

    # Leave the scratch build matching the unmutated tree.
    run(swift_build, source, log)
    print(f"{len(selected)} mutants, {len(caught)} caught")
    for name in survivors:
        print(f"survivor: {name}")
    for line in stale:
        print(f"stale: {line}")
    return 1 if survivors or stale else 0


if __name__ == "__main__":
    sys.exit(main())
