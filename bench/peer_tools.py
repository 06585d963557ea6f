"""The analysis' predicted peer-tool totals (`totals.peers`) against the tools, on every zoo model.

    python bench/peer_tools.py                     # the whole zoo, about 30 minutes on 2 cores
    python bench/peer_tools.py unet deconvnet      # some models

torchinfo, thop, ptflops' aten backend and FlopCounterMode run on the meta device (they only
read shapes); ptflops' pytorch backend and fvcore need real tensors and run a CPU forward.
Tools that are not installed are left out. Exits 1 if any prediction differs.
"""
from __future__ import annotations

import sys
import time

import torch

import cnntool
from cnntool.check.peer_tools import installed, tool_totals
from cnntool.spec.zoo import zoo
from cnntool.torch.build import materialise

ON_META = {"torchinfo", "thop", "ptflops-aten", "flopcounter"}


def measure(model, tools: list[str]) -> dict[str, int]:
    meta = [t for t in tools if t in ON_META]
    real = [t for t in tools if t not in ON_META]
    net = cnntool.build(model, device="meta", init=False)
    found = tool_totals(net, torch.empty(1, *model.input_shape, device="meta"), meta) if meta else {}
    if real:
        found |= tool_totals(materialise(net), torch.randn(1, *model.input_shape), real)
    return found


def main(names: list[str]) -> int:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    tools = installed()
    print("tools:", ", ".join(tools))
    bad = 0
    for name in names or sorted(zoo()):
        model = cnntool.load(name)
        ours = cnntool.analyze(model).totals.peers
        start = time.perf_counter()
        theirs = measure(model, tools)
        differ = {t: (theirs[t], ours[t]) for t in tools if theirs[t] != ours[t]}
        bad += bool(differ)
        cells = "  ".join(f"{t} {theirs[t]:,}" for t in tools)
        print(f"{name:16} {'agrees' if not differ else f'DIFFERS {differ}'}  {cells}  "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"{bad} model(s) differ" if bad else "every prediction equals the tool's total")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
