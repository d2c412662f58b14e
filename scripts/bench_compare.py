#!/usr/bin/env python3
"""Side-by-side benchmark of swift-batchnorm against the peer anchors, and the report.

usage (normally through scripts/bench-compare.sh, which builds and prepares the anchors first):

    bench_compare.py run    --batchnorm BIN --anchors DIR --results DIR [--runs N] [--shapes a,b,..]
                            [--threads 1,2] [--wait-quiet MINUTES] [--quick] [--no-anchors]
    bench_compare.py report --results DIR [--docs docs] [--default-path fused]

`run` measures; `report` turns what `run` left in --results into docs/BENCHMARKS.md and
docs/benchmarks.svg (it can be re-run on old results). Standard library only.

What `run` does, per run (--runs N repeats it and the report takes medians over runs):
  1. STREAM-like copy bandwidth (the anchors' stream_bw, 256 MiB, 1 and 2 threads),
  2. per shape a..e: `batchnorm bench --json --precision float --shape S --layout L --direction all
     --threads 1 --threads 2` and that shape's anchor programs, alternating which goes first from
     shape to shape and run to run, so drift of this shared host hits both sides alike,
  3. the copy bandwidth again.
The anchor programs are the harness's own (`../shared/anchors`, copied to a scratch folder by the
shell script), built with the flags its README lists and run as its run_all.sh runs them, each through
its py/runwrap.py (which records the CPU used by anything else meanwhile). An anchor whose library is
not installed is skipped, and the report says so.
"""
import argparse
import csv
import datetime
import glob
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

SHAPES = {  # name -> NCHW dimensions (the anchors' shapes)
    "a": (32, 64, 56, 56),
    "b": (32, 256, 14, 14),
    "c": (32, 2048, 7, 7),
    "d": (4096, 1024),
    "e": (64, 128, 56, 56),
}
DIRECTIONS = ["fwd-train", "fwd-infer", "bwd"]
ANCHOR_DIR = {"fwd-train": "fwd_train", "fwd-infer": "fwd_infer", "bwd": "bwd"}
DIRECTION_TITLES = {
    "fwd-train": "Forward training (batch statistics, normalize, running-statistics update); bytes = 2·S",
    "fwd-infer": "Forward inference (running statistics); bytes = 2·S",
    "bwd": "Backward (dx, dγ, dβ); bytes = 3·S",
}
LAYOUTS = ["channels-first", "channels-last"]
PATHS = ["naive", "blas", "fused"]
TARGET_RATIO = 0.8       # default path <= 0.8 x best(PyTorch, oneDNN)
TARGET_COPY_SHARE = 0.8  # channels-first fwd-train on e >= 80 % of copy bandwidth
TARGET_BLAS_SPEEDUP = 3  # BLAS path >= 3 x the naive Swift reference
SPREAD = 1.25            # per-run values differing by more than this factor get a dagger


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def busy_cores(seconds=2.0):
    """Cores' worth of CPU the machine used over `seconds` (this script sleeps meanwhile)."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:8]]
        return v[0] + v[1] + v[2] + v[5] + v[6]  # user nice system irq softirq
    hz = os.sysconf("SC_CLK_TCK")
    before = sample()
    time.sleep(seconds)
    return (sample() - before) / hz / seconds


class QuietWaiter:
    """Waits, within a total budget, until other processes use less than a tenth of a core, so the
    two-thread measurements get both cores (an OpenMP team sharing a core with another busy process
    can take whole scheduler ticks per barrier: 8, 16, 24 ms... instead of 1)."""

    def __init__(self, budget_minutes):
        self.enabled = budget_minutes > 0
        self.deadline = time.monotonic() + 60 * budget_minutes
        self.waited = 0.0
        self.gave_up = 0

    def wait(self, what):
        if not self.enabled:
            return
        announced = False
        while True:
            busy = busy_cores()
            if busy < 0.1:
                return
            if time.monotonic() >= self.deadline:
                self.gave_up += 1
                log(f"   machine busy ({busy:.2f} cores used by others) before {what}; measuring anyway "
                    f"(--wait-quiet budget spent)")
                return
            if not announced:
                log(f"   waiting for a quiet machine before {what} ({busy:.2f} cores used by others)")
                announced = True
            time.sleep(10)
            self.waited += 12


# ====================================================================================== run

class Runner:
    """Runs one command through the anchors' runwrap.py and remembers the command line."""

    def __init__(self, anchors, results):
        self.anchors = anchors
        self.results = results
        self.commands = []

    def wrapped(self, run_dir, name, command, env=None, cwd=None, suffix="csv"):
        out = os.path.join(run_dir, "raw", f"{name}.{suffix}")
        log_path = os.path.join(run_dir, "logs", f"{name}.log")
        runwrap = os.path.join(self.anchors, "py", "runwrap.py")
        if os.path.exists(runwrap):
            full = [sys.executable, runwrap, out, log_path] + command
        else:  # --no-anchors without a copy of the harness: plain redirection
            full = ["sh", "-c", 'out=$1 log=$2; shift 2; exec "$@" >"$out" 2>"$log"', "sh", out, log_path] + command
        environment = dict(os.environ)
        for key, value in (env or {}).items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        shown = " ".join(
            [f"-u {k}" for k, v in (env or {}).items() if v is None]
            + [f"{k}={v}" for k, v in (env or {}).items() if v is not None])
        self.commands.append({
            "run": os.path.basename(run_dir), "name": name, "in_anchors": cwd == self.anchors,
            "command": (f"env {shown} " if shown else "") + " ".join(shlex.quote(c) for c in command),
        })
        started = time.monotonic()
        rc = subprocess.call(full, env=environment, cwd=cwd)
        tail = ""
        try:
            with open(log_path) as f:
                lines = [l for l in f if l.startswith("# runwrap:")]
                tail = lines[-1].split(":", 1)[1].strip() if lines else ""
        except OSError:
            pass
        log(f"   {name}: {time.monotonic() - started:.1f} s  {tail}")
        return rc


def build_anchors(anchors):
    """Builds the anchors' C/C++ programs with the flags their README lists; returns the ones that built
    and why the others did not."""
    os.makedirs(os.path.join(anchors, "build"), exist_ok=True)
    builds = {
        "stream_bw": ["gcc", "-O3", "-march=native", "-fopenmp", "src/stream_bw.c", "-o", "build/stream_bw"],
        "bn_naive": ["gcc", "-O2", "-fno-tree-vectorize", "src/bn_naive.c", "-lm", "-o", "build/bn_naive"],
        "bn_dnnl": ["g++", "-O2", "-fopenmp", "src/bn_dnnl.cpp", "-ldnnl", "-o", "build/bn_dnnl"],
    }
    built, skipped, commands = set(), {}, []
    for name, command in builds.items():
        commands.append(" ".join(command))
        result = subprocess.run(command, cwd=anchors, capture_output=True, text=True)
        if result.returncode == 0:
            built.add(name)
        else:
            first = (result.stderr.strip().splitlines() or ["failed"])[0]
            skipped[name] = f"build failed ({first[:160]})"
    return built, skipped, commands


def python_with(module, candidates):
    """The first interpreter in `candidates` that can import `module`."""
    for interpreter in candidates:
        try:
            if subprocess.call([interpreter, "-c", f"import {module}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
                return interpreter
        except OSError:
            continue
    return None


def anchor_plan(anchors, threads, no_anchors):
    """Which anchor programs can run here: ({"pieces": [(label, name, command(shape), env)], "stream": bool},
    {skipped label: reason}, build commands)."""
    if no_anchors:
        return {}, {"all anchors": "--no-anchors given"}, []
    built, skipped, build_commands = build_anchors(anchors)
    numpy_python = python_with("numpy", ["python3", "/usr/bin/python3"])
    torch_python = "/usr/bin/python3" if python_with("torch", ["/usr/bin/python3"]) else None
    venv_python = os.path.join(anchors, ".venv-torch", "bin", "python")
    torch2_python = venv_python if python_with("torch", [venv_python]) else None
    clean = {"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None}   # as run_all.sh runs numpy/torch
    reuse = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "4294967296"}
    pieces = []  # (label, name template, command builder(shape), env)
    if "bn_naive" in built:
        pieces.append(("naive_c", "naive_t1", lambda s: ["./build/bn_naive", s], {}))
    else:
        skipped.setdefault("naive_c", skipped.pop("bn_naive", "not built"))
    if "bn_dnnl" in built:
        for t in threads:
            pieces.append(("onednn", f"onednn_t{t}", lambda s, t=t: ["./build/bn_dnnl", str(t), s],
                           {"OMP_NUM_THREADS": str(t)}))
    else:
        skipped["onednn"] = skipped.pop("bn_dnnl", "not built") + "; libdnnl-dev missing? (--install)"
    if numpy_python:
        pieces.append(("numpy", "numpy_t1", lambda s: [numpy_python, "py/bn_numpy.py", s],
                       dict(clean, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", BN_LIB_LABEL="numpy")))
    else:
        skipped["numpy"] = "no Python with numpy"
    for label, python, missing in [
        ("torch", torch_python, "Debian python3-torch not installed (--install)"),
        ("torch2", torch2_python, "no .venv-torch with torch 2.x in the anchors copy (--install)"),
    ]:
        if not python:
            skipped[label] = missing
            continue
        for t in threads:
            pieces.append((label, f"{label}_t{t}", lambda s, t=t, p=python: [p, "py/bn_torch.py", str(t), s],
                           dict(clean, BN_LIB_LABEL=label)))
            pieces.append((f"{label}_reuse", f"{label}_reuse_t{t}",
                           lambda s, t=t, p=python: [p, "py/bn_torch.py", str(t), s],
                           dict(clean, **reuse, BN_LIB_LABEL=f"{label}_reuse")))
    stream = "stream_bw" in built
    if not stream:
        skipped["stream_bw"] = skipped.pop("stream_bw", "not built")
    return {"pieces": pieces, "stream": stream}, skipped, build_commands


def command_run(args):
    shapes = args.shapes.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    for s in shapes:
        if s not in SHAPES:
            sys.exit(f"unknown shape {s!r}; expected some of {','.join(SHAPES)}")
    results = os.path.abspath(args.results)
    anchors = os.path.abspath(args.anchors)
    os.makedirs(results, exist_ok=True)
    runner = Runner(anchors, results)
    started = time.time()
    plan, skipped, build_commands = anchor_plan(anchors, threads, args.no_anchors)
    waiter = QuietWaiter(args.wait_quiet)
    for label, reason in sorted(skipped.items()):
        log(f"anchor skipped: {label}: {reason}")
    meta = {
        "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "invocation": args.invocation or " ".join(shlex.quote(a) for a in sys.argv),
        "runs": args.runs, "shapes": shapes, "threads": threads, "quick": args.quick,
        "skipped_anchors": skipped, "anchor_build_commands": build_commands,
        "build_command": args.build_command, "machine": machine_info(args.batchnorm),
        "run_info": [],
    }
    for run in range(1, args.runs + 1):
        run_dir = os.path.join(results, f"run{run}")
        for sub in ("raw", "logs", "swift"):
            os.makedirs(os.path.join(run_dir, sub), exist_ok=True)
        info = {"run": run, "loadavg_before": loadavg(),
                "start": datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S")}
        log(f"== run {run}/{args.runs} (load average {info['loadavg_before']})")
        if plan.get("stream"):
            waiter.wait(f"run {run}, STREAM copy")
            for t in threads:
                runner.wrapped(run_dir, f"bw_256MiB_t{t}", ["./build/stream_bw", "256", "10"],
                               env={"OMP_NUM_THREADS": str(t)}, cwd=anchors)
        for index, shape in enumerate(shapes):
            ours_first = (run + index) % 2 == 0
            steps = ["ours", "anchors"] if ours_first else ["anchors", "ours"]
            for step in steps:
                waiter.wait(f"run {run}, shape {shape}, {step}")
                if step == "ours":
                    dims = "x".join(map(str, SHAPES[shape]))
                    # One invocation per layout, in alternating order: in one process (`--layout both`) the
                    # layout timed second read 5-20% slower on the same code (the 2-D shape d, whose two
                    # layouts are the same memory and loops; docs/BENCHMARK_NOTES.md). The two outputs are
                    # then joined into the `swift_<shape>.jsonl` the report reads.
                    layouts = ["channels-first", "channels-last"]
                    if not ours_first:
                        layouts.reverse()
                    joined = []
                    for layout in layouts:
                        command = [args.batchnorm, "bench", "--json", "--precision", "float", "--shape", dims,
                                   "--layout", layout, "--direction", "all"]
                        for t in threads:
                            command += ["--threads", str(t)]
                        if args.quick:
                            command.append("--quick")
                        log(f"-- shape {shape}: batchnorm bench ({layout})")
                        name = f"ours-{layout}_{shape}"
                        rc = runner.wrapped(run_dir, name, command, suffix="jsonl")
                        if rc != 0:
                            log(f"!! batchnorm bench exited {rc} on shape {shape} {layout} (parity failure?)")
                            info.setdefault("failures", []).append(f"batchnorm bench on {shape} {layout}: exit {rc}")
                        raw = os.path.join(run_dir, "raw", f"{name}.jsonl")
                        if os.path.exists(raw):
                            with open(raw) as f:
                                joined.append(f.read())
                    with open(os.path.join(run_dir, "raw", f"swift_{shape}.jsonl"), "w") as f:
                        f.write("".join(part if part.endswith("\n") or not part else part + "\n" for part in joined))
                    # the same numbers as anchor-style CSV, so the anchors' summarize.py shows them too
                    to_anchor_csv(os.path.join(run_dir, "raw", f"swift_{shape}.jsonl"), shape,
                                  os.path.join(run_dir, "raw", f"swift_{shape}.csv"))
                elif plan.get("pieces"):
                    log(f"-- shape {shape}: anchors")
                    for label, name, build, env in plan["pieces"]:
                        rc = runner.wrapped(run_dir, f"{name}_{shape}", build(shape), env=env, cwd=anchors)
                        if rc != 0:
                            info.setdefault("failures", []).append(f"{name} on {shape}: exit {rc}")
        if plan.get("stream"):
            waiter.wait(f"run {run}, STREAM copy at the end")
            for t in threads:
                runner.wrapped(run_dir, f"bw_end_256MiB_t{t}", ["./build/stream_bw", "256", "10"],
                               env={"OMP_NUM_THREADS": str(t)}, cwd=anchors)
        info["loadavg_after"] = loadavg()
        info["end"] = datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S")
        meta["run_info"].append(info)
        with open(os.path.join(run_dir, "env.txt"), "w") as f:
            f.write(f"date: {meta['started']}\nloadavg before: {info['loadavg_before']}\n"
                    f"loadavg after: {info['loadavg_after']}\n")
        # after every run, so an interrupted measurement still has a report (`--report-only`)
        meta["quiet_wait"] = {"budget_min": args.wait_quiet, "waited_s": round(waiter.waited),
                              "gave_up": waiter.gave_up}
        meta["elapsed_s"] = round(time.time() - started, 1)
        meta["commands"] = runner.commands
        with open(os.path.join(results, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
    # the anchors' own summary over every run, our paths as extra columns (a by-product, not the report)
    run_dirs = sorted(glob.glob(os.path.join(results, "run*")))
    if os.path.exists(os.path.join(anchors, "py", "summarize.py")):
        with open(os.path.join(results, "anchors-summary.md"), "w") as f:
            subprocess.call([sys.executable, os.path.join(anchors, "py", "summarize.py")] + run_dirs, stdout=f)
    log(f"measured in {meta['elapsed_s'] / 60:.1f} min; results in {results}")


def to_anchor_csv(jsonl_path, shape, csv_path):
    """Our JSON lines as the anchors' CSV columns, libs swift_naive / swift_blas / swift_fused."""
    rows = []
    for record in read_jsonl(jsonl_path):
        if record.get("kind") or record.get("precision") != "float":
            continue
        rank2 = len(SHAPES[shape]) == 2
        layout = {"channels-first": "nc" if rank2 else "nchw",
                  "channels-last": "nc_channels_last" if rank2 else "nhwc"}[record["layout"]]
        elements = math.prod(SHAPES[shape])
        traffic = (3 if record["direction"] == "bwd" else 2) * 4 * elements
        rows.append(f"swift_{record['path']},git,{shape},{record['shape']},{layout},"
                    f"{ANCHOR_DIR[record['direction']]},{record['threads']},{record['runs']},"
                    f"{record['median_ms']:.4f},{record['min_ms']:.4f},{traffic},{record['gbps']:.2f}")
    with open(csv_path, "w") as f:
        f.write("lib,version,shape,dims,layout,dir,threads,iters,median_ms,min_ms,min_bytes,gbps_median\n")
        f.write("\n".join(rows) + ("\n" if rows else ""))


def read_jsonl(path):
    records = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
    except OSError:
        pass
    return records


def machine_info(batchnorm):
    info = {"platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name":
                    info["cpu"] = value
                elif key in ("cpu family", "model"):
                    info[key.replace(" ", "_")] = value
                elif key == "flags":
                    flags = value.split()
                    info["simd"] = ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16") if f in flags)
                    break
    except OSError:
        pass
    info["cores"] = os.cpu_count()
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    for key in ("L2", "L3"):
        try:
            out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
            for line in out.splitlines():
                if line.strip().startswith(f"{key} cache"):
                    info[f"{key.lower()}_cache"] = line.split(":", 1)[1].strip()
        except OSError:
            pass
    info["openblas_env"] = {k: os.environ.get(k, "(unset)")
                            for k in ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                      "OMP_NUM_THREADS")}
    try:
        info["swift"] = subprocess.run(["swift", "--version"], capture_output=True, text=True
                                       ).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        pass
    try:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no",
                                "--", "Sources", "Package.swift"], capture_output=True, text=True).stdout.strip()
        info["git"] = head + (" + uncommitted changes in Sources/" if dirty else "")
    except OSError:
        pass
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            info["thp"] = f.read().strip()
    except OSError:
        pass
    info["batchnorm"] = batchnorm
    return info


# ====================================================================================== report

def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values):
    values = [v for v in values if v is not None and v > 0]
    return len(values) > 1 and max(values) / min(values) > SPREAD


class Results:
    """Everything `run` left in a results folder, keyed per run."""

    def __init__(self, folder):
        with open(os.path.join(folder, "meta.json")) as f:
            self.meta = json.load(f)
        completed = {info["run"] for info in self.meta.get("run_info", [])}
        self.runs = sorted((p for p in glob.glob(os.path.join(folder, "run*"))
                            if int(os.path.basename(p)[3:]) in completed),
                           key=lambda p: int(os.path.basename(p)[3:]))
        self.ours = []      # per run: {(shape, layout, dir, threads, path): record}
        self.copy = []      # per run: {shape: copy GB/s measured by that bench invocation}
        self.blas = set()   # OpenBLAS configuration lines the bench printed
        self.anchor = []    # per run: {(lib, threads, shape, anchor layout, anchor dir): median ms}
        self.versions = {}
        self.stream = []    # per run: {(phase, threads): copy GB/s median}
        self.foreign = []   # (run/program, foreign cpu %)
        self.load = []      # per run: {program: foreign cpu %}
        for run_dir in self.runs:
            ours, copy = {}, {}
            for path in glob.glob(os.path.join(run_dir, "raw", "swift_*.jsonl")):
                shape = os.path.basename(path)[len("swift_"):-len(".jsonl")]
                for record in read_jsonl(path):
                    if record.get("kind") == "copy_bandwidth":
                        copy[shape] = record["gbps"]
                        self.blas.add(record.get("blas", "?"))
                    elif record.get("precision") == "float":
                        ours[(shape, record["layout"], record["direction"], record["threads"],
                              record["path"])] = record
            self.ours.append(ours)
            self.copy.append(copy)
            anchor, stream = {}, {}
            for path in glob.glob(os.path.join(run_dir, "raw", "*.csv")):
                base = os.path.basename(path)
                if base.startswith("swift_"):
                    continue
                phase = "end" if "_end_" in base else "start"
                with open(path) as f:
                    for line in f:
                        line = line.strip()
                        if not line or line.startswith(("#", "lib,")):
                            continue
                        if line.startswith("bw,"):
                            _, kernel, threads, mib, med, _best = line.split(",")
                            if kernel == "copy":
                                stream[(phase, int(threads))] = float(med)
                            continue
                        r = next(csv.reader([line]))
                        if len(r) < 12:
                            continue
                        anchor[(r[0], int(r[6]), r[2], r[4], r[5])] = float(r[8])
                        self.versions[r[0]] = r[1]
            self.anchor.append(anchor)
            self.stream.append(stream)
            load = {}
            for path in glob.glob(os.path.join(run_dir, "logs", "*.log")):
                with open(path) as f:
                    for line in f:
                        if line.startswith("# runwrap:") and "foreign_cpu_pct=" in line:
                            value = float(line.split("foreign_cpu_pct=")[1].split()[0])
                            program = os.path.basename(path)[:-4]
                            self.foreign.append((f"{os.path.basename(run_dir)}/{program}", value))
                            load[program] = value
            self.load.append(load)

    # ---- our numbers
    def ours_values(self, key, field):
        return [run[key][field] if key in run else None for run in self.ours]

    def ours_ms(self, shape, layout, direction, threads, path):
        values = self.ours_values((shape, layout, direction, threads, path), "median_ms")
        return median_or_none(values), spread(values)

    def parity_failures(self):
        return sorted({f"{k[0]} {k[1]} {k[2]} {k[3]}t {k[4]} (error {r['max_error']})"
                       for run in self.ours for k, r in run.items() if not r.get("parity", True)})

    # ---- peers
    @staticmethod
    def anchor_layouts(shape, layout):
        if len(SHAPES[shape]) == 2:
            return ["nc", "nc_as_nhwc11"]  # the same memory whichever way it is described
        return ["nchw"] if layout == "channels-first" else ["nhwc"]

    def anchor_ms_in_run(self, run, libs, shape, layout, direction, threads):
        values = [run.get((lib, threads, shape, lay, ANCHOR_DIR[direction]))
                  for lib in libs for lay in self.anchor_layouts(shape, layout)]
        values = [v for v in values if v is not None]
        return min(values) if values else None

    def anchor_ms(self, libs, shape, layout, direction, threads):
        values = [self.anchor_ms_in_run(run, libs, shape, layout, direction, threads) for run in self.anchor]
        return median_or_none(values), spread(values)

    def best_peer_in_run(self, index, shape, layout, direction, threads):
        """(ms, lib) of the fastest peer in run `index`, or (None, None)."""
        best = (None, None)
        for lib in PEERS:
            ms = self.anchor_ms_in_run(self.anchor[index], [lib], shape, layout, direction, threads)
            if ms is not None and (best[0] is None or ms < best[0]):
                best = (ms, lib)
        return best

    def contended(self, index, programs, threads):
        """Whether other processes took CPU that `threads` threads needed while any of `programs` ran:
        more than the cores left over plus a tenth of a core (runwrap's foreign_cpu_pct is % of all cores)."""
        cores = self.meta["machine"].get("cores") or os.cpu_count() or 1
        limit = 100 * (max(0, cores - threads) + 0.1) / cores
        return any(self.load[index].get(p, 0) > limit for p in programs)

    def has_peers(self):
        return any(k[0] in PEERS for run in self.anchor for k in run)

    def ratio(self, shape, layout, direction, threads, default_path):
        """Median over runs of (default path ms / best peer ms), each run's pair measured together;
        the spread flag; and whether most of those runs were contended (see `contended`)."""
        values, contended = [], 0
        for index, run in enumerate(self.ours):
            ours = run.get((shape, layout, direction, threads, default_path))
            peer, lib = self.best_peer_in_run(index, shape, layout, direction, threads)
            if ours and peer:
                values.append(ours["median_ms"] / peer)
                # (`swift_<shape>`: results measured with both layouts in one invocation.)
                if self.contended(index, [f"ours-{layout}_{shape}", f"swift_{shape}", f"{lib}_t{threads}_{shape}"],
                                  threads):
                    contended += 1
        return median_or_none(values), spread(values), bool(values) and contended * 2 > len(values)

    def stream_copy(self, threads):
        values = [median_or_none([run.get(("start", threads)), run.get(("end", threads))])
                  for run in self.stream]
        return median_or_none(values)


PEERS = ["torch", "torch_reuse", "torch2", "torch2_reuse", "onednn"]


def fmt_ms(value, dagger=False):
    if value is None:
        return "–"
    text = f"{value:.3g}" if value < 1000 else f"{value:.0f}"
    return text + ("†" if dagger else "")


def fmt_ratio(value, dagger=False, contended=False):
    if value is None:
        return "–"
    mark = "⚠️" if contended else "✅" if value <= TARGET_RATIO else "❌"
    return f"{value:.2f}{'†' if dagger else ''} {mark}"


def short_version(version):
    """'1.13.0a0' -> '1.13', '2.13.0+cpu' -> '2.13'."""
    parts = version.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else version


def gbps(shape, direction, ms):
    if not ms:
        return None
    return (3 if direction == "bwd" else 2) * 4 * math.prod(SHAPES[shape]) / (ms * 1e-3) / 1e9


def command_report(args):
    results = Results(args.results)
    meta = results.meta
    default = args.default_path
    shapes = meta["shapes"]
    threads = meta["threads"]
    os.makedirs(args.docs, exist_ok=True)
    lines = []
    P = lines.append
    machine = meta["machine"]
    P("# Benchmarks")
    P("")
    P("<!-- Generated by scripts/bench-compare.sh (scripts/bench_compare.py report); edit those, not this. -->")
    P("")
    P(f"swift-batchnorm's kernels beside the peer anchors of `../shared/anchors` (oneDNN, PyTorch, NumPy, a "
      f"scalar C loop), float32, measured side by side in one invocation on {meta['started']} "
      f"({len(results.runs)} run{'s' if len(results.runs) != 1 else ''}, {meta['elapsed_s'] / 60:.0f} min). "
      f"The **default path is `{default}`** (★ below); `naive` is the scalar Swift reference "
      f"(`BatchNormReference`), `blas` the composition of OpenBLAS calls.")
    if meta.get("quick"):
        P("")
        P("> **`--quick` run**: our side used `batchnorm bench --quick` (1 warm-up, 3–5 timed calls); "
          "these numbers are a smoke test, not a measurement.")
    P("")
    P("![ms per shape: default path vs the best of PyTorch and oneDNN](benchmarks.svg)")
    P("")
    P("Why the missed targets are missed, what each kernel change bought (A/B measurements) and what "
      "would close the rest: [BENCHMARK_NOTES.md](BENCHMARK_NOTES.md). Batch norm with a fused ReLU or "
      "add + ReLU beside PyTorch eager and oneDNN's `fuse_norm_relu`: [FUSED_BENCHMARKS.md](FUSED_BENCHMARKS.md) "
      "(`scripts/bench-fused-compare.sh`).")
    P("")
    # ---------------------------------------------------------------- targets
    P("## Targets")
    P("")
    cells = [(s, l, d, t) for s in shapes for l in LAYOUTS for d in DIRECTIONS for t in threads]
    ratios = {c: results.ratio(*c, default) for c in cells}
    measured = [c for c in cells if ratios[c][0] is not None and not ratios[c][2]]
    contended = [c for c in cells if ratios[c][0] is not None and ratios[c][2]]
    met = [c for c in measured if ratios[c][0] <= TARGET_RATIO]
    if results.has_peers():
        P(f"1. **Default path ≤ {TARGET_RATIO}× the better of PyTorch and oneDNN** (same layout, same thread "
          f"count, same run): **met in {len(met)} of {len(measured)}** cleanly measured cells "
          f"(✅ met, ❌ missed; † = the per-run ratios spread by more than {SPREAD - 1:.0%})"
          + (f"; **{len(contended)} cells ⚠️ not judged**: in most runs other processes used CPU those threads "
             f"needed while ours or the best peer ran (the ratio is shown, but a team of threads sharing a core "
             f"with another busy process is slowed by whole scheduler ticks, and the peers' OpenMP worst of "
             f"all)." if contended else "."))
    else:
        P(f"1. **Default path ≤ {TARGET_RATIO}× the better of PyTorch and oneDNN**: not measured "
          f"(neither PyTorch nor oneDNN ran; see *Anchors skipped*).")
    P("")
    header = "| shape | layout | " + " | ".join(f"{d} {t}t" for d in DIRECTIONS for t in threads) + " |"
    P(header)
    P("|---|---|" + "---|" * (len(DIRECTIONS) * len(threads)))
    for s in shapes:
        for l in LAYOUTS:
            P(f"| {s} | {l} | " + " | ".join(fmt_ratio(*ratios[(s, l, d, t)]) for d in DIRECTIONS for t in threads)
              + " |")
    P("")
    P("   Ratio = default-path ms / min(torch, torch `_reuse`, torch 2, torch 2 `_reuse`, "
      "oneDNN — whichever ran) for that layout (NCHW ↔ channels-first, NHWC ↔ channels-last; for the 2-D shape d both "
      "compare with torch `nc` and oneDNN's better of `nc` and `nc_as_nhwc11`, the same memory). "
      "Computed per run, then the median over runs. oneDNN's blocked `nChw16c` is a different memory "
      "format and is not counted.")
    P("")
    # target 2
    P(f"2. **Channels-first forward training on shape e ≥ {TARGET_COPY_SHARE:.0%} of the copy bandwidth** "
      f"(default path `{default}`):")
    P("")
    P("   | threads | ms | GB/s (2·S) | copy GB/s (`batchnorm bench`, same invocation) | share | "
      "STREAM copy GB/s, same threads | share |")
    P("   |---|---|---|---|---|---|---|")
    for t in threads:
        ms, dag = results.ours_ms("e", "channels-first", "fwd-train", t, default)
        rate = gbps("e", "fwd-train", ms)
        bench_copy = median_or_none([run.get("e") for run in results.copy])
        stream_copy = results.stream_copy(t)

        def share(base):
            if not rate or not base:
                return "–"
            value = rate / base
            return f"{value:.0%} {'✅' if value >= TARGET_COPY_SHARE else '❌'}"
        P(f"   | {t} | {fmt_ms(ms, dag)} | {rate:.1f} | {bench_copy or '–'} | {share(bench_copy)} | "
          f"{f'{stream_copy:.1f}' if stream_copy else '–'} | {share(stream_copy)} |" if rate else
          f"   | {t} | – | – | – | – | – | – |")
    P("")
    P("   `batchnorm bench` measures copy bandwidth as a single-threaded 256 MB `memcpy`-style copy at its "
      "start; STREAM copy is the anchors' `stream_bw` (OpenMP, 256 MiB arrays) with that many threads, "
      "taken at the start and end of each run. Both count bytes read + written, no write-allocate.")
    P("")
    # target 3
    speedups = {}
    for s in shapes:
        for l in LAYOUTS:
            for d in DIRECTIONS:
                for t in threads:
                    values = results.ours_values((s, l, d, t, "blas"), "median_ms")
                    naive = results.ours_values((s, l, d, t, "naive"), "median_ms")
                    per_run = [n / b for n, b in zip(naive, values) if n and b]
                    speedups[(s, l, d, t)] = median_or_none(per_run)
    have = {k: v for k, v in speedups.items() if v is not None}
    misses = sorted((k for k, v in have.items() if v < TARGET_BLAS_SPEEDUP), key=lambda k: have[k])
    P(f"3. **BLAS path ≥ {TARGET_BLAS_SPEEDUP}× the naive Swift reference on every shape**: "
      f"met in {len(have) - len(misses)} of {len(have)} cells"
      + (f"; lowest: {min(have.values()):.1f}×." if have else "."))
    if misses:
        P("")
        P("   Missed: " + ", ".join(f"{s} {l} {d} {t}t ({have[(s, l, d, t)]:.1f}×)" for s, l, d, t in misses) + ".")
    P("")
    failures = results.parity_failures()
    P(f"Parity: every row of `batchnorm bench` is checked against a float64 reference (1024 unit roundoffs); "
      + (f"**{len(failures)} failed**: " + "; ".join(failures) if failures else "all passed.") )
    P("")
    # ---------------------------------------------------------------- tables
    P("## Results")
    P("")
    P("Shapes (float32, channels-first order; channels-last is NHWC): "
      + ", ".join(f"**{s}** {'x'.join(map(str, SHAPES[s]))} ({4 * math.prod(SHAPES[s]) / 1e6:.1f} MB)"
                  for s in shapes)
      + ". Buffers are reused between calls, so shapes up to ~32 MB (a–d) partly stay in the 32 MiB L3 and "
        "their GB/s (and % of copy bandwidth) can exceed DRAM rates; e is the DRAM-bound one.")
    P("")
    P(f"Each cell: median over runs of each run's median ms (3 warm-up calls, then ≥ 20 timed calls while "
      f"the total is < 0.3 s, at most 200 — the same policy on both sides); † = per-run medians spread by "
      f"more than {SPREAD - 1:.0%}. GB/s counts minimal traffic (forward 2·S, backward 3·S, S = elements × 4 B). "
      f"PyTorch columns show the better of its default allocator and the `_reuse` malloc settings "
      f"(ʳ = `_reuse` was faster; see the anchors' README, note 1). numpy and the naive C loop are "
      f"single-threaded, so they appear in the 1-thread tables only. Ratio and targets as above.")
    P("")
    present_torch = [(f"torch {short_version(results.versions.get(lib, '?'))}", lib) for lib in ("torch", "torch2")
                     if any(k[0] in (lib, lib + "_reuse") for run in results.anchor for k in run)]
    for d in DIRECTIONS:
        P(f"### {d}: {DIRECTION_TITLES[d]}")
        P("")
        for t in threads:
            P(f"**{t} thread{'s' if t > 1 else ''}**")
            P("")
            cols = ["shape", "layout", "naive ms", "blas ms (GB/s)", "fused ms (GB/s)"]
            cols = [c.replace(f"{default} ms", f"{default}★ ms") for c in cols]
            cols += [title for title, _ in present_torch] + ["oneDNN"]
            if t == 1:
                cols += ["numpy", "naive C"]
            cols += ["★ / best peer", "fused % copy", "blas × naive"]
            P("| " + " | ".join(cols) + " |")
            P("|---|---|" + "---:|" * (len(cols) - 2))
            for s in shapes:
                for l in LAYOUTS:
                    row = [s, l]
                    naive, naive_dag = results.ours_ms(s, l, d, t, "naive")
                    row.append(fmt_ms(naive, naive_dag))
                    for path in ("blas", "fused"):
                        ms, dag = results.ours_ms(s, l, d, t, path)
                        row.append(f"{fmt_ms(ms, dag)} ({gbps(s, d, ms):.1f})" if ms else "–")
                    for _, lib in present_torch:
                        plain, plain_dag = results.anchor_ms([lib], s, l, d, t)
                        reuse, reuse_dag = results.anchor_ms([lib + "_reuse"], s, l, d, t)
                        if reuse is not None and (plain is None or reuse < plain):
                            row.append(fmt_ms(reuse, reuse_dag) + "ʳ")
                        else:
                            row.append(fmt_ms(plain, plain_dag))
                    row.append(fmt_ms(*results.anchor_ms(["onednn"], s, l, d, t)))
                    if t == 1:
                        row.append(fmt_ms(*results.anchor_ms(["numpy"], s, l, d, 1)))
                        row.append(fmt_ms(*results.anchor_ms(["naive_c"], s, l, d, 1)))
                    row.append(fmt_ratio(*ratios[(s, l, d, t)]))
                    fused_share = [r["gbps"] / r["copy_gbps"] if r else None
                                   for r in (run.get((s, l, d, t, "fused")) for run in results.ours)]
                    value = median_or_none(fused_share)
                    row.append(f"{value:.0%}" if value is not None else "–")
                    value = speedups.get((s, l, d, t))
                    row.append(f"{value:.1f}×" if value is not None else "–")
                    P("| " + " | ".join(row) + " |")
            P("")
    # ---------------------------------------------------------------- machine, commands
    P("## Machine")
    P("")
    P(f"- CPU: {machine.get('cpu', '?')} (family {machine.get('cpu_family', '?')}, model "
      f"{machine.get('model', '?')}; {machine.get('simd', '?')}), {machine.get('cores', '?')} cores "
      f"(L2 {machine.get('l2_cache', '?')}, L3 {machine.get('l3_cache', '?')}); memory "
      f"{machine.get('memory_gib', '?')} GiB; {machine.get('platform', '')}; THP `{machine.get('thp', '?')}`")
    for line in sorted(results.blas):
        P(f"- OpenBLAS as `batchnorm bench` reports it: `{line}`")
    env = machine.get("openblas_env", {})
    P("- Environment: " + ", ".join(f"`{k}={v}`" for k, v in env.items())
      + " (numpy and torch run with `OPENBLAS_CORETYPE`/`OPENBLAS_L2_SIZE` removed, as the anchors' "
        "run_all.sh does; `batchnorm bench` and oneDNN see the environment as is)")
    P(f"- Toolchain: {machine.get('swift', '?')}; library at git `{machine.get('git', '?')}`")
    if results.versions:
        P("- Anchors: " + ", ".join(f"{lib} {ver}" for lib, ver in sorted(results.versions.items())))
    for info in meta["run_info"]:
        P(f"- Run {info['run']} ({info['start']}–{info['end']} UTC): load average before "
          f"{info['loadavg_before']}, after {info['loadavg_after']}"
          + (f"; failures: {'; '.join(info['failures'])}" if info.get("failures") else ""))
    wait = meta.get("quiet_wait") or {}
    if wait.get("budget_min"):
        P(f"- Waited {wait.get('waited_s', 0) / 60:.1f} min in all for other processes to go idle before steps "
          f"(`--wait-quiet {wait['budget_min']:g}`)"
          + (f"; measured {wait['gave_up']} step(s) on a busy machine once that budget was spent."
             if wait.get("gave_up") else "."))
    if results.foreign:
        worst = max(results.foreign, key=lambda x: x[1])
        mean = statistics.mean(v for _, v in results.foreign)
        P(f"- CPU used by other processes while a program ran (the anchors' runwrap.py, % of elapsed × cores): "
          f"mean {mean:.1f} %, highest {worst[1]:.1f} % ({worst[0]}). Other engineers' builds share this "
          f"machine; cells marked † are the ones to distrust first.")
    P("")
    if meta.get("skipped_anchors"):
        P("### Anchors skipped")
        P("")
        for label, reason in sorted(meta["skipped_anchors"].items()):
            P(f"- {label}: {reason}")
        P("")
    P("## Commands")
    P("")
    P("```sh")
    P(meta["invocation"])
    P("```")
    P("")
    P(f"Order within each run: STREAM copy (1 and {max(threads)} threads), then per shape "
      f"`batchnorm bench` and that shape's anchor programs, alternating which goes first (shape to "
      f"shape and run to run), then STREAM copy again. Run 1's commands (later runs repeat them; "
      f"each went through the anchors' `py/runwrap.py OUT LOG ...`; anchors from their scratch copy):")
    P("")
    P("```sh")
    if meta.get("build_command"):
        P(meta["build_command"])
    for command in meta.get("anchor_build_commands", []):
        P(f"(cd anchors && {command})")
    for entry in meta.get("commands", []):
        if entry["run"] == "run1":
            command = entry["command"].replace(machine.get("batchnorm") or "\0", ".build-bench/release/batchnorm")
            P(f"(cd anchors && {command})" if entry["in_anchors"] else command)
    P("```")
    P("")
    P("Raw data: each run's `raw/` (anchor CSVs, `swift_<shape>.jsonl` from `batchnorm bench --json`) and "
      "`logs/` under the results folder the script prints; `anchors-summary.md` there is the anchors' own "
      "summary with our paths as extra columns (`swift_naive`, `swift_blas`, `swift_fused`).")
    P("")
    with open(os.path.join(args.docs, "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(lines))
    svg = render_svg(results, shapes, threads, default)
    with open(os.path.join(args.docs, "benchmarks.svg"), "w") as f:
        f.write(svg)
    log(f"wrote {os.path.join(args.docs, 'BENCHMARKS.md')} and benchmarks.svg")


# ====================================================================================== SVG

def render_svg(results, shapes, threads, default):
    """Grouped bars, one panel per direction (rows) and layout (columns): per shape, for each thread
    count, the default path's ms beside the best peer's ms, on a log scale."""
    panel_w, panel_h = 470, 250
    margin_l, margin_t, gap_x, gap_y = 70, 150, 60, 80
    width = margin_l + 2 * panel_w + gap_x + 30
    height = margin_t + 3 * panel_h + 2 * gap_y + 50
    series = []
    palette = {("ours", 1): "#1f5fa8", ("peer", 1): "#e08214", ("ours", 2): "#6fa8dc", ("peer", 2): "#fdb863"}
    for t in threads:
        series.append(("ours", t, f"swift {default} {t}t", palette.get(("ours", t), "#1f5fa8")))
        series.append(("peer", t, f"best of PyTorch/oneDNN {t}t", palette.get(("peer", t), "#e08214")))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{margin_l}" y="30" font-size="18" font-weight="bold">swift-batchnorm ({esc(default)} path) '
           f'vs the best of PyTorch and oneDNN</text>',
           f'<text x="{margin_l}" y="52" fill="#444">ms per call, float32, log scale, lower is better; medians over '
           f'{len(results.runs)} run(s) measured side by side ({esc(results.meta["started"])}).</text>',
           f'<text x="{margin_l}" y="70" fill="#444">Over each pair: ours / peer, median of per-run ratios '
           f'(green: ≤ {TARGET_RATIO}, the target; red: above; grey “?”: other processes took the CPU).</text>']
    x = margin_l
    for kind, t, label, color in series:
        out.append(f'<rect x="{x}" y="86" width="14" height="14" fill="{color}"/>')
        out.append(f'<text x="{x + 19}" y="98">{esc(label)}</text>')
        x += 19 + 7.2 * len(label) + 24
    for row, d in enumerate(DIRECTIONS):
        for col, l in enumerate(LAYOUTS):
            px = margin_l + col * (panel_w + gap_x)
            py = margin_t + row * (panel_h + gap_y)
            values = {}
            for s in shapes:
                for kind, t, _, _ in series:
                    if kind == "ours":
                        values[(s, kind, t)] = results.ours_ms(s, l, d, t, default)[0]
                    else:
                        values[(s, kind, t)] = results.anchor_ms(PEERS, s, l, d, t)[0]
            present = [v for v in values.values() if v]
            lo = 10 ** math.floor(math.log10(min(present))) if present else 0.1
            hi = 10 ** math.ceil(math.log10(max(present))) if present else 100
            if hi <= lo:
                hi = lo * 10

            def y_of(v):
                return py + panel_h - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * panel_h
            out.append(f'<text x="{px}" y="{py - 22}" font-size="14" font-weight="bold">{d}, {l}</text>')
            out.append(f'<rect x="{px}" y="{py}" width="{panel_w}" height="{panel_h}" fill="none" stroke="#bbb"/>')
            decade = lo
            while decade <= hi * 1.0001:
                for step in (1, 2, 5):
                    tick = decade * step
                    if tick > hi * 1.0001:
                        break
                    y = y_of(tick)
                    shade = "#d8d8d8" if step == 1 else "#f0f0f0"
                    out.append(f'<line x1="{px}" y1="{y:.1f}" x2="{px + panel_w}" y2="{y:.1f}" stroke="{shade}"/>')
                    out.append(f'<text x="{px - 6}" y="{y + 4:.1f}" text-anchor="end" '
                               f'fill="{"#444" if step == 1 else "#888"}" font-size="{11 if step == 1 else 9.5}">'
                               f'{tick:g}</text>')
                decade *= 10
            out.append(f'<text x="{px - 48}" y="{py + panel_h / 2}" transform="rotate(-90 {px - 48} '
                       f'{py + panel_h / 2})" text-anchor="middle" fill="#444">ms</text>')
            group_w = panel_w / max(1, len(shapes))
            bar_w = min(18, (group_w - 16) / len(series))
            for i, s in enumerate(shapes):
                gx = px + i * group_w + (group_w - bar_w * len(series)) / 2
                for j, (kind, t, label, color) in enumerate(series):
                    v = values[(s, kind, t)]
                    bx = gx + j * bar_w
                    if v:
                        y = y_of(v)
                        out.append(f'<rect x="{bx:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" '
                                   f'height="{py + panel_h - y:.1f}" fill="{color}">'
                                   f'<title>{esc(f"{s} {l} {d}: {label} {v:.3g} ms")}</title></rect>')
                    else:
                        out.append(f'<text x="{bx + bar_w / 2:.1f}" y="{py + panel_h - 4}" font-size="9" '
                                   f'text-anchor="middle" fill="#999">–</text>')
                for j, t in enumerate(threads):
                    ours, peer = values[(s, "ours", t)], values[(s, "peer", t)]
                    ratio, _, contended = results.ratio(s, l, d, t, default)
                    if ours and peer and ratio is not None:
                        top = min(y_of(ours), y_of(peer))
                        cx = gx + (2 * j + 1) * bar_w
                        colour = "#888888" if contended else "#1a7f37" if ratio <= TARGET_RATIO else "#c62828"
                        out.append(f'<text x="{cx:.1f}" y="{top - 4:.1f}" font-size="9.5" text-anchor="middle" '
                                   f'fill="{colour}">{ratio:.2f}{"?" if contended else ""}</text>')
                dims = "x".join(map(str, SHAPES[s]))
                out.append(f'<text x="{px + i * group_w + group_w / 2:.1f}" y="{py + panel_h + 16}" '
                           f'text-anchor="middle" font-weight="bold">{s}</text>')
                out.append(f'<text x="{px + i * group_w + group_w / 2:.1f}" y="{py + panel_h + 30}" '
                           f'text-anchor="middle" font-size="9.5" fill="#666">{dims}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def esc(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# ====================================================================================== main

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="measure ours and the anchors side by side")
    run.add_argument("--batchnorm", required=True, help="the release batchnorm executable")
    run.add_argument("--anchors", required=True, help="a writable copy of shared/anchors")
    run.add_argument("--results", required=True, help="folder for raw results (created)")
    run.add_argument("--runs", type=int, default=1)
    run.add_argument("--shapes", default=",".join(SHAPES))
    run.add_argument("--threads", default="1,2")
    run.add_argument("--quick", action="store_true", help="pass --quick to batchnorm bench (smoke test)")
    run.add_argument("--no-anchors", action="store_true")
    run.add_argument("--wait-quiet", type=float, default=0, metavar="MINUTES",
                     help="before each step wait (at most MINUTES in all) until other processes are idle")
    run.add_argument("--invocation", help="the command line to show in the report")
    run.add_argument("--build-command", help="how batchnorm was built, for the report")
    report = sub.add_parser("report", help="write BENCHMARKS.md and benchmarks.svg from a results folder")
    report.add_argument("--results", required=True)
    report.add_argument("--docs", default="docs")
    report.add_argument("--default-path", default="fused", choices=PATHS)
    args = parser.parse_args()
    if args.command == "run":
        command_run(args)
    else:
        command_report(args)


if __name__ == "__main__":
    main()
