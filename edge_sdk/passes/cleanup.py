"""Removes ops that do nothing: identity Reshape/Transpose, Reshape chains, Quantize(Dequantize(x))."""
from __future__ import annotations

from .util import bypass, producer_map


def remove_identities(g) -> bool:
    changed = False
    for node in list(g.nodes):
        prods = producer_map(g)
        x, y = (node.inputs[0] if node.inputs else ""), node.outputs[0]
        if node.op == "Reshape":
            prev = prods.get(x)
            if prev is not None and prev.op == "Reshape":
                node.inputs = [prev.inputs[0]]  # a reshape of a reshape needs only the last one
                x = node.inputs[0]
                changed = True
            if g.tensors[x].shape == g.tensors[y].shape:
                changed |= bypass(g, node, x, y)
        elif node.op == "Transpose" and tuple(node.attrs["perm"]) == tuple(range(len(node.attrs["perm"]))):
            changed |= bypass(g, node, x, y)
        elif node.op == "Quantize":
            prev = prods.get(x)
            tq = g.tensors[y].quant
            if prev is not None and prev.op == "Dequantize" and tq is not None and tq.same_as(g.tensors[prev.inputs[0]].quant):
                changed |= bypass(g, node, prev.inputs[0], y)
        elif node.op == "Requantize":
            if g.tensors[y].quant is not None and g.tensors[y].quant.same_as(g.tensors[x].quant):
                changed |= bypass(g, node, x, y)
    return changed
