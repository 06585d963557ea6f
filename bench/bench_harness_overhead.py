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

--device cuda runs both sides on the GPU: the plain loop then times with CUDA
events and synchronises once per repeat, as a careful hand-written GPU loop does
(and as `cnntool bench` does); --dtype bf16/fp16 wraps both in autocast.

--train compares training steps instead (`cnntool bench --train`, SGD): the plain
side is model.train(), zero_grad(set_to_none=True), loss = model(x).float().mean(),
loss.backward(), opt.step().

    python bench/bench_harness_overhead.py [--threads N] [--rounds 10] [--iters 3] [--clock wall|cpu] [--control]
    python bench/bench_harness_overhead.py --device cuda --batch 256 --dtype bf16 --channels-last
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

from cnntool.bench import BenchConfig, DType, ModelSource, run_bench  # noqa: E402


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def plain_loop(model: torch.nn.Module, x: torch.Tensor, args: argparse.Namespace) -> float:
    """The loop a careful engineer writes by hand: median images/s over repeats.

    On a GPU it times each repeat with CUDA events (one sync per repeat); bf16/fp16 run under
    autocast on either device, as `cnntool bench --dtype` does."""
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.dtype)
    timer = _cuda_timer(x.device) if x.is_cuda else _clock_timer(CLOCKS[args.clock])
    if args.train:
        return plain_train_loop(model, x, args, amp, timer)
    rates = []
    with torch.inference_mode(), torch.autocast(x.device.type, dtype=amp, enabled=amp is not None):
        for _ in range(args.warmup):
            model(x)
        for _ in range(args.repeats):
            seconds = timer(lambda: [model(x) for _ in range(args.iters)])
            rates.append(x.shape[0] * args.iters / seconds)
    return statistics.median(rates)


def plain_train_loop(model: torch.nn.Module, x: torch.Tensor, args: argparse.Namespace, amp, timer) -> float:
    """A hand-written SGD training loop (autocast around the forward only; fp16 needs a
    GradScaler, which this loop does not write, so use fp32 or bf16 here)."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=amp, enabled=amp is not None):
            loss = model(x).float().mean()
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    rates = [x.shape[0] * args.iters / timer(lambda: [step() for _ in range(args.iters)])
             for _ in range(args.repeats)]
    return statistics.median(rates)


def _clock_timer(clock):
    def timed(work) -> float:
        t0 = clock()
        work()
        return clock() - t0
    return timed


def _cuda_timer(device: torch.device):
    def timed(work) -> float:
        with torch.cuda.device(device):
            torch.cuda.synchronize(device)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            work()
            end.record()
            end.synchronize()
        return start.elapsed_time(end) / 1e3
    return timed


def cnntool_run(model: torch.nn.Module, args: argparse.Namespace) -> float:
    """The same measurement through cnntool's harness (median images/s)."""
    source = ModelSource(args.model, lambda: model, (3, 224, 224))
    config = BenchConfig(device=args.device, batches=(args.batch,), iters=args.iters, repeats=args.repeats,
                         warmup_iters=args.warmup, warmup_s=0.0, threads=args.threads, check=False,
                         dtype=DType(args.dtype), channels_last=args.channels_last, train=args.train)
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
    parser.add_argument("--model", default="resnet18", help="a torchvision classifier builder")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--dtype", choices=[d.value for d in DType], default="fp32")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--train", action="store_true", help="training steps (SGD) instead of inference")
    args = parser.parse_args()
    if args.device != "cpu" and args.clock == "cpu":
        parser.error("--clock cpu measures CPU work only; use the default wall clock on a GPU")
    if args.clock == "cpu" and args.threads != 1:
        parser.error("--clock cpu needs --threads 1 (thread_time sees only the calling thread)")

    torch.set_num_threads(args.threads)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = torchvision.models.get_model(args.model, weights=None).eval().to(args.device, memory_format=fmt)
    x = torch.randn(args.batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    x = x.to(args.device, memory_format=fmt)
    if args.dtype == "tf32":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    print(f"torch {torch.__version__}, {args.threads} threads, {args.model} batch {args.batch}, "
          f"{args.device} {args.dtype}{' channels_last' if args.channels_last else ''}, "
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
