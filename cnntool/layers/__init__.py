"""Every layer kind, registered by importing its module (one module per family)."""
from . import conv, dense, merge, pointwise, pool  # noqa: F401  (registers the kinds)
from .base import GLOBAL, REGISTRY, Io, Layer, LayerError, Ref, Shape, Win, fields_of, register

__all__ = ["GLOBAL", "REGISTRY", "Io", "Layer", "LayerError", "Ref", "Shape", "Win", "fields_of", "register"]
