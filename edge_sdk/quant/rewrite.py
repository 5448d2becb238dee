"""Rewrite a float IR graph into the int8 IR of edge_sdk.ir.ops, given activation ranges.

Each original tensor is available in a float form, an int8 form, or both; Quantize and
Dequantize nodes are inserted lazily where a consumer needs the other form, and cached so
one tensor is converted once. Graph inputs and outputs keep their names and stay float32.
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node, QuantParams, Tensor
from . import fixedpoint as fp
from . import params as qp
from .errors import QuantizationError
from .keep_sparsity import check_zeros_preserved

COMPUTE = {"Conv", "FullyConnected", "Add", "Mul"}
# int8 ops whose output reuses the input's quantization (values are a subset/average of it)
SAME_PARAMS = {
    "MaxPool", "AveragePool", "GlobalAveragePool", "Reshape", "Transpose", "Slice", "Split",
    "Pad", "DepthToSpace", "Resize",
}


class _Rewriter:
    def __init__(self, graph: Graph, ranges: dict[str, tuple[float, float]]):
        self.g = graph
        self.ranges = ranges
        self.q_of: dict[str, str] = {}  # original tensor -> its int8 form
        self.f_of: dict[str, str] = {i: i for i in graph.inputs}  # original -> float form
        self.nodes: list[Node] = []
        self.weights: dict[str, str] = {}  # float weight -> int8 weight (shared weights quantize once)
        self.notes: list[str] = []
        self.zeroed_kept: dict[str, int] = {}

    # ---- helpers ---------------------------------------------------------------
    def _new_tensor(self, base: str, shape, dtype: str, quant: QuantParams | None) -> str:
        name = self.g.unique_name(base)
        self.g.tensors[name] = Tensor(name, tuple(shape), dtype, None, quant)
        return name

    def _emit(self, op: str, base: str, inputs: list[str], outputs: list[str]) -> None:
        names = {n.name for n in self.nodes} | {n.name for n in self.g.nodes}
        name, i = base, 1
        while name in names:
            name, i = f"{base}_{i}", i + 1
        self.nodes.append(Node(op, name, inputs, outputs))

    def params_for(self, t: str) -> QuantParams:
        if t not in self.ranges:
            raise QuantizationError(f"no calibrated range for tensor '{t}'")
        return qp.activation_params(*self.ranges[t])

    def need_int8(self, t: str) -> str:
        if t in self.q_of:
            return self.q_of[t]
        src = self.f_of[t]
        name = self._new_tensor(f"{t}_q", self.g.tensors[src].shape, "int8", self.params_for(t))
        self._emit("Quantize", f"quantize_{t}", [src], [name])
        self.q_of[t] = name
        return name

    def need_float(self, t: str) -> str:
        if t in self.f_of:
            return self.f_of[t]
        src = self.q_of[t]
        shape = self.g.tensors[src].shape
        if src != t:  # a graph output: its float form keeps the user-visible name
            name = t
            self.g.tensors[t] = Tensor(t, shape, "float32")
        else:
            name = self._new_tensor(f"{t}_dq", shape, "float32", None)
        self._emit("Dequantize", f"dequantize_{t}", [src], [name])
        self.f_of[t] = name
        return name

    def int8_output(self, t: str, quant: QuantParams) -> str:
        """The int8 tensor a node writes for original tensor t. Graph outputs keep their
        name for the float form (a Dequantize is added at the end)."""
        shape = self.g.tensors[t].shape
        if t in self.g.outputs:
            name = self._new_tensor(f"{t}_q", shape, "int8", quant)
        else:
            name = t
            self.g.tensors[t] = Tensor(t, shape, "int8", None, quant)
        self.q_of[t] = name
        return name

    def float_output(self, t: str) -> str:
        self.f_of[t] = t
        return t

    # ---- per-op ------------------------------------------------------------------
    def run(self) -> list[Node]:
        for node in self.g.nodes:
            op = node.op
            acts = [i for i in node.inputs if i and not self.g.is_const(i)]
            if not acts:
                self.nodes.append(node)  # constant subgraph: leave float
                for o in node.outputs:
                    self.float_output(o)
            elif op in ("Conv", "FullyConnected") and self.g.is_const(node.inputs[1]):
                self.conv(node)
            elif op in ("Add", "Mul") and len(node.inputs) == 2:
                self.binary(node)
            elif op in SAME_PARAMS and node.inputs[0] in self.q_of and not (
                op == "Resize" and node.attrs.get("mode", "nearest") != "nearest"
            ) and all(not i or self.g.is_const(i) for i in node.inputs[1:]):
                self.same_params(node)
            elif op == "Concat" and any(i in self.q_of for i in node.inputs):
                self.concat(node)
            else:
                self.float_op(node)
        for o in self.g.outputs:
            self.need_float(o)
        return self.nodes

    def conv(self, node: Node) -> None:
        x = self.need_int8(node.inputs[0])
        x_q = self.g.tensors[x].quant
        w_name = node.inputs[1]
        w = self.g.value(w_name)
        b_name = node.inputs[2] if len(node.inputs) > 2 else ""
        b = self.g.value(b_name) if b_name else None
        scales = qp.fit_bias_scales(qp.weight_scales(w), b, float(x_q.scale[0]))
        key = f"{w_name}|{scales.tobytes().hex()}"
        if key not in self.weights:
            wq, w_qp = qp.quantize_weight(w, scales)
            self.zeroed_kept[node.name] = check_zeros_preserved(node.name, w, wq)
            self.weights[key] = self.g.const(f"{w_name}_int8", wq, w_qp)
        wq_name = self.weights[key]
        inputs = [x, wq_name]
        if b is not None:
            bq, b_qp = qp.quantize_bias(b, float(x_q.scale[0]), self.g.tensors[wq_name].quant)
            inputs.append(self.g.const(f"{b_name}_int32", bq, b_qp))
        y = self.int8_output(node.outputs[0], self.params_for(node.outputs[0]))
        self.nodes.append(Node(node.op, node.name, inputs, [y], dict(node.attrs)))

    def binary(self, node: Node) -> None:
        inputs = []
        for i in node.inputs:
            if self.g.is_const(i):
                v, c_qp = qp.quantize_constant(self.g.value(i))
                inputs.append(self.g.const(f"{i}_int8", v, c_qp))
            else:
                inputs.append(self.need_int8(i))
        y = self.int8_output(node.outputs[0], self.params_for(node.outputs[0]))
        self.nodes.append(Node(node.op, node.name, inputs, [y], dict(node.attrs)))

    def same_params(self, node: Node) -> None:
        x = self.q_of[node.inputs[0]]
        x_q = self.g.tensors[x].quant
        outs = [self.int8_output(o, QuantParams(x_q.scale.copy(), x_q.zero_point.copy())) for o in node.outputs]
        self.nodes.append(Node(node.op, node.name, [x] + list(node.inputs[1:]), outs, dict(node.attrs)))

    def concat(self, node: Node) -> None:
        # the output range must hold every input's values: union of their ranges
        lo, hi = self.ranges.get(node.outputs[0], (0.0, 0.0))
        for i in node.inputs:
            if i in self.q_of:
                a, b = qp.range_of(self.g.tensors[self.q_of[i]].quant)
            elif self.g.is_const(i):
                v = self.g.value(i)
                a, b = float(v.min()), float(v.max())
            else:
                a, b = self.ranges.get(i, (0.0, 0.0))
            lo, hi = min(lo, a), max(hi, b)
        y_q = qp.activation_params(lo, hi)
        inputs = []
        for i in node.inputs:
            if self.g.is_const(i):
                v = fp.quantize(self.g.value(i).astype(np.float32), y_q.scale, y_q.zero_point)
                inputs.append(self.g.const(f"{i}_int8", v, QuantParams(y_q.scale, y_q.zero_point)))
            elif i in self.q_of and self.g.tensors[self.q_of[i]].quant.same_as(y_q):
                inputs.append(self.q_of[i])
            elif i in self.q_of:
                src = self.q_of[i]
                r = self._new_tensor(f"{i}_rq", self.g.tensors[src].shape, "int8", QuantParams(y_q.scale, y_q.zero_point))
                self._emit("Requantize", f"requantize_{i}", [src], [r])
                inputs.append(r)
            else:
                src = self.f_of[i]
                r = self._new_tensor(f"{i}_q", self.g.tensors[src].shape, "int8", QuantParams(y_q.scale, y_q.zero_point))
                self._emit("Quantize", f"quantize_{i}", [src], [r])
                inputs.append(r)
        y = self.int8_output(node.outputs[0], y_q)
        self.nodes.append(Node(node.op, node.name, inputs, [y], dict(node.attrs)))

    def float_op(self, node: Node) -> None:
        inputs = [i if not i or self.g.is_const(i) else self.need_float(i) for i in node.inputs]
        outs = [self.float_output(o) for o in node.outputs]
        self.nodes.append(Node(node.op, node.name, inputs, outs, dict(node.attrs)))


def rewrite_int8(graph: Graph, ranges: dict[str, tuple[float, float]]) -> tuple[list[str], dict[str, int]]:
    """Rewrite in place. Returns (notes, per-layer count of kept weights rounded to 0)."""
    rw = _Rewriter(graph, ranges)
    graph.nodes = rw.run()
    graph.prune()
    graph.validate()
    return rw.notes, rw.zeroed_kept
