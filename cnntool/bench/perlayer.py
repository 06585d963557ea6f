"""--per-layer: time each spec layer with torch.profiler, beside its roofline figures.

Forward pre/post hooks on the named modules open and close a
``record_function("cnntool::<layer>")`` range; the profiler attributes the CPU
ops and (on CUDA) the kernels launched inside it to that layer. Runs eagerly.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import partial
from typing import Any

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile, record_function

from .measure import Step, Sync
from .results import LayerTiming, PerLayer
from .roofline import bound, intensity
from .source import LayerSpec

PREFIX = "cnntool::"
FORWARD = PREFIX + "forward"


def _tensor_bytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def select_modules(module: torch.nn.Module, names: Iterable[str]) -> list[tuple[str, torch.nn.Module]]:
    """Modules named after spec layers, else every leaf module."""
    wanted = set(names)
    pairs = [(n, m) for n, m in module.named_modules() if n]
    if wanted:
        return [(n, m) for n, m in pairs if n in wanted]
    return [(n, m) for n, m in pairs if next(m.children(), None) is None]


class Annotator:
    """Hooks that wrap each selected module's forward in a profiler range."""

    def __init__(self, modules: list[tuple[str, torch.nn.Module]]) -> None:
        self.counting = True
        self.io_bytes: dict[str, int] = {}
        self._open: dict[str, list[Any]] = {}
        self._handles = []
        for name, mod in modules:
            self._handles.append(mod.register_forward_pre_hook(partial(self._enter, name)))
            self._handles.append(mod.register_forward_hook(partial(self._exit, name)))

    def _enter(self, name: str, _mod: torch.nn.Module, args: Any) -> None:
        rf = record_function(PREFIX + name)
        rf.__enter__()
        self._open.setdefault(name, []).append(rf)
        if self.counting:
            self.io_bytes[name] = self.io_bytes.get(name, 0) + _tensor_bytes(args)

    def _exit(self, name: str, _mod: torch.nn.Module, _args: Any, output: Any) -> None:
        self._open[name].pop().__exit__(None, None, None)
        if self.counting:
            self.io_bytes[name] = self.io_bytes.get(name, 0) + _tensor_bytes(output)

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()


def _range_totals(prof: profile, use_device: bool) -> dict[str, tuple[float, int]]:
    """Seconds and call counts of our ranges, from their CPU-side events."""
    out: dict[str, tuple[float, int]] = {}
    for evt in prof.events():
        if not evt.name.startswith(PREFIX) or evt.device_type != DeviceType.CPU:
            continue
        us = evt.device_time_total if use_device else evt.cpu_time_total
        secs, calls = out.get(evt.name, (0.0, 0))
        out[evt.name] = (secs + us / 1e6, calls + 1)
    return out


def profile_layers(
    module: torch.nn.Module,
    step: Step,
    sync: Sync,
    layers: tuple[LayerSpec, ...],
    batch: int,
    iters: int,
    use_device: bool,
    weight_elem_bytes: int,
    ridge: float | None,
) -> PerLayer:
    """Profile `iters` forwards and build one roofline row per selected module."""
    chosen = select_modules(module, (spec.name for spec in layers))
    annot = Annotator(chosen)
    os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # silence kineto's device-probe errors
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if use_device else [])
    try:
        step()
        sync()
        annot.counting = False
        with profile(activities=activities) as prof:
            for _ in range(iters):
                with record_function(FORWARD):
                    step()
            sync()
    finally:
        annot.detach()
    totals = _range_totals(prof, use_device)
    specs = {spec.name: spec for spec in layers}
    rows = tuple(_row(name, mod, specs.get(name), totals, annot, batch, iters,
                      weight_elem_bytes, ridge) for name, mod in chosen)
    total_s = totals.get(FORWARD, (0.0, 0))[0] / iters
    return PerLayer(batch=batch, iters=iters, clock="device" if use_device else "cpu",
                    total_s=total_s, unattributed_s=total_s - sum(r.time_s for r in rows),
                    ridge_flop_per_byte=ridge, layers=rows)


def _row(name: str, mod: torch.nn.Module, spec: LayerSpec | None,
         totals: dict[str, tuple[float, int]], annot: Annotator, batch: int, iters: int,
         weight_elem_bytes: int, ridge: float | None) -> LayerTiming:
    secs, calls = totals.get(PREFIX + name, (0.0, 0))
    weights = sum(p.numel() for p in mod.parameters()) * weight_elem_bytes
    nbytes = annot.io_bytes.get(name, 0) + weights
    flops = spec.flops * batch if spec is not None else None
    ai = intensity(flops, nbytes)
    return LayerTiming(
        name=name,
        kind=spec.kind if spec is not None else type(mod).__name__,
        calls=calls // max(iters, 1),
        time_s=secs / iters,
        macs=spec.macs * batch if spec is not None else None,
        flops=flops,
        bytes=nbytes,
        intensity=ai,
        bound=bound(ai, ridge),
    )


