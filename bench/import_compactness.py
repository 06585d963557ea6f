"""Lines of YAML: `cnntool import`'s spec against the hand-written zoo spec of the same network.

For every torchvision classification CNN (all that `torchvision.models.list_models` lists but
ViT, Swin and MaxViT), counts the lines that state the network (the `defaults:`, `blocks:` and
`layers:` sections, without blank and comment lines) and the whole file, against the zoo file
whose `reference:` names the builder. A family file's structure is shared by its variants, so
its structure lines are the fair comparison; its whole file holds every variant.

    python bench/import_compactness.py
"""
from __future__ import annotations

import statistics
import sys

import torchvision.models as tvm

from cnntool.spec.zoo import zoo
from cnntool.torch.import_spec import import_spec

ATTENTION = ("vision_transformer", "swin_transformer", "maxvit")
# the inference network (no auxiliary heads), as tests/test_import.py imports them
KWARGS = {"googlenet": {"aux_logits": False, "init_weights": False},
          "inception_v3": {"aux_logits": False, "init_weights": False}}
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
    specs = {e.model().reference.rpartition(".")[2]: e for e in zoo().values() if e.model().reference}
    names = [n for n in tvm.list_models(module=tvm)
             if tvm.get_model_builder(n).__module__.rpartition(".")[2] not in ATTENTION]
    print(f"{'model':<20} {'imported':>14} {'hand-written':>22} {'ratio':>6}   (structure / whole file)")
    ratios = []
    for name in names:
        entry = specs[name]
        ours = lines(import_spec(f"torchvision.models.{name}", KWARGS.get(name, {}), entry.model().input_shape))
        theirs = lines(entry.spec.path.read_text())
        ratios.append(ours[0] / theirs[0])
        print(f"{name:<20} {ours[0]:>6} / {ours[1]:<5} {theirs[0]:>6} / {theirs[1]:<5} "
              f"({entry.spec.path.name:<17}) {ratios[-1]:>5.2f}")
    print(f"{len(names)} models: ratio min {min(ratios):.2f}, median {statistics.median(ratios):.2f}, "
          f"max {max(ratios):.2f}; within 2×: {sum(r <= 2 for r in ratios)}")


if __name__ == "__main__":
    sys.exit(main())
