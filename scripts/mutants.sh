#!/usr/bin/env bash
# Mutation check (not part of the test command; 15-30 minutes): applies the one-line bugs listed in
# scripts/mutants.py to a scratch copy of the committed tree, one at a time, runs the suites that should
# catch each, and prints `N mutants, K caught` with the survivors. Exits non-zero on a survivor or on a
# mutation that no longer applies. Arguments go to mutants.py (--only NAME ..., --list, --scratch DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --with-numpy
exec python3 scripts/mutants.py "$@"
