#!/usr/bin/env bash
# Builds the DocC documentation of BatchNormKit (Sources/BatchNormKit/BatchNormKit.docc plus the
# symbols' doc comments) into .build/docs with the toolchain's docc, and fails on any DocC warning
# (unresolved or ambiguous links, undocumented parameters) and on any public symbol without a doc
# comment (scripts/undocumented_symbols.py). Needs no network after the package's dependencies resolve.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift package dump-symbol-graph --minimum-access-level public >/dev/null
graphs="$(swift build --show-bin-path)/../symbolgraph"
selected="$(mktemp -d)"
trap 'rm -rf "$selected"' EXIT
cp "$graphs"/BatchNormKit.symbols.json "$graphs"/BatchNormKit@*.symbols.json "$selected"/ 2>/dev/null || \
    cp "$graphs"/BatchNormKit.symbols.json "$selected"/
python3 scripts/undocumented_symbols.py "$selected"/*.json
docc convert Sources/BatchNormKit/BatchNormKit.docc \
    --additional-symbol-graph-dir "$selected" \
    --fallback-display-name BatchNormKit --fallback-bundle-identifier org.swift-batchnorm.BatchNormKit \
    --output-path .build/docs --warnings-as-errors
echo "docs: .build/docs (open with any static file server)"
