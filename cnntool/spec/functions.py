"""A spec's `functions:`: small expression-bodied helpers, e.g. torchvision's `_make_divisible`.

    functions:
      round8(v): max(8, int(v + 4) // 8 * 8)
      make_divisible(v, d): ...

Each body is one expression over its parameters, the spec's arguments and the functions defined
above it (not below, so nothing recurses), evaluated by the same whitelisted evaluator.
"""
from __future__ import annotations

import re
from typing import Any

from ..errors import SpecError
from .expr import ExprError, UserFunction
from .yamlsource import LocMap, loc_of

__all__ = ["define_functions"]

_SIGNATURE = re.compile(r"^\s*([A-Za-z_]\w*)\s*\(\s*((?:[A-Za-z_]\w*\s*(?:,\s*[A-Za-z_]\w*\s*)*)?)\)\s*$")
_WRAPPED = re.compile(r"^\s*\$\{(.*)\}\s*$", re.S)


def define_functions(raw: Any, args: dict[str, Any], where: Any) -> dict[str, UserFunction]:
    """The helpers of `functions:`, each seeing the arguments and the helpers before it."""
    if raw is None:
        return {}
    if not isinstance(raw, LocMap):
        raise SpecError("`functions` is a mapping of `name(a, b): expression`", where)
    scope: dict[str, Any] = dict(args)
    out: dict[str, UserFunction] = {}
    for key, body in raw.items():
        loc = raw.key_locs[key]
        m = _SIGNATURE.match(key)
        if not m:
            raise SpecError(f"bad function signature {key!r}: write `name(a, b)`", loc)
        name, params = m[1], tuple(p.strip() for p in m[2].split(",") if p.strip())
        if name in scope:
            raise SpecError(f"function '{name}' has the name of an argument or an earlier function", loc)
        if len(set(params)) != len(params):
            raise SpecError(f"function '{name}' repeats a parameter", loc)
        if isinstance(body, bool) or not isinstance(body, (str, int, float)):
            raise SpecError(f"the body of '{name}' must be an expression", loc_of(raw, key, loc))
        text = str(body)
        wrapped = _WRAPPED.match(text)
        try:
            fn = UserFunction(name, params, wrapped[1] if wrapped else text, dict(scope))
        except ExprError as exc:
            raise SpecError(str(exc), loc_of(raw, key, loc)) from None
        scope[name] = out[name] = fn
    return out
