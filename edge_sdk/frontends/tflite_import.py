"""TFLite -> canonical IR.

TFLite is NHWC; the IR is NCHW. Every layout-sensitive op is wrapped in Transposes
(NHWC->NCHW before, back after) and the transpose optimizer cancels the pairs, so a CNN
ends up NCHW inside with the model's NHWC interface kept exactly. Quantized kernels are
written as Dequantize -> float op -> Quantize; the QDQ pass turns those with int8 IR
semantics into int8 ops, the rest stay float between Dequantize and Quantize.
"""
from __future__ import annotations

import math
import os

import numpy as np
import tflite

from ..errors import EdgeSdkError, ModelError, UnsupportedOpError
from ..ir.graph import Graph, QuantParams, Tensor
from ..passes.util import add_const, make_node, perm_quant
from .common import emit
from .tflite_sparse import densify

FRONTEND = "TFLite"
TO_NCHW, TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)
OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_NP = {
    tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16, tflite.TensorType.INT32: np.int32,
    tflite.TensorType.INT64: np.int64, tflite.TensorType.INT8: np.int8, tflite.TensorType.UINT8: np.uint8,
    tflite.TensorType.BOOL: np.bool_, tflite.TensorType.INT16: np.int16,
}


def load_tflite(path, input_shapes: dict[str, tuple[int, ...]] | None = None) -> Graph:
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror})") from e
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelError(f"{path}: not a TFLite model (missing 'TFL3' identifier)")
    try:
        model = tflite.Model.GetRootAsModel(buf, 0)
        if model.SubgraphsLength() < 1:
            raise ModelError(f"{path}: TFLite model has no subgraph")
        return TfliteImporter(model, buf, path, input_shapes or {}).run()
    except EdgeSdkError:
        raise
    except Exception as e:  # a truncated or inconsistent flatbuffer
        msg = str(e).strip().splitlines()
        raise ModelError(f"{path}: cannot import TFLite model: {type(e).__name__}: {msg[0] if msg else ''}") from e




class TfliteImporter:
    def __init__(self, model, buf: bytes, source: str, input_shapes: dict):
        self.model, self.buf, self.source = model, buf, source
        self.sg = model.Subgraphs(0)
        self.input_shapes = {k: tuple(int(d) for d in v) for k, v in input_shapes.items()}
        self.g = Graph(name=(self.sg.Name() or b"model").decode("utf-8", "replace"), source=source)
        self.names: dict[int, str] = {}  # tensor index -> IR tensor name
        self.floats: dict[int, str] = {}  # int8 tensor index -> its Dequantize output
        self.sparse: list[str] = []
        self.cur = ""

    # ---- driver --------------------------------------------------------------------------
    def run(self) -> Graph:
        from .tflite_ops import LOWER

        sg = self.sg
        taken: set[str] = set()
        self.tnames = []
        for i in range(sg.TensorsLength()):
            base = (sg.Tensors(i).Name() or b"").decode("utf-8", "replace") or f"t{i}"
            name, k = base, 1
            while name in taken:
                name, k = f"{base}_{k}", k + 1
            taken.add(name)
            self.tnames.append(name)
        self._inputs()
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = OP_NAMES.get(builtin, str(builtin))
            if builtin == tflite.BuiltinOperator.CUSTOM:
                name = (code.CustomCode() or b"CUSTOM").decode("utf-8", "replace")
            outs = [int(o) for o in op.OutputsAsNumpy()] if op.OutputsLength() else []
            self.cur = self.tnames[outs[0]] if outs else f"op{i}"
            lower = LOWER.get(name)
            if lower is None:
                raise UnsupportedOpError(name, self.cur, self.source, FRONTEND)
            ins = [int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else []
            lower(self, op, ins, outs)
        for idx in (int(v) for v in sg.OutputsAsNumpy()):
            ir = self.tensor(idx)
            if ir != self.tnames[idx] or self.g.is_const(ir) or ir in self.g.inputs:
                t = self.g.tensors[ir]
                ir = make_node(self.g, "Reshape", [ir], {"shape": t.shape}, outputs=[self.tnames[idx]],
                               quant=[t.quant]).outputs[0]
            self.g.outputs.append(ir)
        if self.sparse:
            self.g.metadata["source_sparse"] = list(self.sparse)
        return self.g

    def fail(self, why: str) -> ModelError:
        return ModelError(f"{self.source}: op producing '{self.cur}': {why}")

    def _inputs(self) -> None:
        names = {self.tnames[int(i)]: int(i) for i in self.sg.InputsAsNumpy()}
        for k in self.input_shapes:
            if k not in names:
                raise ModelError(f"{self.source}: --input-shape names '{k}', but the model's inputs are "
                                 f"{', '.join(sorted(names))}")
        for name, idx in names.items():
            t = self.sg.Tensors(idx)
            shape = [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []
            sig = [int(d) for d in t.ShapeSignatureAsNumpy()] if t.ShapeSignatureLength() else shape
            if name in self.input_shapes:
                new = self.input_shapes[name]
                if len(new) != len(shape) or any(s > 0 and s != n for s, n in zip(sig, new)):
                    raise ModelError(f"{self.source}: --input-shape {name}={','.join(map(str, new))} does not fit "
                                     f"the model's shape {sig}")
                shape = list(new)
            elif any(d < 0 for d in sig) and any(d < 1 for d in shape):
                raise ModelError(f"input '{name}' has a dynamic dimension; pass --input-shape {name}="
                                 + ",".join("?" if d < 0 else str(d) for d in sig))
            dtype = self._dtype(t)
            if dtype not in ("float32", "int8"):
                raise ModelError(f"{self.source}: input '{name}' has type {dtype}; float32 or int8 inputs are supported")
            self.g.add_tensor(Tensor(name, tuple(shape), dtype, None, self._quant(t, activation=True)))
            self.g.inputs.append(name)
            self.names[idx] = name

    # ---- tensors ---------------------------------------------------------------------------
    def _dtype(self, t) -> str:
        np_t = _NP.get(t.Type())
        if np_t is None:
            raise self.fail(f"tensor type {t.Type()} is not supported")
        return np.dtype(np_t).name

    def _quant(self, t, activation: bool) -> QuantParams | None:
        q = t.Quantization()
        if q is None or q.ScaleLength() == 0:
            return None
        scale = q.ScaleAsNumpy().astype(np.float32)
        zp = q.ZeroPointAsNumpy().astype(np.int32) if q.ZeroPointLength() else np.zeros_like(scale, np.int32)
        if zp.size == 1 and scale.size > 1:
            zp = np.repeat(zp, scale.size)
        if scale.size > 1:
            if activation:
                raise self.fail("per-channel quantized activations are not supported")
            return QuantParams(scale, zp, int(q.QuantizedDimension()))
        return QuantParams(scale, zp, None)

    def shape(self, idx: int) -> tuple[int, ...]:
        if idx in self.names:
            return self.g.tensors[self.names[idx]].shape
        t = self.sg.Tensors(idx)
        return tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()

    def is_int8(self, idx: int) -> bool:
        return self._dtype(self.sg.Tensors(idx)) == "int8"

    def qparams(self, idx: int) -> QuantParams | None:
        return self._quant(self.sg.Tensors(idx), activation=False)

    def const_data(self, idx: int) -> np.ndarray | None:
        """The raw stored value of a constant tensor (densified if sparse), else None."""
        t = self.sg.Tensors(idx)
        b = self.model.Buffers(t.Buffer())
        if b is None:
            return None
        if b.DataLength() == 0:
            if b.Offset() > 1:  # large models keep buffers after the flatbuffer
                raw = self.buf[b.Offset(): b.Offset() + b.Size()]
            else:
                return None
        else:
            raw = b.DataAsNumpy().tobytes()
        arr = np.frombuffer(raw, dtype=_NP[t.Type()]).copy()
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        sp = t.Sparsity()
        if sp is not None:
            arr = densify(arr, shape, sp)
            if self.tnames[idx] not in self.sparse:
                self.sparse.append(self.tnames[idx])
        return arr.reshape(shape)

    def tensor(self, idx: int) -> str:
        """IR name of a tensor as stored (int8 stays int8; constants become IR constants)."""
        if idx in self.names:
            return self.names[idx]
        data = self.const_data(idx)
        if data is None:
            raise self.fail(f"tensor '{self.tnames[idx]}' is read before it is produced")
        if data.dtype == np.float16:
            data = data.astype(np.float32)
        self.names[idx] = add_const(self.g, self.tnames[idx], data, self._quant(self.sg.Tensors(idx), activation=False))
        return self.names[idx]

    def fvalue(self, idx: int) -> str:
        """The tensor as float: int8 activations and int8/int32 constants through Dequantize."""
        ir = self.tensor(idx)
        t = self.g.tensors[ir]
        if t.dtype == "float32":
            return ir
        if t.dtype in ("int8", "int32") and t.quant is not None:
            if idx not in self.floats:
                self.floats[idx] = self.emit("Dequantize", [ir], out=ir + "_dq")
            return self.floats[idx]
        if t.is_const:
            return add_const(self.g, ir + "_f", t.data.astype(np.float32))
        raise self.fail(f"tensor '{ir}' of type {t.dtype} cannot be used as float")

    def weight(self, idx: int, perm=None) -> str:
        """A constant weight / bias, optionally transposed; int8 keeps its quantization."""
        if idx in self.names:  # produced by DEQUANTIZE (float16) or DENSIFY
            t = self.g.tensors[self.names[idx]]
            data, q = t.data, t.quant
        else:
            data, q = self.const_data(idx), self.qparams(idx)
        if data is None:
            raise self.fail(f"weights '{self.tnames[idx]}' must be constant")
        if perm is not None:
            data = np.ascontiguousarray(np.transpose(data, perm))
            q = perm_quant(q, perm)
        if data.dtype == np.float16:
            data = data.astype(np.float32)
        if data.dtype == np.float32 or q is None:
            return add_const(self.g, self.tnames[idx] + "_w", data.astype(np.float32))
        c = add_const(self.g, self.tnames[idx] + "_q", data, q)
        return self.emit("Dequantize", [c], out=self.tnames[idx] + "_dq")

    # ---- emission --------------------------------------------------------------------------
    def emit(self, op: str, inputs: list[str], attrs: dict | None = None, out: str | None = None,
             quant: QuantParams | None = None, shape=None) -> str:
        return emit(self.g, self.cur, op, inputs, attrs, out, quant, shape)

    def finish(self, y: str, idx: int, layout_nchw: bool = False) -> None:
        """Bind the float result `y` to TFLite tensor `idx` (back to NHWC, quantized if int8)."""
        name = self.tnames[idx]
        int8 = self.is_int8(idx)
        if layout_nchw:
            y = self.emit("Transpose", [y], {"perm": TO_NHWC}, out=None if int8 else name)
        if int8:
            y = self.emit("Quantize", [y], out=name, quant=self._quant(self.sg.Tensors(idx), activation=True))
        elif y != name:
            if self.g.is_const(y) or y in self.g.inputs or y in self.names.values():
                y = self.emit("Reshape", [y], {"shape": self.g.tensors[y].shape}, out=name)
            else:
                self._rename(y, name)
                y = name
        self.names[idx] = y

    def _rename(self, old: str, new: str) -> None:
        g = self.g
        for n in g.nodes:
            n.outputs = [new if o == old else o for o in n.outputs]
            n.inputs = [new if i == old else i for i in n.inputs]
        t = g.tensors.pop(old)
        t.name = new
        g.tensors[new] = t

    def activation(self, y: str, fused: int, into_attrs: dict | None = None) -> str:
        """Apply a TFLite fused activation: into `into_attrs` when given, else as a node."""
        A = tflite.ActivationFunctionType
        table = {A.NONE: None, A.RELU: ("relu", 0.0, math.inf), A.RELU6: ("clip", 0.0, 6.0),
                 A.RELU_N1_TO_1: ("clip", -1.0, 1.0)}
        if fused not in table:
            raise self.fail(f"fused activation {fused} is not supported")
        act = table[fused]
        if act is None:
            return y
        if into_attrs is not None:
            into_attrs.update(act=act[0], act_min=act[1] if act[0] == "clip" else -math.inf,
                              act_max=act[2] if act[0] == "clip" else math.inf)
            return y
        if act[0] == "relu":
            return self.emit("Relu", [y])
        return self.emit("Clip", [y], {"min": act[1], "max": act[2]})

    def to_nchw(self, idx: int) -> str:
        return self.emit("Transpose", [self.fvalue(idx)], {"perm": TO_NCHW})


def same_padding(size: int, k: int, stride: int, dilation: int, padding: int) -> tuple[int, int, int]:
    """(out, pad_before, pad_after) exactly as TFLite's ComputePaddingHeightWidth."""
    eff = (k - 1) * dilation + 1
    if padding == tflite.Padding.SAME:
        out = (size + stride - 1) // stride
    else:
        out = (size + stride - eff) // stride
    total = max((out - 1) * stride + eff - size, 0)
    return out, total // 2, total - total // 2
