"""Which biases and which channel slices to update: a contribution analysis on calibration data.

How: a probe plan that would update every bias and every weight of the last `max_depth`
trainable layers (with lr = 0, so nothing changes) is run on the calibration samples: the
native forward, then the numpy reference backward, which reports each layer's real-domain
gradients. The contribution of a parameter group is the first-order Taylor estimate of the
loss decrease one SGD step along the calibration-mean gradient gives: lr * ||mean g||^2.
Per layer the output channels are ranked by that score; a layer's weights can be updated
for the top 1/8, 1/4, 1/2 or all of its channels (the paper's ratios).

Search: for every depth d (the earliest layer updated) the biases of all layers from d on
are taken (cheap, and they make the backward reach d anyway); then weight slices are added
greedily by marginal contribution per marginal byte, each candidate checked against the
budget with the real arena planner. The depth with the largest total contribution wins.
"""
from __future__ import annotations

import numpy as np

from .encode import encode, rewrite
from .kgraph import KGraph
from .memory import plan_arena
from .program import LayerUpdate, derive
from .reference import step as ref_step

RATIOS = (1 / 8, 1 / 4, 1 / 2, 1.0)
SCORE = "mean"
N_SAMPLES = 16


def gradients(base, kg, graph, cands, scales, loss, calibration, n_samples=16):
    """Mean real-domain gradients {op: (g_w [M, K], g_b [M])} over calibration samples."""
    from .plan import Plan
    from .trainer import Trainer

    M = {i: kg.tensors[kg.ops[i].inputs[1]].shape[0] for i in cands}
    ups = {i: LayerUpdate(i, list(range(M[i])), True) for i in cands}
    prog = derive(kg, ups, loss)
    ap = plan_arena(kg, prog, peak=False)
    allsc = {u.op: kg.weight_scales(kg.ops[u.op], graph) for u in prog.layers}
    data = rewrite(base, kg, ap, encode(kg, prog, ap, loss, 0.0, "nearest", 0, allsc))
    zeros = {u.op: np.zeros(len(allsc[u.op]), np.float32) for u in prog.layers}
    probe = Plan(data, KGraph(data), prog, ap, allsc, zeros, zeros, loss, 0.0, "nearest", 0)
    tr = Trainer(probe)
    xs, ys = calibration
    n = min(n_samples, len(ys))
    acc: dict[int, list] = {}
    for s in range(n):
        tr.forward(xs[s])
        arena = tr.arena().copy()
        collect: dict = {}
        ref_step(probe, arena, int(ys[s]) if np.ndim(ys[s]) == 0 else 0, 0,
                 target=None if np.ndim(ys[s]) == 0 else ys[s], collect=collect)
        for op, (gw, gb) in collect.items():
            a = acc.setdefault(op, [0.0, 0.0, 0.0, 0.0])
            a[0] = a[0] + gw.astype(np.float64) / n
            a[1] = a[1] + gb.astype(np.float64) / n
            a[2] = a[2] + gw.astype(np.float64) ** 2 / n  # per-sample magnitude, accumulated
            a[3] = a[3] + gb.astype(np.float64) ** 2 / n
    return {op: tuple(v) for op, v in acc.items()}


def choose_sparse(base, kg, graph, layers, scales, loss, calibration, budget, target, max_depth, mem_fn):
    from .errors import FinetuneError

    cands = layers[-max_depth:]
    grads = gradients(base, kg, graph, cands, scales, loss, calibration, n_samples=N_SAMPLES)
    M = {i: kg.tensors[kg.ops[i].inputs[1]].shape[0] for i in cands}
    K = {i: kg.tensors[kg.ops[i].inputs[1]].nbytes // M[i] for i in cands}
    if SCORE == "magnitude":  # mean over samples of the per-sample squared gradient
        wsc = {i: grads[i][2].sum(axis=1) for i in cands}  # per output channel
        bsc = {i: float(grads[i][3].sum()) for i in cands}
    else:  # squared norm of the calibration-mean gradient
        wsc = {i: (grads[i][0] ** 2).sum(axis=1) for i in cands}
        bsc = {i: float((grads[i][1] ** 2).sum()) for i in cands}
    order = {i: list(np.argsort(-wsc[i], kind="stable")) for i in cands}

    def slice_of(i, r):
        k = max(1, int(round(M[i] * RATIOS[r])))
        return sorted(int(c) for c in order[i][:k])

    best = None
    for d in range(len(cands) - 1, -1, -1):
        ups = {i: LayerUpdate(i, [], True) for i in cands[d:]}
        if mem_fn(ups) > budget:
            continue
        gain = sum(bsc[i] for i in cands[d:])
        level = {i: -1 for i in cands[d:]}
        while True:
            options = []
            for i in cands[d:]:
                r = level[i] + 1
                if r >= len(RATIOS):
                    continue
                ch = slice_of(i, r)
                prev = slice_of(i, level[i]) if level[i] >= 0 else []
                dg = float(wsc[i][ch].sum() - (wsc[i][prev].sum() if prev else 0.0))
                db = (len(ch) - len(prev)) * K[i] + (kg.tensors[kg.ops[i].inputs[0]].nbytes if not prev else 0)
                options.append((dg / max(db, 1), dg, i, r, ch))
            if not options:
                break
            options.sort(key=lambda o: -o[0])
            taken = False
            for _, dg, i, r, ch in options:
                trial = dict(ups)
                trial[i] = LayerUpdate(i, ch, True)
                if mem_fn(trial) <= budget:
                    ups, level[i], gain, taken = trial, r, gain + dg, True
                    break
                level[i] = len(RATIOS)  # this layer cannot grow further
            if not taken:
                break
        if best is None or gain > best[0]:
            best = (gain, d, ups)
    if best is None:
        raise FinetuneError(f"not even the last layer's biases fit in {budget / 1024:.0f} KB "
                            f"(that plan needs {mem_fn({cands[-1]: LayerUpdate(cands[-1], [], True)}) / 1024:.1f} KB)")
    gain, d, ups = best
    analysis = {
        "method": "first-order Taylor: lr*||mean gradient||^2 per channel/bias group over calibration samples; "
                  "greedy by contribution per byte under the budget, best depth kept",
        "samples": int(min(N_SAMPLES, len(calibration[1]))),
        "depth_layers": len(cands) - d,
        "contribution": gain,
        "layers": [{"op": i, "bias_score": bsc[i], "weight_score_total": float(wsc[i].sum()),
                    "channels": len(ups[i].channels) if i in ups else 0, "of": M[i]} for i in cands],
    }
    return ups, analysis
