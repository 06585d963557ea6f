"""Lines of YAML: `cnntool import`'s spec against the hand-written zoo spec of the same network.

Counts the lines that state the network (the `defaults:`, `blocks:` and `layers:` sections,
without blank and comment lines) and the whole file. A family file's structure is shared by its
variants, so its structure lines are the fair comparison; its whole file holds every variant.

    python bench/import_compactness.py
"""
from __future__ import annotations

import sys
from pathlib import Path

from cnntool.torch.import_spec import import_spec

ZOO = Path(__file__).resolve().parent.parent / "model_specs"
PAIRS = [("resnet18", {}, "resnet.yaml"), ("resnet50", {}, "resnet.yaml"), ("vgg16", {}, "vgg.yaml"),
         ("alexnet", {}, "alexnet.yaml"), ("googlenet", {"aux_logits": False, "init_weights": False}, "googlenet.yaml")]
SECTIONS = ("defaults:", "blocks:", "layers:")


def lines(text: str) -> tuple[int, int]:
    """(structure lines, all non-blank non-comment lines)."""
    structure = total = 0
    inside = False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        total += 1
        if not line.startswith(" "):
            inside = stripped.split()[0] in SECTIONS
        structure += inside
    return structure, total


def main() -> None:
    print(f"{'model':<10} {'imported':>14} {'hand-written':>14} {'ratio':>6}   (structure / whole file)")
    for name, kwargs, zoo in PAIRS:
        ours = lines(import_spec(f"torchvision.models.{name}", kwargs))
        theirs = lines((ZOO / zoo).read_text())
        print(f"{name:<10} {ours[0]:>6} / {ours[1]:<5} {theirs[0]:>6} / {theirs[1]:<5} {ours[0] / theirs[0]:>6.2f}")


if __name__ == "__main__":
    sys.exit(main())
