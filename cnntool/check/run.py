"""`cnntool check`: every spec (and variant) is read, meets its `expect:` numbers and agrees
with what torch builds from it, with fvcore's counts and with the torchvision model it names.

Steps, each a column of the CLI table:
  parse        the spec reads, validates and its shapes are consistent (warnings listed)
  expect       `expect:` totals and per-layer values hold (cnntool.spec.expect)
  params       the built module's parameters and buffers equal the analysis, layer by layer (meta)
  fvcore       fvcore's count of a real CPU forward equals ours layer by layer (conv/linear MACs
               and the whole `fvcore` column), and the forward's output shape is the analytic one
  torchvision  parameters and conv/linear MACs equal the `reference:` torchvision model's
torch, torchvision and fvcore are imported inside functions; without them steps 3–5 are skipped.

This module collects the targets and runs steps 1–2; the records live in cnntool.check.results,
steps 3–5 in cnntool.check.torch_steps. Both are re-exported here, the public API of `cnntool check`.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable, Sequence

from ..analysis.analyze import analyze
from .results import TORCH_STEPS, CheckRun, Issue, ModelResult, Status, Step, StepResult, Target
from .torch_steps import REFERENCE, TRACE_BUDGET, StepLog, reference_builder, reference_loc, torch_steps
from ..errors import Loc, SpecError
from ..spec.expect import evaluate
from ..graph import Model
from ..analysis.report import Report
from ..spec.file import SpecFile
from ..spec.zoo import resolve, spec_dir

__all__ = ["Step", "Status", "Issue", "StepResult", "ModelResult", "CheckRun", "Target",
           "check_paths", "collect", "check_target", "CheckAborted", "reference_builder", "REFERENCE", "TRACE_BUDGET"]

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

def _read(target: Target, log: StepLog) -> tuple[Model, Report] | None:
    """Step 1. A SpecError is recorded as an error (exit 2) and ends the model's checks."""
    try:
        if target.error:
            raise target.error
        model = target.spec.model(target.variant)
        report = analyze(model)
        if model.reference is not None and not (isinstance(model.reference, str)
                                                and REFERENCE.match(model.reference)):
            raise SpecError(f"reference must name a torchvision model as torchvision.models.<name>, "
                            f"got {model.reference!r}", reference_loc(target))
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


def _expect(model: Model, report: Report, log: StepLog) -> None:
    count, failures = evaluate(model.expect, report)
    log.record(Step.expect, [Issue(Step.expect, str(f), f.check.loc) for f in failures], count)


def check_target(target: Target, fast: bool = False) -> ModelResult:
    start = time.perf_counter()
    log = StepLog()
    read = _read(target, log)
    if read is not None:
        model, report = read
        _expect(model, report, log)
        if fast:
            log.skip(TORCH_STEPS, "--fast")
        else:
            torch_steps(target, model, report, log)
    return ModelResult(target.name, target.file, target.variant, tuple(log.steps), tuple(log.issues),
                       time.perf_counter() - start)


def check_paths(paths: Sequence[str | Path] = (), *, fast: bool = False,
                progress: Callable[[int, int, str], None] | None = None, jobs: int = 1) -> CheckRun:
    """Check every model under ``paths``; ``progress(done, total, name)`` is called as they go.
    With ``jobs`` > 1 the models are checked in that many processes; results keep the order."""
    targets = collect(paths)
    if jobs > 1:
        from ..bench.config import usable_cpus
        jobs = min(jobs, usable_cpus(), len(targets))  # more would only add processes: each holds torch
    if jobs > 1:
        results = _in_processes(targets, fast, jobs, progress)
    else:
        results = []
        for i, target in enumerate(targets):
            if progress:
                progress(i, len(targets), target.name)
            results.append(check_target(target, fast))
    if progress:
        progress(len(targets), len(targets), "")
    return CheckRun(tuple(results), fast)


def _check_file(path: Path, display: str, variant: str | None, fast: bool) -> ModelResult:
    """One target in a worker: the file is read again there (a parsed spec does not travel)."""
    try:
        spec = SpecFile(path, display=display)
    except SpecError as exc:  # it changed on disk since it was collected
        return check_target(Target(display, None, error=exc), fast)
    return check_target(Target(display, spec, variant), fast)


def _in_processes(targets: list[Target], fast: bool, jobs: int,
                  progress: Callable[[int, int, str], None] | None) -> list[ModelResult]:
    """Spawned workers (a fork after torch's threads start can hang); each imports torch once."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool
    results: list[ModelResult | None] = [None] * len(targets)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_check_file, t.spec.path, t.file, t.variant, fast): i
                   for i, t in enumerate(targets) if t.spec is not None}
        for i, target in enumerate(targets):
            if target.spec is None:  # unreadable: its error is already known
                results[i] = check_target(target, fast)
        try:
            for done, future in enumerate(as_completed(futures), 1):
                results[futures[future]] = future.result()
                if progress:
                    progress(done, len(targets), targets[futures[future]].name)
        except BrokenProcessPool:
            raise CheckAborted(f"a check process died (out of memory?) with {jobs} processes; "
                               "rerun with fewer jobs") from None
    return [r for r in results if r is not None]


class CheckAborted(Exception):
    """The run could not finish (a worker process died): no result to report."""
