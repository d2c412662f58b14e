#!/usr/bin/env python3
"""Side-by-side table of the fused batch norm + ReLU / + add + ReLU: `batchnorm bench --json
--activation ...` beside the peers the anchors harness measures (PyTorch eager `batch_norm` + `relu_`
/ `add_`, oneDNN 2.6 `fuse_norm_relu`), on the anchor shapes a-e.

Usage: python3 scripts/fused_compare.py --ours OURS.jsonl [--ours MORE.jsonl ...] [--page FILE --header TEXT]
       PEER.csv [PEER.csv ...]

OURS files hold `batchnorm bench --json` lines (several files or repeated runs: the median of the rows'
median ms is used). PEER files are the anchors' CSVs (`bn_torch_fused.py`, `bn_dnnl_fused` output:
lib,version,shape,dims,layout,dir,threads,iters,median_ms,...); several runs of the same lib are
combined by median too. Prints a Markdown table of ms and the ratios ours / peer (the issue's bars:
<= 0.6 of PyTorch's two ops, <= 0.8 of oneDNN's fused primitive). With --page, also writes FILE: a
Markdown page with the --header text (what was run, when, where), the count of cells that meet each bar,
and the table with each ratio marked (✅ met, ❌ missed).
"""
import argparse
import collections
import csv
import json
import statistics

SHAPES = {"a": [32, 64, 56, 56], "b": [32, 256, 14, 14], "c": [32, 2048, 7, 7], "d": [4096, 1024],
          "e": [64, 128, 56, 56]}
# Our direction labels -> the anchors' dir names.
DIRECTIONS = {"fwd-train+relu": "fwd_train_relu", "fwd-infer+relu": "fwd_infer_relu",
              "fwd-train+add-relu": "fwd_train_addrelu", "fwd-infer+add-relu": "fwd_infer_addrelu",
              "bwd+relu": "bwd_relu", "bwd+relu-y": "bwd_relu", "bwd+add-relu": "bwd_addrelu"}


# The bars: ours / peer at most this.
GOALS = {"torch": 0.6, "onednn": 0.8}


def goal(lib):
    """The bar for a peer library label (torch, torch_reuse, onednn ...), or None."""
    for prefix, bar in GOALS.items():
        if lib.startswith(prefix):
            return bar
    return None


def shape_name(dims, layout):
    """The anchor letter and layout of one of our rows (channels-last dims list C last)."""
    if layout == "channels-last" and len(dims) > 2:
        dims = [dims[0], dims[-1]] + dims[1:-1]
    for name, anchor in SHAPES.items():
        if dims == anchor:
            return name, ("nc" if len(dims) == 2 else ("nchw" if layout == "channels-first" else "nhwc"))
    return None, None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ours", action="append", required=True)
    parser.add_argument("--page", help="also write a Markdown page with the table to this file")
    parser.add_argument("--header", default="", help="the page's text above the table (Markdown)")
    parser.add_argument("peers", nargs="*")
    options = parser.parse_args()

    ours = collections.defaultdict(list)
    for path in options.ours:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                row = json.loads(line)
                if row.get("path") != "fused" or row.get("direction") not in DIRECTIONS:
                    continue
                name, layout = shape_name([int(d) for d in row["shape"].split("x")], row["layout"])
                if name is None or (layout == "nc" and row["layout"] == "channels-last"):
                    continue
                ours[(name, layout, row["direction"], int(row["threads"]))].append(float(row["median_ms"]))

    peers = collections.defaultdict(list)
    libraries = []
    for path in options.peers:
        with open(path) as f:
            for row in csv.DictReader(line for line in f if not line.startswith("#")):
                lib = row["lib"]
                if lib not in libraries:
                    libraries.append(lib)
                peers[(lib, row["shape"], row["layout"], row["dir"], int(row["threads"]))].append(float(row["median_ms"]))

    header = ["shape", "layout", "thr", "direction", "ours ms"]
    for lib in libraries:
        header += [f"{lib} ms", f"ours/{lib}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    marked = list(lines)
    met = collections.Counter()
    judged = collections.Counter()
    order = list(DIRECTIONS)
    for key in sorted(ours, key=lambda k: (k[0], k[1], k[3], order.index(k[2]))):
        name, layout, direction, threads = key
        mine = statistics.median(ours[key])
        cells = [name, layout, str(threads), direction, f"{mine:.3g}"]
        marks = list(cells)
        for lib in libraries:
            theirs = peers.get((lib, name, layout, DIRECTIONS[direction], threads))
            if theirs:
                peer = statistics.median(theirs)
                ratio = mine / peer
                cells += [f"{peer:.3g}", f"{ratio:.2f}"]
                bar = goal(lib)
                if bar is None:
                    marks += [f"{peer:.3g}", f"{ratio:.2f}"]
                else:
                    judged[lib] += 1
                    met[lib] += ratio <= bar
                    marks += [f"{peer:.3g}", f"{ratio:.2f} {'✅' if ratio <= bar else '❌'}"]
            else:
                cells += ["–", "–"]
                marks += ["–", "–"]
        lines.append("| " + " | ".join(cells) + " |")
        marked.append("| " + " | ".join(marks) + " |")
    print("\n".join(lines))
    counts = [f"**{met[lib]} of {judged[lib]}** cells at ≤ {goal(lib)}x {lib}" for lib in libraries if judged[lib]]
    if counts:
        print("\n" + "; ".join(counts))
    if options.page:
        with open(options.page, "w") as f:
            f.write(options.header.rstrip() + "\n\n")
            if counts:
                f.write("; ".join(counts) + ".\n\n")
            f.write("\n".join(marked) + "\n")


if __name__ == "__main__":
    main()
