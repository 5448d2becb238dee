"""Constant folding: any node whose inputs are all constants is evaluated once."""
from __future__ import annotations

import numpy as np

from ..reference.executor import run_node


def fold_constants(g, include_dequantize: bool = False) -> bool:
    """Dequantize of a constant is kept until the QDQ fusion had its chance to consume the
    int8 weights; `include_dequantize` folds what is left into float constants."""
    changed = False
    for node in list(g.nodes):
        if node.op == "Dequantize" and not include_dequantize:
            continue
        if not all(g.is_const(i) for i in node.inputs if i):
            continue
        if any(o in g.outputs for o in node.outputs):
            continue  # a graph output must stay computed
        outs = run_node(g, node, [g.tensors[i].data if i else None for i in node.inputs])
        for name, value in zip(node.outputs, outs):
            t = g.tensors[name]
            t.data = np.ascontiguousarray(np.asarray(value).astype(t.dtype)).reshape(np.shape(value))
            t.shape = tuple(t.data.shape)
        g.nodes.remove(node)
        changed = True
    return changed
