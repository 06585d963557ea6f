"""``$name`` and ``${expression}`` in spec values: a tiny, safe arithmetic language.

Block arguments such as ``${4 * c}`` or ``${n - 1}`` are parsed with :mod:`ast` and evaluated
by walking a whitelist of node types, so a spec can never run Python code.
"""
from __future__ import annotations

import ast
import math
import operator
import re
from typing import Any, Mapping

__all__ = ["ExprError", "substitute", "has_expr", "Namespace", "UserFunction", "IN"]

_WHOLE = re.compile(r"^\$(?:\{(?P<expr>[^{}]+)\}|(?P<name>[A-Za-z_]\w*))$")
_PART = re.compile(r"\$(?:\{([^{}]+)\}|([A-Za-z_]\w*))")
_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
        ast.Pow: operator.pow}
_CMP = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
        ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b}
def _range(*args: int) -> list[int]:
    span = range(*args)  # lazy: its length is known before anything is allocated
    if len(span) > MAX_ITEMS:
        raise ExprError(f"range of {len(span):,} items is over the limit of {MAX_ITEMS:,}")
    return list(span)


_FUNCS = {"min": min, "max": max, "len": len, "int": int, "abs": abs, "round": round,
          "range": _range, "sum": sum,
          # the papers' rules: EfficientNet's ceil(d · layers), RegNet's log-quantised widths
          "ceil": math.ceil, "floor": math.floor, "log": math.log, "sqrt": math.sqrt}
MAX_POWER = 64
MAX_ITEMS = 100_000  # longest list or string an expression may build (= the layer limit)
MAX_CALLS = 100_000  # user-function calls one expression may make (f(x) = g(x) + g(x) doubles)
IN = "__in__"  # `in.c` is written for the layer's input; `in` is a Python keyword, so it is renamed
_IN_ATTR = re.compile(r"(?<![\w.])in\.(?=[A-Za-z_])")


class Namespace:
    """A value whose attributes an expression may read (`in.c`); the only attribute access allowed."""

    def expr_attr(self, name: str) -> Any:
        raise ExprError(f"no attribute '{name}'")


class UserFunction:
    """A spec's `functions:` entry: parameters and one expression, evaluated in the spec's arguments."""

    def __init__(self, name: str, params: tuple[str, ...], body: str, scope: Mapping[str, Any]):
        self.name, self.params, self.body, self.scope = name, params, body, scope
        try:
            self.tree = ast.parse(_IN_ATTR.sub(IN + ".", body.strip()), mode="eval").body
        except SyntaxError:
            raise ExprError(f"cannot parse the body of {name}: '{body}'") from None

    def __call__(self, *args: Any) -> Any:
        if len(args) != len(self.params):
            raise ExprError(f"{self.name} takes {len(self.params)} argument(s) ({', '.join(self.params)}), "
                            f"got {len(args)}")
        _count_call(self.name)
        return _eval(self.tree, {**self.scope, **dict(zip(self.params, args))}, self.body)


_calls = [0]  # user-function calls in the expression being evaluated (reset per expression)


def _count_call(name: str) -> None:
    _calls[0] += 1
    if _calls[0] > MAX_CALLS:
        raise ExprError(f"more than {MAX_CALLS:,} function calls in one expression (last: {name})")


class ExprError(ValueError):
    """An expression that cannot be evaluated; the caller adds the location."""


def has_expr(value: Any) -> bool:
    return isinstance(value, str) and "$" in value


def substitute(value: Any, scope: Mapping[str, Any]) -> Any:
    """Replace ``$x``/``${...}`` in a string; a string that is one whole expression keeps its type."""
    if not has_expr(value):
        return value
    whole = _WHOLE.match(value.strip())
    if whole:
        return _eval_text(whole["expr"] or whole["name"], scope)
    return _PART.sub(lambda m: str(_eval_text(m[1] or m[2], scope)), value)


def _eval_text(text: str, scope: Mapping[str, Any]) -> Any:
    try:
        tree = ast.parse(_IN_ATTR.sub(IN + ".", text.strip()), mode="eval")
    except SyntaxError:
        raise ExprError(f"cannot parse expression '{text}'") from None
    _calls[0] = 0
    return _eval(tree.body, scope, text)


def _size(a: Any, b: Any, op: ast.operator) -> int:
    """Length of the list or string that a * b or a + b would build (0 for numbers)."""
    seqs = [x for x in (a, b) if isinstance(x, (list, str))]
    if not seqs:
        return 0
    if isinstance(op, ast.Add):
        return sum(len(x) for x in seqs)
    counts = [x for x in (a, b) if isinstance(x, int) and not isinstance(x, bool)]
    return len(seqs[0]) * max(counts[0], 0) if counts else 0


def _eval(node: ast.AST, scope: Mapping[str, Any], text: str) -> Any:
    ev = lambda n: _eval(n, scope, text)  # noqa: E731
    match node:
        case ast.Constant(value=v) if isinstance(v, (int, float, str, bool)) or v is None:
            return v
        case ast.Name(id=name):
            if name in scope:
                return scope[name]
            if name in ("true", "false"):
                return name == "true"
            if name == IN:
                raise ExprError(f"'{text}': `in` (the input's shape) is not known here")
            known = ", ".join(sorted(k for k in scope if k != IN and not isinstance(scope[k], UserFunction)))
            known = known or "none"
            raise ExprError(f"unknown name '{name}' in '{text}' (arguments in scope: {known})")
        case ast.BinOp(op=op, left=left, right=right) if type(op) in _BIN:
            a, b = ev(left), ev(right)
            if isinstance(op, ast.Pow) and isinstance(b, (int, float)) and abs(b) > MAX_POWER:
                raise ExprError(f"exponent too large in '{text}'")
            if isinstance(op, (ast.Mult, ast.Add)) and _size(a, b, op) > MAX_ITEMS:
                raise ExprError(f"'{text}' builds a sequence too large (over the limit of {MAX_ITEMS:,} items)")
            try:
                return _BIN[type(op)](a, b)
            except (TypeError, ZeroDivisionError, OverflowError) as exc:
                raise ExprError(f"'{text}': {exc}") from None
        case ast.UnaryOp(op=ast.USub(), operand=x):
            return -ev(x)
        case ast.UnaryOp(op=ast.Not(), operand=x):
            return not ev(x)
        case ast.BoolOp(op=op, values=values):
            results = [ev(v) for v in values]
            return all(results) if isinstance(op, ast.And) else any(results)
        case ast.Compare(left=left, ops=ops, comparators=rights) if all(type(o) in _CMP for o in ops):
            a = ev(left)
            for op, right in zip(ops, rights):
                b = ev(right)
                if not _CMP[type(op)](a, b):
                    return False
                a = b
            return True
        case ast.IfExp(test=test, body=body, orelse=orelse):
            return ev(body) if ev(test) else ev(orelse)
        case ast.Subscript(value=base, slice=index):
            try:
                return ev(base)[ev(index)]
            except (IndexError, KeyError, TypeError) as exc:
                raise ExprError(f"'{text}': bad index ({exc})") from None
        case ast.Slice(lower=lo, upper=hi, step=step):
            return slice(*(None if part is None else ev(part) for part in (lo, hi, step)))
        case ast.List(elts=items) | ast.Tuple(elts=items):
            return [ev(i) for i in items]
        case ast.Attribute(value=base, attr=attr):
            obj = ev(base)
            if not isinstance(obj, Namespace):
                raise ExprError(f"'{text}': only `in` has attributes (in.c, in.h, in.w)")
            return obj.expr_attr(attr)
        case ast.Call(func=ast.Name(id=fn), args=args, keywords=[]) if isinstance(scope.get(fn), UserFunction):
            return scope[fn](*(ev(a) for a in args))
        case ast.Call(func=ast.Name(id=fn), args=args, keywords=[]) if fn in _FUNCS:
            try:
                return _FUNCS[fn](*(ev(a) for a in args))
            except (TypeError, ValueError, OverflowError) as exc:
                raise ExprError(f"'{text}': {exc}") from None
    raise ExprError(f"'{text}' uses something expressions do not allow "
                    "(only numbers, names, in.c/in.h/in.w, + - * / // % **, comparisons, and/or/not, "
                    "x if c else y, indexing, lists, min/max/len/int/abs/round/range/sum/ceil/floor/log/sqrt "
                    "and the spec's functions)")
