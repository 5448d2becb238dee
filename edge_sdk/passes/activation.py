"""Fuses Relu / Clip into the preceding Conv, ConvTranspose, FullyConnected or Add."""
from __future__ import annotations

import math

from .util import consumer_map, producer_map

FUSE_INTO = ("Conv", "ConvTranspose", "FullyConnected", "Add")


def _act_of(node):
    if node.op == "Relu":
        return "relu", 0.0, math.inf
    lo, hi = float(node.attrs["min"]), float(node.attrs["max"])
    if lo == 0.0 and hi == math.inf:
        return "relu", 0.0, math.inf
    return "clip", lo, hi


def fuse_activations(g) -> bool:
    changed = False
    cons, prods = consumer_map(g), producer_map(g)
    for act_node in list(g.nodes):
        if act_node.op not in ("Relu", "Clip"):
            continue
        x = act_node.inputs[0]
        prev = prods.get(x)
        if prev is None or prev.op not in FUSE_INTO or prev.attrs["act"] != "none":
            continue
        if x in g.outputs or len(cons.get(x, [])) != 1:
            continue
        tx, ty = g.tensors[x], g.tensors[act_node.outputs[0]]
        if tx.dtype != ty.dtype:
            continue
        if tx.dtype == "int8" and not (tx.quant is not None and tx.quant.same_as(ty.quant)):
            continue
        act, lo, hi = _act_of(act_node)
        prev.attrs.update(act=act, act_min=lo if act == "clip" else -math.inf, act_max=hi if act == "clip" else math.inf)
        prev.outputs = [act_node.outputs[0] if o == x else o for o in prev.outputs]
        g.nodes.remove(act_node)
        cons, prods = consumer_map(g), producer_map(g)
        changed = True
    return changed
