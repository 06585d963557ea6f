"""Model (expanded spec graph) → torch.nn.Module whose forward follows the graph.

Each node's module comes from its kind's ``Layer.build(io)``; this file only wires them:
modules are mounted under the spec's dotted names (``stage2.conv1`` is reachable through
``named_modules()``), the forward keeps each value until its last reader has run, and a
maxpool whose switches a maxunpool reuses returns them (``return_indices=True``).
Imported lazily (``cnntool.build``), so importing torch here keeps ``import cnntool`` torch-free.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..analysis.analyze import analyze
from ..errors import SpecError
from ..files import write_output
from ..graph import INPUT, Model, at_input
from ..layers import Io, Ref
from ..analysis.report import Report
from .ops import own_keys_as_gamma

__all__ = ["build", "node_ios", "SpecNet", "Scope", "initialise", "export_program", "export_onnx",
           "ForwardError", "materialise", "module_sizes", "layer_shapes", "fvcore_counts"]

INDICES = ":indices"  # key suffix of a maxpool's switches; ':' never occurs in a node name
SWITCH_FIELD = "indices"  # a ref field naming a maxpool whose switches the layer consumes


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    module: nn.Module
    inputs: tuple[str, ...]  # value keys passed positionally
    outputs: tuple[str, ...]  # (name,) or (name, name + INDICES)
    free: tuple[str, ...]  # values nobody reads after this step


class Scope(nn.Module):
    """A dotted-name prefix (a block call or branch): it holds modules and computes nothing."""


class SpecNet(nn.Module):
    """The built model: the spec's modules under their dotted names, run in graph order."""

    def __init__(self, name: str, steps: tuple[Step, ...], output: str,
                 idle: dict[str, nn.Module] | None = None):
        super().__init__()
        # underscored so that no attribute hides a node called `output` or `name` (mount writes
        # nodes into _modules; an instance attribute of the same name would win over it)
        self._spec_name = name
        self._output = output
        self._steps = steps  # plain tuple: the modules are registered by `mount`, not here
        for step in steps:
            mount(self, step.name, step.module)
        for key, module in (idle or {}).items():  # nodes the output does not need: held, never run
            mount(self, key, module)
        self.register_load_state_dict_pre_hook(own_keys_as_gamma)  # layer scales' state_dict keys

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {INPUT: x}
        for step in self._steps:
            out = step.module(*[values[key] for key in step.inputs])
            if len(step.outputs) == 2:
                values[step.outputs[0]], values[step.outputs[1]] = out
            else:
                values[step.outputs[0]] = out
            for key in step.free:
                del values[key]
        return values[self._output]


def mount(root: nn.Module, name: str, module: nn.Module) -> None:
    """Put ``module`` at ``root.<a>.<b>.<leaf>`` for name "a.b.leaf", creating Scopes on the way.
    Writing ``_modules`` directly (as add_module does) lets a node be called e.g. "train"."""
    *scopes, leaf = name.split(".")
    parent = root
    for i, scope in enumerate(scopes):
        child = parent._modules.get(scope)
        if child is None:
            child = parent._modules[scope] = Scope()
        elif not isinstance(child, Scope):
            raise SpecError(f"node '{name}' sits inside '{'.'.join(scopes[:i + 1])}', which is a layer")
        parent = child
    if leaf in parent._modules:
        raise SpecError(f"node '{name}' is also the scope of other nodes")
    parent._modules[leaf] = module


def node_ios(model: Model, input_shape: tuple[int, ...] | None = None,
             report: Report | None = None) -> dict[str, Io]:
    """The analysis' view of every layer node (input and output shapes, referenced nodes);
    ``report``, if given, must be an analysis of ``model`` at ``input_shape``."""
    model = at_input(model, input_shape)
    report = report or analyze(model, 1, input_shape)
    rows = {row.name: row for row in report.layers}
    nodes = {node.name: node for node in model.nodes}
    ios = {}
    for node in model.nodes:
        if node.layer is None:
            continue
        refs = {key: Ref(nodes[target].kind, rows[target].in_shapes, rows[target].out_shape,
                         nodes[target].layer) for key, target in node.refs}
        ios[node.name] = Io(rows[node.name].in_shapes, rows[node.name].out_shape, refs)
    return ios


def _plan(model: Model, modules: dict[str, nn.Module]) -> tuple[Step, ...]:
    """The forward's steps; nodes the output does not depend on are mounted but never run."""
    from ..analysis.analyze import unread_nodes
    switches = {target for node in model.nodes for key, target in node.refs if key == SWITCH_FIELD}
    unread = unread_nodes(model)
    layers = [node for node in model.nodes if node.layer is not None and node.name not in unread]
    reads = [node.inputs + tuple(t + INDICES for key, t in node.refs if key == SWITCH_FIELD)
             for node in layers]
    writes = [(n.name, n.name + INDICES) if n.name in switches else (n.name,) for n in layers]
    last = {INPUT: -1}
    for i, keys in enumerate(writes):
        last.update((key, i) for key in keys)  # an unread value is freed where it is made
    for i, keys in enumerate(reads):
        last.update((key, i) for key in keys)
    output = model.nodes[-1].name
    free: list[list[str]] = [[] for _ in layers]
    for key, i in last.items():
        if key != output and i >= 0:
            free[i].append(key)
    return tuple(Step(n.name, modules[n.name], r, w, tuple(f))
                 for n, r, w, f in zip(layers, reads, writes, free))


def build(model: Model, input_shape: tuple[int, ...] | None = None, *, device: str | None = None,
          dtype: torch.dtype | None = None, init: bool = True, report: Report | None = None) -> SpecNet:
    """The torch module of ``model``. ``device="meta"`` allocates nothing (for counting);
    ``init`` applies torchvision's initialisation (see `initialise`); ``report`` saves
    re-analysing when the caller has the analysis at this input shape."""
    model = at_input(model, input_shape)
    ios = node_ios(model, input_shape, report)
    modules: dict[str, nn.Module] = {}
    with torch.device(device) if device else contextlib.nullcontext():
        for node in model.nodes:
            if node.layer is None:
                continue
            try:
                modules[node.name] = node.layer.build(ios[node.name])
            except (NotImplementedError, ValueError, TypeError, RuntimeError) as exc:  # torch refuses
                raise SpecError(f"{node.name} ({node.kind}): cannot build the torch module: {exc}",
                                node.loc, trace=node.trace) from None
    for node in model.nodes:
        for key, target in node.refs:
            if key == SWITCH_FIELD:
                if not hasattr(modules[target], "return_indices"):
                    raise SpecError(f"{node.name}: '{target}' does not record switches", node.loc)
                modules[target].return_indices = True
    steps = _plan(model, modules)
    running = {step.name for step in steps}
    net = SpecNet(model.name, steps, model.nodes[-1].name,
                  {key: m for key, m in modules.items() if key not in running})
    if init:
        initialise(net)
    if dtype is not None:
        net.to(dtype)
    return net


def initialise(net: nn.Module) -> None:
    """torchvision's initialisation (models/vgg.py, resnet.py): Kaiming normal, fan_out, for
    convolutions; BN γ = 1, β = 0; linear N(0, 0.01); every bias 0. A no-op on meta tensors."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.affine:
            nn.init.ones_(m.weight)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def _example(model: Model, input_shape: tuple[int, ...] | None, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, *(input_shape or model.input_shape))


def export_program(net: nn.Module, model: Model, path: Path,
                   input_shape: tuple[int, ...] | None = None) -> None:
    """torch.export the eval-mode graph with a dynamic batch and save it
    (``torch.export.load``; name it .pt2, the suffix torch.export expects)."""
    program = torch.export.export(net.eval(), (_example(model, input_shape),),
                                  dynamic_shapes={"x": {0: torch.export.Dim.AUTO}})
    archive = io.BytesIO()  # in memory: a full disk is then an OSError here, not an abort in C++
    torch.export.save(program, archive)
    write_output(path, archive.getvalue(), "--export")


def export_onnx(net: nn.Module, model: Model, path: Path, input_shape: tuple[int, ...] | None = None) -> None:
    """ONNX through torch.onnx's exporter (needs `onnx` and `onnxscript`; the CLI checks)."""
    with tempfile.TemporaryDirectory(prefix="cnntool-onnx-") as folder:  # then one write by cnntool.files
        tmp = Path(folder) / "model.onnx"
        torch.onnx.export(net.eval(), (_example(model, input_shape),), str(tmp), dynamo=True,
                          input_names=["input"], output_names=["output"])
        write_output(path, tmp.read_bytes(), "--onnx")


# -- counting adapters (cnntool.check.run): shapes and counts pulled out of torch and fvcore --------

class ForwardError(RuntimeError):
    """A forward pass failed inside the module of node ``name``."""

    def __init__(self, name: str, error: Exception):
        lines = str(error).strip().splitlines()
        super().__init__(f"{name}: {lines[0] if lines else type(error).__name__}")
        self.name = name


def materialise(net: nn.Module) -> nn.Module:
    """A meta-device module on the CPU, zero-filled (no init cost, no denormals), in eval mode."""
    net = net.to_empty(device="cpu")
    tensors = [*net.parameters(), *net.buffers()]
    if tensors:  # (a model of weightless layers has none, and _foreach_zero_ refuses an empty list)
        with torch.no_grad():
            torch._foreach_zero_(tensors)
    return net.eval()


def module_sizes(net: nn.Module) -> dict[str, tuple[int, int]]:
    """Parameters and buffers of every named module, children included."""
    return {name: (sum(p.numel() for p in m.parameters()), sum(b.numel() for b in m.buffers()))
            for name, m in net.named_modules()}


def _shape(out) -> tuple[int, ...]:
    return tuple(int(d) for d in (out[0] if isinstance(out, tuple) else out).shape)


@contextlib.contextmanager
def _watch(net: nn.Module, names: set[str], after: Callable[[str, object], None], watched: set[str]):
    """Call ``after(name, output)`` for the modules in ``watched`` ("" is the model), and turn a
    failing forward into a ForwardError naming the node (of ``names``) that was running."""
    current = [""]
    handles = []
    for name, module in net.named_modules():
        if name in names:
            handles.append(module.register_forward_pre_hook(lambda *_, n=name: current.__setitem__(0, n)))
        if name in watched:
            handles.append(module.register_forward_hook(lambda _m, _i, out, n=name: after(n, out)))
    try:
        yield
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:  # what torch raises on bad input
        raise ForwardError(current[0] or "the model", exc) from exc
    finally:
        for handle in handles:
            handle.remove()


def layer_shapes(net: nn.Module, x: torch.Tensor, names: set[str]) -> dict[str, tuple[int, ...]]:
    """Output shapes of one forward (batch included): "" is the model, others the nodes in ``names``.
    On the meta device this costs nothing, whatever the model's size."""
    shapes: dict[str, tuple[int, ...]] = {}
    with torch.no_grad(), _watch(net, names, lambda n, out: shapes.__setitem__(n, _shape(out)), names | {""}):
        net(x)
    return shapes


def fvcore_counts(net: nn.Module, x: torch.Tensor, names: set[str]
                  ) -> tuple[dict[str, dict[str, int]], tuple[int, ...]]:
    """fvcore's per-module, per-operator counts of one traced forward (its unit is one MAC;
    "" is the whole model), and that forward's output shape."""
    import warnings
    outputs: dict[str, object] = {}  # the output itself: reading shapes while tracing adds graph nodes
    with warnings.catch_warnings(), _watch(net, names, outputs.__setitem__, {""}):
        warnings.simplefilter("ignore")  # deprecations, TracerWarnings; unsupported ops count 0, as ours
        from fvcore.nn import FlopCountAnalysis
        analysis = FlopCountAnalysis(net, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        counts = {k: dict(v) for k, v in analysis.by_module_and_operator().items()}
    return counts, _shape(outputs[""])
