"""Every layer kind, registered by importing its module (one module per family)."""
from . import conv, dense, merge, pointwise, pool  # noqa: F401  (registers the kinds)
from . import rearrange  # noqa: F401  (shortcut_a, unflatten: CIFAR ResNet, YOLO)
from . import partial  # noqa: F401  (partialconv, subsample, rbf: LeNet-5)
from . import activation, channels, norm  # noqa: F401  (silu, gelu, ...; slice, shuffle; layernorm: modern CNNs)
from . import opaque  # noqa: F401  (what `cnntool import --allow-unsupported` cannot count)
from .base import GLOBAL, REGISTRY, Io, Layer, LayerError, Ref, Shape, Win, fields_of, register

__all__ = ["GLOBAL", "REGISTRY", "Io", "Layer", "LayerError", "Ref", "Shape", "Win", "fields_of", "register"]
