"""The torch side of `cnntool check` (steps 3–5): the built module's parameters against the
analysis, fvcore's counts and the output shapes of a real forward, and the `reference:`
torchvision model. torch, torchvision and fvcore are imported inside functions only; without
them the steps are skipped, saying why (``missing``).
"""
from __future__ import annotations

import importlib
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from ..analysis.analyze import analyze
from .results import TORCH_STEPS, Issue, Status, Step, StepResult, Target
from ..errors import Loc, SpecError
from ..graph import Model
from ..analysis.report import Report
from ..spec.yamlsource import loc_of

__all__ = ["StepLog", "torch_steps", "missing", "trace_input", "reference_builder", "reference_loc",
           "REFERENCE", "REFERENCE_KWARGS", "TRACE_BUDGET", "TRACE_BYTES", "reason", "TRACE_BATCH", "BATCH2_BUDGET", "MAC_OPS",
           "INSTALL"]

# `reference:` must be a model builder registered in torchvision.models (never arbitrary code)
REFERENCE = re.compile(r"^torchvision\.models\.([a-z][a-z0-9_]*)$")
# torchvision builders whose defaults add heads the published weights do not have (googlenet's
# num_params excludes its aux heads; inception_v3's includes AuxLogits, which eval never runs)
REFERENCE_KWARGS = {"googlenet": {"aux_logits": False, "init_weights": False},
                    "inception_v3": {"init_weights": False}}
# MACs one traced CPU forward may cost (a few seconds on 2 cores); bigger models are traced smaller
TRACE_BUDGET = 40 * 10**9
TRACE_BYTES = 4 * 2**30  # activation bytes of that forward (all outputs, as tracing may keep them)
TRACE_BATCH = 2  # shapes are checked at batch 2 (on meta); the CPU forward too when it costs little:
BATCH2_BUDGET = 4 * 10**9  # above this, fvcore traces batch 1 (its counts are per sample anyway)
MAC_OPS = ("conv", "linear", "addmm", "mm", "matmul", "bmm", "einsum")  # fvcore's operator names
INSTALL = "pip install 'cnntool[torch]'"


@dataclass
class StepLog:
    """The steps and issues of one model, as they are checked."""

    steps: list[StepResult] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    def record(self, step: Step, issues: list[Issue], total: int, note: str = "") -> None:
        failed = sum(i.severity == "error" for i in issues)
        status = Status.none if total == 0 else Status.failed if failed else Status.ok
        self.steps.append(StepResult(step, status, max(total - failed, 0), total, note))
        self.issues += issues

    def skip(self, steps: Sequence[Step], why: str) -> None:
        self.steps += [StepResult(s, Status.skipped, note=why) for s in steps]


def missing(module: str, install: str = INSTALL) -> str:
    """'' when ``module`` imports, else why not (the reason steps 3–5 were skipped)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fvcore's import warns about torch.jit deprecations
            importlib.import_module(module)
    except ImportError as exc:
        return f"{exc.name or module} is not installed ({install})"
    return ""


def reference_loc(target: Target) -> Loc:
    """Where the target's `reference:` is (or would be) written."""
    spec = target.spec
    part = spec.variants[target.variant] if target.variant else spec.doc
    return loc_of(part, "reference", part.loc)


def torch_steps(target: Target, model: Model, report: Report, log: StepLog) -> None:
    """Steps 3–5, each skipped (saying why) when what it needs is not installed. Any failure
    inside torch, fvcore or torchvision fails that step with its reason, never the whole run."""
    why = missing("torch")
    if why:
        log.skip(TORCH_STEPS, why)
        return
    from ..torch.threads import num_threads
    with num_threads(1):  # it counts, never times: on busy cores more OpenMP threads cost 3-6x
        net = _guarded(Step.params, log, model.loc, _params, model, report, log)
        if net is None:
            log.skip(TORCH_STEPS[1:], "the module could not be built")
            return
        why = missing("fvcore.nn")
        if why:
            log.skip((Step.fvcore,), why)
        else:
            _guarded(Step.fvcore, log, model.loc, _fvcore, model, report, net, log)
    why = missing("torchvision") or missing("fvcore.nn")
    if model.reference is None:
        log.record(Step.torchvision, [], 0)
    elif why:
        log.skip((Step.torchvision,), why)
    else:
        loc = reference_loc(target)
        _guarded(Step.torchvision, log, loc, _torchvision, model, report, log, loc)


def _guarded(step: Step, log: StepLog, loc: Loc, run: Callable[..., Any], *args: Any) -> Any:
    """``run(*args)``; an exception fails ``step`` with its reason (one line, no C++ frames)."""
    try:
        return run(*args)
    except Exception as exc:  # noqa: BLE001 -- torch can raise anything; it is this model's failure
        log.record(step, [Issue(step, f"{step.value} failed: {reason(exc)}", loc)], 1)
        return None


def reason(exc: BaseException) -> str:
    """The first line of an exception's message, without torch's C++ stack ('Exception raised from')."""
    text = str(exc).split("Exception raised from")[0].strip()
    first = text.splitlines()[0].strip() if text else ""
    return f"{type(exc).__name__}: {first[:300]}" if first else type(exc).__name__


def _layer_locs(model: Model) -> dict[str, Loc]:
    return {node.name: node.loc for node in model.nodes if node.layer is not None}


def _params(model: Model, report: Report, log: StepLog) -> Any:
    """Step 3: parameters and buffers of every node's module (meta device: nothing allocated).
    Returns the meta module for step 4, or None when it cannot be built."""
    from ..torch.build import build, module_sizes
    try:
        net = build(model, device="meta", init=False, report=report)
    except SpecError as exc:  # a kind without a builder, or arguments torch refuses
        log.record(Step.params, [Issue(Step.params, exc.message, exc.loc)], 1)
        return None
    sizes, locs, issues = module_sizes(net), _layer_locs(model), []
    for row in report.layers[1:]:
        torch_pb = sizes.get(row.name)
        if torch_pb != (row.params, row.buffers):
            issues.append(Issue(Step.params, f"{row.name} ({row.kind}): torch has {_pb(torch_pb)}, "
                                f"the analysis {_pb((row.params, row.buffers))}", locs[row.name]))
    if sizes[""][0] != report.totals.params:
        issues.append(Issue(Step.params, f"torch has {sizes[''][0]:,} parameters in all, the analysis "
                            f"{report.totals.params:,}", model.loc))
    log.record(Step.params, issues, len(report.layers))
    return net


def _pb(sizes: tuple[int, int] | None) -> str:
    return "no module" if sizes is None else f"{sizes[0]:,} parameters and {sizes[1]:,} buffers"


def trace_input(model: Model, report: Report) -> tuple[int, tuple[int, ...]] | None:
    """(batch, input) for the CPU forward that fvcore traces: the spec's input at batch 2 when
    cheap, else at batch 1, else batch 1 at the largest smaller input the spec accepts within
    TRACE_BUDGET MACs and TRACE_BYTES of activations (counts are then compared at that size;
    shapes still at the spec's, on meta)."""
    if _fits(report, TRACE_BATCH, BATCH2_BUDGET):
        return TRACE_BATCH, model.input_shape
    if _fits(report, 1, TRACE_BUDGET):
        return 1, model.input_shape
    t = report.totals
    ratio = min(TRACE_BUDGET / max(t.macs, 1), TRACE_BYTES / max(t.act_bytes, 1))
    for shape in _smaller(model.input_shape, ratio):
        try:
            if _fits(analyze(model, 1, shape), 1, TRACE_BUDGET):
                return 1, shape
        except SpecError:  # not an input this spec accepts
            continue
    return None


def _fits(report: Report, batch: int, macs: int) -> bool:
    """A CPU forward of ``report`` (at batch 1) at ``batch`` within ``macs`` and TRACE_BYTES."""
    return batch * report.totals.macs <= macs and batch * report.totals.act_bytes <= TRACE_BYTES


def _smaller(shape: tuple[int, ...], ratio: float) -> Iterator[tuple[int, ...]]:
    """Halvings first (they keep divisibility by powers of two: HRNet), then sizes scanned down
    from the area the budget allows (``ratio`` of the spec's), keeping the aspect ratio (U-Net
    accepts only 16k + 12)."""
    if len(shape) != 3:
        return
    c, h, w = shape
    k = 1
    while h % 2**k == 0 and w % 2**k == 0:
        yield c, h >> k, w >> k
        k += 1
    scale = math.sqrt(ratio)
    for step in range(64):
        smaller = (c, int(h * scale) - step, int(w * scale) - round(step * w / h))
        if min(smaller) < 1:
            return
        yield smaller


def _fvcore(model: Model, report: Report, net: Any, log: StepLog) -> None:
    """Step 4: every layer's output shape in a batch-2 forward on meta at the spec's input, then
    fvcore's per-layer counts of a real CPU forward against the analysis at the traced size."""
    import torch
    from ..torch.build import ForwardError, build, fvcore_counts, layer_shapes, materialise
    locs = _layer_locs(model)
    issues: list[Issue] = []
    total, traced = len(report.layers), trace_input(model, report)
    try:
        shapes = layer_shapes(net.eval(), torch.empty(TRACE_BATCH, *model.input_shape, device="meta"), set(locs))
        issues += _shape_issues(report, TRACE_BATCH, shapes, "meta", locs, model.loc)
        if traced is not None:
            batch, shape = traced
            at = analyze(model, batch, shape)
            cpu = materialise(net if shape == model.input_shape else
                              build(model, shape, device="meta", init=False, report=analyze(model, 1, shape)))
            counts, out = fvcore_counts(cpu, torch.zeros(batch, *shape), set(locs))
            issues += _shape_issues(at, batch, {"": out}, "CPU", locs, model.loc)
            issues += [Issue(Step.fvcore, text, locs[row.name]) for row in at.layers[1:]
                       for text in _count_issues(row, counts.get(row.name, {}))]
            total += len(at.layers)
    except ForwardError as exc:
        issues.append(Issue(Step.fvcore, f"the forward pass failed in {exc}", locs.get(exc.name, model.loc)))
    except SpecError as exc:  # torch refuses to build the model at the traced size
        issues.append(Issue(Step.fvcore, exc.message, exc.loc))
    note = ("" if traced and traced[1] == model.input_shape else f"counted at {list(traced[1])}" if traced
            else f"not counted: over {TRACE_BUDGET / 1e9:g} G MACs or {TRACE_BYTES / 2**30:g} GiB of "
                 "activations at any input the spec accepts")
    log.record(Step.fvcore, issues, total, note)


def _shape_issues(report: Report, batch: int, shapes: dict[str, tuple[int, ...]], where: str,
                  locs: dict[str, Loc], model_loc: Loc) -> list[Issue]:
    issues = []
    wanted = [(row.name, row.kind, row.out_shape) for row in report.layers[1:]]
    wanted.append(("", "output", report.layers[-1].out_shape))
    for name, kind, shape in wanted:
        want, got = (batch, *shape), shapes.get(name)
        if name in shapes and got != want:
            issues.append(Issue(Step.fvcore, f"{name or 'the model'} ({kind}): a {where} forward at batch "
                                f"{batch} gives {list(got)}, the analysis {list(want)}",
                                locs.get(name, model_loc)))
    return issues


def _count_issues(row: Any, ops: dict[str, int]) -> list[str]:
    macs, counted = sum(v for k, v in ops.items() if k in MAC_OPS), sum(ops.values())
    out = []
    # a layer fvcore cannot see (its fvcore column is 0, e.g. an RBF's (x − w)²) has no MACs to compare
    if macs != row.macs and (macs or row.fvcore):
        out.append(f"{row.name} ({row.kind}): fvcore counts {macs:,} conv/linear MACs, the analysis {row.macs:,}")
    if counted != row.fvcore:
        out.append(f"{row.name} ({row.kind}): fvcore counts {counted:,} ({_ops(ops)}), "
                   f"the analysis' fvcore column {row.fvcore:,}")
    return out


def _ops(ops: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in ops.items()) or "nothing"


def _torchvision(model: Model, report: Report, log: StepLog, loc: Loc) -> None:
    """Step 5: parameters and conv/linear MACs of the named torchvision model, at batch 1 and the
    spec's input. The MACs are torch's FlopCounterMode total / 2 (it counts 2 per multiply-add of
    convolutions and matrix products) over a forward on the meta device: exact, and free whatever
    the model's size, so no reference is skipped or traced smaller."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    name = model.reference
    try:
        builder = reference_builder(name)
    except ValueError as exc:
        log.record(Step.torchvision, [Issue(Step.torchvision, str(exc), loc)], 1)
        return
    from ..torch.meta import weights_on_meta
    with weights_on_meta():
        reference = builder(**REFERENCE_KWARGS.get(name.rpartition(".")[2], {}))
    params = sum(p.numel() for p in reference.parameters())
    issues = [] if params == report.totals.params else [Issue(
        Step.torchvision, f"{name} has {params:,} parameters, the spec {report.totals.params:,}", loc)]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        reference.to("meta").eval()(torch.empty(1, *model.input_shape, device="meta"))
    macs = counter.get_total_flops() // 2
    if macs != report.totals.macs:
        issues.append(Issue(Step.torchvision, f"{name} has {macs:,} conv/linear MACs (FlopCounterMode / 2) at "
                            f"{list(model.input_shape)}, the spec {report.totals.macs:,}", loc))
    log.record(Step.torchvision, issues, 2)


def reference_builder(reference: str) -> Callable[..., Any]:
    """The torchvision builder a `reference:` names, checked against torchvision's registry."""
    m = REFERENCE.match(reference)
    if not m:
        raise ValueError(f"not a torchvision.models.<name> reference: {reference!r}")
    import torchvision.models as tvm
    builder = getattr(tvm, m[1], None)  # only a name the registry lists for this very module
    if builder is None or m[1] not in tvm.list_models(module=tvm):
        raise ValueError(f"torchvision.models has no model builder '{m[1]}'")
    return builder
