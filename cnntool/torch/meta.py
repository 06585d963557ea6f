"""Building a torch model without allocating its weights, for counting and tracing."""
from __future__ import annotations

import contextlib
from typing import Iterator

__all__ = ["weights_on_meta"]


@contextlib.contextmanager
def weights_on_meta() -> Iterator[None]:
    """Parameters and buffers go to the meta device as each module registers them; every other
    tensor is made as usual. So a torchvision builder that computes its layout with tensors
    (RegNet's BlockParams calls `.tolist()`, which a meta tensor refuses under
    `torch.device("meta")`) builds, its weights are never initialised, and a forward on a meta
    input runs (buffers such as batch norm's statistics are on meta too)."""
    from torch import nn

    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def parameter(self, name, param):
        register_parameter(self, name, None if param is None else
                           nn.Parameter(param.to("meta"), requires_grad=param.requires_grad))

    def buffer(self, name, tensor, persistent=True):
        register_buffer(self, name, None if tensor is None else tensor.to("meta"), persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = parameter, buffer
    try:
        yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer
