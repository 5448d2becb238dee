"""Turns Dequantize -> float op -> Quantize patterns into int8 IR ops.

Frontends express quantized models this way (ONNX QDQ natively, TFLite int8 kernels by
construction), so one pass decides what runs in int8: weights must be int8 with zero
point 0 (per-tensor ones are widened to per-channel), activations per-tensor int8,
biases int32 with scale s_x*s_w (other biases are requantized to that). Pools and data
movement get an explicit Requantize where input and output quantization differ.
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import QuantParams
from .util import consumer_map, make_node, producer_map

WEIGHTED = {"Conv", "FullyConnected", "ConvTranspose"}
BINARY = {"Add", "Mul"}
SAME_QUANT = {"MaxPool", "AveragePool", "GlobalAveragePool", "Reshape", "Transpose", "Slice", "Pad",
              "DepthToSpace", "Resize"}


def fuse_qdq(g) -> bool:
    changed = False
    for node in list(g.nodes):
        if node in g.nodes and node.op in WEIGHTED | BINARY | SAME_QUANT | {"Concat"}:
            changed |= _fuse(g, node)
    return changed


def _per_tensor_int8(t) -> bool:
    return t.dtype == "int8" and t.quant is not None and t.quant.axis is None and t.quant.scale.size == 1


def _fuse(g, node) -> bool:
    cons, prods = consumer_map(g), producer_map(g)
    y = node.outputs[0]
    if len(node.outputs) != 1 or y in g.outputs or len(cons.get(y, [])) != 1:
        return False
    q = cons[y][0]
    if q.op != "Quantize" or not _per_tensor_int8(g.tensors[q.outputs[0]]):
        return False
    if node.op == "Resize" and node.attrs["mode"] != "nearest":
        return False
    n_act = {"Conv": 1, "FullyConnected": 1, "ConvTranspose": 1, "Add": 2, "Mul": 2}.get(node.op)
    acts = node.inputs[:n_act] if n_act else [i for i in node.inputs if i]
    qacts = []
    for a in acts:
        dq = prods.get(a)
        if dq is None or dq.op != "Dequantize" or not _per_tensor_int8(g.tensors[dq.inputs[0]]):
            return False
        qacts.append(dq.inputs[0])
    yq = q.outputs[0]
    if node.op in WEIGHTED:
        params = _weights(g, node, prods, g.tensors[qacts[0]].quant)
        if params is None:
            return False
        node.inputs = qacts + params
    elif node.op == "Concat":
        node.inputs = [_requantized(g, a, g.tensors[yq].quant, node) for a in qacts]
    else:
        node.inputs = qacts
    if node.op in SAME_QUANT and not g.tensors[qacts[0]].quant.same_as(g.tensors[yq].quant):
        # the op runs in its input's quantization, then one Requantize
        inner = g.unique_name(y + "_q")
        node.outputs = [inner]
        from ..ir.graph import Tensor
        g.tensors[inner] = Tensor(inner, g.tensors[y].shape, "int8", None, g.tensors[qacts[0]].quant)
        q.op, q.inputs, q.attrs = "Requantize", [inner], {}
    else:
        node.outputs = [yq]
        g.nodes.remove(q)
    return True


def _requantized(g, name, quant, before):
    if g.tensors[name].quant.same_as(quant):
        return name
    n = make_node(g, "Requantize", [name], name=name + "_rq", quant=[quant], at=g.nodes.index(before))
    return n.outputs[0]


def _weights(g, node, prods, xq):
    """int8 weight and int32 bias inputs for a fused weighted op, or None if impossible."""
    dq = prods.get(node.inputs[1])
    if dq is None or dq.op != "Dequantize" or not g.is_const(dq.inputs[0]):
        return None
    wt = g.tensors[dq.inputs[0]]
    axis = 1 if node.op == "ConvTranspose" else 0
    if wt.dtype != "int8" or wt.quant is None or np.any(wt.quant.zero_point != 0):
        return None
    if node.op == "ConvTranspose" and node.attrs["group"] != 1:
        return None
    m = wt.shape[axis]
    if wt.quant.axis is None:
        wq = QuantParams(np.repeat(wt.quant.scale, m), np.zeros(m, np.int32), axis)
    elif wt.quant.axis == axis and wt.quant.scale.size == m:
        wq = wt.quant
    else:
        return None
    w_name = wt.name if wq is wt.quant else g.const(wt.name + "_pc", wt.data, wq)
    bias_scale = (np.float64(xq.scale[0]) * wq.scale.astype(np.float64)).astype(np.float32)
    bq = QuantParams(bias_scale, np.zeros(m, np.int32), 0)
    b = node.inputs[2] if len(node.inputs) > 2 else ""
    if not b:
        return [w_name]
    bdq = prods.get(b)
    if bdq is not None and bdq.op == "Dequantize" and g.is_const(bdq.inputs[0]):
        bt = g.tensors[bdq.inputs[0]]
        if (bt.dtype == "int32" and bt.quant is not None and np.all(bt.quant.zero_point == 0)
                and np.allclose(np.broadcast_to(bt.quant.scale, (m,)), bias_scale, rtol=1e-5, atol=0)):
            return [w_name, bt.name if bt.quant.axis == 0 or m == 1 else g.const(bt.name + "_pc", bt.data, bq)]
        from ..quant.fixedpoint import dequantize
        real = dequantize(bt.data, bt.quant.scale, bt.quant.zero_point, bt.quant.axis)
    elif g.is_const(b):
        real = g.value(b).astype(np.float32)
    else:
        return None
    qb = np.round(real.astype(np.float64) / bias_scale.astype(np.float64))
    qb = np.clip(qb, -(2**31), 2**31 - 1).astype(np.int32)
    return [w_name, g.const(b + "_q", qb, bq)]
