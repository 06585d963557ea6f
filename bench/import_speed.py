"""Wall time and peak memory of `cnntool import` (each model in a fresh process).

The model is built on the meta device, so neither grows with the parameter count; the largest
case is a 1.04 B-parameter VGG-16 (a 220,000-class head), which would need 4.14 GB as fp32 weights (1,035,600,544 parameters).

    python bench/import_speed.py
"""
from __future__ import annotations

import subprocess
import sys

CASES = [("torchvision.models.resnet50", []), ("torchvision.models.mobilenet_v3_large", []),
         ("torchvision.models.regnet_y_128gf", []), ("torchvision.models.vgg16", ["-a", "num_classes=220000"])]
CHILD = """
import resource, sys, time
t0 = time.perf_counter()
import torch, torchvision  # noqa: E401  (timed apart: on a loaded machine it dominates)
from cnntool.cli.main import app
t1 = time.perf_counter()
try:
    app(["import", *sys.argv[1:], "-o", "/dev/null"])
except SystemExit as exc:
    assert not exc.code, exc.code
t2 = time.perf_counter()
print(f"{t2 - t1:.2f} {t1 - t0:.2f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
"""


def main() -> None:
    print(f"{'model':<42} {'import s':>9} {'torch import s':>15} {'peak RSS MiB':>13}")
    for target, args in CASES:
        out = subprocess.run([sys.executable, "-c", CHILD, target, *args], capture_output=True, text=True, check=True)
        seconds, startup, rss = out.stdout.split()
        print(f"{target + ' ' + ' '.join(args):<42} {seconds:>9} {startup:>15} {rss:>13}")


if __name__ == "__main__":
    sys.exit(main())
