#!/usr/bin/env python3
"""Side-by-side table of the fused batch norm + ReLU / + add + ReLU: `batchnorm bench --json
--activation ...` beside the peers the anchors harness measures (PyTorch eager `batch_norm` + `relu_`
/ `add_`, oneDNN 2.6 `fuse_norm_relu`), on the anchor shapes a-e.

Usage: python3 scripts/fused_compare.py --ours OURS.jsonl [--ours MORE.jsonl ...] PEER.csv [PEER.csv ...]

OURS files hold `batchnorm bench --json` lines (several files or repeated runs: the median of the rows'
median ms is used). PEER files are the anchors' CSVs (`bn_torch_fused.py`, `bn_dnnl_fused` output:
lib,version,shape,dims,layout,dir,threads,iters,median_ms,...); several runs of the same lib are
combined by median too. Prints a Markdown table of ms and the ratios ours / peer (the issue's bars:
<= 0.6 of PyTorch's two ops, <= 0.8 of oneDNN's fused primitive).
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
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    order = list(DIRECTIONS)
    for key in sorted(ours, key=lambda k: (k[0], k[1], k[3], order.index(k[2]))):
        name, layout, direction, threads = key
        mine = statistics.median(ours[key])
        cells = [name, layout, str(threads), direction, f"{mine:.3g}"]
        for lib in libraries:
            theirs = peers.get((lib, name, layout, DIRECTIONS[direction], threads))
            if theirs:
                peer = statistics.median(theirs)
                cells += [f"{peer:.3g}", f"{mine / peer:.2f}"]
            else:
                cells += ["–", "–"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
