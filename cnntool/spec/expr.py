"""``$name`` and ``${expression}`` in spec values: a tiny, safe arithmetic language.

Block arguments such as ``${4 * c}`` or ``${n - 1}`` are parsed with :mod:`ast` and evaluated
by walking a whitelist of node types, so a spec can never run Python code.
"""
from __future__ import annotations

import ast
import functools
import math
import operator
import re
from contextvars import ContextVar
from typing import Any, Mapping

__all__ = ["ExprError", "Work", "substitute", "has_expr", "Namespace", "UserFunction", "IN", "MAX_POWER",
           "MAX_ITEMS", "MAX_INT_BITS", "MAX_EXPR_CHARS", "MAX_EXPR_DEPTH"]

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


def _sum(items: Any, start: Any = 0) -> Any:
    """sum() of lists or strings copies quadratically: know the size before adding."""
    if isinstance(items, list) and isinstance(start, (list, str)):
        _need(len(start) + sum(len(x) for x in items if isinstance(x, (list, str))), "sum()")
    return sum(items, start)


def _round(x: Any, digits: Any = None) -> Any:
    if isinstance(digits, int) and abs(digits) > MAX_POWER:  # round(5, -10**18) computes 10**(10**18)
        raise _Limit(f"round() to {digits} digits is over the limit of {MAX_POWER}")
    return round(x) if digits is None else round(x, digits)


_FUNCS = {"min": min, "max": max, "len": len, "int": int, "abs": abs, "round": _round,
          "range": _range, "sum": _sum,
          # the papers' rules: EfficientNet's ceil(d · layers), RegNet's log-quantised widths
          "ceil": math.ceil, "floor": math.floor, "log": math.log, "sqrt": math.sqrt}
MAX_POWER = 64
MAX_ITEMS = 100_000  # longest list or string an expression may build (= the layer limit)
MAX_INT_BITS = 256  # about 77 digits: no spec needs more; str(), float() and formatting stay cheap
MAX_EXPR_CHARS = 1_000  # text of one ${...}
MAX_EXPR_DEPTH = 50  # nesting of one expression's syntax tree (the walk recurses)
MAX_EXPR_WORK = 10_000_000  # items made by one evaluation, when no expansion Work is shared
_FORMAT_SIZE = re.compile(r"%[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?")


class Work:
    """A budget of work units shared by one expansion: every value an expression makes costs
    its size (1 for a number, its length for a string or list), and the expander adds its steps."""

    def __init__(self, limit: int):
        self.limit, self.done = limit, 0

    def charge(self, units: int) -> None:
        self.done += units
        if self.done > self.limit:
            raise ExprError(f"the spec takes more than {self.limit:,} units of expansion work "
                            "(repeat/for/if/seq steps and expression values); an endless spec?")


_WORK: ContextVar[Work] = ContextVar("cnntool_expr_work")
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
            self.tree = _parse(body).body
        except ExprError as exc:
            raise ExprError(f"the body of {name}: {exc}") from None

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


class _Limit(ExprError):
    """A value over a size limit; _eval_text adds the expression's text."""


def has_expr(value: Any) -> bool:
    return isinstance(value, str) and "$" in value


def substitute(value: Any, scope: Mapping[str, Any], work: Work | None = None) -> Any:
    """Replace ``$x``/``${...}`` in a string; a string that is one whole expression keeps its type.
    Every value made is charged to ``work`` (a fresh MAX_EXPR_WORK budget when None)."""
    if not has_expr(value):
        return value
    token = _WORK.set(work or Work(MAX_EXPR_WORK))
    try:
        whole = _WHOLE.match(value.strip())
        if whole:
            return _eval_text(whole["expr"] or whole["name"], scope)
        return _made(_PART.sub(lambda m: _text(_eval_text(m[1] or m[2], scope)), value))
    finally:
        _WORK.reset(token)


def _text(value: Any) -> str:
    return _made(str(value))  # a list's text can be far longer than the list


def _eval_text(text: str, scope: Mapping[str, Any]) -> Any:
    tree = _parse(text)
    _calls[0] = 0
    try:
        return _eval(tree.body, scope, text)
    except _Limit as exc:
        raise ExprError(f"'{_short(text)}': {exc}") from None
    except ExprError:
        raise
    except Exception as exc:  # noqa: BLE001 -- any failure of the arithmetic is the spec's: say so, located
        why = ("a number too large for a float" if isinstance(exc, OverflowError) and "float" not in str(exc)
               else str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise ExprError(f"'{_short(text)}': {why}") from None


@functools.lru_cache(maxsize=4096)  # a block's expressions are parsed once, not once per call
def _parse(text: str) -> ast.Expression:
    if len(text) > MAX_EXPR_CHARS:
        raise ExprError(f"expression of {len(text):,} characters is over the limit of {MAX_EXPR_CHARS:,}")
    try:
        tree = ast.parse(_IN_ATTR.sub(IN + ".", text.strip()), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ExprError(f"cannot parse expression '{_short(text)}'") from None
    if _depth(tree) > MAX_EXPR_DEPTH:
        raise ExprError(f"'{_short(text)}' nests deeper than {MAX_EXPR_DEPTH} levels")
    return tree


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:60] + "…"


def _depth(tree: ast.AST) -> int:
    """Depth of the syntax tree, without recursion (a 3,000-term sum is 3,000 deep)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        stack += [(child, d + 1) for child in ast.iter_child_nodes(node)]
    return deepest


def _need(size: int, what: str) -> None:
    if size > MAX_ITEMS:
        raise _Limit(f"{what} would build {size:,} items, over the limit of {MAX_ITEMS:,}")


def _made(value: Any) -> Any:
    """Every value an expression makes passes here: its size is checked and charged."""
    if isinstance(value, bool) or value is None:
        size = 1
    elif isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise _Limit(f"an integer over {MAX_INT_BITS} bits (about {MAX_INT_BITS * 3 // 10} digits)")
        size = 1
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Limit(f"the result {value} is not a finite number")
        size = 1
    elif isinstance(value, (str, list)):
        size = _weight(value)
    else:
        size = 1
    work = _WORK.get(None)
    if work is not None:
        work.charge(size)
    return value


def _weight(value: Any, limit: int = MAX_ITEMS) -> int:
    """Items in a string or a list of lists, counted until over ``limit`` (shared sublists count
    each time: their text, or a sum over them, is that long)."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        total += len(item) if isinstance(item, (str, list)) else 1
        if total > limit:
            raise _Limit(f"a value of more than {limit:,} items (the limit)")
        if isinstance(item, list):
            stack += [x for x in item if isinstance(x, list)]
    return total


def _check_binop(op: ast.operator, a: Any, b: Any, text: str) -> None:
    """Refuse an operation whose result would be too large, before computing it."""
    number = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool)  # noqa: E731
    if isinstance(op, ast.Pow) and number(b):
        if abs(b) > MAX_POWER:
            raise ExprError(f"exponent too large in '{_short(text)}'")
        if isinstance(a, int) and isinstance(b, int) and a.bit_length() * abs(b) > MAX_INT_BITS:
            raise _Limit(f"** makes an integer over {MAX_INT_BITS} bits")
    elif isinstance(op, ast.Mult) and isinstance(a, int) and isinstance(b, int):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
            raise _Limit(f"* makes an integer over {MAX_INT_BITS} bits")
    elif isinstance(op, ast.Mod) and isinstance(a, str):
        for width, precision in _FORMAT_SIZE.findall(a):
            if "*" in (width, precision) or max(int(width or 0), int(precision or 0)) > MAX_ITEMS:
                raise _Limit(f"a % format width or precision over {MAX_ITEMS:,} (or a `*`)")
    if isinstance(op, (ast.Mult, ast.Add)):
        _need(_size(a, b, op), "this")


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
    return _made(_node(node, scope, text))


def _node(node: ast.AST, scope: Mapping[str, Any], text: str) -> Any:
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
            _check_binop(op, a, b, text)
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
            except ExprError:
                raise
            except (TypeError, ValueError, OverflowError) as exc:
                raise ExprError(f"'{text}': {exc}") from None
        case ast.Call(func=ast.Name(id=fn)) if fn not in _FUNCS:
            raise ExprError(f"unknown function '{fn}' in '{text}' (a spec's `functions:` see only those above them)")
    raise ExprError(f"'{text}' uses something expressions do not allow "
                    "(only numbers, names, in.c/in.h/in.w, + - * / // % **, comparisons, and/or/not, "
                    "x if c else y, indexing, lists, min/max/len/int/abs/round/range/sum/ceil/floor/log/sqrt "
                    "and the spec's functions)")
