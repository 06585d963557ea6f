"""Run the peer tools themselves on a built model, for comparison with the analysis' `peers`
(tests/test_peers.py, bench/peer_tools.py). Each tool is imported only here, when asked for;
a tool that is not installed is left out of the result.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import warnings

import torch
from torch import nn

__all__ = ["installed", "tool_totals"]

_MODULES = {"torchinfo": "torchinfo", "fvcore": "fvcore", "thop": "thop", "ptflops": "ptflops",
            "ptflops-aten": "ptflops", "flopcounter": "torch"}


def installed() -> list[str]:
    return [tool for tool, module in _MODULES.items() if importlib.util.find_spec(module)]


def tool_totals(net: nn.Module, x: torch.Tensor, tools: list[str] | None = None) -> dict[str, int]:
    """Each tool's total for one forward of ``x`` (batch 1), as the tool reports it."""
    net.eval()
    shape = tuple(x.shape[1:])
    out = {}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")  # unsupported-op and deprecation warnings
        for tool in tools or installed():
            out[tool] = _RUNNERS[tool](net, x, shape)
    return out


def _thop(net, x, _shape) -> int:
    import thop
    total = int(thop.profile(net, inputs=(x,), verbose=False)[0])
    for module in net.modules():  # thop leaves its counters behind as buffers
        for name in ("total_ops", "total_params"):
            module._buffers.pop(name, None)
    return total


def _ptflops(backend: str):
    def run(net, _x, shape) -> int:
        from ptflops import get_model_complexity_info
        macs, _ = get_model_complexity_info(net, shape, as_strings=False, print_per_layer_stat=False,
                                            backend=backend)
        return int(macs)
    return run


def _torchinfo(net, x, _shape) -> int:
    import torchinfo
    return int(torchinfo.summary(net, input_data=x, verbose=0).total_mult_adds)


def _flopcounter(net, x, _shape) -> int:
    from torch.utils.flop_counter import FlopCounterMode
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x)
    return int(counter.get_total_flops())


def _fvcore(net, x, _shape) -> int:
    from fvcore.nn import FlopCountAnalysis
    analysis = FlopCountAnalysis(net, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(analysis.total())


_RUNNERS = {"torchinfo": _torchinfo, "fvcore": _fvcore, "thop": _thop, "ptflops": _ptflops("pytorch"),
            "ptflops-aten": _ptflops("aten"), "flopcounter": _flopcounter}
