#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ (coverage + AddressSanitizer, a debug build by default) and runs
# each for a bounded number of inputs, starting from the seed corpora in Fuzz/Corpus/ (made by
# scripts/make-fuzz-corpus.py) with the token dictionaries in Fuzz/Dictionaries/.
#
#     bash scripts/fuzz.sh [--runs N] [--seconds S] [--release] [--target NAME]...
#
#   --runs N     at most N inputs per target (default 200000)
#   --seconds S  and at most S seconds per target (default 120; 0: no time limit). The decoder runs its
#                200000 inputs in about 20 s; the option parser, whose command-line half goes through
#                ArgumentParser (tens of inputs per second in a debug build), stops at the time limit.
#   --release    build with -O instead of debug: about 8 times the inputs per second through
#                ArgumentParser, for long runs (the code under test has no `assert`; preconditions and
#                overflow traps stay on at -O)
#   --target T   run only T, NumPyDecodeFuzzer or OptionParsingFuzzer (repeatable); default: both
#
# Everything it writes goes under .build-fuzz/ (git-ignored): the build, the growing working corpora
# (libFuzzer adds new inputs to the first corpus folder, so the committed seeds are only read), one log
# per target, and the input of any crash under .build-fuzz/crashes/<target>/ (not `artifacts/`, which is
# SwiftPM's own folder in a scratch path and is cleared by every build). Exits non-zero if a
# target crashes, trips a sanitizer, exceeds -rss_limit_mb/-malloc_limit_mb (an allocation bomb) or
# times out on one input.
#
# The long runs were made by hand with the same build, one target at a time, e.g.
#     bash scripts/fuzz.sh --runs 10000000 --seconds 0 --target NumPyDecodeFuzzer
# (see Fuzz/README.md for the figures).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=200000
seconds=120
configuration=debug
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --runs=*) runs="${1#--runs=}"; shift ;;
        --seconds) seconds="$2"; shift 2 ;;
        --seconds=*) seconds="${1#--seconds=}"; shift ;;
        --release) configuration=release; shift ;;
        --target) targets+=("$2"); shift 2 ;;
        --target=*) targets+=("${1#--target=}"); shift ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(NumPyDecodeFuzzer OptionParsingFuzzer)

corpus_of() {
    case "$1" in
        NumPyDecodeFuzzer) echo npy ;;
        OptionParsingFuzzer) echo options ;;
        *) echo "fuzz.sh: unknown target '$1'" >&2; exit 2 ;;
    esac
}

scratch=.build-fuzz
build=(swift build --package-path Fuzz --scratch-path "$scratch" -c "$configuration"
       -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing)
mkdir -p "$scratch/logs"
for target in "${targets[@]}"; do
    corpus_of "$target" >/dev/null
    build_log="$scratch/logs/build-$target.log"
    if ! "${build[@]}" --product "$target" >"$build_log" 2>&1; then
        # gold warns once per ASan symbol it cannot export: noise, filtered from the failure output only.
        grep -v "Cannot export local symbol" "$build_log" >&2
        echo "fuzz.sh: building $target failed" >&2
        exit 1
    fi
done
bin="$("${build[@]}" --show-bin-path)"

# A crash is reported by libFuzzer and AddressSanitizer; the Swift runtime's own backtracer would race
# them (and trips ASan reading the crashed thread's stack).
export SWIFT_BACKTRACE=enable=no

status=0
for target in "${targets[@]}"; do
    corpus="$(corpus_of "$target")"
    work="$scratch/corpus/$corpus"
    crashes="$scratch/crashes/$target"
    log="$scratch/logs/$target.log"
    mkdir -p "$work" "$crashes" "$(dirname "$log")"
    echo "fuzz.sh: $target, at most $runs inputs and ${seconds} s (log: $log)"
    start=$SECONDS
    if "$bin/$target" -runs="$runs" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
        -dict="Fuzz/Dictionaries/$corpus.dict" -artifact_prefix="$crashes/" -print_final_stats=1 \
        "$work" "Fuzz/Corpus/$corpus" >"$log" 2>&1; then
        grep -E "^Done [0-9]+ runs|^stat::number_of_executed_units|^stat::peak_rss_mb" "$log" || true
        echo "fuzz.sh: $target passed in $((SECONDS - start)) s"
    else
        status=1
        tail -n 60 "$log"
        echo
        echo "fuzz.sh: $target FAILED after $((SECONDS - start)) s; crashing input under $crashes/" >&2
    fi
done
exit "$status"
