"""The analysis' inference peak (`peak_act_bytes`) against a real CPU forward of every zoo model.

    python bench/peak_memory.py                    # the whole zoo, about 10 minutes on 2 cores
    python bench/peak_memory.py unet resnet50      # some models

The measurement (cnntool.check.probes.LivePeak) is a TorchDispatchMode that counts the bytes of
distinct tensor storages alive after each op, the input included (the caller holds it) and
weights excluded. Exits 1 if any model differs. tests/test_measured.py runs the small models.
"""
from __future__ import annotations

import sys
import time

import torch

import cnntool
from cnntool.check.probes import live_peak
from cnntool.spec.zoo import zoo
from cnntool.torch.build import materialise


def main(names: list[str]) -> int:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"{'model':18} {'analysis':>14} {'measured':>14} {'difference':>11} {'seconds':>8}")
    bad = 0
    for name in names or sorted(zoo()):
        model = cnntool.load(name)
        ours = cnntool.analyze(model).totals.peak_act_bytes
        start = time.perf_counter()
        net = materialise(cnntool.build(model, device="meta", init=False))
        measured = live_peak(net, torch.randn(1, *model.input_shape))
        bad += measured != ours
        print(f"{name:18} {ours:>14,} {measured:>14,} {measured - ours:>+11,} {time.perf_counter() - start:>8.1f}",
              flush=True)
    print(f"{bad} model(s) differ" if bad else "every model agrees to the byte")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
