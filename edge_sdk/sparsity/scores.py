"""Importance scores for pruning: magnitude |W| or Wanda |W| * ||X_j||_2.

Wanda (Sun et al. 2023) weighs each weight by the L2 norm of the input channel it
multiplies, gathered over calibration data, so weights on quiet channels go first.
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from .errors import SparsityError


def magnitude(w: np.ndarray) -> np.ndarray:
    return np.abs(w.astype(np.float64))


def input_channel_norms(graph: Graph, nodes: list[Node], calibration) -> dict[str, np.ndarray]:
    """Per-input-channel L2 norm of each node's activation input over all calibration
    batches: conv inputs reduce over N, H, W; FullyConnected inputs over every leading dim."""
    if not calibration:
        raise SparsityError("method 'wanda' needs calibration inputs; pass calibration=[{input: array}, ...]")
    from ..reference.executor import run  # late: the executor is only needed for Wanda

    sums: dict[str, np.ndarray] = {}
    for feeds in calibration:
        values = run(graph, feeds, keep_all=True)
        for n in nodes:
            x = np.asarray(values[n.inputs[0]], dtype=np.float64)
            if n.op == "Conv":
                sq = (x * x).sum(axis=tuple(i for i in range(x.ndim) if i != 1))
            else:
                sq = (x * x).reshape(-1, x.shape[-1]).sum(axis=0)
            sums[n.name] = sums.get(n.name, 0.0) + sq
    return {k: np.sqrt(v) for k, v in sums.items()}


def wanda(node: Node, w: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """|W| * ||X_j|| with the norm of the input channel each weight reads."""
    a = magnitude(w)
    if node.op == "Conv":
        group = int(node.attrs.get("group", 1))
        m, cg = w.shape[:2]
        # output channel o belongs to group o // (m/group) and reads channels g*cg .. g*cg+cg-1
        g_of_o = np.arange(m) // (m // group)
        chan = g_of_o[:, None] * cg + np.arange(cg)[None, :]  # [M, Cg]
        scale = norms[chan].reshape(m, cg, *([1] * (w.ndim - 2)))
        return a * scale
    return a * norms[None, :]
