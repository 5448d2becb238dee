"""sparsify(): prune the weights of a float IR graph in place and say what was done.

Conv (not depthwise) and FullyConnected weights are pruned; each pruned node gets
node.attrs["sparsity"] = {"pattern", "density", "block"} so the compiler packs it as
block-CSR with that block shape.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..ir.graph import Graph, Node
from .errors import SparsityError
from .patterns import Pattern, as_matrix, check_sparsity, compute_mask, detect_block, parse_pattern
from .permute import apply_permutation, choose_permutation, plan_permutation, unpermute
from .report import LayerSparsity, SparsityReport
from .scores import input_channel_norms, magnitude, wanda

MAX_LAYER_SPARSITY = 0.98  # global allocation never empties a layer: it would cut the model
ALLOCATIONS = ("uniform", "global")
METHODS = ("magnitude", "wanda")
# ops that may sit between a graph input and the first conv (preprocessing) or between the
# classifier and a graph output without making those layers any less "first"/"last"
_PRE_OPS = {"Pad", "Transpose", "Reshape", "Add", "Sub", "Mul", "Div", "Quantize", "Dequantize"}
_POST_OPS = {"Softmax", "Reshape", "Transpose", "Dequantize", "Quantize"}


def weighted_nodes(graph: Graph) -> list[Node]:
    return [
        n for n in graph.nodes
        if n.op in ("Conv", "FullyConnected") and len(n.inputs) > 1 and graph.is_const(n.inputs[1])
    ]


def is_depthwise(graph: Graph, node: Node) -> bool:
    if node.op != "Conv":
        return False
    group = int(node.attrs.get("group", 1))
    cin = graph.value(node.inputs[1]).shape[1] * group
    return group == cin and cin > 1


def _reads_graph_input(graph: Graph, name: str) -> bool:
    seen = set()
    while name not in graph.inputs:
        prod = graph.producer(name)
        if prod is None or prod.op not in _PRE_OPS or name in seen:
            return False
        seen.add(name)
        acts = [i for i in prod.inputs if i and not graph.is_const(i)]
        if len(acts) != 1:
            return False
        name = acts[0]
    return True


def _feeds_graph_output(graph: Graph, name: str) -> bool:
    for _ in range(len(graph.nodes) + 1):
        if name in graph.outputs:
            return True
        cons = graph.consumers(name)
        if len(cons) != 1 or cons[0].op not in _POST_OPS:
            return False
        name = cons[0].outputs[0]
    return False


def default_keep_dense(graph: Graph) -> set[str]:
    """First conv (reads a graph input), depthwise convs, and the classifier (an FC, or a conv
    used as one, whose output reaches a graph output through Softmax/Reshape only)."""
    keep = set()
    for n in weighted_nodes(graph):
        if n.op == "Conv" and _reads_graph_input(graph, n.inputs[0]):
            keep.add(n.name)
        elif is_depthwise(graph, n):
            keep.add(n.name)
        elif _feeds_graph_output(graph, n.outputs[0]):
            keep.add(n.name)
    return keep


def _resolve_keep_dense(graph: Graph, keep_dense) -> set[str]:
    if keep_dense is None:
        return default_keep_dense(graph)
    if isinstance(keep_dense, str):
        keep_dense = [s for s in keep_dense.split(",") if s.strip()]
    names = {str(s).strip() for s in keep_dense}
    if names <= {"none", ""}:
        return set()
    known = {n.name for n in weighted_nodes(graph)}
    unknown = sorted(names - known)
    if unknown:
        raise SparsityError(
            f"keep_dense names unknown layer(s) {', '.join(repr(u) for u in unknown)}; "
            f"layers with weights: {', '.join(sorted(known)) or 'none'}"
        )
    return names


def global_allocation(scores: dict[str, np.ndarray], sparsity: float, cap: float = MAX_LAYER_SPARSITY) -> dict[str, float]:
    """One threshold over scores normalized per layer (by their mean, so layers of different
    scale compete fairly); a layer never goes past `cap`."""
    if not scores:
        return {}
    normed = {}
    for k, s in scores.items():
        flat = np.sort(s.reshape(-1).astype(np.float64))
        mean = flat.mean()
        normed[k] = flat / mean if mean > 0 else np.zeros_like(flat)
    total = sum(v.size for v in normed.values())
    want = sparsity * total

    def layer_sparsity(t: float) -> dict[str, float]:
        return {k: min(np.searchsorted(v, t, side="left") / v.size, cap) for k, v in normed.items()}

    def pruned(t: float) -> float:
        return sum(s * normed[k].size for k, s in layer_sparsity(t).items())

    lo, hi = 0.0, max(float(v[-1]) for v in normed.values()) * 1.0001 + 1e-12
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if pruned(mid) < want:
            lo = mid
        else:
            hi = mid
    return layer_sparsity(hi)


def _macs_per_weight(graph: Graph, node: Node) -> int:
    """How many times each weight is used per inference (output positions per channel)."""
    y = graph.tensors[node.outputs[0]]
    m = graph.value(node.inputs[1]).shape[0]
    return int(y.size // m) if y.shape else 1


def sparsify(
    graph: Graph,
    sparsity: float,
    pattern: str = "unstructured",
    allocation: str = "uniform",
    keep_dense: Iterable[str] | str | None = None,
    method: str = "magnitude",
    calibration: list[dict[str, np.ndarray]] | None = None,
    permute: bool = True,
) -> SparsityReport:
    """Prune `graph` in place.

    sparsity: target fraction of zeros per pruned layer (uniform) or over all of them
    (global), in [0, 1). n:m patterns fix their own sparsity, 1 - n/m.
    keep_dense: node names left dense (replaces the defaults); "none" prunes everything.
    permute: for block patterns, reorder channels where the function provably stays the same.
    """
    target = check_sparsity(sparsity)
    pat: Pattern = parse_pattern(pattern)
    if allocation not in ALLOCATIONS:
        raise SparsityError(f"allocation '{allocation}' not understood; expected uniform or global")
    if method not in METHODS:
        raise SparsityError(f"method '{method}' not understood; expected magnitude or wanda")
    if method == "wanda" and not calibration:
        raise SparsityError("method 'wanda' needs calibration inputs; pass calibration=[{input: array}, ...]")

    eff = pat.fixed_sparsity if pat.fixed_sparsity is not None else target
    report = SparsityReport(str(pat), eff, allocation, method)
    if pat.fixed_sparsity is not None and abs(pat.fixed_sparsity - target) > 1e-9:
        report.notes.append(f"pattern {pat} fixes sparsity at {eff:.3f}; requested {target:.3f} ignored")

    nodes = weighted_nodes(graph)
    dense = _resolve_keep_dense(graph, keep_dense)
    source_sparse = set(graph.metadata.get("source_sparse", ()) or ())
    prunable = [n for n in nodes if n.name not in dense and n.inputs[1] not in source_sparse]
    do_prune = eff > 0 or pat.kind == "n:m"

    # --- channel permutation (block patterns only: elsewhere block membership is moot)
    applied: dict[str, list[tuple[int, np.ndarray]]] = {}
    permuted: set[str] = set()
    if permute and pat.kind == "block" and do_prune and prunable:
        targets = {n.inputs[1]: eff for n in prunable}
        for node in nodes:
            plan = plan_permutation(graph, node, source_sparse)
            if plan is None:
                continue
            perm = choose_permutation(graph, plan, targets, pat.block)
            if perm is None:
                continue
            for name, axis, index in apply_permutation(graph, plan, perm):
                applied.setdefault(name, []).append((axis, index))
            permuted.add(node.name)

    # --- scores
    scores: dict[str, np.ndarray] = {}
    if do_prune and prunable:
        norms = input_channel_norms(graph, prunable, calibration) if method == "wanda" else {}
        for n in prunable:
            w = graph.value(n.inputs[1])
            scores[n.name] = wanda(n, w, norms[n.name]) if method == "wanda" else magnitude(w)

    # --- per-layer targets
    if allocation == "global" and pat.kind != "n:m" and scores:
        per_layer = global_allocation(scores, eff)
    else:
        per_layer = {n.name: eff for n in prunable}

    # --- masks
    for n in nodes:
        w = graph.value(n.inputs[1])
        abs_w = np.abs(w.astype(np.float64))
        row = LayerSparsity(
            name=n.name, op=n.op if not is_depthwise(graph, n) else "DepthwiseConv", shape=tuple(w.shape),
            pattern="dense", sparsity=float(np.mean(w == 0)), kept_magnitude=1.0,
            permuted=n.name in permuted, params=int(w.size),
        )
        if n.inputs[1] in source_sparse:
            mask = w != 0
            row.pattern = "source"
            row.note = "sparse in the source model; zeros kept"
            _record(n, "source", mask, detect_block(mask))
        elif n.name in scores:
            s_l = per_layer[n.name]
            mask, extra = compute_mask(pat, scores[n.name], s_l)
            row.pattern = extra["pattern"]
            if n.inputs[1] in applied:
                base_scores = unpermute(scores[n.name], applied[n.inputs[1]])
                base_w = unpermute(abs_w, applied[n.inputs[1]])
                base_mask, _ = compute_mask(pat, base_scores, s_l)
                row.kept_magnitude_unpermuted = _kept(base_w, base_mask)
            block = extra["block"]
            mat = as_matrix(w)
            if mat.shape[0] % block[0] or mat.shape[1] % block[1]:
                row.note = f"{mat.shape[0]}x{mat.shape[1]} does not tile into {block[0]}x{block[1]} blocks; packed 1x1"
                block = (1, 1)
            row.kept_magnitude = _kept(abs_w, mask)
            if row.kept_magnitude_unpermuted is None:
                row.kept_magnitude_unpermuted = row.kept_magnitude
            graph.tensors[n.inputs[1]].data = np.where(mask, w, np.zeros((), dtype=w.dtype)).astype(w.dtype)
            if not mask.all():
                _record(n, extra["pattern"], mask, block)
                if "pattern_ids" in extra:
                    n.attrs["sparsity"]["pattern_ids"] = extra["pattern_ids"].tolist()
        elif n.name in dense:
            row.note = "kept dense"
        w = graph.value(n.inputs[1])
        row.nonzero = int(np.count_nonzero(w))
        row.sparsity = 1.0 - row.nonzero / max(w.size, 1)
        per_w = _macs_per_weight(graph, n)
        row.macs, row.macs_after = row.params * per_w, row.nonzero * per_w
        report.layers.append(row)
    if permuted:
        report.notes.append(f"channels permuted after {len(permuted)} layer(s): {', '.join(sorted(permuted))}")
    return report


def _kept(abs_w: np.ndarray, mask: np.ndarray) -> float:
    total = abs_w.sum()
    return float((abs_w * mask).sum() / total) if total > 0 else 1.0


def _record(node: Node, pattern: str, mask: np.ndarray, block: tuple[int, int]) -> None:
    node.attrs["sparsity"] = {
        "pattern": pattern,
        "density": float(np.mean(mask)),
        "block": (int(block[0]), int(block[1])),
    }
