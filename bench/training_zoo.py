#!/usr/bin/env python
"""Every zoo model's training-step prediction against torch, on CPU.

For each built-in model (or those named):
  * MACs: FlopCounterMode around model(x).sum().backward() on the meta device (no memory, no
    time) must equal 2 × (forward + backward MACs), LeNet-5's RBF excepted (torch counts no
    FLOPs for its element-wise (x − w)²);
  * memory: the measured peak of a steady-state CPU training step (the second; allocator
    events, cnntool.bench.trainstep.allocator_peak, plus what is held before it) against
    cnntool.analysis.training's prediction with device="cpu".

    python bench/training_zoo.py [--batch 2] [--optimizer sgd] [--no-measure]
                                 [--size 112 --budget 50] [MODEL ...]

With --size, a model whose training step at --batch costs more than --budget GFLOP at its
spec's input is measured (and predicted) at a smaller input instead: short side --size, the
aspect ratio kept, the first size from there up that the spec accepts (U-Net takes only
16k + 12, YOLO's fully connected head only 448). The FLOP check stays at the spec's input (on
meta it costs nothing).

Prints one Markdown row per model as it goes (flush), so a long run can be followed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import cnntool  # noqa: E402
from cnntool.analysis.training import Optimizer, training  # noqa: E402
from cnntool.bench.trainstep import allocator_peak, make_optimizer, train_step  # noqa: E402
from cnntool.errors import SpecError  # noqa: E402
from cnntool.spec.zoo import zoo  # noqa: E402


def flop_check(model) -> tuple[int, int]:
    """(FlopCounterMode's total, 2 × (forward + backward MACs) without RBF) at batch 2 (BN in
    training mode needs two values per channel). torch ≤ 2.14 counts a grouped conv's weight
    gradient `groups` times over (pytorch/pytorch#183405 fixes it); that excess is added here."""
    report = cnntool.analyze(model, batch=2)
    net = cnntool.build(model, device="meta").train()
    with FlopCounterMode(display=False) as counter:
        net(torch.empty(2, *report.input, device="meta")).sum().backward()
    rbf = sum(r.macs + r.backward_macs for r in report.layers if r.kind == "rbf")
    groups = {n.name: getattr(n.layer, "groups", 1) for n in model.nodes if n.layer is not None}
    excess = sum((groups[r.name] - 1) * r.macs for r in report.layers[1:] if r.kind in ("conv", "deconv"))
    return counter.get_total_flops(), 2 * (report.totals.macs + report.totals.backward_macs - rbf + excess)


def measured_peak(model, batch: int, optimizer: str) -> int:
    torch.manual_seed(0)
    net = cnntool.build(model).train()
    x = torch.randn(batch, *model.input_shape)
    opt = make_optimizer(net, optimizer)
    step = train_step(net, x, opt, contextlib.nullcontext)
    step()
    held = [*net.parameters(), *net.buffers(), x,
            *(v for s in opt.state.values() for v in s.values() if torch.is_tensor(v))]
    return sum(t.untyped_storage().nbytes() for t in held) + allocator_peak(step)


def reduced(name: str, model, batch: int, size: int | None, budget_gflop: float):
    """The model to measure: itself, or (if --size and over budget) at the first input of short
    side ≥ size the spec accepts, aspect kept; itself when it accepts none smaller."""
    report = cnntool.analyze(model, batch=batch)
    if size is None or 2 * (report.totals.macs + report.totals.backward_macs) <= budget_gflop * 1e9:
        return model
    c, h, w = model.input_shape
    for side in range(size, min(h, w)):
        shape = (c, side, round(side * w / h)) if h <= w else (c, round(side * h / w), side)
        smaller = cnntool.load(name, None, shape)
        try:
            cnntool.analyze(smaller)
            return smaller
        except SpecError:  # not an input this spec accepts
            continue
    return model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--optimizer", default="sgd", choices=[o.value for o in Optimizer])
    ap.add_argument("--no-measure", action="store_true", help="only the FLOP check")
    ap.add_argument("--size", type=int, help="measure big models at this input side (see above)")
    ap.add_argument("--budget", type=float, default=50.0, help="GFLOP per step above which --size applies")
    args = ap.parse_args()
    names = args.models or list(zoo())
    print(f"batch {args.batch}, {args.optimizer}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| model | FlopCounterMode | 2×(fwd+bwd MACs) | equal | input | predicted MiB | measured MiB "
          "| pred/meas | s |")
    print("|---|---:|---:|---|---|---:|---:|---:|---:|", flush=True)
    for name in names:
        t0 = time.perf_counter()
        model = cnntool.load(name)
        counted, ours = flop_check(model)
        pred = meas = None
        run = reduced(name, model, args.batch, args.size, args.budget)
        if not args.no_measure:
            pred = training(run, args.batch, Optimizer(args.optimizer), device="cpu").peak_bytes
            try:
                meas = measured_peak(run, args.batch, args.optimizer)
            except RuntimeError as exc:  # e.g. out of memory on a small machine
                print(f"| {name} | … {str(exc).splitlines()[0]} |", flush=True)
            gc.collect()
        mib = lambda v: "" if v is None else f"{v / 2**20:,.2f}"  # noqa: E731
        ratio = f"{pred / meas:.3f}" if pred and meas else ""
        print(f"| {name} | {counted:,} | {ours:,} | {'yes' if counted == ours else 'NO'} | "
              f"{'×'.join(map(str, run.input_shape[1:]))} | {mib(pred)} | "
              f"{mib(meas)} | {ratio} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
