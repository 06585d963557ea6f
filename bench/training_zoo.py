#!/usr/bin/env python
"""Every zoo model's training-step prediction against torch, on CPU.

For each built-in model (or those named):
  * MACs: FlopCounterMode around model(x).sum().backward() on the meta device (no memory, no
    time) must equal 2 × (forward + backward MACs), LeNet-5's RBF excepted (torch counts no
    FLOPs for its element-wise (x − w)²);
  * memory: the measured peak of a steady-state CPU training step (the second; allocator
    events, cnntool.bench.trainstep.allocator_peak, plus what is held before it) against
    cnntool.analysis.training's prediction with device="cpu".

    python bench/training_zoo.py [--batch 2] [--optimizer sgd] [--no-measure] [MODEL ...]

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--optimizer", default="sgd", choices=[o.value for o in Optimizer])
    ap.add_argument("--no-measure", action="store_true", help="only the FLOP check")
    args = ap.parse_args()
    names = args.models or list(zoo())
    print(f"batch {args.batch}, {args.optimizer}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| model | FlopCounterMode | 2×(fwd+bwd MACs) | equal | predicted MiB | measured MiB | pred/meas | s |")
    print("|---|---:|---:|---|---:|---:|---:|---:|", flush=True)
    for name in names:
        t0 = time.perf_counter()
        model = cnntool.load(name)
        counted, ours = flop_check(model)
        pred = meas = None
        if not args.no_measure:
            pred = training(model, args.batch, Optimizer(args.optimizer), device="cpu").peak_bytes
            try:
                meas = measured_peak(model, args.batch, args.optimizer)
            except RuntimeError as exc:  # e.g. out of memory on a small machine
                print(f"| {name} | … {str(exc).splitlines()[0]} |", flush=True)
            gc.collect()
        mib = lambda v: "" if v is None else f"{v / 2**20:,.2f}"  # noqa: E731
        ratio = f"{pred / meas:.3f}" if pred and meas else ""
        print(f"| {name} | {counted:,} | {ours:,} | {'yes' if counted == ours else 'NO'} | {mib(pred)} | "
              f"{mib(meas)} | {ratio} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
