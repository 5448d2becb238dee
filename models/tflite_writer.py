"""Write .tflite flatbuffers without TensorFlow.

A thin builder over the flatc-generated ``tflite`` schema package: enough of the
format (one subgraph, builtin ops, per-channel quantization, SparsityParameters)
to produce test and zoo models that LiteRT loads and runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import flatbuffers
import numpy as np
import tflite

_DTYPES = {
    "float32": (tflite.TensorType.FLOAT32, np.float32),
    "float16": (tflite.TensorType.FLOAT16, np.float16),
    "int32": (tflite.TensorType.INT32, np.int32),
    "int64": (tflite.TensorType.INT64, np.int64),
    "int16": (tflite.TensorType.INT16, np.int16),
    "int8": (tflite.TensorType.INT8, np.int8),
    "uint8": (tflite.TensorType.UINT8, np.uint8),
    "bool": (tflite.TensorType.BOOL, np.bool_),
}

# builtin op name -> options table name (None: the op takes no options table)
_OPTIONS = {
    "CONV_2D": "Conv2DOptions",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions",
    "ADD": "AddOptions",
    "SUB": "SubOptions",
    "MUL": "MulOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions",
    "MEAN": "ReducerOptions",
    "RESHAPE": "ReshapeOptions",
    "SOFTMAX": "SoftmaxOptions",
    "PAD": "PadOptions",
    "CONCATENATION": "ConcatenationOptions",
    "RESIZE_BILINEAR": "ResizeBilinearOptions",
    "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighborOptions",
    "LOGISTIC": None,
    "HARD_SWISH": "HardSwishOptions",
    "QUANTIZE": "QuantizeOptions",
    "DEQUANTIZE": "DequantizeOptions",
    "DENSIFY": "DensifyOptions",
    "TANH": None,
    "RELU": None,
    "RELU6": None,
}

# Fields whose values are enum names rather than numbers.
_ENUMS = {
    "padding": tflite.Padding,
    "fused_activation_function": tflite.ActivationFunctionType,
    "weights_format": tflite.FullyConnectedOptionsWeightsFormat,
}
_VECTOR_FIELDS = {"new_shape"}

# Sensible defaults so callers only pass what differs; LiteRT reads a missing
# stride as 0 and then divides by it.
_DEFAULTS = {
    "Conv2DOptions": {"padding": "VALID", "stride_w": 1, "stride_h": 1,
                      "dilation_w_factor": 1, "dilation_h_factor": 1},
    "DepthwiseConv2DOptions": {"padding": "VALID", "stride_w": 1, "stride_h": 1,
                               "depth_multiplier": 1, "dilation_w_factor": 1,
                               "dilation_h_factor": 1},
    "Pool2DOptions": {"padding": "VALID", "stride_w": 1, "stride_h": 1},
    "SoftmaxOptions": {"beta": 1.0},
}

# Versions high enough for the int8 kernels of each op; the interpreter refuses
# a version it does not register, and every listed version is registered.
_INT8_VERSIONS = {
    "CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 4, "ADD": 2,
    "SUB": 2, "MUL": 2, "AVERAGE_POOL_2D": 2, "MAX_POOL_2D": 2, "MEAN": 2,
    "SOFTMAX": 2, "PAD": 2, "CONCATENATION": 2, "RESIZE_BILINEAR": 2,
    "RESIZE_NEAREST_NEIGHBOR": 2, "LOGISTIC": 2, "QUANTIZE": 2, "DEQUANTIZE": 2,
    "TANH": 2, "RELU": 2, "RELU6": 2,
}


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


@dataclass
class DimMeta:
    """One entry of SparsityParameters.dim_metadata."""
    format: str  # "DENSE" or "SPARSE_CSR"
    dense_size: int = 0
    array_segments: np.ndarray | None = None
    array_indices: np.ndarray | None = None


@dataclass
class Sparsity:
    """SparsityParameters plus the compressed values to store in the buffer."""
    traversal_order: list[int]
    block_map: list[int]
    dim_metadata: list[DimMeta]
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))


def sparse_encode(dense: np.ndarray, block_shape: Sequence[int] | None = None) -> Sparsity:
    """Encode a dense tensor in TFLite's sparse format.

    Without a block: every dimension but the last is DENSE and the last is
    SPARSE_CSR (for a [M, K] FC weight: row pointers over M, column indices).
    With a 2-D ``block_shape`` (bm, bk) on a [M, K] tensor: blocks are the unit
    of sparsity, traversal [0, 1, 2, 3], block_map [0, 1], dims DENSE M/bm,
    SPARSE_CSR K/bk, DENSE bm, DENSE bk; a block is stored if any value in it
    is non-zero.
    """
    dense = np.asarray(dense)
    if block_shape is None or tuple(block_shape) == (1,) * len(block_shape):
        rows = dense.reshape(-1, dense.shape[-1])
        nz = rows != 0
        segments = np.concatenate([[0], np.cumsum(nz.sum(axis=1))]).astype(np.int32)
        indices = np.nonzero(nz)[1].astype(np.int32)
        dims = [DimMeta("DENSE", int(d)) for d in dense.shape[:-1]]
        dims.append(DimMeta("SPARSE_CSR", 0, segments, indices))
        order = list(range(dense.ndim))
        return Sparsity(order, [], dims, rows[nz].copy())
    if dense.ndim != 2 or len(block_shape) != 2:
        raise ValueError("block sparsity is supported for 2-D tensors with a 2-D block")
    bm, bk = (int(b) for b in block_shape)
    m, k = dense.shape
    if m % bm or k % bk:
        raise ValueError(f"shape {dense.shape} is not a multiple of block {block_shape}")
    blocks = dense.reshape(m // bm, bm, k // bk, bk).transpose(0, 2, 1, 3)
    nz = np.any(blocks != 0, axis=(2, 3))
    segments = np.concatenate([[0], np.cumsum(nz.sum(axis=1))]).astype(np.int32)
    indices = np.nonzero(nz)[1].astype(np.int32)
    dims = [DimMeta("DENSE", m // bm), DimMeta("SPARSE_CSR", 0, segments, indices),
            DimMeta("DENSE", bm), DimMeta("DENSE", bk)]
    return Sparsity([0, 1, 2, 3], [0, 1], dims, blocks[nz].reshape(-1).copy())


def sparse_decode(sp: Sparsity, shape: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`sparse_encode` (for tests and round-trip checks)."""
    shape = tuple(int(s) for s in shape)
    out = np.zeros(shape, dtype=sp.values.dtype)
    if not sp.block_map:
        rows = out.reshape(-1, shape[-1])
        seg, idx = sp.dim_metadata[-1].array_segments, sp.dim_metadata[-1].array_indices
        for r in range(rows.shape[0]):
            rows[r, idx[seg[r]:seg[r + 1]]] = sp.values[seg[r]:seg[r + 1]]
        return out
    bm, bk = sp.dim_metadata[2].dense_size, sp.dim_metadata[3].dense_size
    seg, idx = sp.dim_metadata[1].array_segments, sp.dim_metadata[1].array_indices
    vals = sp.values.reshape(-1, bm, bk)
    for br in range(len(seg) - 1):
        for j in range(seg[br], seg[br + 1]):
            bc = idx[j]
            out[br * bm:(br + 1) * bm, bc * bk:(bc + 1) * bk] = vals[j]
    return out


@dataclass
class _Tensor:
    name: str
    shape: list[int]
    dtype: str
    buffer: int
    quant: tuple | None
    sparsity: Sparsity | None


class TFLiteBuilder:
    """Collects tensors and operators, then serialises one-subgraph models.

    Tensor handles are the integer indices returned by :meth:`add_tensor`.
    """

    def __init__(self, description: str = "edge-sdk tflite_writer"):
        self.description = description
        self.tensors: list[_Tensor] = []
        self.buffers: list[bytes | None] = [None]  # buffer 0 is the empty sentinel
        self.ops: list[tuple[str, list[int], list[int], dict]] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    def add_tensor(self, name: str, shape: Sequence[int], dtype: str = "float32",
                   data: np.ndarray | None = None, quant: tuple | dict | None = None,
                   sparsity: Sparsity | None = None) -> int:
        """Add a tensor; ``data`` makes it a constant.

        ``quant`` is ``(scale, zero_point)`` or ``(scale, zero_point,
        quantized_dimension)`` (scalars or arrays) or a dict with those keys.
        With ``sparsity``, the buffer holds ``sparsity.values`` (``data`` is ignored).
        """
        if dtype not in _DTYPES:
            raise ValueError(f"unsupported dtype {dtype}")
        np_dtype = _DTYPES[dtype][1]
        buf = 0
        if sparsity is not None:
            data = np.asarray(sparsity.values)
        if data is not None:
            arr = np.ascontiguousarray(np.asarray(data).astype(np_dtype, copy=False))
            if sparsity is None and arr.size != int(np.prod(shape, dtype=np.int64)):
                raise ValueError(f"{name}: data size {arr.size} != shape {list(shape)}")
            self.buffers.append(arr.tobytes())
            buf = len(self.buffers) - 1
        if isinstance(quant, dict):
            quant = (quant["scale"], quant["zero_point"], quant.get("quantized_dimension", 0))
        self.tensors.append(_Tensor(name, [int(s) for s in shape], dtype, buf, quant, sparsity))
        return len(self.tensors) - 1

    def add_const(self, name: str, data: np.ndarray, dtype: str | None = None, **kw) -> int:
        data = np.asarray(data)
        return self.add_tensor(name, data.shape, dtype or str(data.dtype), data=data, **kw)

    def add_op(self, builtin_name: str, inputs: Sequence[int], outputs: Sequence[int],
               options: dict | None = None) -> None:
        if builtin_name not in _OPTIONS:
            raise ValueError(f"unsupported op {builtin_name}")
        self.ops.append((builtin_name, list(inputs), list(outputs), dict(options or {})))

    def set_io(self, inputs: Sequence[int], outputs: Sequence[int]) -> None:
        self.inputs, self.outputs = list(inputs), list(outputs)

    # -- serialisation -------------------------------------------------

    def to_bytes(self) -> bytes:
        b = flatbuffers.Builder(1024 + sum(len(x or b"") for x in self.buffers))
        buffers = [self._buffer(b, data) for data in self.buffers]
        tensors = [self._tensor(b, t) for t in self.tensors]

        opcodes: list[tuple[str, int]] = []
        operators = []
        for name, ins, outs, opts in self.ops:
            int8 = any(self.tensors[i].dtype in ("int8", "int16") for i in ins + outs if i >= 0)
            version = _INT8_VERSIONS.get(name, 1) if int8 else 1
            key = (name, version)
            if key not in opcodes:
                opcodes.append(key)
            operators.append(self._operator(b, opcodes.index(key), name, ins, outs, opts))
        codes = []
        for name, version in opcodes:
            code = getattr(tflite.BuiltinOperator, name)
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            tflite.OperatorCodeAddBuiltinCode(b, code)
            tflite.OperatorCodeAddVersion(b, version)
            codes.append(tflite.OperatorCodeEnd(b))

        t_vec = self._offsets(b, tflite.SubGraphStartTensorsVector, tensors)
        i_vec = b.CreateNumpyVector(np.asarray(self.inputs, np.int32))
        o_vec = b.CreateNumpyVector(np.asarray(self.outputs, np.int32))
        op_vec = self._offsets(b, tflite.SubGraphStartOperatorsVector, operators)
        sg_name = b.CreateString("main")
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, t_vec)
        tflite.SubGraphAddInputs(b, i_vec)
        tflite.SubGraphAddOutputs(b, o_vec)
        tflite.SubGraphAddOperators(b, op_vec)
        tflite.SubGraphAddName(b, sg_name)
        subgraph = tflite.SubGraphEnd(b)

        codes_vec = self._offsets(b, tflite.ModelStartOperatorCodesVector, codes)
        sg_vec = self._offsets(b, tflite.ModelStartSubgraphsVector, [subgraph])
        buf_vec = self._offsets(b, tflite.ModelStartBuffersVector, buffers)
        desc = b.CreateString(self.description)
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, codes_vec)
        tflite.ModelAddSubgraphs(b, sg_vec)
        tflite.ModelAddDescription(b, desc)
        tflite.ModelAddBuffers(b, buf_vec)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    def save(self, path) -> str:
        with open(path, "wb") as f:
            f.write(self.to_bytes())
        return str(path)

    @staticmethod
    def _offsets(b, start_fn, offsets):
        start_fn(b, len(offsets))
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    @staticmethod
    def _buffer(b, data):
        vec = None
        if data:
            # 16-byte alignment lets kernels (XNNPACK) read weights in place.
            b.StartVector(1, len(data), 16)
            b.head = b.head - len(data)
            b.Bytes[b.head:b.head + len(data)] = data
            vec = b.EndVector()
        tflite.BufferStart(b)
        if vec is not None:
            tflite.BufferAddData(b, vec)
        return tflite.BufferEnd(b)

    def _tensor(self, b, t: _Tensor):
        name = b.CreateString(t.name)
        shape = b.CreateNumpyVector(np.asarray(t.shape, np.int32))
        quant = self._quant(b, t.quant) if t.quant is not None else None
        sparsity = self._sparsity(b, t.sparsity) if t.sparsity is not None else None
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, _DTYPES[t.dtype][0])
        tflite.TensorAddBuffer(b, t.buffer)
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        if sparsity is not None:
            tflite.TensorAddSparsity(b, sparsity)
        return tflite.TensorEnd(b)

    @staticmethod
    def _quant(b, q):
        scale, zp = q[0], q[1]
        qdim = int(q[2]) if len(q) > 2 else 0
        scale = np.atleast_1d(np.asarray(scale, np.float32))
        zp = np.atleast_1d(np.asarray(zp, np.int64))
        if zp.size == 1 and scale.size > 1:
            zp = np.repeat(zp, scale.size)
        s_vec = b.CreateNumpyVector(scale)
        z_vec = b.CreateNumpyVector(zp)
        tflite.QuantizationParametersStart(b)
        tflite.QuantizationParametersAddScale(b, s_vec)
        tflite.QuantizationParametersAddZeroPoint(b, z_vec)
        tflite.QuantizationParametersAddQuantizedDimension(b, qdim)
        return tflite.QuantizationParametersEnd(b)

    @staticmethod
    def _int32_vector(b, values):
        vec = b.CreateNumpyVector(np.asarray(values, np.int32))
        tflite.Int32VectorStart(b)
        tflite.Int32VectorAddValues(b, vec)
        return tflite.Int32VectorEnd(b)

    def _sparsity(self, b, sp: Sparsity):
        dims = []
        for d in sp.dim_metadata:
            seg = idx = None
            if d.format == "SPARSE_CSR":
                seg = self._int32_vector(b, d.array_segments)
                idx = self._int32_vector(b, d.array_indices)
            tflite.DimensionMetadataStart(b)
            tflite.DimensionMetadataAddFormat(b, getattr(tflite.DimensionType, d.format))
            tflite.DimensionMetadataAddDenseSize(b, int(d.dense_size))
            if seg is not None:
                tflite.DimensionMetadataAddArraySegmentsType(b, tflite.SparseIndexVector.Int32Vector)
                tflite.DimensionMetadataAddArraySegments(b, seg)
                tflite.DimensionMetadataAddArrayIndicesType(b, tflite.SparseIndexVector.Int32Vector)
                tflite.DimensionMetadataAddArrayIndices(b, idx)
            dims.append(tflite.DimensionMetadataEnd(b))
        order = b.CreateNumpyVector(np.asarray(sp.traversal_order, np.int32))
        bmap = b.CreateNumpyVector(np.asarray(sp.block_map, np.int32)) if sp.block_map else None
        dim_vec = self._offsets(b, tflite.SparsityParametersStartDimMetadataVector, dims)
        tflite.SparsityParametersStart(b)
        tflite.SparsityParametersAddTraversalOrder(b, order)
        if bmap is not None:
            tflite.SparsityParametersAddBlockMap(b, bmap)
        tflite.SparsityParametersAddDimMetadata(b, dim_vec)
        return tflite.SparsityParametersEnd(b)

    def _operator(self, b, opcode_index, name, ins, outs, opts):
        table = _OPTIONS[name]
        options = self._options(b, table, opts) if table else None
        in_vec = b.CreateNumpyVector(np.asarray(ins, np.int32))
        out_vec = b.CreateNumpyVector(np.asarray(outs, np.int32))
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, opcode_index)
        tflite.OperatorAddInputs(b, in_vec)
        tflite.OperatorAddOutputs(b, out_vec)
        if options is not None:
            tflite.OperatorAddBuiltinOptionsType(b, getattr(tflite.BuiltinOptions, table))
            tflite.OperatorAddBuiltinOptions(b, options)
        return tflite.OperatorEnd(b)

    @staticmethod
    def _options(b, table: str, opts: dict):
        values = {**_DEFAULTS.get(table, {}), **opts}
        vectors = {k: b.CreateNumpyVector(np.asarray(v, np.int32))
                   for k, v in values.items() if k in _VECTOR_FIELDS}
        getattr(tflite, table + "Start")(b)
        for key, val in values.items():
            adder = getattr(tflite, f"{table}Add{_camel(key)}", None)
            if adder is None:
                raise ValueError(f"{table} has no field {key}")
            if key in vectors:
                val = vectors[key]
            elif key in _ENUMS and isinstance(val, str):
                val = getattr(_ENUMS[key], val)
            adder(b, val)
        return getattr(tflite, table + "End")(b)


def builtin_ops(model_bytes: bytes) -> dict[str, int]:
    """Count the builtin ops of a .tflite model (first subgraph)."""
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    m = tflite.Model.GetRootAsModel(model_bytes, 0)
    sg = m.Subgraphs(0)
    counts: dict[str, int] = {}
    for i in range(sg.OperatorsLength()):
        code = m.OperatorCodes(sg.Operators(i).OpcodeIndex())
        c = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        key = names.get(c, str(c)) if c != tflite.BuiltinOperator.CUSTOM else code.CustomCode().decode()
        counts[key] = counts.get(key, 0) + 1
    return counts


def run_tflite(model: bytes | str, inputs: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    """Run a model in LiteRT; inputs in subgraph-input order. Returns all outputs."""
    from ai_edge_litert.interpreter import Interpreter
    kw: dict[str, Any] = {"model_content": model} if isinstance(model, (bytes, bytearray)) else {"model_path": str(model)}
    it = Interpreter(**kw)
    it.allocate_tensors()
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], np.asarray(x, dtype=d["dtype"]))
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]
