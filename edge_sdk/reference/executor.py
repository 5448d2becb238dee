"""Runs a Graph op by op in numpy. Float ops compute in float32; int8 ops are bit-exact
with the integer definitions in docs/format.md (via edge_sdk.quant.fixedpoint and the
multipliers of edge_sdk.quant.multipliers).

An op without int8 semantics that receives int8 data runs as Dequantize -> float op ->
Quantize, which is exactly what the compiler lowers it to. Pools and data movement on
int8 require equal input/output quantization; where they differ the result is
requantized (Concat: each input first), as the compiler's inserted Requantize does.
"""
from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..quant import fixedpoint as fp
from . import conv, elementwise, movement, pooling, quantops

IMPL = {**conv.IMPL, **elementwise.IMPL, **pooling.IMPL, **movement.IMPL, **quantops.IMPL}
INT8_OPS = conv.INT8 | elementwise.INT8 | pooling.INT8 | movement.INT8
# int8 ops whose arithmetic assumes the output has the input's quantization
SAME_QUANT_OPS = (pooling.INT8 | movement.INT8) - {"Concat"}


def run(graph, feeds: dict[str, np.ndarray], keep_all: bool = False) -> dict[str, np.ndarray]:
    env: dict[str, np.ndarray] = {k: t.data for k, t in graph.tensors.items() if t.is_const}
    for name in graph.inputs:
        if name not in feeds:
            raise ModelError(f"missing input '{name}'")
        t = graph.tensors[name]
        arr = np.asarray(feeds[name])
        if tuple(arr.shape) != tuple(t.shape):
            raise ModelError(f"input '{name}' has shape {arr.shape}, the model expects {t.shape}")
        env[name] = arr.astype(t.dtype, copy=False)
    for node in graph.nodes:
        xs = [env[i] if i else None for i in node.inputs]
        outs = run_node(graph, node, xs)
        for name, value in zip(node.outputs, outs):
            env[name] = np.asarray(value).astype(graph.tensors[name].dtype, copy=False)
    if keep_all:
        return env
    return {o: env[o] for o in graph.outputs}


def run_node(g, node, xs: list) -> list[np.ndarray]:
    fn = IMPL.get(node.op)
    if fn is None:
        raise ModelError(f"the reference executor has no op '{node.op}' (node '{node.name}')")
    first = xs[0] if xs else None
    if first is None or first.dtype != np.int8 or node.op in quantops.IMPL:
        return fn(g, node, xs)
    if node.op not in INT8_OPS or (node.op == "Resize" and node.attrs.get("mode") != "nearest"):
        return _through_float(g, node, xs, fn)
    out_q = g.tensors[node.outputs[0]].quant
    if node.op == "Concat":
        xs = [_requant_to(x, g.tensors[i].quant, out_q) for x, i in zip(xs, node.inputs)]
        return fn(g, node, xs)
    outs = fn(g, node, xs)
    if node.op in SAME_QUANT_OPS:
        in_q = g.tensors[node.inputs[0]].quant
        outs = [_requant_to(y, in_q, g.tensors[o].quant) for y, o in zip(outs, node.outputs)]
    return outs


def _requant_to(x: np.ndarray, xq, yq) -> np.ndarray:
    if xq is None or yq is None or xq.same_as(yq):
        return x
    return quantops.requantize_array(x, xq, yq)


def _through_float(g, node, xs, fn):
    fx = []
    for name, x in zip(node.inputs, xs):
        q = g.tensors[name].quant if name else None
        if x is not None and x.dtype in (np.int8, np.uint8) and q is not None:
            x = fp.dequantize(x, q.scale, q.zero_point, q.axis)
        fx.append(x)
    outs = fn(g, node, fx)
    res = []
    for name, y in zip(node.outputs, outs):
        t = g.tensors[name]
        if t.dtype == "int8":
            q = t.quant
            if q is None:
                raise ModelError(f"int8 tensor '{name}' has no quantization parameters")
            y = fp.quantize(y, q.scale, q.zero_point, q.axis)
        res.append(y)
    return res
