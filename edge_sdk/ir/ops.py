"""The canonical IR op set: names, inputs and attributes (all resolved, all static).

Layout is NCHW for 4-D activations, OIHW for conv weights. Frontends lower their
source ops onto these; `edge_sdk.reference` executes exactly these in numpy; the
compiler lowers exactly these to artifact opcodes.

Fused activation (`act` attribute, on Conv, ConvTranspose, FullyConnected, Add):
    act = "none" | "relu" | "clip"   (clip uses act_min / act_max, floats)

Int8 semantics: a node is quantized when its first input has dtype int8. Then
  * activations are per-tensor int8 (scale, zero_point), weights per-channel int8 with
    zero_point 0 along axis 0 (axis 1 for ConvTranspose), biases int32 with scale
    s_x * s_w[c] and zero point 0;
  * results are requantized with `edge_sdk.quant.fixedpoint` (TFLite's integer
    arithmetic: multiplier Q31 + shift, SaturatingRoundingDoublingHighMul,
    RoundingDivideByPOT), then clamped to the activation range in the int8 domain.
  * int8 ops: Conv, FullyConnected, Add, Mul, MaxPool, AveragePool,
    GlobalAveragePool, Reshape, Transpose, Concat, Slice, Split, Pad, DepthToSpace,
    Resize(nearest). Pools and the data-movement ops require equal input/output quant
    params; the compiler inserts Requantize where they differ. Any other op
    on int8 data is run through Dequantize -> float op -> Quantize by the compiler.
"""
from __future__ import annotations

ACT = {"act": "none", "act_min": float("-inf"), "act_max": float("inf")}

# op name -> (inputs, attribute defaults). "?" marks an optional input.
OPS: dict[str, tuple[tuple[str, ...], dict]] = {
    # --- convolution / matmul -------------------------------------------------------
    # w: [M, C/group, kh, kw]; pads: (top, left, bottom, right)
    "Conv": (("x", "w", "b?"), {"strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1), "group": 1, **ACT}),
    # w: [C, M/group, kh, kw]; output shape is the output tensor's shape (output_padding already applied)
    "ConvTranspose": (("x", "w", "b?"), {"strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1), "group": 1, **ACT}),
    # x: [..., K], w: [M, K] (constant), b: [M]; y: [..., M]
    "FullyConnected": (("x", "w", "b?"), dict(ACT)),
    # numpy.matmul semantics, both operands may be activations
    "MatMul": (("a", "b"), {}),
    # --- elementwise, numpy broadcasting --------------------------------------------
    "Add": (("a", "b"), dict(ACT)),
    "Sub": (("a", "b"), {}),
    "Mul": (("a", "b"), {}),
    "Div": (("a", "b"), {}),
    "Pow": (("a", "b"), {}),
    "Max": (("a", "b"), {}),
    "Min": (("a", "b"), {}),
    "PRelu": (("x", "slope"), {}),  # slope broadcasts against x
    "Relu": (("x",), {}),
    "Clip": (("x",), {"min": float("-inf"), "max": float("inf")}),
    "LeakyRelu": (("x",), {"alpha": 0.01}),
    "Sigmoid": (("x",), {}),
    "HardSigmoid": (("x",), {"alpha": 0.2, "beta": 0.5}),
    "HardSwish": (("x",), {}),  # x * relu6(x + 3) / 6
    "Tanh": (("x",), {}),
    "Sqrt": (("x",), {}),
    "Exp": (("x",), {}),
    "Neg": (("x",), {}),
    "Abs": (("x",), {}),
    # --- reductions / normalisation ---------------------------------------------------
    "Softmax": (("x",), {"axis": -1}),  # over one axis (opset-13 meaning)
    "ReduceMean": (("x",), {"axes": (), "keepdims": 1}),  # axes sorted, non-negative
    # --- pooling (4-D NCHW) ------------------------------------------------------------
    "MaxPool": (("x",), {"kernel": (1, 1), "strides": (1, 1), "pads": (0, 0, 0, 0)}),
    # count_include_pad=0 divides by the number of in-bounds elements
    "AveragePool": (("x",), {"kernel": (1, 1), "strides": (1, 1), "pads": (0, 0, 0, 0), "count_include_pad": 0}),
    "GlobalAveragePool": (("x",), {}),  # [N,C,H,W] -> [N,C,1,1]
    # --- data movement -----------------------------------------------------------------
    "Reshape": (("x",), {"shape": ()}),  # fully resolved target shape
    "Transpose": (("x",), {"perm": ()}),
    "Concat": (("*xs",), {"axis": 0}),  # axis non-negative
    "Split": (("x",), {"axis": 0, "sizes": ()}),  # one output per size
    # per-axis, all non-negative, ends clamped to the dim, steps may be negative
    # (then starts/ends follow numpy's x[start:end:step] with end=-1 meaning "past the front")
    "Slice": (("x",), {"starts": (), "ends": (), "axes": (), "steps": ()}),
    # pads: ONNX order (begin_0..begin_n, end_0..end_n), non-negative
    "Pad": (("x",), {"pads": (), "mode": "constant", "value": 0.0}),
    # 4-D NCHW, resizes H and W to the output tensor's shape
    "Resize": (("x",), {"mode": "nearest", "coord": "half_pixel", "nearest_mode": "round_prefer_floor"}),
    "DepthToSpace": (("x",), {"blocksize": 2, "mode": "DCR"}),
    # --- quantization -------------------------------------------------------------------
    "Quantize": (("x",), {}),  # float -> int8 with the output tensor's quant params
    "Dequantize": (("x",), {}),  # int8 -> float with the input tensor's quant params
    "Requantize": (("x",), {}),  # int8 -> int8, input params -> output params
}


def supported(op: str) -> bool:
    return op in OPS


def defaults(op: str) -> dict:
    return dict(OPS[op][1])
