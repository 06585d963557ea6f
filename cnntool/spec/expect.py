"""`expect:` blocks: published numbers a spec must reproduce, each with its source.

A value is exact (``138357544``, ``[1000]``) or rounded as the source prints it (``"138 M"``
means round(x / 1e6) == 138; ``"1.08 G"`` two decimals), optionally with a tolerance
(``"3.8 G ± 0.1"``). ``Gi``/``Mi`` are binary units (HRNet's GFLOPs are MACs / 2**30).
Checked at batch 1 and the spec's own input size.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import Loc, SpecError
from ..analysis.report import Report
from .yamlsource import LocList, LocMap, loc_of

__all__ = ["Check", "Expectation", "Failure", "parse_expect", "evaluate", "TOTAL_KEYS", "LAYER_KEYS"]

TOTAL_KEYS = ("params", "buffers", "macs", "flops", "fvcore", "out_shape")
KIND_KEYS = ("params", "macs", "flops", "layers")
LAYER_KEYS = ("out_shape", "params", "macs", "flops", "elements", "rf")
_UNITS = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_APPROX = re.compile(r"^\s*(?P<num>\d+(?:\.(?P<dec>\d+))?)\s*(?P<unit>[kKMGT]i?)?\s*"
                     r"(?:(?:±|\+-|\+/-)\s*(?P<tol>\d+(?:\.\d+)?)\s*(?P<tunit>[kKMGT]i?)?)?\s*$")


@dataclass(frozen=True, slots=True)
class Check:
    path: tuple[str, ...]  # ("params",), ("by_kind", "conv", "macs"), ("layers", "conv1", "out_shape")
    expected: Any
    loc: Loc


@dataclass(frozen=True, slots=True)
class Expectation:
    source: str
    checks: tuple[Check, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Failure:
    check: Check
    actual: Any
    source: str

    def __str__(self) -> str:
        what = ".".join(self.check.path)
        return f"expected {what} = {_show(self.check.expected)} ({self.source}), got {_show(self.actual)}"


def _show(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _value(value: Any, loc: Loc) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, str, list)):
        raise SpecError(f"expected an integer, a shape list or a rounded figure like '3.7 M', got {value!r}", loc)
    if isinstance(value, str) and not _APPROX.match(value):
        raise SpecError(f"cannot read {value!r}: write e.g. '138 M', '1.08 G', '3.8 G ± 0.1' or '3.99 Gi'", loc)
    if isinstance(value, list):
        return list(value)
    return value


def _checks(block: LocMap, keys: tuple[str, ...], prefix: tuple[str, ...], where: str) -> list[Check]:
    out = []
    for key, value in block.items():
        loc = loc_of(block, key, block.loc)
        if key not in keys:
            raise SpecError(f"unknown key '{key}' in {where}; allowed: {', '.join(keys)}", block.key_locs[key])
        out.append(Check((*prefix, key), _value(value, loc), loc))
    return out


def _one(block: Any, loc: Loc) -> Expectation:
    if not isinstance(block, LocMap) or not isinstance(block.get("source"), str):
        raise SpecError("each expect block is a mapping with a `source:` naming where its numbers come from", loc)
    checks: list[Check] = []
    for key, value in block.items():
        vloc = loc_of(block, key, loc)
        if key == "source":
            continue
        if key in ("by_kind", "layers"):
            if not isinstance(value, LocMap):
                raise SpecError(f"`{key}` maps names to {{key: value}}", vloc)
            for name, inner in value.items():
                if not isinstance(inner, LocMap):
                    raise SpecError(f"`{key}.{name}` must be a mapping", loc_of(value, name, vloc))
                keys = KIND_KEYS if key == "by_kind" else LAYER_KEYS
                checks += _checks(inner, keys, (key, name), f"{key}.{name}")
        elif key in TOTAL_KEYS:
            checks.append(Check((key,), _value(value, vloc), vloc))
        else:
            allowed = ", ".join(("source", *TOTAL_KEYS, "by_kind", "layers"))
            raise SpecError(f"unknown key '{key}' in expect; allowed: {allowed}", block.key_locs[key])
    return Expectation(block["source"].strip(), tuple(checks), loc)


def parse_expect(value: Any, loc: Loc) -> tuple[Expectation, ...]:
    """One block or a list of blocks (one per source)."""
    if isinstance(value, LocList):
        return tuple(_one(item, loc_of(value, i, loc)) for i, item in enumerate(value))
    return (_one(value, loc),)


def _actual(report: Report, path: tuple[str, ...]) -> Any:
    totals = report.totals
    if path[0] == "out_shape":
        return list(report.layers[-1].out_shape)
    if path[0] == "by_kind":
        kind = totals.by_kind.get(path[1])
        return getattr(kind, path[2]) if kind else 0
    if path[0] == "layers":
        try:
            row = report.row(path[1])
        except KeyError:
            return None
        if path[2] == "out_shape":
            return list(row.out_shape)
        if path[2] == "rf":
            return [int(s) for s in row.rf.size] if row.rf else None
        return getattr(row, path[2])
    return getattr(totals, path[0])


def matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str):
        if not isinstance(actual, int):
            return False
        m = _APPROX.match(expected)
        assert m  # validated when parsed
        scale = _UNITS[m["unit"] or ""]
        number = float(m["num"])
        if m["tol"]:
            tol = float(m["tol"]) * _UNITS[m["tunit"] or m["unit"] or ""] / scale
            return abs(actual / scale - number) <= tol + 1e-12
        return round(actual / scale, len(m["dec"] or "")) == number
    if isinstance(expected, int) and isinstance(actual, list):  # `rf: 212` for a square field
        return actual == [expected, expected]
    return expected == actual


def evaluate(expectations: tuple[Expectation, ...], report: Report) -> tuple[int, list[Failure]]:
    """Return (checks run, failures)."""
    failures, count = [], 0
    for block in expectations:
        for check in block.checks:
            count += 1
            actual = _actual(report, check.path)
            if not matches(check.expected, actual):
                failures.append(Failure(check, actual, block.source))
    return count, failures
