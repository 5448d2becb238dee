"""Channel permutation ahead of block pruning.

Reordering the output channels of a layer L, and the input channels of everything that
reads them, leaves the model function unchanged but decides which rows (of L) and which
columns (of its consumers) share a block. Grouping large rows together lets block pruning
keep more magnitude. A permutation is only planned when every path from L's output
reaches channel-indexed weights through ops that treat channels independently
(depthwise conv, pools, unary elementwise, per-channel constant Add/Mul, a flattening
Reshape): a residual Add, a Concat or a graph output would see the reordered channels.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir.graph import Graph, Node
from .patterns import block_mask

UNARY = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Sqrt", "Exp", "Neg", "Abs"}
POOLS = {"MaxPool", "AveragePool", "GlobalAveragePool"}
CONST_BINARY = {"Add", "Sub", "Mul", "Div", "PRelu", "Max", "Min"}


@dataclass
class PermutationPlan:
    """Constants to permute: (tensor, axis, index of the channel it holds per position)."""

    origin: str  # node whose output channels are permuted
    channels: int
    edits: list[tuple[str, int, np.ndarray]] = field(default_factory=list)  # index maps are built per perm
    row_of: str = ""  # weight whose rows are L's outputs
    col_of: list[tuple[str, int]] = field(default_factory=list)  # (weight, positions per channel)


def _channel_axis_after_reshape(in_shape, axis, out_shape) -> int | None:
    """Where the channel axis lands after a Reshape, if it survives as a whole axis."""
    lead = int(np.prod(in_shape[:axis], dtype=np.int64))
    if int(np.prod(in_shape[axis + 1:], dtype=np.int64)) != 1:
        return None
    acc = 1
    for i, d in enumerate(out_shape):
        if acc == lead and d == in_shape[axis] and int(np.prod(out_shape[i + 1:], dtype=np.int64)) == 1:
            return i
        acc *= d
    return None


def plan_permutation(graph: Graph, node: Node, frozen: set[str]) -> PermutationPlan | None:
    """Plan permuting `node`'s output channels, or None if the function would change.
    `frozen`: weight tensors that must not move (sparse from the source)."""
    if node.op not in ("Conv", "FullyConnected") or not graph.is_const(node.inputs[1]):
        return None
    if node.op == "Conv" and int(node.attrs.get("group", 1)) != 1:
        return None
    w = graph.value(node.inputs[1])
    c = int(w.shape[0])
    plan = PermutationPlan(node.name, c, row_of=node.inputs[1])
    consts_touched: list[str] = [node.inputs[1]]
    # identity positions: position p of the tensor's channel axis holds channel idx[p]
    plan.edits.append((node.inputs[1], 0, np.arange(c)))
    if len(node.inputs) > 2 and node.inputs[2]:
        plan.edits.append((node.inputs[2], 0, np.arange(c)))
        consts_touched.append(node.inputs[2])
    y = node.outputs[0]
    axis = 1 if node.op == "Conv" else len(graph.tensors[y].shape) - 1
    stack: list[tuple[str, int, int]] = [(y, axis, 1)]  # tensor, channel axis, channels repeat
    while stack:
        t, ax, rep = stack.pop()
        if t in graph.outputs:
            return None
        for cons in graph.consumers(t):
            if cons.inputs.count(t) != 1:
                return None
            idx = cons.inputs.index(t)
            op = cons.op
            if op in ("Conv", "FullyConnected"):
                if idx != 0 or not graph.is_const(cons.inputs[1]):
                    return None
                cw = graph.value(cons.inputs[1])
                if op == "FullyConnected":
                    if ax != len(graph.tensors[t].shape) - 1:
                        return None
                    plan.edits.append((cons.inputs[1], 1, _expand(np.arange(c), rep)))
                    plan.col_of.append((cons.inputs[1], rep))
                    consts_touched.append(cons.inputs[1])
                    continue
                if ax != 1:
                    return None
                group = int(cons.attrs.get("group", 1))
                cin = graph.tensors[t].shape[1]
                if group == 1:
                    plan.edits.append((cons.inputs[1], 1, _expand(np.arange(c), rep)))
                    plan.col_of.append((cons.inputs[1], rep))
                    consts_touched.append(cons.inputs[1])
                elif group == cin and cw.shape[1] == 1:
                    mult = cw.shape[0] // cin  # depthwise: output channel k*mult+j reads channel k
                    plan.edits.append((cons.inputs[1], 0, _expand(np.arange(c), rep * mult)))
                    consts_touched.append(cons.inputs[1])
                    if len(cons.inputs) > 2 and cons.inputs[2]:
                        plan.edits.append((cons.inputs[2], 0, _expand(np.arange(c), rep * mult)))
                        consts_touched.append(cons.inputs[2])
                    stack.append((cons.outputs[0], 1, rep * mult))
                else:
                    return None
            elif op in UNARY or op in POOLS:
                if op in POOLS and ax != 1:
                    return None
                stack.append((cons.outputs[0], ax, rep))
            elif op in CONST_BINARY:
                other = cons.inputs[1 - idx]
                if not graph.is_const(other):
                    return None  # residual or gating by another activation
                k = graph.value(other)
                out_rank = len(graph.tensors[cons.outputs[0]].shape)
                kax = ax - (out_rank - k.ndim)
                if k.size > 1:
                    if kax < 0 or k.shape[kax] == 1:
                        pass  # broadcast along channels: same value for all of them
                    elif k.shape[kax] == c * rep and int(np.prod(k.shape, dtype=np.int64)) == k.shape[kax]:
                        plan.edits.append((other, kax, _expand(np.arange(c), rep)))
                        consts_touched.append(other)
                    else:
                        return None
                stack.append((cons.outputs[0], ax, rep))
            elif op == "Reshape":
                nax = _channel_axis_after_reshape(graph.tensors[t].shape, ax, graph.tensors[cons.outputs[0]].shape)
                if nax is None:
                    return None
                stack.append((cons.outputs[0], nax, rep))
            else:
                return None
    for name in consts_touched:
        if name in frozen or len(graph.consumers(name)) != 1:
            return None
    if len(set(consts_touched)) != len(consts_touched):
        return None
    return plan


def _expand(chan_order: np.ndarray, rep: int) -> np.ndarray:
    """Channel order -> position order when each channel occupies `rep` consecutive slots."""
    return (chan_order[:, None] * rep + np.arange(rep)[None, :]).reshape(-1)


def apply_permutation(graph: Graph, plan: PermutationPlan, perm: np.ndarray) -> list[tuple[str, int, np.ndarray]]:
    """Reorder every planned constant so new channel i is old channel perm[i]. Returns the
    applied (tensor, axis, index) list so scores can be mapped back."""
    applied = []
    for name, axis, ident in plan.edits:
        rep = ident.size // plan.channels
        index = _expand(np.asarray(perm), rep)
        t = graph.tensors[name]
        t.data = np.ascontiguousarray(np.take(t.data, index, axis=axis))
        applied.append((name, axis, index))
    return applied


def _kept_fraction(w: np.ndarray, sparsity: float, block) -> float:
    a = np.abs(w.astype(np.float64))
    total = a.sum()
    if total == 0:
        return 1.0
    return float((a * block_mask(a, sparsity, block)).sum() / total)


def choose_permutation(
    graph: Graph, plan: PermutationPlan, pruned: dict[str, float], block: tuple[int, int]
) -> np.ndarray | None:
    """Pick, among sort-by-norm candidates, the channel order that keeps the most magnitude
    over the pruned weights it touches; None when identity is as good.
    `pruned`: weight tensor -> sparsity it will be pruned to."""
    c = plan.channels
    w_row = graph.value(plan.row_of)
    row_norm = np.abs(as2(w_row)).sum(axis=1)
    col_norm = np.zeros(c)
    for name, rep in plan.col_of:
        cw = np.abs(graph.value(name).astype(np.float64))
        per_chan = cw.sum(axis=tuple(i for i in range(cw.ndim) if i != 1)).reshape(c, rep).sum(axis=1)
        col_norm += per_chan / max(per_chan.sum(), 1e-30)
    candidates = [
        np.argsort(-row_norm, kind="stable"),
        # rows with a similar column profile share blocks well: order by their coordinate
        # on the leading singular vector of the row-normalized |W|
        np.argsort(_spectral_order(np.abs(as2(w_row))), kind="stable"),
        np.argsort(-col_norm, kind="stable"),
        np.argsort(-(row_norm / max(row_norm.sum(), 1e-30) + col_norm), kind="stable"),
    ]
    touched = [(plan.row_of, 0)] + [(name, 1) for name, _ in plan.col_of]
    touched = [(n, ax) for n, ax in touched if n in pruned]
    if not touched:
        return None

    def score(perm: np.ndarray) -> float:
        total = 0.0
        for name, ax in touched:
            w = graph.value(name)
            rep = w.shape[ax] // c
            total += _kept_fraction(np.take(w, _expand(perm, rep), axis=ax), pruned[name], block)
        return total

    best, best_score = None, score(np.arange(c)) + 1e-9
    for perm in candidates:
        s = score(perm)
        if s > best_score:
            best, best_score = perm, s
    return best


def _spectral_order(a: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-30)
    a = a - a.mean(axis=0, keepdims=True)
    if not np.any(a):
        return np.zeros(a.shape[0])
    u, _, _ = np.linalg.svd(a, full_matrices=False)
    return u[:, 0]


def as2(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], -1).astype(np.float64)


def unpermute(a: np.ndarray, applied: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """Undo a sequence of (axis, index) reorders on an array shaped like the weight."""
    for axis, index in reversed(applied):
        a = np.take(a, np.argsort(index), axis=axis)
    return a


def group_order(nonzero: np.ndarray, group: int) -> np.ndarray:
    """Column order that packs the nonzeros of a (rows x C) boolean matrix into fewer nonempty
    (row, group of `group` consecutive columns) cells. Greedy: each group starts from the
    densest column left and adds the column that opens the fewest new cells in it."""
    b = nonzero.astype(np.float32)
    left = np.ones(b.shape[1], dtype=bool)
    nnz = b.sum(axis=0)
    order: list[int] = []
    while left.any():
        c = int(np.argmax(np.where(left, nnz, -1.0)))
        members, covered = [c], nonzero[:, c].copy()
        left[c] = False
        for _ in range(group - 1):
            if not left.any():
                break
            opened = np.where(left, (~covered).astype(np.float32) @ b, np.inf)
            c = int(np.argmin(opened))
            members.append(c)
            left[c] = False
            covered |= nonzero[:, c]
        order += members
    return np.array(order)


def group_input_channels(graph: Graph, group: int = 4) -> list[tuple[str, int, int]]:
    """Reorder the channels feeding unstructured-sparse 1x1 convolutions so that their nonzeros
    share groups of `group` input channels (the int8 VNNI kernels take 4 channels per lane and
    store such layers as 1x4 blocks). Each permutation is planned by plan_permutation (the
    producer's output channels, carried through depthwise convs and unary ops), so the
    function is unchanged. Returns (producer, blocks before, blocks after) per permuted layer."""
    done = []
    for node in list(graph.nodes):
        plan = plan_permutation(graph, node, set(graph.metadata.get("source_sparse", ()) or ()))
        if plan is None or len(plan.col_of) != 1 or plan.col_of[0][1] != 1:
            continue
        name = plan.col_of[0][0]
        cons = next(n for n in graph.nodes if len(n.inputs) > 1 and n.inputs[1] == name)
        w = graph.value(name)
        sp = cons.attrs.get("sparsity") or {}
        if (cons.op != "Conv" or w.ndim != 4 or w.shape[2:] != (1, 1) or sp.get("pattern") != "unstructured"
                or w.shape[1] % group):
            continue
        nz = as2(w) != 0
        before = int(nz.reshape(nz.shape[0], -1, group).any(axis=2).sum())
        perm = group_order(nz, group)
        after = int(nz[:, perm].reshape(nz.shape[0], -1, group).any(axis=2).sum())
        if after >= before:
            continue
        apply_permutation(graph, plan, perm)
        done.append((node.name, before, after))
    return done
