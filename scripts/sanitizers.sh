#!/usr/bin/env bash
# Builds the test suite with AddressSanitizer and with ThreadSanitizer (debug builds, each in its own
# scratch folder so the plain build is untouched) and runs it; fails on any test failure or sanitizer
# report. Prints the build and test time of each.
#
#     bash scripts/sanitizers.sh [address|thread]...     (default: both)
#
# Both run every test (about 85; the full suite takes 10-45 s under either on 2 cores, each build 35 s
# to 2 min), ThreadSanitizer's target being the 1,000-call ConcurrencyTests. Nothing is suppressed for
# TSan: OpenBLAS and libdispatch are not instrumented, but TSan follows their threads through its
# interceptors (checked: a deliberate race inside a `concurrentPerform` closure is reported); the
# fused kernels' own fork-join pool (Sources/Kernels/Threading/ForkJoinPool.swift) synchronizes through Swift
# atomics and pthread calls, which TSan instruments (checked: a deliberate race between two parts of a
# pool job, one on a worker, is reported). LeakSanitizer (part of ASan) skips the two reports that
# scripts/lsan-suppressions.txt shows not to be leaks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

# The Swift runtime's own crash backtracer would interleave with the sanitizers' reports.
export SWIFT_BACKTRACE=enable=no
# Fail on the first report instead of finishing the run (a report is a failure either way).
# LeakSanitizer stays on, minus the two reports scripts/lsan-suppressions.txt shows not to be leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan-suppressions.txt:print_suppressions=0}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

sanitizers=("$@")
[ ${#sanitizers[@]} -gt 0 ] || sanitizers=(address thread)

summary=()
for sanitizer in "${sanitizers[@]}"; do
    case "$sanitizer" in
        address) scratch=.build-asan ;;
        thread) scratch=.build-tsan ;;
        *) echo "sanitizers.sh: unknown sanitizer '$sanitizer' (address or thread)" >&2; exit 2 ;;
    esac
    echo "sanitizers.sh: building the tests with --sanitize=$sanitizer in $scratch"
    start=$SECONDS
    swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch"
    built=$SECONDS
    echo "sanitizers.sh: running the tests with --sanitize=$sanitizer"
    swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch"
    summary+=("$sanitizer: build $((built - start)) s, tests $((SECONDS - built)) s")
done
printf 'sanitizers.sh: %s\n' "${summary[@]}"
