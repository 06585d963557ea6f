"""The typed records of `cnntool check`: what to check (Target) and what each step found.

Plain data, no checking: cnntool.check.run fills them, cnntool.cli.check renders them.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..errors import Loc, SpecError
from ..spec.file import SpecFile

__all__ = ["Step", "TORCH_STEPS", "Status", "Issue", "StepResult", "ModelResult", "CheckRun", "Target"]


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

