"""ONNX -> canonical IR (opsets 11..21, float32 and QDQ-quantized models)."""
from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import EdgeSdkError, ModelError, UnsupportedOpError
from ..ir.graph import Graph, QuantParams, Tensor
from ..passes.util import add_const, make_node, perm_quant
from .common import emit
from .onnx_consts import CONST_EVAL, SHAPE_ONLY

FRONTEND = "ONNX"


def load_onnx(path_or_model, input_shapes: dict[str, tuple[int, ...]] | None = None) -> Graph:
    model, source = _read(path_or_model)
    try:
        return OnnxImporter(model, source, input_shapes or {}).run()
    except EdgeSdkError:
        raise
    except Exception as e:  # an inconsistent model must not surface as a traceback
        raise ModelError(f"{source}: cannot import ONNX model: {type(e).__name__}: {_one_line(e)}") from e


def _one_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else ""


def _read(path_or_model):
    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model, "<onnx model>"
    path = os.fspath(path_or_model)
    if not os.path.isfile(path):
        raise ModelError(f"{path}: no such file")
    try:
        # external data files are resolved relative to the model's directory
        model = onnx.load(path, load_external_data=True)
    except Exception as e:
        raise ModelError(f"{path}: not a readable ONNX model ({type(e).__name__}: {_one_line(e)})") from e
    if not model.graph.node and not model.graph.output:
        raise ModelError(f"{path}: not a readable ONNX model (empty graph)")
    return model, path


def _attr_value(a):
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, list) and v and isinstance(v[0], bytes):
        return [s.decode("utf-8", "replace") for s in v]
    return v


def _to_ir_array(arr: np.ndarray) -> np.ndarray:
    if arr.dtype in (np.float16, np.float64) or arr.dtype.kind == "V":
        return arr.astype(np.float32)
    return arr


class OnnxImporter:
    def __init__(self, model, source: str, input_shapes: dict):
        self.model = model
        self.source = source
        self.input_shapes = {k: tuple(int(d) for d in v) for k, v in input_shapes.items()}
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        if not 6 <= self.opset <= 23:
            raise ModelError(f"{source}: ONNX opset {self.opset} is not supported (11..21 are)")
        self.g = Graph(name=model.graph.name or "model", source=source)
        self.names: dict[str, str] = {}  # ONNX tensor name -> IR tensor name
        # DequantizeLinear of a constant: (int8/int32 data, quantization), materialized lazily
        self.qconst: dict[str, tuple[np.ndarray, QuantParams]] = {}
        self.cur = None  # the ONNX node being lowered, for names and messages

    # ---- driver ------------------------------------------------------------------
    def run(self) -> Graph:
        from .onnx_ops import LOWER

        gp = self.model.graph
        for init in gp.initializer:
            self.set_const(init.name, _to_ir_array(numpy_helper.to_array(init)))
        for init in gp.sparse_initializer:
            self.set_const(init.values.name, _to_ir_array(numpy_helper.to_array(numpy_helper.to_array(init))))
        self._inputs(gp)
        for node in _topological(gp.node, set(self.names)):
            self.cur = node
            if node.domain not in ("", "ai.onnx"):
                raise UnsupportedOpError(f"{node.domain}.{node.op_type}", self.node_label, self.source, FRONTEND)
            attrs = {a.name: _attr_value(a) for a in node.attribute}
            if self._try_const_eval(node, attrs):
                continue
            lower = LOWER.get(node.op_type)
            if lower is None:
                raise UnsupportedOpError(node.op_type, self.node_label, self.source, FRONTEND)
            lower(self, node, attrs)
        for o in gp.output:
            self._bind_output(o.name)
        return self.g

    @property
    def node_label(self) -> str:
        n = self.cur
        return (n.name or (n.output[0] if n.output else n.op_type)) if n is not None else "?"

    def fail(self, why: str) -> ModelError:
        return ModelError(f"{self.source}: node '{self.node_label}' ({self.cur.op_type}): {why}")

    def _inputs(self, gp) -> None:
        known = {i.name for i in gp.input if i.name not in self.names}
        for k in self.input_shapes:
            if k not in known:
                raise ModelError(f"{self.source}: --input-shape names '{k}', but the model's inputs are "
                                 f"{', '.join(sorted(known)) or 'none'}")
        for vi in gp.input:
            if vi.name in self.names:
                continue  # old exporters list initializers as inputs too
            tt = vi.type.tensor_type
            if tt.elem_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE):
                raise ModelError(f"{self.source}: input '{vi.name}' has element type "
                                 f"{helper.tensor_dtype_to_string(tt.elem_type)}; only float inputs are supported")
            dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim]
            shape = self.input_shapes.get(vi.name)
            if shape is None:
                if not tt.HasField("shape") or any(d is None for d in dims):
                    hint = ",".join("?" if d is None else str(d) for d in dims) or "1,3,224,224"
                    raise ModelError(f"input '{vi.name}' has a dynamic dimension; pass --input-shape {vi.name}={hint}")
                shape = tuple(dims)
            elif tt.HasField("shape") and (len(shape) != len(dims) or any(
                    d is not None and d != s for d, s in zip(dims, shape))):
                raise ModelError(f"{self.source}: --input-shape {vi.name}={','.join(map(str, shape))} does not fit "
                                 f"the model's shape ({','.join('?' if d is None else str(d) for d in dims)})")
            if any(s < 1 for s in shape):
                raise ModelError(f"{self.source}: input '{vi.name}' shape {shape} has a non-positive dimension")
            self.g.add_tensor(Tensor(vi.name, tuple(shape), "float32"))
            self.g.inputs.append(vi.name)
            self.names[vi.name] = vi.name

    def _bind_output(self, name: str) -> None:
        if name not in self.names:
            raise ModelError(f"{self.source}: graph output '{name}' is never produced")
        ir = self.materialize(name)
        g = self.g
        if ir != name and ir not in g.inputs and ir not in g.outputs and not g.is_const(ir) and name not in g.tensors:
            # rename the IR tensor so the graph keeps the model's output names
            for n in g.nodes:
                n.inputs = [name if i == ir else i for i in n.inputs]
                n.outputs = [name if o == ir else o for o in n.outputs]
            t = g.tensors.pop(ir)
            t.name = name
            g.tensors[name] = t
            for k, v in self.names.items():
                if v == ir:
                    self.names[k] = name
            ir = name
        elif ir != name or g.is_const(ir) or ir in g.inputs:
            t = g.tensors[ir]
            ir = make_node(g, "Reshape", [ir], {"shape": t.shape}, name=name, outputs=[name],
                           quant=[t.quant]).outputs[0]
        g.outputs.append(ir)

    def _try_const_eval(self, node, attrs) -> bool:
        if node.op_type == "Constant":
            self.set_const(node.output[0], _to_ir_array(_constant_value(attrs, self)))
            return True
        fn = CONST_EVAL.get(node.op_type)
        if fn is None:
            return False
        ins = [i for i in node.input]
        if node.op_type in SHAPE_ONLY:
            xs = [np.empty(self.shape(ins[0]), dtype=np.float32)]
        else:
            if not all(self.is_const(i) for i in ins if i) or any(i in self.qconst for i in ins if i):
                return False
            xs = [self.const_value(i) if i else None for i in ins]
        attrs = dict(attrs, _n_outputs=len(node.output))
        outs = fn(xs, attrs, self.opset)
        for name, v in zip(node.output, outs):
            if name:
                self.set_const(name, np.asarray(v))
        return True

    # ---- tensor access -----------------------------------------------------------
    def set_const(self, onnx_name: str, value: np.ndarray) -> str:
        ir = add_const(self.g, onnx_name or "const", np.asarray(value))
        self.names[onnx_name] = ir
        return ir

    def has(self, name: str) -> bool:
        return bool(name) and name in self.names or name in self.qconst

    def ir_name(self, name: str) -> str:
        if name in self.names:
            return self.names[name]
        if name in self.qconst:
            return self.materialize(name)
        raise self.fail(f"input '{name}' is not defined before use")

    def is_const(self, name: str) -> bool:
        if name in self.qconst:
            return True
        return name in self.names and self.g.is_const(self.names[name])

    def const_value(self, name: str) -> np.ndarray | None:
        """The value of a constant input (dequantized for quantized constants), or None."""
        if name in self.qconst:
            data, q = self.qconst[name]
            return _dequantize(data, q)
        if name in self.names and self.g.is_const(self.names[name]):
            return self.g.value(self.names[name])
        return None

    def shape(self, name: str) -> tuple[int, ...]:
        if name in self.qconst:
            return tuple(self.qconst[name][0].shape)
        return self.g.tensors[self.ir_name(name)].shape

    def materialize(self, name: str) -> str:
        """IR tensor for an ONNX tensor; quantized constants become int8 const + Dequantize."""
        if name in self.names:
            return self.names[name]
        if name not in self.qconst:
            raise self.fail(f"input '{name}' is not defined before use")
        data, q = self.qconst[name]
        self.names[name] = self.quantized_const(name, data, q)
        return self.names[name]

    def quantized_const(self, name: str, data: np.ndarray, q: QuantParams) -> str:
        c = self.g.const(name + "_quantized", data, q)
        return self.emit("Dequantize", [c], {}, out=self.g.unique_name(name + "_dq"))

    def weight(self, name: str, perm=None, scale: float = 1.0, shape=None) -> str | None:
        """A constant operand, optionally transposed / scaled / reshaped, keeping int8 data."""
        if name in self.qconst:
            data, q = self.qconst[name]
            if perm is not None:
                data, q = np.transpose(data, perm), perm_quant(q, perm)
            if scale != 1.0:
                q = QuantParams(q.scale * np.float32(scale), q.zero_point, q.axis)
            if shape is not None:
                if q.axis is not None:
                    return self.g.const(name + "_w", (_dequantize(data, q)).reshape(shape).astype(np.float32))
                data = data.reshape(shape)
            if perm is None and scale == 1.0 and shape is None:
                return self.materialize(name)
            return self.quantized_const(name, data, q)
        v = self.const_value(name)
        if v is None:
            return None
        v = v.astype(np.float32)
        if perm is not None:
            v = np.transpose(v, perm)
        if shape is not None:
            v = v.reshape(shape)
        return self.g.const(name + ("_w" if perm is not None or scale != 1.0 or shape is not None else ""),
                            np.ascontiguousarray(v * np.float32(scale)) if scale != 1.0 else np.ascontiguousarray(v))

    # ---- emission ----------------------------------------------------------------
    def emit(self, op: str, inputs: list[str], attrs: dict | None = None, out: str | None = None,
             quant: QuantParams | None = None, shape=None) -> str:
        return emit(self.g, self.node_label, op, inputs, attrs, out, quant, shape)

    def out(self, onnx_out: str, op: str, inputs: list[str], attrs: dict | None = None,
            quant: QuantParams | None = None, shape=None) -> str:
        """emit() producing the ONNX tensor `onnx_out`."""
        ir = self.emit(op, inputs, attrs, out=onnx_out, quant=quant, shape=shape)
        self.names[onnx_out] = ir
        return ir

    def alias(self, onnx_out: str, onnx_in: str) -> None:
        if onnx_in in self.qconst:
            self.qconst[onnx_out] = self.qconst[onnx_in]
        else:
            self.names[onnx_out] = self.ir_name(onnx_in)


def _dequantize(data, q):
    from ..quant.fixedpoint import dequantize
    return dequantize(data, q.scale, q.zero_point, q.axis)


def _constant_value(attrs, imp):
    for key in ("value", "sparse_value"):
        if key in attrs:
            return np.asarray(attrs[key])
    if "value_float" in attrs:
        return np.array(attrs["value_float"], np.float32)
    if "value_floats" in attrs:
        return np.array(attrs["value_floats"], np.float32)
    if "value_int" in attrs:
        return np.array(attrs["value_int"], np.int64)
    if "value_ints" in attrs:
        return np.array(attrs["value_ints"], np.int64)
    raise imp.fail("Constant without a supported value attribute")


def _topological(nodes, defined: set[str]):
    """Nodes in an order where every input is produced first (ONNX asks for it; not all obey)."""
    nodes = list(nodes)
    produced = set(defined)
    order, pending = [], nodes
    while pending:
        rest = []
        for n in pending:
            if all(not i or i in produced for i in n.input):
                order.append(n)
                produced.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            missing = next(i for n in rest for i in n.input if i and i not in produced)
            raise ModelError(f"node '{rest[0].name or rest[0].op_type}' reads '{missing}', which nothing produces")
        pending = rest
    return order
