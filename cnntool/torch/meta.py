"""Building a torch model without allocating its weights, for counting and tracing."""
from __future__ import annotations

from typing import Any

__all__ = ["weights_on_meta"]


def weights_on_meta() -> Any:
    """A mode in which `torch.empty`, how torch.nn layers allocate their weights, gives meta
    tensors and every other tensor is made as usual: a torchvision model that computes its layout
    with tensors (RegNet's BlockParams calls `.tolist()`) builds, and no weight is allocated or
    initialised. (Under `torch.device("meta")` that `.tolist()` fails: a meta tensor has no data.)"""
    import torch
    from torch.overrides import TorchFunctionMode

    class WeightsOnMeta(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            if func is torch.empty:
                kwargs["device"] = "meta"
            return func(*args, **kwargs)

    return WeightsOnMeta()
