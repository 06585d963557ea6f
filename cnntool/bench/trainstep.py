"""The training step the bench times and the validation measures: one place for both.

``zero_grad(set_to_none=True)``, forward (under autocast for fp16/bf16), a scalar loss,
``backward`` (through a GradScaler for fp16), ``optimizer.step()``: the step
cnntool.analysis.training predicts the memory of.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["make_optimizer", "train_step", "allocator_peak"]

LR = 1e-3


def make_optimizer(module: torch.nn.Module, name: str) -> torch.optim.Optimizer:
    """torch.optim with its defaults (foreach where torch picks it); `name` as in Optimizer."""
    params = [p for p in module.parameters() if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=LR)
    if name == "momentum":
        return torch.optim.SGD(params, lr=LR, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=LR)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=LR)
    raise ValueError(f"unknown optimizer {name!r}")


def train_step(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, opt: torch.optim.Optimizer,
               autocast: Callable[[], Any], scaler: Any = None) -> Callable[[], torch.Tensor]:
    """One step as a callable; the loss is the mean of the output in fp32 (any output shape)."""

    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = _first(fn(x)).float().mean()
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        return loss.detach()

    return step


def _first(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


def allocator_peak(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated above the level before ``fn``, from the CPU allocator's events
    (torch.profiler with profile_memory: every allocation and free, with its address). Frees of
    blocks allocated before ``fn`` are ignored: the caller counts what it held before."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with _quiet_fd2(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e for e in _walk(prof.profiler.kineto_results.experimental_event_tree())
                     if e.tag == _EventType.Allocation and e.extra_fields.device.type == "cpu"),
                    key=lambda e: e.start_time_ns)
    mine: set[int] = set()
    live = peak = 0
    for event in events:
        ptr, size = event.extra_fields.ptr, event.extra_fields.alloc_size
        if size > 0:
            mine.add(ptr)
        elif ptr in mine:
            mine.discard(ptr)
        else:
            continue  # allocated before fn: not part of its growth
        live += size
        peak = max(peak, live)
    return peak


@contextlib.contextmanager
def _quiet_fd2() -> Any:
    """Silence the profiler's C++ log lines (kineto start/stop, no-GPU notices) on stderr; the
    step it wraps already ran untouched before, so nothing else is hidden."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _walk(nodes: Any) -> Any:
    for node in nodes:
        yield node
        yield from _walk(node.children)
