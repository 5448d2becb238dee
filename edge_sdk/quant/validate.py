"""Checks for a graph that arrives already int8 (QDQ ONNX or a quantized TFLite import)."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph
from .errors import QuantizationError
from .rewrite import SAME_PARAMS

QUANT_OPS = {"Quantize", "Dequantize", "Requantize"}


def is_int8_graph(graph: Graph) -> bool:
    if any(n.op in QUANT_OPS for n in graph.nodes):
        return True
    return any(t.dtype == "int8" and not t.is_const for t in graph.tensors.values())


def validate_int8(graph: Graph) -> list[str]:
    """Raise on quantization the runtime cannot execute; return notes on what the compiler
    will patch up (data-movement ops whose input and output params differ)."""
    notes: list[str] = []

    def qp(name: str, what: str):
        q = graph.tensors[name].quant
        if q is None:
            raise QuantizationError(f"{what} '{name}' is int8 but has no scale/zero point")
        if not (np.all(np.isfinite(q.scale)) and np.all(q.scale > 0)):
            raise QuantizationError(f"{what} '{name}' has a non-positive or non-finite scale")
        return q

    for t in graph.tensors.values():
        if t.dtype == "int8" and not t.is_const:
            q = qp(t.name, "activation")
            if not q.per_tensor:
                raise QuantizationError(f"activation '{t.name}' is quantized per channel; int8 activations must be per tensor")
    for n in graph.nodes:
        if not n.inputs or not n.inputs[0] or graph.tensors[n.inputs[0]].dtype != "int8":
            continue
        if n.op in ("Conv", "FullyConnected", "ConvTranspose"):
            w = graph.tensors[n.inputs[1]]
            if w.dtype != "int8":
                raise QuantizationError(f"int8 {n.op} '{n.name}' has {w.dtype} weights")
            wq = qp(w.name, "weight")
            if np.any(wq.zero_point != 0):
                raise QuantizationError(f"weight '{w.name}' of '{n.name}' has a nonzero zero point; int8 weights are symmetric")
            if len(n.inputs) > 2 and n.inputs[2]:
                b = graph.tensors[n.inputs[2]]
                if b.dtype != "int32":
                    raise QuantizationError(f"bias '{b.name}' of int8 '{n.name}' is {b.dtype}, expected int32")
        elif n.op in SAME_PARAMS:
            qi = graph.tensors[n.inputs[0]].quant
            for o in n.outputs:
                if graph.tensors[o].dtype == "int8" and not qi.same_as(graph.tensors[o].quant):
                    notes.append(f"{n.op} '{n.name}' changes quantization; the compiler requantizes it")
    for i in graph.inputs:
        if graph.tensors[i].dtype != "float32":
            notes.append(f"graph input '{i}' is {graph.tensors[i].dtype}: callers feed quantized data")
    for o in graph.outputs:
        if graph.tensors[o].dtype != "float32":
            notes.append(f"graph output '{o}' is {graph.tensors[o].dtype}: callers dequantize it")
    return notes
