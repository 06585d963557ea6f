"""Mutation fuzzing of the spec pipeline: every built-in spec, mutated at random, must either
load, analyse and render, or fail with a SpecError. Anything else is a crash.

Each mutant is a built-in spec's YAML with one to three random edits (a value replaced by a
hostile one, a key or item deleted or duplicated, a meta key or field added), run in this process
through SpecFile -> model (one variant) -> analyze -> JSON, CSV, markdown and rich tables, under a
per-mutant CPU-time limit (SIGPROF) and an address-space cap (RLIMIT_AS), so a hang or a memory bomb
is a crash too. tests/test_fuzz.py runs a few hundred; this script runs as many as asked:

    python bench/fuzz_specs.py --count 10000 --seed 1      # prints crashes, exits 1 if any
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import random
import resource
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Iterator

import yaml

from cnntool.analysis.analyze import analyze, collapse
from cnntool.errors import SpecError
from cnntool.render.tables import Format, fitted_report_table, report_json, rows_table, text_table
from cnntool.spec.file import SpecFile
from cnntool.spec.zoo import spec_dir

TIME_LIMIT_S = 60  # CPU seconds per mutant: a hang guard; 100,000 layers (MAX_LAYERS) take ~30 s on 2 cores
MEMORY_HEADROOM = 2 * 2**30  # bytes of address space a mutant may add to the process

HOSTILE: list[Any] = [
    0, -1, 1, 2, 3, 7, 2**24, 2**24 + 1, 10**29, 10**30, -10**9, 0.5, -0.0, 1e308, 1e-320, True, False, None,
    "", "x", "a.b", "input", "relu", "conv", "seq", "parallel", "same", "valid", "\x1b[2J", "a\nb", "-",
    "$", "${", "${}", "$x", "${c}", "${10**64}", "${2**255}", "${[0]*100000}", "${range(100001)}", "${1/0}",
    "${'%0999999d' % 0}", "${-[1]}", "${[1] < 2}", "${1e300**2}", "${int(1e999)}", "${'a' * 100001}",
    "${len(sum([[0]*1000]*1000, []))}", "${round(5, -10**18)}", "${" + "+".join(["1"] * 600) + "}",
    [], [1], [0], [1, 2], [1, 2, 3], [3, 32, 32], [-1, 5], [[1]], ["a", "b"], {}, {"a": 1}, {"out": 8},
    {"c": [1, 2]}, {"branches": [[], []]}, {"branches": 5}, {"layers": []},
]
KEYS = ["repeat", "for", "if", "name", "from", "seq", "parallel", "kernel", "out", "stride", "padding",
        "groups", "dilation", "branches", "merge", "scale", "features", "in", "args", "layers", "input",
        "expect", "accuracy", "variants", "defaults", "blocks", "reference", "like", "indices", "top1"]
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when there: the fuzz spends its time in cnntool
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
BIG = [1000, 100001, 2**24, 10**6]  # counts that reach or pass the layer limit (slow but legal ones are rare)
RICH_ROWS = 300  # rich tables of more rows are slow (minutes at 100,000), not wrong: measured by bench_cli.py


def _nodes(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _nodes(v, (*path, i))


def _parent(doc: Any, path: tuple) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


def mutate(doc: Any, rng: random.Random) -> Any:
    """One random edit of ``doc`` (in place; the document itself when the root is replaced)."""
    path, value = rng.choice(list(_nodes(doc)))
    choice = rng.random()
    if not path:
        return rng.choice(HOSTILE) if choice < 0.05 else doc
    parent, key = _parent(doc, path), path[-1]
    if choice < 0.45:
        parent[key] = rng.choice(HOSTILE + [rng.choice(BIG)])
    elif choice < 0.6:
        del parent[key]
    elif choice < 0.7 and isinstance(parent, list):
        parent.insert(key, parent[key])
    elif choice < 0.8 and isinstance(value, dict):
        value[rng.choice(KEYS)] = rng.choice(HOSTILE + BIG)
    elif choice < 0.9 and isinstance(value, (list, dict)) and value:
        parent[key] = {"seq": value} if isinstance(value, list) else {"repeat": rng.choice(BIG), **value}
    else:
        other_path, other = rng.choice(list(_nodes(doc)))
        if other_path and other_path[:len(path)] != path and path[:len(other_path)] != other_path:
            parent[key] = other  # a shared sub-tree: YAML writes it as an alias
    return doc


def mutants(seed: int, count: int) -> Iterator[tuple[str, str]]:
    """(name, YAML text) of ``count`` mutants, cycling through the built-in spec files."""
    rng = random.Random(seed)
    files = sorted(spec_dir().glob("*.yaml"))
    docs = {f.name: yaml.load(f.read_text(encoding="utf-8"), Loader=_LOADER) for f in files}
    for i in range(count):
        name = files[i % len(files)].name
        doc = copy.deepcopy(docs[name])
        for _ in range(rng.randint(1, 3)):
            doc = mutate(doc, rng)
        yield f"mutant{i}-{name}", yaml.dump(doc, Dumper=_DUMPER, allow_unicode=True, sort_keys=False)


class Timeout(Exception):
    """A mutant ran past TIME_LIMIT_S."""


@contextlib.contextmanager
def guarded(seconds: float) -> Iterator[None]:
    """A CPU-time alarm (a shared machine's wall clock says little) and an address-space cap
    (current use + MEMORY_HEADROOM) around one run."""
    def alarm(*_: Any) -> None:
        raise Timeout(f"over {seconds} s of CPU time")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as fh:
        used = int(fh.read().split()[0]) * resource.getpagesize()
    cap = used + MEMORY_HEADROOM if hard == resource.RLIM_INFINITY else min(hard, used + MEMORY_HEADROOM)
    previous = signal.signal(signal.SIGPROF, alarm)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_one(name: str, text: str, rng: random.Random) -> None:
    """Load, analyse (one variant) and render; a SpecError is a correct answer."""
    try:
        spec = SpecFile(name, text=text, display=name)
        variant = rng.choice(list(spec.variants)) if spec.variants else None
        report = analyze(spec.model(variant))
        report_json(report)
        for fmt in (Format.csv, Format.markdown):
            text_table(*rows_table(report, "summary", keys=fmt is Format.csv), fmt)
        if len(report.layers) <= RICH_ROWS:
            from rich.console import Console
            Console(file=io.StringIO(), width=200).print(fitted_report_table(collapse(report, 1), "summary", name, None)[0])
    except SpecError as exc:
        str(exc)  # the message itself must render


def fuzz(seed: int, count: int, seconds: float = TIME_LIMIT_S) -> list[tuple[str, str, str]]:
    """Crashes as (mutant name, one-line reason, YAML text)."""
    rng = random.Random(seed + 1)
    crashes = []
    for name, text in mutants(seed, count):
        try:
            with guarded(seconds):
                run_one(name, text, rng)
        except Exception as exc:  # noqa: BLE001 -- every other exception is what we are looking for
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            crashes.append((name, f"{type(exc).__name__}: {str(exc)[:160]} "
                                  f"({Path(frame.filename).name}:{frame.lineno})", text))
    return crashes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--save", type=Path, help="folder to write each crashing mutant to")
    args = parser.parse_args()
    start = time.perf_counter()
    crashes = fuzz(args.seed, args.count)
    for name, why, text in crashes:
        print(f"CRASH {name}: {why}")
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / name).write_text(text, encoding="utf-8")
    print(f"{args.count:,} mutants (seed {args.seed}), {len(crashes)} crashes, "
          f"{time.perf_counter() - start:.0f} s")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
