"""Training cost of a model, analytically: backward MACs and the memory of one training step.

One step is ``zero_grad(set_to_none=True)``, forward, ``loss.backward()``, ``optimizer.step()``.
Every byte term is linear in the batch size (``Bytes``), so the peak at any batch, and the largest
batch under a memory budget, follow exactly from one walk over the layers. What each kind keeps
for its backward is that kind's ``Layer.saved`` rule; the assumptions are tabled in
docs/training.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from ..errors import SpecError
from ..graph import Model
from ..layers import Io, Ref
from .analyze import analyze, unread_nodes
from .report import Report

__all__ = ["Optimizer", "Precision", "Bytes", "TrainRow", "Training", "training", "max_batch"]


class Optimizer(str, Enum):
    """torch.optim optimizers by the state they keep: fp32 tensors per parameter."""

    sgd = "sgd"  # SGD(momentum=0): none
    momentum = "momentum"  # SGD(momentum>0): momentum_buffer
    adam = "adam"  # exp_avg, exp_avg_sq
    adamw = "adamw"  # as Adam


STATE_TENSORS = {Optimizer.sgd: 0, Optimizer.momentum: 1, Optimizer.adam: 2, Optimizer.adamw: 2}


class Precision(str, Enum):
    """fp32 throughout, or mixed precision: torch.autocast with fp32 master weights and grads."""

    fp32 = "fp32"
    fp16 = "fp16"  # autocast(float16) + GradScaler
    bf16 = "bf16"  # autocast(bfloat16)

    @property
    def act_bytes(self) -> int:
        return 4 if self is Precision.fp32 else 2


@dataclass(frozen=True, slots=True)
class Bytes:
    """per_sample × batch + fixed."""

    per_sample: int = 0
    fixed: int = 0

    def at(self, batch: int) -> int:
        return self.per_sample * batch + self.fixed

    def __add__(self, other: Bytes) -> Bytes:
        return Bytes(self.per_sample + other.per_sample, self.fixed + other.fixed)


@dataclass(frozen=True, slots=True)
class TrainRow:
    """One layer at the chosen batch: what its backward costs and what it adds to memory."""

    name: str
    kind: str
    keeps: str  # what autograd saves for it, e.g. "input + indices"
    saved_bytes: int  # saved tensors no earlier layer already keeps
    param_bytes: int
    grad_bytes: int
    state_bytes: int  # optimizer state
    backward_macs: int


# the terms of the peak, in the order the tables show them
TERMS = ("params", "buffers", "optimizer_state", "input", "saved", "forward_temporary",
         "activation_grads", "param_grads", "backward_workspace", "optimizer_temporary")


@dataclass(frozen=True)
class Training:
    report: Report  # the analysis at this batch (forward and backward MACs/FLOPs per layer)
    optimizer: Optimizer
    precision: Precision
    device: str  # "cuda" or "cpu": which optimizer kernels torch picks by default
    rows: tuple[TrainRow, ...]
    peak_bytes: int
    peak_at: str  # e.g. "backward of conv1"
    terms: dict[str, int] = field(default_factory=dict)  # the peak, term by term
    saved_total: int = 0  # everything kept for the backward at the end of the forward

    @property
    def batch(self) -> int:
        return self.report.batch


def training(model: Model, batch: int = 1, optimizer: Optimizer = Optimizer.sgd,
             precision: Precision = Precision.fp32, device: str = "cuda",
             input_shape: tuple[int, ...] | None = None) -> Training:
    """The training step of ``model`` at ``batch``: per-layer rows and the peak, term by term."""
    plan = _Plan(model, optimizer, precision, device, input_shape)
    when, terms = plan.peak(batch)
    report = analyze(model, batch, input_shape, precision.act_bytes)
    trained = lambda r: 0 if r.name in plan.unread else r.params  # noqa: E731  (never run: no gradient)
    rows = tuple(TrainRow(r.name, r.kind, plan.keeps.get(r.name, ""), plan.saved_by.get(r.name, Bytes()).at(batch),
                          4 * r.params, 4 * trained(r), 4 * STATE_TENSORS[optimizer] * trained(r), r.backward_macs)
                 for r in report.layers[1:])
    saved_total = sum(b.at(batch) for b in plan.saved_by.values())
    return Training(report, optimizer, precision, device, rows, sum(terms.values()), plan.label(when),
                    terms, saved_total)


def max_batch(model: Model, budget: int, optimizer: Optimizer = Optimizer.sgd,
              precision: Precision = Precision.fp32, device: str = "cuda",
              input_shape: tuple[int, ...] | None = None) -> int:
    """The largest batch whose training-step peak fits in ``budget`` bytes (0: not even one)."""
    return _Plan(model, optimizer, precision, device, input_shape).max_batch(budget)


class _Plan:
    """The step as a timeline: forward after layer t (t = 1…L), backward of layer i at
    2L + 1 − i, the optimizer step at 2L + 1. Each tensor is an interval of that axis; a
    difference array per term gives every instant's bytes in one sweep."""

    def __init__(self, model: Model, optimizer: Optimizer, precision: Precision, device: str,
                 input_shape: tuple[int, ...] | None) -> None:
        if device not in ("cuda", "cpu"):
            raise SpecError(f"device must be 'cuda' or 'cpu', got {device!r}")
        self.report = report = analyze(model, 1, input_shape, precision.act_bytes)
        self.nodes, self.precision = model.nodes, precision
        self.L = len(model.nodes) - 1
        self.index = {n.name: i for i, n in enumerate(model.nodes)}
        self.rows = {r.name: r for r in report.layers}
        self.diff = {term: [[0, 0] for _ in range(2 * self.L + 3)] for term in TERMS}
        self.keeps: dict[str, str] = {}
        self.saved_by: dict[str, Bytes] = {}
        # the layers the built module runs: one the output does not need (a branch a later
        # `from:` skips, e.g. Inception's auxiliary head) has parameters but no activations, no
        # gradients and so no optimizer state (torch.optim skips a parameter whose grad is None)
        self.unread = set(unread_nodes(model))
        self.run = [(i, n) for i, n in enumerate(model.nodes[1:], 1) if n.name not in self.unread]
        trained = sum(self.rows[n.name].params for _, n in self.run)
        self.const = {"params": Bytes(0, 4 * report.totals.params), "buffers": Bytes(0, 4 * report.totals.buffers),
                      "optimizer_state": Bytes(0, 4 * STATE_TENSORS[optimizer] * trained),
                      "input": Bytes(report.layers[0].elements * 4, 0)}
        # batch 1 or 2 (2: every batch of 2 or more) -> instant -> alternatives (the largest counts)
        self.workspace: dict[int, dict[int, list[Bytes]]] = {1: {}, 2: {}}
        self._activations()
        self._param_grads(optimizer, device)
        if device == "cpu":
            self._workspace()

    # -- building the intervals --------------------------------------------------------------
    def _add(self, term: str, start: int, end: int, size: Bytes) -> None:
        d = self.diff[term]
        d[start][0] += size.per_sample
        d[start][1] += size.fixed
        d[end + 1][0] -= size.per_sample
        d[end + 1][1] -= size.fixed

    def _back(self, i: int) -> int:
        return 2 * self.L + 1 - i

    def _activations(self) -> None:
        act = self.precision.act_bytes
        base: dict[str, str] = {self.nodes[0].name: self.nodes[0].name}
        last_read: dict[str, int] = {}
        savers: dict[str, list[int]] = {}  # storage key -> layers that keep it
        sizes: dict[str, Bytes] = {}
        born: dict[str, int] = {}
        for i, node in self.run:
            layer, row = node.layer, self.rows[node.name]
            io = self._io(node)
            base[node.name] = base[node.inputs[0]] if layer.train_view() else node.name
            if not layer.train_view():
                sizes[node.name], born[node.name] = Bytes(row.elements * act, 0), i
            for name in node.inputs:
                last_read[base[name]] = i
            saved = layer.saved(io)
            keys = [base[node.inputs[k]] for k in saved.inputs] + ([base[node.name]] if saved.output else [])
            what = [f"input {k}" if len(node.inputs) > 1 else "input" for k in saved.inputs]
            what += ["output"] * saved.output
            if self.precision is not Precision.fp32 and layer.macs(io) and row.params:
                keys.append(self._extra(sizes, born, f"{node.name}:weights", Bytes(0, 2 * row.params), i))
                what.append("weight copy")
            for k, extra in enumerate(saved.extra):
                keys.append(self._extra(sizes, born, f"{node.name}:{k}", self._bytes(extra), i))
            what += [f"{len(saved.extra)} more"] if saved.extra else []
            self.keeps[node.name] = " + ".join(what)
            for key in keys:
                if key == self.nodes[0].name:  # the caller holds the input; autocast keeps a copy
                    if self.precision is Precision.fp32:
                        continue
                    key = self._extra(sizes, born, "input:cast", Bytes(self.rows[key].elements * act, 0), i)
                savers.setdefault(key, []).append(i)
        self._lifetimes(sizes, born, savers, last_read)
        self._grads(base, last_read)

    def _bytes(self, extra) -> Bytes:
        nbytes = extra.elements * (extra.itemsize or self.precision.act_bytes)
        return Bytes(nbytes, 0) if extra.per_sample else Bytes(0, nbytes)

    def _workspace(self) -> None:
        """What each layer's CPU backward holds besides its gradients (oneDNN's copies), at that
        backward's instant: the largest of the kind's alternatives."""
        for batch, workspace in self.workspace.items():
            for i, node in self.run:
                stages = node.layer.cpu_backward_workspace(self._io(node), batch)
                if stages:
                    workspace[self._back(i)] = [sum(map(self._bytes, stage), Bytes()) for stage in stages]

    def _extra(self, sizes: dict, born: dict, key: str, size: Bytes, i: int) -> str:
        if key not in sizes:
            sizes[key], born[key] = size, i
        return key

    def _lifetimes(self, sizes: dict, born: dict, savers: dict, last_read: dict) -> None:
        for key, size in sizes.items():
            if key in savers:
                first = min(savers[key])
                owner = self.nodes[first].name
                self.saved_by[owner] = self.saved_by.get(owner, Bytes()) + size
                self._add("saved", born[key], self._back(first), size)
            else:  # freed after its last reader in the forward (the result after the loss)
                self._add("forward_temporary", born[key], max(born[key], last_read.get(key, self.L)), size)

    def _grads(self, base: dict, last_read: dict) -> None:
        """The gradient of a node's output lives from the backward of its last reader (where it
        is made, or first accumulated) to its own backward (where it is consumed)."""
        for i, node in self.run:
            row = self.rows[node.name]
            if node.layer.train_view() or not (row.grad_in or row.params):
                continue
            made = last_read.get(node.name, self.L)
            self._add("activation_grads", self._back(made), self._back(i), Bytes(row.elements * self.precision.act_bytes, 0))

    def _param_grads(self, optimizer: Optimizer, device: str) -> None:
        biggest = total = 0
        for i, node in self.run:
            params = self.rows[node.name].params
            total += params
            biggest = max(biggest, params)
            if params:
                self._add("param_grads", self._back(i), 2 * self.L + 1, Bytes(0, 4 * params))
        if STATE_TENSORS[optimizer] == 2:
            # Adam's denominator sqrt(v)/c + ε: foreach kernels (CUDA's default) make one for
            # all parameters at once; the single-tensor loop (CPU's) two per parameter in turn
            temp = 4 * total if device == "cuda" else 8 * biggest
            self._add("optimizer_temporary", 2 * self.L + 1, 2 * self.L + 1, Bytes(0, temp))

    def _io(self, node) -> Io:
        row = self.rows[node.name]
        refs = {key: Ref(self.rows[t].kind, self.rows[t].in_shapes, self.rows[t].out_shape,
                         self.nodes[self.index[t]].layer) for key, t in node.refs}
        return Io(row.in_shapes, row.out_shape, refs)

    # -- reading the timeline -----------------------------------------------------------------
    def _instants(self, batch: int):
        """(time, {term: Bytes}) for every instant of the step at ``batch`` (the workspace of
        batch 1 or of every batch from 2); an instant whose workspace has alternatives once per
        alternative (the peak takes the largest, the batch search all)."""
        running = {term: [0, 0] for term in TERMS}
        for t in range(1, 2 * self.L + 2):
            for term in TERMS:
                d = self.diff[term][t]
                running[term][0] += d[0]
                running[term][1] += d[1]
            terms = {term: self.const.get(term, Bytes()) + Bytes(*running[term]) for term in TERMS}
            for stage in self.workspace[min(batch, 2)].get(t, (Bytes(),)):
                yield t, {**terms, "backward_workspace": stage}

    def peak(self, batch: int) -> tuple[int, dict[str, int]]:
        best = max(self._instants(batch), key=lambda item: sum(b.at(batch) for b in item[1].values()))
        return best[0], {term: b.at(batch) for term, b in best[1].items()}

    def max_batch(self, budget: int) -> int:
        """The largest batch of 2 or more under ``budget`` by the workspace from 2 on; below 2,
        whether batch 1 fits by its own."""
        best = self._fits(budget, 2)
        return best if best >= 2 else min(self._fits(budget, 1), 1)

    def _fits(self, budget: int, batch: int) -> int:
        limit = math.inf
        for _, terms in self._instants(batch):
            per = sum(b.per_sample for b in terms.values())
            room = budget - sum(b.fixed for b in terms.values())
            if room < per:
                return 0
            if per:
                limit = min(limit, room // per)
        return int(min(limit, 2**62))

    def label(self, t: int) -> str:
        if t <= self.L:
            return f"forward, after {self.nodes[t].name}"
        if t <= 2 * self.L:
            return f"backward of {self.nodes[2 * self.L + 1 - t].name}"
        return "optimizer step"
