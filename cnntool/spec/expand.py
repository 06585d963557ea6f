"""Expand a spec's layer list (blocks, repeat, for, if, seq, parallel) into graph nodes.

Names are scoped like code: a block call opens a scope named after the call, auto-named
entries get ``<kind><n>`` (conv1, conv2, ...), and ``from:`` resolves a name in the innermost
scope that defines it. References can only point back, so a cycle cannot be written.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import Loc, SpecError
from .expr import IN, ExprError, Work, substitute
from .inshape import Shapes
from ..graph import INPUT, Node
from ..layers import REGISTRY, Layer, LayerError
from ..layers.base import coerce, fields_of
from .names import Names, Scope, check_name, suggest
from .yamlsource import LocList, LocMap, loc_of

__all__ = ["Block", "Expander", "MAX_LAYERS", "META_KEYS"]

MAX_LAYERS = 100_000  # nodes after expansion; the largest built-in model has a few thousand
MAX_CALL_DEPTH = 32
MAX_NESTING = 100  # layer lists inside layer lists (seq, parallel branches, block calls together)
MAX_WORK = 10_000_000  # work units of one expansion (cnntool.spec.expr.Work): steps and values
STEP_UNITS = 10  # what one repeat/for iteration, `if` or layer list costs, in those units
META_KEYS = ("name", "from", "repeat", "for", "if")
CONSTRUCTS = ("seq", "parallel")
MERGES = ("add", "concat", "mul")


@dataclass(frozen=True)
class Block:
    name: str
    args: LocMap  # argument -> default (null: required)
    layers: LocList
    loc: Loc


class Expander:
    def __init__(self, defaults: dict[str, LocMap], blocks: dict[str, Block],
                 later_names: dict[str, Loc], spec_args: dict[str, Any],
                 input_shape: tuple[int, ...] = ()):
        self.defaults = defaults
        self.spec_args = spec_args  # what every block sees besides its own arguments
        self.blocks = blocks
        self.names = Names(later_names)
        self.nodes: list[Node] = []
        self.work = Work(MAX_WORK)
        self.nesting = 0
        self.shapes = Shapes(self.nodes, self.names.nodes, input_shape)
        self.view = self.shapes.view  # `in` in an expression: the shape of the node an entry reads

    @property
    def read_input(self) -> bool:
        """Whether an expression read `in`: then the nodes depend on the input shape."""
        return self.shapes.read

    # -- public --------------------------------------------------------------------------
    def expand(self, layers: LocList, input_shape_loc: Loc) -> tuple[Node, ...]:
        self.nodes.append(Node(INPUT, "input", None, (), (), input_shape_loc))
        self.names.nodes[INPUT] = 0
        top = Scope("", INPUT)
        self.sequence(layers, top, dict(self.spec_args), INPUT)
        return tuple(self.nodes)

    # -- sequences and entries -----------------------------------------------------------
    def sequence(self, entries: Any, scope: Scope, env: dict[str, Any], prev: str, loc: Loc | None = None) -> str:
        where = getattr(entries, "loc", loc or scope.loc())
        if not isinstance(entries, list):
            raise SpecError(f"expected a list of layers, got {entries!r}"[:200], where, trace=scope.trace)
        self.step(where, scope)
        if self.nesting >= MAX_NESTING:  # bounds the recursion of seq in blocks calling blocks
            raise SpecError(f"layer lists nest more than {MAX_NESTING} deep (seq, parallel and block "
                            "calls together)", where, trace=scope.trace)
        self.nesting += 1
        try:
            for i, raw in enumerate(entries):
                prev = self.entry(raw, loc_of(entries, i, where), scope, env, prev)
        finally:
            self.nesting -= 1
        return prev

    def step(self, loc: Loc, scope: Scope) -> None:
        """Charge one expansion step (an iteration, an `if`, a layer list) to the work budget."""
        try:
            self.work.charge(STEP_UNITS)
        except ExprError as exc:
            raise SpecError(str(exc), loc, trace=scope.trace) from None

    def entry(self, raw: Any, loc: Loc, scope: Scope, env: dict[str, Any], prev: str) -> str:
        """One list item; `if` and `name` are evaluated per iteration, so they can use `for` variables."""
        key, value, meta = self.split(raw, loc)
        meta_loc = lambda k: loc_of(raw, k, loc)  # noqa: E731
        runs = []
        env = {**env, IN: self.view(prev)}  # in meta keys, `in` is the entry's input (`from`, else prev)
        for k, bound in enumerate(self.loops(meta, raw, loc, env)):
            self.step(loc, scope)
            inner = {**env, **bound}
            if "from" in meta:
                inner[IN] = self.view(self.sources(meta, raw, loc, scope, inner, prev)[0])
            if "if" not in meta or self.condition(meta["if"], inner, meta_loc("if")):
                name = self.sub(meta.get("name"), inner, meta_loc("name"))
                if isinstance(name, int) and not isinstance(name, bool) and name >= 0:
                    name = str(name)  # `name: $i` over a range names torch's Sequential children
                if name is not None:
                    check_name(name, meta_loc("name"), "name")
                runs.append((k, inner, name))
        given = [name for _, _, name in runs]
        numbered = len(runs) > 1 and given[0] is not None and len(set(given)) < len(given)
        for k, inner, this_name in runs:
            if numbered:  # `name: layer` over 4 iterations gives layer1..layer4
                this_name = f"{this_name}{k + 1}"
            src = self.sources(meta, raw, loc, scope, inner, prev)
            prev = self.one(key, value, loc_of(raw, key, loc) if isinstance(raw, LocMap) else loc,
                            loc, this_name, src, scope, inner)
        return prev

    def split(self, raw: Any, loc: Loc) -> tuple[str, Any, dict[str, Any]]:
        if isinstance(raw, str):
            return raw, None, {}
        if not isinstance(raw, LocMap):
            raise SpecError(f"a layer entry is a kind name or a mapping, got {raw!r}", loc)
        keys = [k for k in raw if k not in META_KEYS]
        if len(keys) != 1:
            what = "no layer kind" if not keys else f"{len(keys)} kinds ({', '.join(keys)})"
            raise SpecError(f"entry has {what}; each list item is exactly one layer, block or construct"
                            f" plus optional {', '.join(META_KEYS)}", loc)
        return keys[0], raw[keys[0]], {k: raw[k] for k in raw if k in META_KEYS}

    def loops(self, meta: dict[str, Any], raw: Any, loc: Loc, env: dict[str, Any]) -> list[dict[str, Any]]:
        if "repeat" in meta and "for" in meta:
            raise SpecError("use either `repeat` or `for` on one entry, not both", loc)
        if "repeat" in meta:
            where = loc_of(raw, "repeat", loc)
            n = self.sub(meta["repeat"], env, where)
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise SpecError(f"repeat must be a non-negative integer, got {n!r}", where)
            if n > MAX_LAYERS:
                raise SpecError(f"repeat {n:,} is over the limit of {MAX_LAYERS:,} layers", where)
            return [{}] * n
        if "for" in meta:
            where = loc_of(raw, "for", loc)
            spec = meta["for"]
            if not isinstance(spec, LocMap) or not spec:
                raise SpecError("`for` takes a mapping of name: list, e.g. {c: [64, 128], n: [2, 2]}", where)
            lists = {check_name(k, spec.key_locs[k], "loop variable"): self.sub(v, env, loc_of(spec, k, where))
                     for k, v in spec.items()}
            lengths = {k: len(v) if isinstance(v, list) else None for k, v in lists.items()}
            if None in lengths.values() or len(set(lengths.values())) != 1:
                raise SpecError(f"`for` needs lists of one length, got lengths {lengths}", where)
            if next(iter(lengths.values())) > MAX_LAYERS:
                raise SpecError(f"`for` runs over the limit of {MAX_LAYERS:,} layers", where)
            return [dict(zip(lists, values)) for values in zip(*lists.values())]
        return [{}]

    def sources(self, meta: dict[str, Any], raw: Any, loc: Loc, scope: Scope,
                env: dict[str, Any], prev: str) -> tuple[str, ...]:
        if "from" not in meta:
            return (prev,)
        where = loc_of(raw, "from", loc)
        value = self.sub(meta["from"], env, where)
        names = value if isinstance(value, list) else [value]
        if not names or not all(isinstance(n, str) for n in names):
            raise SpecError(f"`from` takes a node name or a list of names, got {value!r}", where)
        return tuple(self.names.resolve(n, scope, loc_of(meta["from"], i, where)) for i, n in enumerate(names))

    # -- one entry: a layer, a block call, seq or parallel -------------------------------------
    def one(self, key: str, value: Any, vloc: Loc, loc: Loc, name: str | None,
            src: tuple[str, ...], scope: Scope, env: dict[str, Any]) -> str:
        if key in REGISTRY:
            return self.layer(key, value, vloc, loc, name, src, scope, env)
        if key in self.blocks:
            return self.call(self.blocks[key], value, vloc, loc, name, src, scope, env)
        if key == "seq":
            return self.sequence(value, scope, env, self.single(src, "seq", loc), vloc)
        if key == "parallel":
            return self.parallel(value, vloc, loc, name, src, scope, env)
        options = [*REGISTRY, *self.blocks, *CONSTRUCTS]
        raise SpecError(f"unknown layer kind or block '{key}'", loc, hint=suggest(key, options),
                        trace=scope.trace)

    def single(self, src: tuple[str, ...], what: str, loc: Loc) -> str:
        if len(src) != 1:
            raise SpecError(f"{what} takes one input, got {len(src)}", loc)
        return src[0]

    def layer(self, kind: str, value: Any, vloc: Loc, loc: Loc, name: str | None,
              src: tuple[str, ...], scope: Scope, env: dict[str, Any]) -> str:
        cls = REGISTRY[kind]
        lo, hi = cls.arity
        if isinstance(value, list) and hi != 1:  # `add: [a, b]` lists the inputs
            src = tuple(self.names.resolve(self.sub(v, env, loc_of(value, i, vloc)), scope, loc_of(value, i, vloc))
                        for i, v in enumerate(value))
            value = None
        layer, refs = self.make_layer(cls, value, vloc, loc, scope, {**env, IN: self.view(src[0])})
        if len(src) < lo or (hi is not None and len(src) > hi):
            want = f"at least {lo}" if hi is None else f"{lo}" if lo == hi else f"{lo} to {hi}"
            raise SpecError(f"{kind} takes {want} input(s), got {len(src)}", loc, trace=scope.trace)
        full = scope.define(name or scope.auto(kind), loc)
        self.add_node(Node(full, kind, layer, src, refs, loc, scope.trace), loc)
        return full

    def make_layer(self, cls: type[Layer], value: Any, vloc: Loc, loc: Loc, scope: Scope,
                   env: dict[str, Any]) -> tuple[Layer, tuple[tuple[str, str], ...]]:
        if value is None:
            given: dict[str, Any] = {}
        elif isinstance(value, LocMap):
            given = dict(value)
        elif cls.primary:
            given = {cls.primary: value}
        else:
            raise SpecError(f"{cls.kind} takes no value here; write `- {cls.kind}` or a mapping of its "
                            f"fields", vloc, trace=scope.trace)
        defaults = self.defaults.get(cls.kind, {})
        fields = {f.name: f for f in fields_of(cls)}
        kwargs, refs = {}, []
        for key in {**defaults, **given}:
            source = given if key in given else defaults
            where = loc_of(value, key, vloc) if key in given else loc_of(defaults, key, vloc)
            if key not in fields:
                located = value if key in given else defaults
                if isinstance(located, LocMap):
                    where = located.key_locs.get(key, where)
                hint = suggest(key, fields) or (f"{cls.kind} has no fields" if not fields
                                                else "fields: " + ", ".join(fields))
                raise SpecError(f"{cls.kind} has no field '{key}'", where, hint=hint, trace=scope.trace)
            raw = self.sub(source[key], env, where)
            try:
                kwargs[key] = coerce(raw, fields[key].type)
            except LayerError as exc:
                raise SpecError(f"{cls.kind}.{key}: {exc}", where, trace=scope.trace) from None
            if key in cls.refs and kwargs[key] is not None:
                refs.append((key, self.names.resolve(kwargs[key], scope, where)))
        missing = [f for f in fields if fields[f].required and f not in kwargs]
        if missing:
            raise SpecError(f"{cls.kind} needs `{missing[0]}` ({fields[missing[0]].doc}); set it here "
                            f"or under `defaults: {cls.kind}:`", loc, trace=scope.trace)
        layer = cls(**kwargs)
        try:
            layer.check()
        except LayerError as exc:
            raise SpecError(f"{cls.kind}: {exc}", vloc, trace=scope.trace) from None
        return layer, tuple(refs)

    def call(self, block: Block, value: Any, vloc: Loc, loc: Loc, name: str | None,
             src: tuple[str, ...], scope: Scope, caller: dict[str, Any]) -> str:
        if scope.depth >= MAX_CALL_DEPTH:
            raise SpecError(f"blocks call each other more than {MAX_CALL_DEPTH} deep (recursion?)", loc,
                            trace=scope.trace)
        start = self.single(src, f"block '{block.name}'", loc)
        env = self.block_env(block, value, vloc, loc, scope, {**caller, IN: self.view(start)})
        full = scope.define(name or scope.auto(block.name), loc)
        child = Scope(full + ".", start, (loc, *scope.trace), scope, scope.depth + 1)
        out = self.sequence(block.layers, child, env, child.input)
        self.names.alias(scope, full, out)  # the block's name stands for its output
        return out

    def block_env(self, block: Block, value: Any, vloc: Loc, loc: Loc, scope: Scope,
                  caller: dict[str, Any]) -> dict[str, Any]:
        """A block sees the spec's arguments and its own, evaluated in the caller's scope."""
        env = {**self.spec_args, IN: caller[IN]}  # argument defaults may read the block's input too
        params = list(block.args)
        if value is None:
            given: dict[str, Any] = {}
        elif isinstance(value, LocMap):
            given = dict(value)
        elif params:
            given = {params[0]: value}
        else:
            raise SpecError(f"block '{block.name}' takes no arguments", vloc, trace=scope.trace)
        for key, raw in given.items():
            where = loc_of(value, key, vloc)
            if key not in block.args:
                where = value.key_locs.get(key, where) if isinstance(value, LocMap) else where
                raise SpecError(f"block '{block.name}' has no argument '{key}'", where,
                                hint=suggest(key, params) or f"arguments: {', '.join(params) or 'none'}",
                                trace=scope.trace)
            env[key] = self.sub(raw, caller, where)
        for key, default in block.args.items():
            if key not in given:
                if default is None:
                    raise SpecError(f"block '{block.name}' needs argument '{key}'", loc, trace=scope.trace)
                env[key] = self.sub(default, env, loc_of(block.args, key, block.loc))  # may use earlier args
        return env

    def parallel(self, value: Any, vloc: Loc, loc: Loc, name: str | None, src: tuple[str, ...],
                 scope: Scope, env: dict[str, Any]) -> str:
        if not isinstance(value, LocMap) or set(value) - {"branches", "merge"} or "branches" not in value:
            raise SpecError("parallel takes {branches: [[...], [...]] or {name: [...]}, merge: add|concat|mul}",
                            vloc, trace=scope.trace)
        merge = value.get("merge", "concat")
        if merge not in MERGES:
            raise SpecError(f"merge must be one of {', '.join(MERGES)}, got {merge!r}", loc_of(value, "merge", vloc))
        start = self.single(src, "parallel", loc)
        branches = value["branches"]
        bloc = loc_of(value, "branches", vloc)
        if isinstance(branches, LocMap):
            named = [(check_name(k, branches.key_locs[k], "branch"), v, loc_of(branches, k, bloc))
                     for k, v in branches.items()]
        elif isinstance(branches, list):
            named = [(None, v, loc_of(branches, i, bloc)) for i, v in enumerate(branches)]
        else:
            raise SpecError("branches must be a list of layer lists or a mapping of name: layers", bloc)
        if len(named) < 2:
            raise SpecError("parallel needs at least two branches (an empty one is the identity)", bloc)
        outs = []
        for bname, layers, where in named:
            layers = self.branch_layers(layers, where, {**env, IN: self.view(start)})
            if layers is None:
                continue
            full = scope.define(bname or scope.auto("branch"), where)
            child = Scope(full + ".", start, scope.trace, scope, scope.depth)
            outs.append(self.sequence(layers, child, env, start, where))
            self.names.alias(scope, full, outs[-1])
        if len(outs) == 1:  # the others' `if` was false: no merge (MobileNetV2 without its shortcut)
            if name:
                self.names.alias(scope, scope.define(name, loc), outs[0])
            return outs[0]
        full = scope.define(name or scope.auto(merge), loc)
        self.add_node(Node(full, merge, REGISTRY[merge](), tuple(outs), (), loc, scope.trace), loc)
        return full

    def branch_layers(self, value: Any, where: Loc, env: dict[str, Any]) -> Any:
        """A branch is a layer list, or {if: condition, layers: [...]}: None when the condition is false."""
        if not isinstance(value, LocMap):
            return value
        if set(value) != {"if", "layers"}:
            raise SpecError("a branch is a list of layers or {if: condition, layers: [...]}", where)
        return value["layers"] if self.condition(value["if"], env, loc_of(value, "if", where)) else None

    def add_node(self, node: Node, loc: Loc) -> None:
        if len(self.nodes) >= MAX_LAYERS:
            raise SpecError(f"the model expands to more than {MAX_LAYERS:,} layers", loc)
        if node.name in self.names.nodes:  # one dotted name from two scopes: `from:` could not tell them apart
            first = self.nodes[self.names.nodes[node.name]].loc
            raise SpecError(f"two nodes are named '{node.name}' (the first at line {first.line})", loc,
                            trace=node.trace)
        self.names.nodes[node.name] = len(self.nodes)
        self.nodes.append(node)

    # -- values --------------------------------------------------------------------------------
    def condition(self, value: Any, env: dict[str, Any], loc: Loc) -> bool:
        result = self.sub(value, env, loc)
        if not isinstance(result, bool):
            raise SpecError(f"`if` needs true or false, got {result!r}", loc)
        return result

    def sub(self, value: Any, env: dict[str, Any], loc: Loc) -> Any:
        try:
            if isinstance(value, list):
                return [self.sub(v, env, loc_of(value, i, loc)) for i, v in enumerate(value)]
            return substitute(value, env, self.work)
        except ExprError as exc:
            raise SpecError(str(exc), loc) from None

