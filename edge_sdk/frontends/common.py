"""What both importers share: appending a node, folded at once when its inputs are constant."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, QuantParams
from ..passes.util import make_node
from ..reference.executor import run_node


def emit(g: Graph, label: str, op: str, inputs: list[str], attrs: dict | None = None, out: str | None = None,
         quant: QuantParams | None = None, shape=None) -> str:
    """Append an IR node named after the source node `label`; returns its output name.

    Shape arithmetic on constants folds here, so later importer code sees plain constants.
    Dequantize is kept: the QDQ pass needs to see which constants were quantized.
    """
    node = make_node(g, op, inputs, attrs, name=label, outputs=[out or f"{label}_{op.lower()}"],
                     quant=[quant] if quant is not None else None, shapes=[shape] if shape is not None else None)
    if op != "Dequantize" and all(g.is_const(i) for i in inputs if i):
        outs = run_node(g, node, [g.tensors[i].data if i else None for i in inputs])
        g.nodes.remove(node)
        t = g.tensors[node.outputs[0]]
        t.data = np.ascontiguousarray(np.asarray(outs[0]).astype(t.dtype)).reshape(np.shape(outs[0]))
    return node.outputs[0]
