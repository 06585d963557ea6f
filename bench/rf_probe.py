"""The analysis' receptive field against a gradient probe, for nodes behind up-sampling.

    python bench/rf_probe.py                       # the cases of issue 14 (a few minutes)
    python bench/rf_probe.py unet final -i 1,1084,572 --pixels 8

The probe (cnntool.check.probes) makes every path visible: max-pools become average pools,
weights are 1 and biases 0, each module's output is rescaled and each gradient binarised on
its way back, so the input rows with a non-zero gradient of one output pixel are exactly the
rows it depends on. Receptive fields do not depend on channel widths, so HRNet runs at width 4
on a 4096×64 input (tall enough that the field is not cut by the image). It reports the
extent along H at `--pixels` neighbouring rows in the middle of the map.
"""
from __future__ import annotations

import argparse
import sys
from fractions import Fraction

import torch

import cnntool
from cnntool.check.probes import prepare_probe, rf_extents

CASES = [  # (model, node, spec arguments, input)
    ("hrnetv2-w48-seg", "score", {"width": 4}, (3, 4096, 64)),
    ("hrnetv2-w48-seg", "s4m1f4.path1.unit1.bn1", {"width": 4}, (3, 4096, 64)),
    ("hrnetv2-w48-seg", "upsample3", {"width": 4}, (3, 4096, 64)),
    ("hrnet-w18-c", "s4m3f1", {"width": 4}, (3, 4096, 64)),
]


def probe(name: str, node: str, args: dict, shape: tuple[int, ...], pixels: int) -> tuple[Fraction, list[int]]:
    model = cnntool.load(name, args or None, shape)
    report = cnntool.analyze(model)
    row = report.row(node)
    net = prepare_probe(cnntool.build(model))
    middle, column = row.out_shape[1] // 2, row.out_shape[2] // 2
    found = rf_extents(net, torch.ones(1, *shape), row.name,
                       [(middle + k, column) for k in range(pixels)])
    return row.rf.size[0], [e.h for e in found]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?")
    parser.add_argument("node", nargs="?")
    parser.add_argument("-i", "--input", help="C,H,W")
    parser.add_argument("-s", "--set", action="append", default=[], help="KEY=INT spec argument")
    parser.add_argument("--pixels", type=int, default=8)
    opts = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cases = CASES
    if opts.model:
        shape = tuple(int(v) for v in opts.input.split(",")) if opts.input else cnntool.load(opts.model).input_shape
        args = {k: int(v) for k, v in (item.split("=", 1) for item in opts.set)}
        cases = [(opts.model, opts.node or cnntool.load(opts.model).nodes[-1].name, args, shape)]
    print(f"{'model':16} {'node':26} {'analysis':>9} {'probe min':>9} {'max':>6} {'mean':>8}  per row")
    for name, node, args, shape in cases:
        ours, found = probe(name, node, args, shape, opts.pixels)
        mean = Fraction(sum(found), len(found))
        print(f"{name:16} {node:26} {float(ours):>9.6g} {min(found):>9} {max(found):>6} {float(mean):>8.6g}  {found}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
