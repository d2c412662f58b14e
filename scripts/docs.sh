#!/usr/bin/env bash
# Builds the DocC documentation of BatchNormKit (Sources/BatchNormKit/BatchNormKit.docc plus the
# symbols' doc comments) into .build/docs with the toolchain's docc, and fails on any DocC warning
# (unresolved or ambiguous links, undocumented parameters) and on any public symbol without a doc
# comment (scripts/undocumented_symbols.py). Needs no network after the package's dependencies resolve.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
graphs="$(swift build --show-bin-path)/../symbolgraph"
rm -rf "$graphs"
# Swift 6.3 also tries the test targets' synthesized modules (swift_batchnormPackageTests, ...), which it
# cannot load, and exits 1 after writing every library's graph; BatchNormKit's graph is the one used, and
# its absence still fails below.
swift package dump-symbol-graph --minimum-access-level public >/dev/null 2>&1 || true
if [ ! -s "$graphs/BatchNormKit.symbols.json" ]; then
    echo "docs: swift package dump-symbol-graph wrote no BatchNormKit.symbols.json" >&2
    exit 1
fi
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
