"""Measurements that check the analysis against a real forward: the receptive field by a gradient
probe, and the peak of live tensor storages. Both import torch; the analysis never imports this.

The scripts bench/rf_probe.py and bench/peak_memory.py run them over the zoo; the tests run them
on small models.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

__all__ = ["LivePeak", "live_peak", "prepare_probe", "rf_extents"]


class LivePeak(TorchDispatchMode):
    """Counts the bytes of distinct tensor storages alive while ops run (views share their base's
    storage, so they count nothing). ``peak`` is the most seen at once, right after an op made its
    outputs while its inputs were still alive. Kernel workspaces inside one op are not visible."""

    def __init__(self, *held: torch.Tensor, weights: nn.Module | None = None):
        super().__init__()
        self.live: dict[int, int] = {}
        self.peak = 0
        # a weight's storage is seen through its views (linear's weight.t()) but is not activation
        tensors = [*weights.parameters(), *weights.buffers()] if weights is not None else []
        self.ignore = {id(t.untyped_storage()) for t in tensors}
        for t in held:  # what the caller holds for the whole forward (the input)
            self._track(t)

    def _track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        key = id(storage)
        if key not in self.live and key not in self.ignore:
            self.live[key] = storage.nbytes()
            weakref.finalize(storage, self.live.pop, key, None)
            self.peak = max(self.peak, sum(self.live.values()))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                self._track(t)
        return out


def live_peak(net: nn.Module, x: torch.Tensor) -> int:
    """Peak bytes of live activations in one inference forward of ``net`` (eval, no grad), the
    input included because the caller holds it; parameters and buffers are not counted."""
    net.eval()
    with torch.no_grad():
        mode = LivePeak(x, weights=net)
        with mode:
            out = net(x)
        del out
    return mode.peak


# -- receptive field by gradient -------------------------------------------------------------

def prepare_probe(net: nn.Module) -> nn.Module:
    """Make every gradient path visible: max-pools become average pools of the same geometry (a
    max sends its gradient to one pixel), weights are positive and biases zero (no cancellation),
    each module's output is rescaled to at most 1 (no overflow) and each gradient is binarised on
    its way back (no underflow in deep nets)."""
    for name, module in list(net.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.MaxPool2d) and not child.return_indices:
                setattr(module, child_name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding,
                                                          ceil_mode=child.ceil_mode))
    with torch.no_grad():
        for p_name, p in net.named_parameters():
            p.fill_(0.0 if p_name.endswith("bias") else 1.0)
    leaves = [m for m in net.modules() if not list(m.children())]
    for m in leaves:
        m.register_forward_hook(_rescale)
        m.register_full_backward_hook(_binarise)
    return net.double().eval()


def _rescale(_module, _inputs, out):
    if isinstance(out, torch.Tensor) and out.is_floating_point():
        return out / out.detach().abs().amax().clamp_min(1e-300)
    return None


def _binarise(_module, grad_input, _grad_output):
    return tuple(None if g is None else (g != 0).to(g.dtype) for g in grad_input)


@dataclass(frozen=True)
class Extent:
    """Rows (H) and columns (W) of the input with a non-zero gradient for one output pixel."""

    h: int
    w: int


def rf_extents(net: nn.Module, x: torch.Tensor, node: str, pixels: list[tuple[int, int]]) -> list[Extent]:
    """The input extent each output pixel (y, x) of ``node`` depends on (channels summed)."""
    captured: dict[str, torch.Tensor] = {}
    module = net.get_submodule(node)
    handle = module.register_forward_hook(lambda _m, _i, out: captured.__setitem__("out", out))
    x = x.detach().double().requires_grad_(True)
    try:
        net(x)
    finally:
        handle.remove()
    out = captured["out"]
    extents = []
    for i, (py, px) in enumerate(pixels):
        (grad,) = torch.autograd.grad(out[0, :, py, px].sum(), x, retain_graph=i < len(pixels) - 1)
        mask = grad[0].abs().sum(0) > 0
        rows = mask.any(1).nonzero().flatten()
        cols = mask.any(0).nonzero().flatten()
        extents.append(Extent(int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)))
    return extents
