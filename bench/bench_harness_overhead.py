#!/usr/bin/env python
"""How much does `cnntool bench` cost compared with a hand-written loop?

Measures CPU throughput of torchvision resnet18 (random weights, batch 8) two
ways in one process, on the same model object, threads and number of images:

  A  cnntool.bench.run_bench (the code path behind `cnntool bench`)
  B  a plain loop: torch.inference_mode(), perf_counter around `iters` forwards

Each round runs both, back to back (order alternating AB, BA, ... to cancel
drift); each side reports the median images/s of `repeats` timed repeats of
`iters` batches after `warmup` untimed batches. Rounds are short so that both
sides of a pair see the same machine load; the overhead is 1 - median(A/B) over
the paired rounds (the median of the per-round ratios resists a noisy
neighbour far better than a ratio of pooled medians). Target: under 3 %.

--clock wall (default) times with perf_counter, as `cnntool bench` does.
--clock cpu times both sides with time.thread_time (needs --threads 1, so all
work runs on the calling thread): CPU-seconds of work per image, which is what
harness overhead adds, and which time spent descheduled by other processes on a
shared machine does not inflate.

--control runs the plain loop on both sides (an A/A test): the spread it shows
is the method's noise floor on this machine.

--train compares training steps instead (`cnntool bench --train`, SGD): the plain
side is model.train(), zero_grad(set_to_none=True), loss = model(x).float().mean(),
loss.backward(), opt.step().

    python bench/bench_harness_overhead.py [--threads N] [--rounds 10] [--iters 3] [--clock wall|cpu] [--control]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torchvision  # noqa: E402

from cnntool.bench import BenchConfig, ModelSource, run_bench  # noqa: E402


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def plain_loop(model: torch.nn.Module, x: torch.Tensor, args: argparse.Namespace) -> float:
    """The loop a careful engineer writes by hand: median images/s over repeats."""
    if args.train:
        return plain_train_loop(model, x, args)
    clock = CLOCKS[args.clock]
    rates = []
    with torch.inference_mode():
        for _ in range(args.warmup):
            model(x)
        for _ in range(args.repeats):
            t0 = clock()
            for _ in range(args.iters):
                model(x)
            rates.append(x.shape[0] * args.iters / (clock() - t0))
    return statistics.median(rates)


def plain_train_loop(model: torch.nn.Module, x: torch.Tensor, args: argparse.Namespace) -> float:
    """A hand-written SGD training loop, as above (median images/s)."""
    clock, rates = CLOCKS[args.clock], []
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        model(x).float().mean().backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    for _ in range(args.repeats):
        t0 = clock()
        for _ in range(args.iters):
            step()
        rates.append(x.shape[0] * args.iters / (clock() - t0))
    return statistics.median(rates)


def cnntool_run(model: torch.nn.Module, args: argparse.Namespace) -> float:
    """The same measurement through cnntool's harness (median images/s)."""
    source = ModelSource("resnet18", lambda: model, (3, 224, 224))
    config = BenchConfig(device="cpu", batches=(args.batch,), iters=args.iters, repeats=args.repeats,
                         warmup_iters=args.warmup, warmup_s=0.0, threads=args.threads, check=False,
                         train=args.train)
    row = run_bench(source, config, clock=CLOCKS[args.clock]).rows[0]
    return row.throughput.median_img_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--control", action="store_true", help="A/A test: plain loop on both sides")
    parser.add_argument("--train", action="store_true", help="training steps (SGD) instead of inference")
    args = parser.parse_args()
    if args.clock == "cpu" and args.threads != 1:
        parser.error("--clock cpu needs --threads 1 (thread_time sees only the calling thread)")

    torch.set_num_threads(args.threads)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(args.batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    print(f"torch {torch.__version__}, {args.threads} threads, resnet18 batch {args.batch}, "
          f"{args.repeats} x {args.iters} batches per side per round, {args.rounds} rounds, "
          f"{args.clock} clock{', CONTROL: plain loop on both sides' if args.control else ''}"
          f"{', TRAINING steps (SGD)' if args.train else ''}")
    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} CPUs")
    name_a = "plain  " if args.control else "cnntool"
    a_rates, b_rates = [], []
    for r in range(args.rounds):
        order = ("A", "B") if r % 2 == 0 else ("B", "A")
        for side in order:
            if side == "A":
                a_rates.append(plain_loop(model, x, args) if args.control else cnntool_run(model, args))
            else:
                b_rates.append(plain_loop(model, x, args))
        print(f"round {r + 1:2d} ({''.join(order)}): {name_a} {a_rates[-1]:8.2f} img/s   "
              f"plain {b_rates[-1]:8.2f} img/s   A/B {a_rates[-1] / b_rates[-1]:.4f}")
    ratios = [a / b for a, b in zip(a_rates, b_rates, strict=True)]
    q1, med, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    print(f"load average after: {os.getloadavg()}")
    print(f"median img/s: {name_a} (A) {statistics.median(a_rates):.2f}, "
          f"plain loop (B) {statistics.median(b_rates):.2f}")
    print(f"paired A/B: median {med:.4f} (IQR {q1:.4f} .. {q3:.4f}) over {len(ratios)} rounds")
    print(f"harness overhead = 1 - median(A/B) = {1 - med:+.2%}")
    print(f"threads after run: {torch.get_num_threads()} (must equal {args.threads})")


if __name__ == "__main__":
    main()
