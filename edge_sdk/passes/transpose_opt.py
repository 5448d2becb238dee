"""Moves Transposes until inverse pairs meet and cancel.

Layout-wrapping frontends (TFLite: NHWC around every layout-sensitive op) produce
T(to NHWC) -> elementwise... -> T(to NCHW) chains. Transposes are pushed toward the
outputs through elementwise ops, Concat and Quantize/Requantize, and pulled toward the
inputs through Dequantize, so each one drifts to the int8 side of a quantization
boundary and never oscillates. Adjacent Transposes compose; identities vanish.
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import Tensor
from .util import bypass, consumer_map, make_node, perm_quant, producer_map

UNARY = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Sqrt", "Exp", "Neg", "Abs",
         "Quantize", "Requantize"}
BINARY = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "PRelu"}


def _inverse(perm):
    return tuple(int(i) for i in np.argsort(perm))


def optimize_transposes(g) -> bool:
    changed = False
    progress = True
    while progress:
        progress = False
        for node in list(g.nodes):
            if node not in g.nodes:
                continue
            if node.op == "Transpose" and (_compose(g, node) or _pull_through_dequantize(g, node)):
                progress = True
            elif (node.op in UNARY or node.op in BINARY or node.op == "Concat") and _push_down(g, node):
                progress = True
        changed |= progress
    return changed


def _compose(g, node) -> bool:
    prev = producer_map(g).get(node.inputs[0])
    if prev is None or prev.op != "Transpose":
        return False
    p1, p2 = prev.attrs["perm"], node.attrs["perm"]
    node.inputs = [prev.inputs[0]]
    node.attrs["perm"] = tuple(int(p1[j]) for j in p2)
    if node.attrs["perm"] == tuple(range(len(p2))):
        bypass(g, node, node.inputs[0], node.outputs[0])
    return True


def _pull_through_dequantize(g, node) -> bool:
    prev = producer_map(g).get(node.inputs[0])
    if prev is None or prev.op != "Dequantize" or g.is_const(prev.inputs[0]):
        return False
    xq = g.tensors[prev.inputs[0]]
    perm = node.attrs["perm"]
    at = g.nodes.index(node)
    t = make_node(g, "Transpose", [xq.name], {"perm": perm}, name=node.name + "_q", at=at)
    g.tensors[t.outputs[0]].quant = perm_quant(xq.quant, perm)
    node.op, node.inputs, node.attrs = "Dequantize", [t.outputs[0]], {}
    return True


def _push_down(g, node) -> bool:
    prods = producer_map(g)
    y = node.outputs[0]
    if g.tensors[y].quant is not None and g.tensors[y].quant.axis is not None:
        return False
    data = [i for i in node.inputs if i]
    trans = [prods.get(i) for i in data]
    perms = {tuple(t.attrs["perm"]) for t in trans if t is not None and t.op == "Transpose"}
    if len(perms) != 1:
        return False
    perm = perms.pop()
    inv = _inverse(perm)
    rank = len(perm)
    new_inputs = []
    for i, t in zip(data, trans):
        if t is not None and t.op == "Transpose":
            new_inputs.append(t.inputs[0])
        elif node.op in BINARY and g.is_const(i) and len(g.tensors[i].shape) <= rank:
            c = g.value(i)
            full = c.reshape((1,) * (rank - c.ndim) + c.shape)
            new_inputs.append(g.const(i + "_t", np.ascontiguousarray(full.transpose(inv)), g.tensors[i].quant))
        else:
            return False
    yt = g.tensors[y]
    inner = g.unique_name(y + "_nt")
    g.tensors[inner] = Tensor(inner, tuple(yt.shape[k] for k in inv), yt.dtype, None, yt.quant)
    node.inputs = new_inputs
    node.outputs = [inner]
    if node.op == "Concat":
        node.attrs["axis"] = int(perm[node.attrs["axis"]])
    at = g.nodes.index(node) + 1
    t = make_node(g, "Transpose", [inner], {"perm": perm}, name=node.name + "_t", outputs=[y + "__tmp"], at=at)
    # keep the original output name (it may be a graph output)
    del g.tensors[t.outputs[0]]
    t.outputs = [y]
    return True


__all__ = ["optimize_transposes", "consumer_map"]
