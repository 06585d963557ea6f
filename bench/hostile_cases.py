"""Reproduce the example cases of issue 8 (hostile and broken input), one CLI call each.

Every case runs `python -m cnntool ...` in a fresh process with a wall-clock limit and an
address-space cap, and passes when the process ends in time with the expected exit code, no
Traceback, no raw ESC byte on the terminal streams, the error in the expected form and (for `-o`
cases) the file system as it should be. Prints one line per case and the counts per class.

    python bench/hostile_cases.py                 # all classes (class 5 needs torch: ~3 min)
    python bench/hostile_cases.py --classes 1 2 4 # some of them
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

TIMEOUT_S = 60  # a hang guard: every case must end well inside it
TORCH_TIMEOUT_S = 300  # `check` builds and traces three models with torch: ~10 s of CPU, minutes on a loaded machine
LOCATED = re.compile(r"^[^\n]*:\d+:\d+: error: ", re.M)


@dataclass
class Case:
    klass: int
    name: str
    args: list[str]
    codes: tuple[int, ...] = (2,)
    located: bool = False  # the first stderr line is file:line:col: error:
    expect: Callable[[subprocess.CompletedProcess], str] | None = None  # '' when fine, else why not
    memory_gb: int = 3
    timeout_s: int = TIMEOUT_S


def spec(body: str) -> str:
    return "name: t\ninput: [3, 32, 32]\n" + body


def run_case(case: Case, tmp: Path) -> str:
    """'' when the case passes, else the reason."""
    cap = case.memory_gb * 2**30

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "cnntool", *case.args], cwd=tmp, capture_output=True,
                              timeout=case.timeout_s, preexec_fn=limit, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"no end within {case.timeout_s} s"
    out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    proc.stdout, proc.stderr = out, err
    if "Traceback" in out + err:
        return "traceback: " + err.strip().splitlines()[-1][:120]
    if proc.returncode not in case.codes:
        return f"exit {proc.returncode} (want {case.codes}): {err.strip()[:120]!r}"
    if "\x1b" in out + err:
        return "raw ESC reached the terminal"
    if case.located and not LOCATED.match(err):
        return f"error not located: {err.strip()[:120]!r}"
    if case.expect:
        return case.expect(proc)
    return "" if time.perf_counter() - start < case.timeout_s else "too slow"


def _is_char_device(path: str) -> Callable:
    return lambda p: "" if stat.S_ISCHR(os.stat(path).st_mode) else f"{path} is no longer a device"


def cases(tmp: Path) -> list[Case]:
    w = lambda name, text: ((tmp / name).write_text(text), name)[1]  # noqa: E731
    old = lambda name, mode: (w(name, "old\n"), os.chmod(tmp / name, mode))[0]  # noqa: E731
    # device nodes of our own (we may be root: never aim a writer at the real /dev/null)
    os.mknod(tmp / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(tmp / "full", 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    os.mknod(tmp / "full.png", 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    os.mknod(tmp / "full.pt2", 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    os.mkfifo(tmp / "fifo")
    os.mkfifo(tmp / "fifo.yaml")
    w("target.json", "old\n")
    os.symlink("target.json", tmp / "link.json")

    def unchanged(name: str, mode: int | None = None) -> Callable:
        def check(_: subprocess.CompletedProcess) -> str:
            st = os.lstat(tmp / name)
            if mode is not None and stat.S_IMODE(st.st_mode) != mode:
                return f"{name}: mode {oct(stat.S_IMODE(st.st_mode))}, want {oct(mode)}"
            return ""
        return check

    def link_written(_: subprocess.CompletedProcess) -> str:
        if not os.path.islink(tmp / "link.json"):
            return "the symlink was replaced"
        return "" if (tmp / "target.json").read_text().startswith("{") else "the link's target not written"

    def content(name: str, text: str) -> Callable:
        return lambda _: "" if (tmp / name).read_text() == text else f"{name} changed or truncated"

    def mode_kept(_: subprocess.CompletedProcess) -> str:
        return unchanged("secret.json", 0o600)(_) or ("" if (tmp / "secret.json").read_text().startswith("[") else
                                                       "not written")
    c: list[Case] = []
    # 1 -- one writer
    c += [Case(1, "-o a null device", ["flops", "lenet5", "-f", "json", "-o", "null"], (0,),
               expect=_is_char_device(str(tmp / "null"))),
          Case(1, "-o FIFO without a reader", ["flops", "lenet5", "-f", "json", "-o", "fifo"]),
          Case(1, "-o symlink", ["flops", "lenet5", "-f", "json", "-o", "link.json"], (0,), expect=link_written),
          Case(1, "-o 0600 file", ["list", "-f", "json", "-o", old("secret.json", 0o600)], (0,), expect=mode_kept),
          Case(1, "-o read-only file", ["flops", "lenet5", "-o", old("ro.txt", 0o444)],
               expect=content("ro.txt", "old\n")),
          Case(1, "-o a full device", ["flops", "lenet5", "-f", "json", "-o", "full"],
               expect=_is_char_device(str(tmp / "full"))),
          Case(1, "-o missing folder", ["flops", "lenet5", "-o", "nowhere/x.json"]),
          Case(1, "-o into a file as folder", ["flops", "lenet5", "-o", "target.json/x.json"]),
          Case(1, "plot -o missing folder", ["plot", "layers", "lenet5", "-o", "nowhere/x.png"], memory_gb=8),
          Case(1, "plot -o a full device", ["plot", "layers", "lenet5", "-o", "full.png"], memory_gb=8),
          Case(1, "build --export a full device", ["build", "lenet5", "--export", "full.pt2"], memory_gb=16),
          Case(1, "build --export missing folder", ["build", "lenet5", "--export", "nowhere/x.pt2"], memory_gb=16),
          Case(1, "build --export read-only", ["build", "lenet5", "--export", old("ro.pt2", 0o444)],
               expect=content("ro.pt2", "old\n"), memory_gb=16)]
    # 2 -- expansion work and value sizes
    c += [Case(2, "seq: [] 1e5 x 1e5", ["shapes", w("seq.yaml", spec(
               "blocks:\n  b:\n    layers:\n      - seq: []\n        repeat: 100000\n"
               "layers:\n  - relu\n  - b\n    repeat: 100000\n".replace("  - b\n    repeat", "  - b:\n    repeat")))],
               located=True),
          Case(2, "if: false 1e5 x 1e5", ["shapes", w("if.yaml", spec(
               "blocks:\n  b:\n    layers:\n      - relu:\n        if: false\n        repeat: 100000\n"
               "layers:\n  - relu\n  - b:\n    repeat: 100000\n"))], located=True),
          Case(2, "nested ** towers", ["shapes", w("pow.yaml", spec(
               "layers:\n  - linear: '${((((10**64)**64)**64)**64)**64}'\n"))], located=True),
          Case(2, "sum of lists", ["shapes", w("sum.yaml", spec(
               "layers:\n  - relu:\n    name: '${len(sum([[0]*100000]*100000, []))}'\n"))], located=True),
          Case(2, "% format width", ["shapes", w("fmt.yaml", spec(
               "layers:\n  - relu:\n    name: \"${'%0999999999d' % 0}\"\n"))], located=True),
          Case(2, "string * big", ["shapes", w("mul.yaml", spec(
               "layers:\n  - relu:\n    name: \"${'a' * 99999 * 99999}\"\n"))], located=True)]
    # 3 -- bounded reads
    c += [Case(3, "shapes /dev/zero", ["shapes", "/dev/zero"], memory_gb=1),
          Case(3, "shapes FIFO", ["shapes", "fifo.yaml"]),
          Case(3, "check --fast /dev/zero", ["check", "--fast", "/dev/zero"], memory_gb=1),
          Case(3, "check --fast FIFO", ["check", "--fast", "fifo.yaml"]),
          Case(3, "bench-compare /dev/zero", ["bench-compare", "/dev/zero", "/dev/zero"], memory_gb=1),
          Case(3, "bench-compare FIFO", ["bench-compare", "fifo", "fifo"])]
    # 4 -- every exception from spec content is a located error
    for i, expr in enumerate(["-[1]", "[1] < 2", "[1,2][::0]", "1e300**2", "int(1e999)", "+".join(["1"] * 3000),
                              "'%d' % 'a'", "round(1e308, -400)", "[1]*-1 + 'a'", "'%s %s' % 1"]):
        c.append(Case(4, f"expression {expr[:24]}", ["shapes", w(f"e{i}.yaml", spec(
            f"layers:\n  - linear: \"${{{expr}}}\"\n"))], located=True))
    for i, scalar in enumerate(["!!int abc", "!!bool maybe", "9" * 5000, "!!float x", "!!null 3"]):
        c.append(Case(4, f"YAML scalar {scalar[:16]}", ["shapes", w(f"y{i}.yaml", spec(
            f"layers:\n  - linear: {scalar}\n"))], located=True))
    c += [Case(4, "401-digit out", ["shapes", w("big.yaml", spec(f"layers:\n  - conv: {{out: {'9' * 401}, kernel: 1}}\n"))],
               located=True),
          Case(4, "huge input", ["summary", w("bigin.yaml", "name: t\ninput: [3, 10000000000, 10000000000]\n"
                                                        "layers: [relu]\n")], located=True),
          Case(4, "upsample tower", ["summary", w("up.yaml", spec("layers:\n  - upsample: 1000000\n    repeat: 60\n"))],
               located=True),
          Case(4, "accuracy: 5", ["list-ignore" if False else "shapes", w("acc.yaml", spec("accuracy: 5\nlayers: [relu]\n"))],
               located=True),
          Case(4, "name: [a] with for", ["shapes", w("nf.yaml", spec(
               "layers:\n  - relu:\n    name: [a]\n    for: {c: [1, 2]}\n"))], located=True),
          Case(4, "25 nested seq in a self-call", ["shapes", w("self.yaml", spec(
               "blocks:\n  u:\n    layers:\n      - " + "seq: [" * 25 + "u" + "]" * 25 + "\nlayers: [u]\n"))],
               located=True)]
    # 5 -- check never crashes (torch)
    two = lambda name, body: ["check", "-f", "json", w(name, body), "model_specs/lenet5.yaml"]  # noqa: E731

    def lenet_row(proc: subprocess.CompletedProcess) -> str:
        try:
            names = [m["name"] for m in json.loads(proc.stdout)["models"]]
        except (ValueError, KeyError):
            return "no JSON result"
        return "" if {"lenet5", "lenet5-dense"} <= set(names) and len(names) == 3 else f"models in the result: {names}"
    specs = Path(__file__).resolve().parents[1] / "model_specs"
    os.symlink(specs, tmp / "model_specs")
    c += [Case(5, "no parameters", two("np.yaml", spec("layers: [relu]\n")), (0, 1), expect=lenet_row, memory_gb=16, timeout_s=TORCH_TIMEOUT_S),
          Case(5, "reference forward fails", two("rf.yaml", "name: t\ninput: [1, 64, 64]\nreference: torchvision.models."
                                                 "resnet18\nlayers:\n  - conv: {out: 8, kernel: 3}\n"), (1,),
               expect=lenet_row, memory_gb=16, timeout_s=TORCH_TIMEOUT_S),
          Case(5, "regnet reference", two("rg.yaml", spec("reference: torchvision.models.regnet_y_400mf\n"
                                                          "layers:\n  - conv: {out: 8, kernel: 3}\n")), (1,),
               expect=lenet_row, memory_gb=16, timeout_s=TORCH_TIMEOUT_S),
          Case(5, "activations over memory", two("act.yaml", "name: t\ninput: [1, 30000, 30000]\nlayers:\n"
                                                 "  - conv: {out: 4, kernel: 1}\n  - upsample: 2\n"), (0, 1),
               expect=lenet_row, memory_gb=16, timeout_s=TORCH_TIMEOUT_S),
          Case(5, "storage overflow", two("ov.yaml", "name: t\ninput: [3, 10000000000, 10000000000]\nlayers: [relu]\n"),
               (1, 2), expect=lenet_row, memory_gb=16, timeout_s=TORCH_TIMEOUT_S)]
    # 6 -- names
    c += [Case(6, "a.cv vs a calling cv", ["shapes", w("dup.yaml", spec(
               "blocks:\n  cv:\n    layers: [conv1x1]\n  a:\n    layers: [cv]\n  'a.cv':\n    layers: [conv1x1]\n"
               "defaults: {}\nlayers:\n  - a\n  - a.cv\n").replace("conv1x1", "{conv: {out: 3, kernel: 1}}"))],
               located=True),
          Case(6, "empty name", ["shapes", w("en.yaml", spec("layers:\n  - relu: {name: ''}\n"))], located=True),
          Case(6, "ESC in a name", ["shapes", w("esc.yaml", spec('layers:\n  - relu:\n    name: "\\e[2J\\e]0;x\\a"\n'))],
               located=True),
          Case(6, "ESC in a kind", ["shapes", w("esck.yaml", spec('layers:\n  - "\\e[2Jx": 3\n'))], located=True),
          Case(6, "ESC in a block name", ["shapes", w("escb.yaml", spec(
               'blocks:\n  "\\e[31mred":\n    layers: [relu]\nlayers: [relu]\n'))], located=True),
          Case(6, "newline in a name", ["shapes", w("nl.yaml", spec('layers:\n  - relu:\n    name: "a\\nb"\n'))],
               located=True),
          Case(6, "ESC in a file name", ["shapes", "\x1b[2Jx.yaml"])]
    # 7 -- bench-compare input
    good = {"schema": "cnntool.bench/1", "model": {"name": "m", "input_shape": [3, 8, 8]},
            "precision": {"effective": "fp32"}, "rows": [{"batch": 1, "status": "ok",
            "throughput": {"median_img_s": 10.0, "iqr_img_s": 1.0}, "latency": {"p50_s": 0.1, "iqr_s": 0.01}}]}
    w("good.json", json.dumps(good))

    def bad(name: str, edit: Callable[[dict], None] | str) -> list[str]:
        if isinstance(edit, str):
            return ["bench-compare", w(name, edit), "good.json"]
        data = json.loads(json.dumps(good))
        edit(data)
        return ["bench-compare", w(name, json.dumps(data)), "good.json"]
    c += [Case(7, "deep nesting", bad("deep.json", "[" * 100000 + "]" * 100000)),
          Case(7, "5000-digit number", bad("num.json", json.dumps(good).replace("10.0", "9" * 5000))),
          Case(7, "null throughput", bad("null.json", lambda d: d["rows"][0].update(throughput=None))),
          Case(7, "missing throughput", bad("miss.json", lambda d: d["rows"][0].pop("throughput"))),
          Case(7, "zero median", bad("zero.json", lambda d: d["rows"][0]["throughput"].update(median_img_s=0))),
          Case(7, "string median", bad("str.json", lambda d: d["rows"][0]["throughput"].update(median_img_s="9"))),
          Case(7, "rows not a list", bad("rows.json", lambda d: d.update(rows=5)))]
    # 8 -- bench option bounds (refused before any torch work)
    for opts in (["--iters", "1000000000000"], ["--repeats", "1000000000"], ["--budget", "inf"], ["--budget", "nan"],
                 ["--threads", "100000"], ["--warmup", "1000000000000"], ["--warmup-time", "inf"]):
        c.append(Case(8, " ".join(opts), ["bench", "lenet5", *opts], memory_gb=16))
    # 9 -- unlocated errors
    c += [Case(9, "seq: 5", ["shapes", w("s5.yaml", spec("layers:\n  - seq: 5\n"))], located=True),
          Case(9, "vgg.yaml: trailing colon", ["shapes", "vgg.yaml:"],
               expect=lambda p: "" if "::" not in p.stderr.splitlines()[0] else "'::' in the location"),
          Case(9, "parallel branches: 5", ["shapes", w("pb.yaml", spec("layers:\n  - parallel: {branches: 5}\n"))],
               located=True),
          Case(9, "duplicate across scopes", ["shapes", w("ds.yaml", spec(
               "blocks:\n  cv:\n    layers: [relu]\nlayers:\n  - parallel:\n      branches:\n        a: [cv]\n"
               "        'a.cv1': [relu]\n"))], located=True)]
    return c


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="*", default=list(range(1, 10)))
    args = parser.parse_args()
    failed: dict[int, int] = {}
    total: dict[int, int] = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for case in cases(tmp):
            if case.klass not in args.classes:
                continue
            why = run_case(case, tmp)
            total[case.klass] = total.get(case.klass, 0) + 1
            failed[case.klass] = failed.get(case.klass, 0) + bool(why)
            print(f"{case.klass} {'FAIL' if why else 'ok  '} {case.name}: {why}".rstrip(": "), flush=True)
    print("\nclass  cases  pass  fail")
    for k in sorted(total):
        print(f"{k:5}  {total[k]:5}  {total[k] - failed[k]:4}  {failed[k]:4}")
    print(f"all    {sum(total.values()):5}  {sum(total.values()) - sum(failed.values()):4}  {sum(failed.values()):4}")
    return 1 if any(failed.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
