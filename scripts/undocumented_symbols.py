#!/usr/bin/env python3
"""Lists the public symbols of a symbol graph that are declared in this repository's Sources/ and
carry no doc comment. Usage: undocumented_symbols.py GRAPH.json [...]; exits 1 if any."""
import json
import sys

missing = []
for path in sys.argv[1:]:
    graph = json.load(open(path))
    for symbol in graph["symbols"]:
        if symbol.get("accessLevel") not in ("public", "open"):
            continue
        uri = symbol.get("location", {}).get("uri", "")
        if "/Sources/" not in uri:      # synthesized or inherited (Equatable's ==, CaseIterable's allCases, ...)
            continue
        if not symbol.get("docComment", {}).get("lines"):
            title = ".".join(symbol["pathComponents"])
            missing.append(f"{uri.split('/Sources/')[-1]}:{symbol['location']['position']['line'] + 1}: {title}")
for line in sorted(missing):
    print(line)
print(f"undocumented public symbols: {len(missing)}")
sys.exit(1 if missing else 0)
