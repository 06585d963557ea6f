"""Turn a module and a batch size into the `step` callable the timing loops run."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .config import BenchConfig, CompileMode, DType
from .measure import Step
from .precision import autocast

GRAPH_WARMUP_ITERS = 3


@dataclass(frozen=True)
class Plan:
    """The resolved execution choices for one run."""

    device: torch.device
    dtype: DType  # effective dtype
    channels_last: bool
    compile_mode: CompileMode | None
    compile_backend: str
    cuda_graphs: bool
    seed: int
    train: bool = False

    @classmethod
    def from_config(cls, config: BenchConfig, device: torch.device, dtype: DType) -> Plan:
        return cls(device, dtype, config.channels_last, config.compile_mode,
                   config.compile_backend, config.cuda_graphs, config.seed, config.train)

    @property
    def is_reference(self) -> bool:
        """True when the run is fp32 eager, i.e. identical to the correctness reference."""
        return (self.dtype is DType.fp32 and not self.channels_last
                and self.compile_mode is None and not self.cuda_graphs)


def make_input(batch: int, shape: tuple[int, ...], plan: Plan) -> torch.Tensor:
    """Seeded fp32 input (same values for a given batch/seed) on the plan's device."""
    gen = torch.Generator().manual_seed(plan.seed)
    x = torch.randn((batch, *shape), generator=gen).to(plan.device)
    if plan.channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def place_model(module: torch.nn.Module, plan: Plan) -> torch.nn.Module:
    """Eval mode on the device, channels_last if asked (weights stay fp32)."""
    module = module.eval().to(plan.device)
    if plan.channels_last:
        module = module.to(memory_format=torch.channels_last)
    return module


def compiled(module: torch.nn.Module, plan: Plan) -> Callable[..., Any]:
    """A fresh torch.compile wrapper with static shapes (one compile per batch size)."""
    if plan.compile_mode is None:
        return module
    torch.compiler.reset()  # so each batch size's first call includes its full compile
    if plan.compile_backend != "inductor":
        return torch.compile(module, backend=plan.compile_backend, dynamic=False)
    return torch.compile(module, mode=plan.compile_mode.value, dynamic=False)


def run_context(plan: Plan) -> contextlib.ExitStack:
    """inference_mode plus autocast for fp16/bf16, entered once around all loops (a training
    step enters autocast itself, around its forward only)."""
    stack = contextlib.ExitStack()
    if plan.train:
        return stack
    stack.enter_context(torch.inference_mode())
    stack.enter_context(autocast(plan.dtype, plan.device.type, cache=not plan.cuda_graphs))
    return stack


def step_builder(fn: Callable[..., Any], x: torch.Tensor, plan: Plan,
                 opt: torch.optim.Optimizer | None = None) -> Callable[[], Step]:
    """Build-on-first-call factory: eager/compiled call, a captured CUDA graph, or a training
    step (with a GradScaler for fp16)."""
    if plan.train:
        from .trainstep import train_step
        scaler = torch.amp.GradScaler(plan.device.type) if plan.dtype is DType.fp16 else None
        return lambda: train_step(fn, x, opt, lambda: autocast(plan.dtype, plan.device.type), scaler)
    if not plan.cuda_graphs:
        return lambda: (lambda: fn(x))
    return lambda: _graph_step(fn, x, plan.device)


def _graph_step(fn: Callable[..., Any], x: torch.Tensor, device: torch.device) -> Step:
    """Capture one forward into a CUDA graph (after side-stream warm-up) and replay it."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(GRAPH_WARMUP_ITERS):
            fn(x)
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn(x)

    def step() -> Any:
        graph.replay()
        return out

    return step
