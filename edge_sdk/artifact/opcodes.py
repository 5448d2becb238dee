"""Artifact opcodes and their parameter words; mirrored by native/src/runtime/opcodes.h.

Every parameter is one 32-bit little-endian word: `i` an int32, `f` a float32.
Inputs marked `?` may be absent (tensor index 0xFFFFFFFF). docs/format.md is the prose
version of this table; keep the three in step.
"""
from __future__ import annotations

from dataclasses import dataclass

ABSENT = 0xFFFFFFFF
MAX_RANK = 6

# dtype codes
DT_F32, DT_I8, DT_U8, DT_I32, DT_U32 = 0, 1, 2, 3, 4
DTYPE_CODES = {"float32": DT_F32, "int8": DT_I8, "uint8": DT_U8, "int32": DT_I32, "uint32": DT_U32}
DTYPE_NAMES = {v: k for k, v in DTYPE_CODES.items()}
DTYPE_SIZES = {DT_F32: 4, DT_I8: 1, DT_U8: 1, DT_I32: 4, DT_U32: 4}

# fused activation kinds
ACT_NONE, ACT_RELU, ACT_CLIP = 0, 1, 2
ACT_KINDS = {"none": ACT_NONE, "relu": ACT_RELU, "clip": ACT_CLIP}

# BINARY kinds
BINARY_KINDS = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3, "Pow": 4, "Max": 5, "Min": 6, "PRelu": 7}
# UNARY kinds (p0, p1 meaning in brackets)
UNARY_KINDS = {
    "Relu": 0, "Clip": 1,  # [min, max]
    "LeakyRelu": 2,  # [alpha]
    "Sigmoid": 3, "HardSigmoid": 4,  # [alpha, beta]
    "HardSwish": 5, "Tanh": 6, "Sqrt": 7, "Exp": 8, "Neg": 9, "Abs": 10,
}
PAD_MODES = {"constant": 0, "reflect": 1, "edge": 2}
RESIZE_MODES = {"nearest": 0, "linear": 1}
RESIZE_COORDS = {"half_pixel": 0, "align_corners": 1, "asymmetric": 2, "pytorch_half_pixel": 3, "tf_half_pixel_for_nn": 4}
NEAREST_MODES = {"round_prefer_floor": 0, "round_prefer_ceil": 1, "floor": 2, "ceil": 3}

_CONV_PARAMS = (
    ("stride_h", "i"), ("stride_w", "i"), ("pad_t", "i"), ("pad_l", "i"), ("pad_b", "i"), ("pad_r", "i"),
    ("dil_h", "i"), ("dil_w", "i"), ("group", "i"),
    ("act", "i"), ("act_min", "f"), ("act_max", "f"), ("qmin", "i"), ("qmax", "i"),
)
_ACT_PARAMS = (("act", "i"), ("act_min", "f"), ("act_max", "f"), ("qmin", "i"), ("qmax", "i"))
_SPARSE_PARAMS = (("block_r", "i"), ("block_c", "i"), ("rows", "i"), ("cols", "i")) + _ACT_PARAMS
_POOL_PARAMS = (("kh", "i"), ("kw", "i"), ("stride_h", "i"), ("stride_w", "i"),
                ("pad_t", "i"), ("pad_l", "i"), ("pad_b", "i"), ("pad_r", "i"))


@dataclass(frozen=True)
class OpSpec:
    code: int
    name: str
    inputs: tuple[str, ...]  # "*" = variadic, "?" suffix = optional
    params: tuple[tuple[str, str], ...]  # fixed words; VARIADIC_PARAMS ops append more
    doc: str
    # optional trailing words (added in a minor version): written only when nonzero, and a
    # reader takes an absent one as 0, so artifacts that do not use them read as before
    tail: tuple[tuple[str, str], ...] = ()


OPCODES: dict[str, OpSpec] = {s.name: s for s in [
    OpSpec(1, "CONV2D", ("x", "w", "b?", "mult?", "shift?"), _CONV_PARAMS,
           "NCHW conv, w OIHW [M, C/group, kh, kw]. int8: mult/shift int32[M] requantize, qmin/qmax clamp."),
    OpSpec(2, "CONV2D_TRANSPOSE", ("x", "w", "b?"), _CONV_PARAMS,
           "NCHW transposed conv, w [C, M/group, kh, kw]; output size from the output tensor. float32 only."),
    OpSpec(3, "FULLY_CONNECTED", ("x", "w", "b?", "mult?", "shift?"), _ACT_PARAMS,
           "y[..., M] = x[..., K] . w[M, K]^T + b. int8 like CONV2D."),
    OpSpec(4, "SPARSE_CONV1X1", ("x", "values", "row_ptr", "col_idx", "b?", "mult?", "shift?"), _SPARSE_PARAMS,
           "1x1 stride-1 conv on NCHW, weights [rows=M, cols=K] in block CSR (see format.md); k_chunk > 0 "
           "(format 1.1, float32, 1x1 blocks): CSR rows are (K chunk, row) pairs, chunk-major.",
           (("k_chunk", "i"),)),
    OpSpec(5, "SPARSE_FULLY_CONNECTED", ("x", "values", "row_ptr", "col_idx", "b?", "mult?", "shift?"), _SPARSE_PARAMS,
           "FULLY_CONNECTED with block-CSR weights."),
    OpSpec(6, "MATMUL", ("a", "b"), (), "numpy.matmul with broadcast batch dims; float32."),
    OpSpec(7, "BINARY", ("a", "b"),
           (("kind", "i"),) + _ACT_PARAMS + (("a_mult", "i"), ("a_shift", "i"), ("b_mult", "i"), ("b_shift", "i"),
                                            ("out_mult", "i"), ("out_shift", "i"), ("left_shift", "i")),
           "Broadcasting elementwise op. int8 for Add and Mul only (TFLite arithmetic)."),
    OpSpec(8, "UNARY", ("x",), (("kind", "i"), ("p0", "f"), ("p1", "f")), "Elementwise float32 op."),
    OpSpec(9, "SOFTMAX", ("x",), (("axis", "i"),), "Softmax over one axis; float32."),
    OpSpec(10, "REDUCE_MEAN", ("x",), (("axes_mask", "i"),), "Mean over the axes whose bit is set; float32."),
    OpSpec(11, "MAXPOOL", ("x",), _POOL_PARAMS, "NCHW max pool; float32 or int8 (same quant in and out)."),
    OpSpec(12, "AVGPOOL", ("x",), _POOL_PARAMS + (("count_include_pad", "i"),),
           "NCHW average pool; int8 rounds half away from zero (same quant in and out)."),
    OpSpec(13, "GLOBAL_AVGPOOL", ("x",), (), "[N,C,H,W] -> [N,C,1,1]; float32 or int8 (same quant)."),
    OpSpec(14, "RESHAPE", ("x",), (), "Byte copy (nothing when input and output share arena offset)."),
    OpSpec(15, "TRANSPOSE", ("x",), tuple((f"perm{i}", "i") for i in range(MAX_RANK)), "Any dtype."),
    OpSpec(16, "CONCAT", ("*",), (("axis", "i"),), "Any dtype, all inputs same dtype (int8: same quant)."),
    OpSpec(17, "SLICE", ("x",), (), "Params: start, step per input dim (2*rank words). Any dtype."),
    OpSpec(18, "PAD", ("x",), (("mode", "i"), ("value_f", "f"), ("value_q", "i")),
           "Then begin pads for each dim, then end pads (2*rank words). Any dtype."),
    OpSpec(19, "RESIZE", ("x",), (("mode", "i"), ("coord", "i"), ("nearest_mode", "i")),
           "4-D NCHW resize of H, W to the output's size. linear: float32 only."),
    OpSpec(20, "QUANTIZE", ("x",), (), "float32 -> int8 with the output's scale/zero point."),
    OpSpec(21, "DEQUANTIZE", ("x",), (), "int8 -> float32 with the input's scale/zero point."),
    OpSpec(22, "REQUANTIZE", ("x",), (("mult", "i"), ("shift", "i")), "int8 -> int8 between zero points."),
]}
BY_CODE = {s.code: s for s in OPCODES.values()}
VARIADIC_PARAMS = {"SLICE", "PAD"}  # rank-dependent extra words
