#!/usr/bin/env python
"""How long does a whole `cnntool` call take, and how does it grow with depth?

A benchmark, not a test. Every figure is one fresh process (interpreter start, imports, YAML,
expansion, analysis, rendering, writing the output to /dev/null), run --repeats times after one
untimed run, reported as the median wall time and the median CPU time (user + sys of the child).
cnntool is single-threaded, so on an idle machine the two agree; on a shared one the CPU time is
the steadier estimate of what a call costs, and the wall time what it felt like.

  1. startup: `python -c pass` and `python -m cnntool --version` (imports only);
  2. built-in models: `python -m cnntool flops NAME --format json` and `cnntool summary NAME`;
  3. depth: a synthetic chain of conv 3×3 (padding same) / relu pairs on an 8×16×16 input with
     10, 100, 1,000 and 10,000 layers, written twice: with `repeat:` (expansion does the work)
     and as that many literal list entries (YAML parsing does); a least-squares line of CPU time
     against layers gives the fixed cost and the per-layer slope, and the largest residual shows
     whether the growth is linear;
  4. in-process phases of the deepest literal chain (read YAML, check, expand, analyse, JSON);
  5. `python -X importtime -m cnntool flops vgg16` must import no torch, torchvision or fvcore.

Targets: under 0.3 s for a whole call on a built-in model; linear growth with depth.

    python bench/bench_cli.py [--repeats 7] [--models vgg16 resnet50 ...] [--depths 10 100 ...]
                              [--profile] [--json results.json]
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

PY = sys.executable
CNNTOOL = shutil.which("cnntool", path=str(Path(PY).parent)) or shutil.which("cnntool")
DEFAULT_MODELS = ["alexnet", "vgg16", "resnet50", "resnet152", "googlenet", "unet", "hrnet-w48-c",
                  "resnet1202"]
HEAVY = ("torch", "torchvision", "fvcore", "numpy")
TARGET_S = 0.3


@dataclass(frozen=True)
class Timing:
    wall: float  # median wall seconds
    wall_min: float
    cpu: float  # median user + sys seconds of the child process

    def __str__(self) -> str:
        return f"{self.wall:6.3f} s (cpu {self.cpu:.3f})"


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], repeats: int) -> Timing:
    first = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if first.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({first.returncode}):\n{first.stderr}")
    walls, cpus = [], []
    for _ in range(repeats):
        cpu0, start = _child_cpu(), time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - start)
        cpus.append(_child_cpu() - cpu0)
    return Timing(statistics.median(walls), min(walls), statistics.median(cpus))


def chain_yaml(layers: int, literal: bool) -> str:
    """conv/relu pairs: `layers` nodes after expansion, input node excluded."""
    head = ["name: chain", "input: [8, 16, 16]", "defaults:", "  conv: {kernel: 3, padding: same}", "layers:"]
    if literal:
        body = ["  - conv: 8", "  - relu"] * (layers // 2)
    else:
        body = ["  - seq: [conv: 8, relu]", f"    repeat: {layers // 2}"]
    return "\n".join(head + body) + "\n"


def fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = a + b·x; returns (a, b, largest |residual| / y)."""
    if len(set(xs)) < 2:
        return ys[0], 0.0, 0.0  # one depth: nothing to fit
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    a = my - b * mx
    worst = max(abs(y - (a + b * x)) / y for x, y in zip(xs, ys))
    return a, b, worst


def section(title: str) -> None:
    print(f"\n## {title}\n")


def bench_startup(repeats: int) -> dict:
    section(f"startup: median wall (and CPU) seconds of {repeats} runs")
    out = {"python -c pass": timed([PY, "-c", "pass"], repeats),
           "python -m cnntool --version": timed([PY, "-m", "cnntool", "--version"], repeats)}
    for label, t in out.items():
        print(f"{label:<32} {t}")
    return out


def bench_models(models: list[str], repeats: int) -> dict:
    section(f"built-in models: median wall (and CPU) seconds of {repeats} runs; target < {TARGET_S} s")
    print(f"{'model':<14} {'layers':>6}   {'flops NAME --format json':<26} {'summary NAME (table)':<26}")
    out = {}
    for name in models:
        flops = [PY, "-m", "cnntool", "flops", name, "--format", "json"]
        data = json.loads(subprocess.run(flops, capture_output=True, text=True, check=True).stdout)
        t_json, t_table = timed(flops, repeats), timed([CNNTOOL, "summary", name], repeats)
        n = len(data["layers"]) - 1
        flag = "" if max(t_json.cpu, t_table.cpu) < TARGET_S else "   <-- over target"
        print(f"{name:<14} {n:>6}   {str(t_json):<26} {str(t_table):<26}{flag}")
        out[name] = {"layers": n, "flops_json": t_json, "summary": t_table}
    return out


SERIES = {"repeat_json": "repeat: flops -f json", "literal_json": "literal: flops -f json",
          "literal_summary": "literal: summary"}


def bench_depth(depths: list[int], repeats: int, tmp: Path) -> dict:
    section(f"time vs depth: conv/relu chain on 8×16×16, median wall (and CPU) seconds of {repeats} runs")
    print(f"{'layers':>7}   " + " ".join(f"{title:<26}" for title in SERIES.values()) + f"{'YAML bytes':>11}")
    rows = []
    for n in depths:
        paths = {}
        for literal in (False, True):
            paths[literal] = tmp / f"chain{n}{'-literal' if literal else ''}.yaml"
            paths[literal].write_text(chain_yaml(n, literal))
        totals = [json.loads(subprocess.run([PY, "-m", "cnntool", "flops", str(p), "-f", "json"],
                                            capture_output=True, text=True, check=True).stdout)["totals"]
                  for p in paths.values()]
        assert totals[0] == totals[1], "repeat: and literal specs must give the same totals"
        row = {"layers": n, "bytes": paths[True].stat().st_size,
               "repeat_json": timed([PY, "-m", "cnntool", "flops", str(paths[False]), "-f", "json"], repeats),
               "literal_json": timed([PY, "-m", "cnntool", "flops", str(paths[True]), "-f", "json"], repeats),
               "literal_summary": timed([CNNTOOL, "summary", str(paths[True])], repeats)}
        rows.append(row)
        print(f"{n:>7}   " + " ".join(f"{str(row[k]):<26}" for k in SERIES) + f"{row['bytes']:>11,}")
    fits = {}
    print("\nleast squares on the CPU times: time = fixed + slope × layers")
    print(f"{'series':<24} {'fixed':>8} {'per 1,000 layers':>17} {'worst residual':>15}")
    for key, title in SERIES.items():
        a, b, worst = fit([r["layers"] for r in rows], [r[key].cpu for r in rows])
        fits[key] = {"fixed_s": a, "per_layer_s": b, "worst_residual": worst}
        print(f"{title:<24} {a:>6.3f} s {1000 * b:>15.3f} s {100 * worst:>14.1f} %")
    return {"rows": rows, "fits": fits}


def phases(n: int, tmp: Path) -> dict:
    """Where the time of one deep call goes, in-process (imports already paid)."""
    from cnntool.analysis.analyze import analyze
    from cnntool.render.tables import report_json
    from cnntool.spec.file import SpecFile
    from cnntool.spec.yamlsource import load_yaml
    section(f"in-process phases, literal chain of {n:,} layers (CPU seconds, best of 3; cumulative)")
    path = tmp / f"phases{n}.yaml"
    path.write_text(chain_yaml(n, literal=True))
    steps = {
        "read YAML (located)": lambda: load_yaml(path),
        "+ check spec": lambda: SpecFile(path),
        "+ expand": lambda: SpecFile(path).model(),
        "+ analyse": lambda: analyze(SpecFile(path).model()),
        "+ JSON text": lambda: json.dumps(report_json(analyze(SpecFile(path).model())), indent=2),
    }
    out = {}
    for label, step in steps.items():
        best = min(_once(step) for _ in range(3))
        out[label] = best
        print(f"{label:<22} {best:7.3f} s   {1e6 * best / n:7.1f} µs/layer")
    gc.disable()  # how much of that is the cyclic garbage collector?
    try:
        best = min(_once(steps["+ JSON text"]) for _ in range(3))
    finally:
        gc.enable()
    out["all, gc disabled"] = best
    print(f"{'all, gc disabled':<22} {best:7.3f} s   {1e6 * best / n:7.1f} µs/layer")
    return out


def _once(step) -> float:
    start = time.process_time()
    step()
    return time.process_time() - start


def no_torch(runs: int = 5) -> dict:
    section(f"imports of `python -X importtime -m cnntool flops vgg16` (median of {runs} runs)")
    by_root: dict[str, list[float]] = {}
    heavy: set[str] = set()
    count = 0
    for _ in range(runs):
        run = subprocess.run([PY, "-X", "importtime", "-m", "cnntool", "flops", "vgg16"],
                             capture_output=True, text=True, check=True)
        totals: dict[str, float] = {}
        count = 0
        for line in run.stderr.splitlines():
            if line.startswith("import time:") and "|" in line and "self" not in line:
                own, _, name = line.removeprefix("import time:").split("|")
                root = name.strip().split(".")[0].lstrip("_")
                totals[root] = totals.get(root, 0.0) + int(own) / 1000
                heavy |= {name.strip()} if root in HEAVY else set()
                count += 1
        for root, ms in totals.items():
            by_root.setdefault(root, []).append(ms)
    medians = {root: statistics.median(v + [0.0] * (runs - len(v))) for root, v in by_root.items()}
    ranked = sorted(medians.items(), key=lambda kv: -kv[1])
    print(f"modules imported: {count}; torch/torchvision/fvcore/numpy among them: "
          f"{', '.join(sorted(heavy)) if heavy else 'none'}")
    print(f"import time by top-level package (own time, ms): total {sum(medians.values()):.0f}")
    for root, ms in ranked[:10]:
        print(f"  {ms:6.1f}  {root}")
    return {"modules": count, "heavy": sorted(heavy), "by_package_ms": dict(ranked)}


def profile(n: int, tmp: Path) -> None:
    """cProfile of the CLI in-process on the deepest literal chain: the top functions."""
    from cnntool.cli.main import app
    path = tmp / f"profile{n}.yaml"
    path.write_text(chain_yaml(n, literal=True))
    section(f"cProfile: cnntool flops <chain of {n:,}> --format json -o FILE (top 20 by own time)")
    prof = cProfile.Profile()
    prof.enable()
    try:
        app(["flops", str(path), "--format", "json", "-o", str(tmp / "profile.json")], standalone_mode=False)
    finally:
        prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--models", nargs="*", default=DEFAULT_MODELS, help="none: skip this part")
    ap.add_argument("--depths", nargs="*", type=int, default=[10, 100, 1000, 10000])
    ap.add_argument("--profile", action="store_true", help="also cProfile the deepest chain in-process")
    ap.add_argument("--json", type=Path, help="write all figures to this file")
    args = ap.parse_args()
    if CNNTOOL is None:
        raise SystemExit("no `cnntool` script next to this Python; pip install -e . first")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# cnntool CLI benchmark — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"{platform.platform()}; {os.cpu_count()} CPUs; load average {load:.1f} at the start; "
          f"Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        results = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                               "python": platform.python_version(), "load_at_start": load},
                   "startup": bench_startup(args.repeats),
                   "models": bench_models(args.models, args.repeats),
                   "depth": bench_depth(args.depths, args.repeats, tmp),
                   "phases": phases(max(args.depths), tmp),
                   "imports": no_torch()}
        if args.profile:
            profile(max(args.depths), tmp)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=asdict) + "\n")
    if results["imports"]["heavy"]:
        raise SystemExit("FAIL: the analysis imported " + ", ".join(results["imports"]["heavy"]))


if __name__ == "__main__":
    main()
