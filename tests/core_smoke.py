"""Every subcommand on a core install (no torch, torchvision, fvcore or matplotlib): no traceback.

Run by tests/test_core_install.py under an import blocker, and by .ci/run in a venv holding only
`pip install .`:  python tests/core_smoke.py
Commands that need an extra must say so in one line naming it and exit 2; the rest must work.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TORCH = "pip install 'cnntool[torch]'"
PLOT = "pip install 'cnntool[plot]'"
EXTRAS = ("torch", "torchvision", "fvcore", "matplotlib")


def _bench_result(path: Path) -> str:
    """A minimal `cnntool bench --format json` file (schema cnntool.bench/1)."""
    row = {"batch": 1, "status": "ok", "throughput": {"median_img_s": 100.0, "iqr_img_s": 1.0},
           "latency": {"p50_s": 0.01, "iqr_s": 0.0}}
    path.write_text(json.dumps({"schema": "cnntool.bench/1", "model": {"name": "lenet5", "input_shape": [1, 32, 32]},
                                "precision": {"effective": "fp32"}, "rows": [row]}))
    return str(path)


def calls(tmp: Path) -> list[tuple[list[str], int, str]]:
    """(arguments, exit code, text the output must hold): a --help and one real call per command."""
    result = _bench_result(tmp / "a.json")
    helps = [([*cmd, "--help"], 0, "Usage") for cmd in (
        [], ["shapes"], ["params"], ["flops"], ["summary"], ["list"], ["compare"], ["check"], ["build"],
        ["bench"], ["bench-compare"], ["plot"], ["plot", "zoo"], ["plot", "layers"], ["schema"], ["spec"])]
    return helps + [
        (["shapes", "alexnet"], 0, "receptive field"),
        (["params", "lenet5", "-f", "csv"], 0, "total"),
        (["flops", "vgg16", "-f", "json"], 0, "15470264320"),  # torchvision vgg16 _ops (references.md)
        (["summary", "resnet18", "-d", "1"], 0, "layer4"),
        (["list", "-f", "csv"], 0, "resnet50"),
        (["compare", "vgg11", "vgg16"], 0, "vgg16"),
        (["schema"], 0, "$schema"),
        (["spec", "vgg16"], 0, "name: vgg16"),
        (["check", "--fast", "vgg16"], 0, "1 of 1 model passes"),
        (["check", "vgg16"], 2, TORCH),
        (["build", "vgg16"], 2, TORCH),
        (["bench", "lenet5"], 2, TORCH),
        (["bench-compare", result, result], 0, "B/A"),
        (["plot", "zoo", "-o", str(tmp / "zoo.png")], 2, PLOT),
        (["plot", "layers", "vgg16", "-o", str(tmp / "vgg16.png")], 2, PLOT),
    ]


BLOCKER = f'''import sys
class _Blocked:
    """A core install: the extras cannot be imported."""
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {EXTRAS!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, _Blocked())
'''


def run_here(tmp: Path) -> list[str]:
    """Run every call in this process (CliRunner: cheap); return what went wrong."""
    from typer.testing import CliRunner

    from cnntool.cli.main import app

    problems = []
    for args, code, needle in calls(tmp):
        result = CliRunner().invoke(app, args, env={"COLUMNS": "120"})
        text = result.stdout + result.stderr
        what = f"cnntool {' '.join(args)}"
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            problems.append(f"{what}: raised {result.exception!r}")
        elif result.exit_code != code or needle not in text or "Traceback" in text:
            problems.append(f"{what}: exit {result.exit_code} (want {code}), wanted {needle!r}:\n{text[-800:]}")
        elif code == 2 and len(result.stderr.strip().splitlines()) != 1:
            problems.append(f"{what}: want one line on stderr, got:\n{result.stderr}")
    return problems


def run_blocked() -> subprocess.CompletedProcess:
    """This script in a fresh interpreter where the extras cannot be imported (a sitecustomize hook)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sitecustomize.py").write_text(BLOCKER)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([tmp, *filter(None, [os.environ.get("PYTHONPATH")])]))
        return subprocess.run([sys.executable, __file__], capture_output=True, text=True, env=env, timeout=300)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        found = run_here(Path(folder))
        print("\n\n".join(found) or f"core install: all {len(calls(Path(folder)))} calls behave")
    sys.exit(1 if found else 0)
