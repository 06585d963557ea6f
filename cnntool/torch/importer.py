"""`cnntool import`: a PyTorch model → the graph of layer kinds a spec is written from.

The model is built on the meta device (no weight is allocated, so a billion-parameter model
imports in seconds) and captured with ``torch.fx.symbolic_trace``. fx is chosen over
``torch.export`` because it records calls at the level a spec is written in: one node per
``nn.Module`` call, with the module path (``layer1.0.conv1``) and the enclosing modules
(``nn_module_stack``), so names match ``named_modules()`` and a repeated submodule is visible as
such; ``torch.export`` lowers to ATen ops (conv → ``aten.convolution``, BN → its decomposition)
that would have to be mapped back. A model whose forward branches on tensor values cannot be
traced by fx; that is a clean error naming fx's reason (see docs/import.md).
"""
from __future__ import annotations

import importlib
import os
import sys
import operator
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from ..spec.writer import Op
from .meta import weights_on_meta
from .import_layout import relayout
from .import_map import IDENTITY, MODULES, SHAPED, WRAPPED, Mapped, Unsupported, map_function, map_module

__all__ = ["Imported", "ImportFailure", "load_callable", "build_model", "import_model", "trace",
           "kwargs_text"]

class ImportFailure(ValueError):
    """A model that cannot be imported: `error: …` and exit code 2 (cnntool.cli.exits.guard)."""


@dataclass
class Imported:
    """What the spec writer needs: the ops in graph order and the measurements."""

    target: str
    kwargs: dict[str, Any]
    input_shape: tuple[int, ...]
    ops: list[Op]
    classes: dict[str, str]  # scope path → class name (Bottleneck), to name blocks
    output: str  # id of the op whose value the model returns
    params: int  # of the modules the forward uses
    macs: int  # FlopCounterMode / 2, batch 1
    out_shape: tuple[int, ...]
    unused: dict[str, int] = field(default_factory=dict)  # module never called → its parameters
    opaque: list[str] = field(default_factory=list)
    versions: str = ""


def load_callable(target: str) -> Any:
    """``pkg.mod.fn`` or ``pkg.mod:Class``: the attribute of the longest importable module prefix."""
    module_name, colon, attr = target.partition(":")
    if not colon:
        module_name, _, attr = target.rpartition(".")
    if not module_name or not attr:
        raise ImportFailure(f"{target!r} is not MODULE.builder or MODULE:Callable")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # `mypkg.models:MyNet` from the current directory, as `python -m` does
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportFailure(f"cannot import module '{module_name}' ({exc})") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ImportFailure(f"module '{module_name}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ImportFailure(f"'{target}' is a {type(obj).__name__}, not a callable that returns a model")
    return obj


def build_model(target: str, kwargs: dict[str, Any]) -> nn.Module:
    """``target(**kwargs)`` with its weights on the meta device, in eval mode."""
    builder = load_callable(target)
    try:
        try:
            with torch.device("meta"):
                model = builder(**kwargs)
        except (NotImplementedError, RuntimeError):  # e.g. RegNet computes its widths with tensors
            with weights_on_meta():
                model = builder(**kwargs)
            if isinstance(model, nn.Module):  # buffers made with torch.zeros/ones (BN statistics) are
                model = model.to("meta")  # still on the CPU: small, and a forward needs one device
    except Exception as exc:  # user code: any failure is reported, never a traceback
        raise ImportFailure(f"calling {target}({kwargs_text(kwargs)}) failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise ImportFailure(f"{target}({kwargs_text(kwargs)}) returned a {type(model).__name__}, not a torch.nn.Module")
    return model.eval()


def kwargs_text(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


class _Tracer(fx.Tracer):
    """fx's tracer, with every module that has an import rule kept whole (torchvision's
    LayerNorm2d and StochasticDepth too, whose forward fx would otherwise trace into), and the
    functions with a rule that fx would trace into (ShuffleNet's channel_shuffle) kept as calls."""

    def __init__(self):
        super().__init__(autowrap_functions=WRAPPED)

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return type(m) in MODULES or super().is_leaf_module(m, qualname)


def trace(model: nn.Module) -> fx.GraphModule:
    """The fx graph of the model's forward (its Python code run on proxies, no tensors)."""
    try:
        return fx.GraphModule(model, _Tracer().trace(model))
    except Exception as exc:  # fx raises TraceError, TypeError, ... on data-dependent control flow
        raise ImportFailure(f"torch.fx cannot trace the model: {type(exc).__name__}: {exc}") from None


def _forward_failed(x: torch.Tensor, exc: Exception) -> ImportFailure:
    lines = str(exc).strip().splitlines()
    return ImportFailure(f"a forward at input {list(x.shape[1:])} failed: {type(exc).__name__}: "
                         f"{lines[-1] if lines else ''}")


def _shapes(gm: fx.GraphModule, x: torch.Tensor) -> None:
    """Every node's output shape, for the opaque nodes (ShapeProp on meta tensors costs nothing)."""
    import contextlib
    import io
    from torch.fx.passes.shape_prop import ShapeProp
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # ShapeProp prints a traceback itself
            ShapeProp(gm).propagate(x)
    except Exception:  # the measuring forward below reports it (after any unsupported calls)
        pass


def _reads_shape(gm: fx.GraphModule, node: fx.Node) -> bool:
    """Does the rule for this call read a shape (import_map.SHAPED: by call or module class)?"""
    return node.target in SHAPED or node.op == "call_module" and type(gm.get_submodule(str(node.target))) in SHAPED


def _scopes(node: fx.Node) -> tuple[list[str], dict[str, str]]:
    """Enclosing module paths (a second call of one module gets `_1`) and their class names."""
    paths, classes = [], {}
    for key, (_, cls) in (node.meta.get("nn_module_stack") or {}).items():
        path, _, again = key.partition("@")
        path = f"{path}_{again}" if again else path
        paths.append(path)
        classes[path] = cls.__name__ if isinstance(cls, type) else str(cls).rpartition(".")[2]
    return paths, classes


def _shape(node: fx.Node) -> tuple[int, ...]:
    meta = node.meta.get("tensor_meta")
    return tuple(int(d) for d in meta.shape[1:]) if hasattr(meta, "shape") else ()


class _Walk:
    """Map the graph node by node, collecting every unsupported call before failing."""

    def __init__(self, gm: fx.GraphModule, allow_unsupported: bool):
        self.gm, self.allow = gm, allow_unsupported
        self.ops: list[Op] = []
        self.alias: dict[str, str] = {}  # identity / folded node → the id whose value it is
        self.classes: dict[str, str] = {}
        self.unsupported: Counter = Counter()
        self.opaque: list[str] = []
        self.failed: set[str] = set()  # unsupported calls (their getitems are folded into them)
        self.calls: Counter = Counter()
        self.last: set[str] = set()  # fx nodes whose value is channels-last (import_layout)

    def ref(self, value: Any) -> str:
        if not isinstance(value, fx.Node):
            raise Unsupported("a constant where a tensor was expected")
        if value.op == "get_attr":
            raise Unsupported(f"a parameter or buffer used directly ({value.target})")
        return self.alias.get(value.name, value.name)

    def run(self) -> str:
        output = ""
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                self.alias[node.name] = "input"
            elif node.op == "output":
                output = self.ref(node.args[0]) if isinstance(node.args[0], fx.Node) else ""
                if not output:
                    self.unsupported[("a model output that is not one tensor", "the model")] += 1
            else:
                self.one(node)
        if self.unsupported:
            lines = [f"  {what} at {where} ({n}×)" for (what, where), n in sorted(self.unsupported.items())]
            raise ImportFailure(f"{sum(self.unsupported.values())} calls have no layer kind:\n"
                                + "\n".join(lines) + "\n(--allow-unsupported writes them as `opaque` nodes)")
        return output

    def one(self, node: fx.Node) -> None:
        paths, classes = _scopes(node)
        self.classes.update(classes)
        if node.op == "call_module":
            scope, where = paths[:-1], paths[-1] if paths else str(node.target)
            name = where.rpartition(".")[2]
        else:
            scope, where, name = paths, (paths[-1] if paths else "the model"), None
        if node.op == "call_function" and node.target is operator.getitem and \
                isinstance(node.args[0], fx.Node) and self.ref(node.args[0]) in self.failed:
            self.alias[node.name] = self.ref(node.args[0])  # (out, weights)[0] of an unsupported call
            return
        if node.op == "get_attr":  # a bare parameter: the rule of the call that reads it maps it
            self.calls[str(node.target)] += 1  # (layer scale); its parameter is used
            return
        try:
            mapped = self.map(node)
            args = mapped.inputs or node.args[:1]
            mapped = relayout(node, mapped, args, self.last)
            inputs = tuple(self.ref(a) for a in args)
        except Unsupported as exc:
            self.unsupported_op(node, str(exc), where, scope, name)
            return
        if mapped.kind == IDENTITY:
            self.alias[node.name] = inputs[0]
            return
        first = f"{node.name}:{mapped.kind}" if mapped.then else node.name
        self.ops.append(Op(first, mapped.kind, mapped.fields, inputs, tuple(scope), mapped.name or name))
        if mapped.then:
            self.ops.append(Op(node.name, mapped.then, {}, (first,), tuple(scope), None))

    def map(self, node: fx.Node) -> Mapped:
        if node.op == "call_module":
            module = self.gm.get_submodule(str(node.target))
            self.calls[str(node.target)] += 1
            if self.calls[str(node.target)] > 1 and any(True for _ in module.parameters()):
                raise Unsupported("a module with weights called twice (shared weights)")
            return map_module(module)
        return map_function(node)

    def unsupported_op(self, node: fx.Node, what: str, where: str, scope: list[str], name: str | None) -> None:
        self.failed.add(node.name)
        if not self.allow:
            self.unsupported[(what, where)] += 1
            return
        shape = _shape(node) or _shape(next(iter(node.users), node))
        ins = tuple(self.ref(a) for a in node.all_input_nodes
                    if a.op != "get_attr" and self.alias.get(a.name, a.name) != "")
        if not shape or not ins:
            self.unsupported[(what + " (no tensor shape to stand in for)", where)] += 1
            return
        fields = {"op": f"{what} at {where}", "channels": shape[0],
                  "size": list(shape[1:]) if len(shape) == 3 else None}
        self.ops.append(Op(node.name, "opaque", fields, ins, tuple(scope), name))
        self.opaque.append(node.name)


def _measure(model: nn.Module, x: torch.Tensor) -> tuple[int, tuple[int, ...]]:
    """conv/linear MACs as FlopCounterMode / 2 (its convention: one MAC = 2 FLOPs), and the output shape."""
    from torch.utils.flop_counter import FlopCounterMode
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(x)
    return counter.get_total_flops() // 2, tuple(int(d) for d in out.shape[1:])


def _unused(model: nn.Module, called: set[str]) -> dict[str, int]:
    unused: Counter = Counter()
    for name, p in model.named_parameters():
        owner = name.rpartition(".")[0]
        if owner not in called and name not in called:  # (a module, or a parameter read directly)
            unused[owner.partition(".")[0] or owner] += p.numel()
    return dict(unused)


def import_model(target: str, kwargs: dict[str, Any] | None = None,
                 input_shape: tuple[int, ...] = (3, 224, 224), allow_unsupported: bool = False) -> Imported:
    """Build ``target(**kwargs)`` on meta, trace it at ``input_shape`` and map every call."""
    kwargs = kwargs or {}
    model = build_model(target, kwargs)
    x = torch.empty(1, *input_shape, device="meta")
    gm = trace(model)
    if allow_unsupported or any(_reads_shape(gm, n) for n in gm.graph.nodes):
        _shapes(gm, x)  # (a meta forward of BN is not free: only when a rule reads shapes)
    walk = _Walk(gm, allow_unsupported)
    output = walk.run()
    try:
        macs, out_shape = _measure(model, x)
    except Exception as exc:  # user code: a wrong input size, a shape mismatch
        raise _forward_failed(x, exc) from None
    unused = _unused(model, set(walk.calls))
    params = sum(p.numel() for p in model.parameters()) - sum(unused.values())
    return Imported(target, kwargs, tuple(input_shape), walk.ops, walk.classes, output, params, macs,
                    out_shape, unused, walk.opaque, _versions())


def _versions() -> str:
    import importlib.metadata as md
    found = []
    for dist in ("torch", "torchvision"):
        try:
            found.append(f"{dist} {md.version(dist).split('+')[0]}")
        except md.PackageNotFoundError:
            pass
    return ", ".join(found)
