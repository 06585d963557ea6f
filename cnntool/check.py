"""`cnntool check`: every spec (and variant) is read, meets its `expect:` numbers and agrees
with what torch builds from it, with fvcore's counts and with the torchvision model it names.

Steps, each a column of the CLI table:
  parse        the spec reads, validates and its shapes are consistent (warnings listed)
  expect       `expect:` totals and per-layer values hold (cnntool.expect)
  params       the built module's parameters and buffers equal the analysis, layer by layer (meta)
  fvcore       fvcore's count of a real CPU forward equals ours layer by layer (conv/linear MACs
               and the whole `fvcore` column), and the forward's output shape is the analytic one
  torchvision  parameters and conv/linear MACs equal the `reference:` torchvision model's
torch, torchvision and fvcore are imported inside functions; without them steps 3–5 are skipped.
"""
from __future__ import annotations

import importlib
import math
import re
import time
import warnings
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .analysis import analyze
from .errors import Loc, SpecError
from .expect import evaluate
from .graph import Model
from .report import Report
from .spec import SpecFile
from .yamlsource import loc_of
from .zoo import resolve, spec_dir

__all__ = ["Step", "Status", "Issue", "StepResult", "ModelResult", "CheckRun", "Target",
           "check_paths", "collect", "check_target", "reference_builder", "REFERENCE", "TRACE_BUDGET"]

# `reference:` must be a model builder registered in torchvision.models (never arbitrary code)
REFERENCE = re.compile(r"^torchvision\.models\.([a-z][a-z0-9_]*)$")
# torchvision builders whose defaults add heads the inference network does not have
REFERENCE_KWARGS = {"googlenet": {"aux_logits": False, "init_weights": False},
                    "inception_v3": {"aux_logits": False, "init_weights": False}}
# MACs one traced CPU forward may cost (a few seconds on 2 cores); bigger models are traced smaller
TRACE_BUDGET = 40 * 10**9
TRACE_BATCH = 2  # shapes are checked at batch 2 (on meta); the CPU forward too when it costs little:
BATCH2_BUDGET = 4 * 10**9  # above this, fvcore traces batch 1 (its counts are per sample anyway)
MAC_OPS = ("conv", "linear", "addmm", "mm", "matmul", "bmm", "einsum")  # fvcore's operator names
INSTALL = "pip install 'cnntool[torch]'"


class Step(str, Enum):
    parse = "parse"
    expect = "expect"
    params = "params"
    fvcore = "fvcore"
    torchvision = "torchvision"


TORCH_STEPS = (Step.params, Step.fvcore, Step.torchvision)


class Status(str, Enum):
    ok = "ok"
    failed = "failed"
    error = "error"  # the spec cannot be read: exit 2
    skipped = "skipped"
    none = "none"  # nothing to check (no expect: block, no reference:)


@dataclass(frozen=True, slots=True)
class Issue:
    step: Step
    message: str
    loc: Loc
    severity: str = "error"  # or "warning"
    text: str = ""  # a SpecError's full text (notes and hints), else empty

    def __str__(self) -> str:
        return self.text or f"{self.loc}: {self.severity}: {self.message}"


@dataclass(frozen=True, slots=True)
class StepResult:
    step: Step
    status: Status
    passed: int = 0
    total: int = 0
    note: str = ""  # why skipped, or the size a trace ran at


@dataclass(frozen=True)
class ModelResult:
    name: str
    file: str
    variant: str | None
    steps: tuple[StepResult, ...]
    issues: tuple[Issue, ...]
    seconds: float

    @property
    def status(self) -> Status:
        states = {s.status for s in self.steps}
        return Status.error if Status.error in states else Status.failed if Status.failed in states else Status.ok

    def step(self, step: Step) -> StepResult | None:
        return next((s for s in self.steps if s.step is step), None)


@dataclass(frozen=True)
class CheckRun:
    models: tuple[ModelResult, ...]
    fast: bool = False

    @property
    def exit_code(self) -> int:
        states = {m.status for m in self.models}
        return 2 if Status.error in states else 1 if Status.failed in states else 0


@dataclass(frozen=True)
class Target:
    """One model to check: a spec file and a variant, or a file that could not be read."""

    file: str
    spec: SpecFile | None
    variant: str | None = None
    error: SpecError | None = None

    @property
    def name(self) -> str:
        return self.variant or (self.spec.name if self.spec else Path(self.file).stem)


# -- what to check -----------------------------------------------------------------------

def _display(path: Path) -> str:
    try:
        return f"model_specs/{path.resolve().relative_to(spec_dir().resolve())}"
    except ValueError:
        return str(path)


def _file_targets(path: Path) -> list[Target]:
    display = _display(path)
    try:
        spec = SpecFile(path, display=display)
    except SpecError as exc:
        return [Target(display, None, error=exc)]
    return [Target(display, spec, v) for v in spec.variants] or [Target(display, spec)]


def collect(paths: Sequence[str | Path]) -> list[Target]:
    """Files (all their variants), directories (every *.yaml/*.yml below), built-in names and
    FILE.yaml:VARIANT; nothing means every built-in spec."""
    targets: list[Target] = []
    for ref in paths or [spec_dir()]:
        path = Path(ref)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()):
                targets += _file_targets(file)
        elif path.is_file():
            targets += _file_targets(path)
        else:
            try:
                entry = resolve(str(ref))
            except SpecError as exc:
                targets.append(Target(str(ref), None, error=exc))
                continue
            targets.append(Target(entry.spec.display, entry.spec, entry.variant))
    return targets


# -- checking one model ------------------------------------------------------------------

@dataclass
class _Log:
    steps: list[StepResult] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    def record(self, step: Step, issues: list[Issue], total: int, note: str = "") -> None:
        failed = sum(i.severity == "error" for i in issues)
        status = Status.none if total == 0 else Status.failed if failed else Status.ok
        self.steps.append(StepResult(step, status, max(total - failed, 0), total, note))
        self.issues += issues

    def skip(self, steps: Sequence[Step], why: str) -> None:
        self.steps += [StepResult(s, Status.skipped, note=why) for s in steps]


def _reference_loc(target: Target) -> Loc:
    spec = target.spec
    part = spec.variants[target.variant] if target.variant else spec.doc
    return loc_of(part, "reference", part.loc)


def _read(target: Target, log: _Log) -> tuple[Model, Report] | None:
    """Step 1. A SpecError is recorded as an error (exit 2) and ends the model's checks."""
    try:
        if target.error:
            raise target.error
        model = target.spec.model(target.variant)
        report = analyze(model)
        if model.reference is not None and not (isinstance(model.reference, str)
                                                and REFERENCE.match(model.reference)):
            raise SpecError(f"reference must name a torchvision model as torchvision.models.<name>, "
                            f"got {model.reference!r}", _reference_loc(target))
    except SpecError as exc:
        log.steps.append(StepResult(Step.parse, Status.error, 0, 1))
        log.issues.append(Issue(Step.parse, exc.message, exc.loc, text=str(exc)))
        return None
    notes = [Issue(Step.parse, w.message, _loc(w.loc, model.file), "warning") for w in report.warnings]
    log.record(Step.parse, notes, 1)
    return model, report


def _loc(text: str, file: str) -> Loc:
    """A Loc back from its 'file:line:col' text (report rows keep locations as text)."""
    m = re.match(r"^(.*):(\d+):(\d+)$", text)
    return Loc(m[1], int(m[2]), int(m[3])) if m else Loc(file, 0, 0)


def _expect(model: Model, report: Report, log: _Log) -> None:
    count, failures = evaluate(model.expect, report)
    log.record(Step.expect, [Issue(Step.expect, str(f), f.check.loc) for f in failures], count)


def missing(module: str, install: str = INSTALL) -> str:
    """'' when ``module`` imports, else why not (the reason steps 3–5 were skipped)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fvcore's import warns about torch.jit deprecations
            importlib.import_module(module)
    except ImportError as exc:
        return f"{exc.name or module} is not installed ({install})"
    return ""


def check_target(target: Target, fast: bool = False) -> ModelResult:
    start = time.perf_counter()
    log = _Log()
    read = _read(target, log)
    if read is not None:
        model, report = read
        _expect(model, report, log)
        if fast:
            log.skip(TORCH_STEPS, "--fast")
        else:
            _torch_steps(target, model, report, log)
    return ModelResult(target.name, target.file, target.variant, tuple(log.steps), tuple(log.issues),
                       time.perf_counter() - start)


def _torch_steps(target: Target, model: Model, report: Report, log: _Log) -> None:
    why = missing("torch")
    if why:
        log.skip(TORCH_STEPS, why)
        return
    net = _params(model, report, log)
    if net is None:
        log.skip(TORCH_STEPS[1:], "the module could not be built")
        return
    why = missing("fvcore.nn")
    if why:
        log.skip((Step.fvcore,), why)
    else:
        _fvcore(model, report, net, log)
    why = missing("torchvision") or missing("fvcore.nn")
    if model.reference is None:
        log.record(Step.torchvision, [], 0)
    elif why:
        log.skip((Step.torchvision,), why)
    else:
        _torchvision(model, report, log, _reference_loc(target))


def _layer_locs(model: Model) -> dict[str, Loc]:
    return {node.name: node.loc for node in model.nodes if node.layer is not None}


def _params(model: Model, report: Report, log: _Log) -> Any:
    """Step 3: parameters and buffers of every node's module (meta device: nothing allocated).
    Returns the meta module for step 4, or None when it cannot be built."""
    from .torchbuild import build, module_sizes
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
    TRACE_BUDGET (counts are then compared at that size; shapes still at the spec's, on meta)."""
    cost = report.totals.macs
    if TRACE_BATCH * cost <= BATCH2_BUDGET:
        return TRACE_BATCH, model.input_shape
    if cost <= TRACE_BUDGET:
        return 1, model.input_shape
    for shape in _smaller(model.input_shape, cost):
        try:
            if analyze(model, 1, shape).totals.macs <= TRACE_BUDGET:
                return 1, shape
        except SpecError:  # not an input this spec accepts
            continue
    return None


def _smaller(shape: tuple[int, ...], cost: int) -> Iterator[tuple[int, ...]]:
    """Halvings first (they keep divisibility by powers of two: HRNet), then sizes scanned down
    from the area the budget allows, keeping the aspect ratio (U-Net accepts only 16k + 12)."""
    if len(shape) != 3:
        return
    c, h, w = shape
    k = 1
    while h % 2**k == 0 and w % 2**k == 0:
        yield c, h >> k, w >> k
        k += 1
    scale = math.sqrt(TRACE_BUDGET / cost)
    for step in range(64):
        smaller = (c, int(h * scale) - step, int(w * scale) - round(step * w / h))
        if min(smaller) < 1:
            return
        yield smaller


def _fvcore(model: Model, report: Report, net: Any, log: _Log) -> None:
    """Step 4: every layer's output shape in a batch-2 forward on meta at the spec's input, then
    fvcore's per-layer counts of a real CPU forward against the analysis at the traced size."""
    import torch
    from .torchbuild import ForwardError, build, fvcore_counts, layer_shapes, materialise
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
            else f"not counted: over {TRACE_BUDGET / 1e9:g} G MACs at any input the spec accepts")
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


def _torchvision(model: Model, report: Report, log: _Log, loc: Loc) -> None:
    """Step 5: parameters and conv/linear MACs (fvcore, batch 1) of the named torchvision model."""
    import torch
    from .torchbuild import fvcore_counts, materialise
    name = model.reference
    try:
        builder = reference_builder(name)
    except ValueError as exc:
        log.record(Step.torchvision, [Issue(Step.torchvision, str(exc), loc)], 1)
        return
    with torch.device("meta"):
        reference = builder(**REFERENCE_KWARGS.get(name.rpartition(".")[2], {}))
    params = sum(p.numel() for p in reference.parameters())
    issues = [] if params == report.totals.params else [Issue(
        Step.torchvision, f"{name} has {params:,} parameters, the spec {report.totals.params:,}", loc)]
    if report.totals.macs > TRACE_BUDGET:
        log.record(Step.torchvision, issues, 1, "MACs not compared: over the trace budget")
        return
    counts, _ = fvcore_counts(materialise(reference), torch.zeros(1, *model.input_shape), set())
    macs = sum(v for k, v in counts[""].items() if k in MAC_OPS)
    if macs != report.totals.macs:
        issues.append(Issue(Step.torchvision, f"{name} has {macs:,} conv/linear MACs (fvcore) at "
                            f"{list(model.input_shape)}, the spec {report.totals.macs:,}", loc))
    log.record(Step.torchvision, issues, 2)


def check_paths(paths: Sequence[str | Path] = (), *, fast: bool = False,
                progress: Callable[[int, int, str], None] | None = None) -> CheckRun:
    """Check every model under ``paths``; ``progress(done, total, name)`` is called before each."""
    targets = collect(paths)
    results = []
    for i, target in enumerate(targets):
        if progress:
            progress(i, len(targets), target.name)
        results.append(check_target(target, fast))
    if progress:
        progress(len(targets), len(targets), "")
    return CheckRun(tuple(results), fast)


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
