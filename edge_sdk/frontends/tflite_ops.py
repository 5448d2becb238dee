"""Lowering of each supported TFLite builtin onto the canonical IR."""
from __future__ import annotations

import numpy as np
import tflite

from .tflite_import import TO_NCHW, same_padding

LOWER = {}


def lowers(*names):
    def deco(fn):
        for n in names:
            LOWER[n] = fn
        return fn
    return deco


def _opt(op, cls):
    t = op.BuiltinOptions()
    if t is None:
        return None
    o = cls()
    o.Init(t.Bytes, t.Pos)
    return o


def _bias(imp, ins, i=2):
    return [imp.weight(ins[i])] if len(ins) > i and ins[i] >= 0 else []


@lowers("CONV_2D", "DEPTHWISE_CONV_2D")
def conv(imp, op, ins, outs):
    o = _opt(op, tflite.DepthwiseConv2DOptions if _is_dw(imp, op) else tflite.Conv2DOptions)
    dw = _is_dw(imp, op)
    n, h, w, c = imp.shape(ins[0])
    fshape = imp.shape(ins[1])
    if dw:
        kh, kw, m = fshape[1], fshape[2], fshape[3]
        weight = imp.weight(ins[1], perm=(3, 0, 1, 2))  # [1,kh,kw,C*mult] -> [C*mult,1,kh,kw]
        group = c
    else:
        m, kh, kw, cin = fshape
        weight = imp.weight(ins[1], perm=(0, 3, 1, 2))  # OHWI -> OIHW
        group = c // cin
    s = (o.StrideH(), o.StrideW())
    d = (o.DilationHFactor() or 1, o.DilationWFactor() or 1)
    _, pt, pb = same_padding(h, kh, s[0], d[0], o.Padding())
    _, pl, pr = same_padding(w, kw, s[1], d[1], o.Padding())
    attrs = {"strides": s, "pads": (pt, pl, pb, pr), "dilations": d, "group": group}
    imp.activation(None, o.FusedActivationFunction(), attrs)
    y = imp.emit("Conv", [imp.to_nchw(ins[0]), weight] + _bias(imp, ins), attrs)
    imp.finish(y, outs[0], layout_nchw=True)


def _is_dw(imp, op):
    code = imp.model.OperatorCodes(op.OpcodeIndex())
    return max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == tflite.BuiltinOperator.DEPTHWISE_CONV_2D


@lowers("FULLY_CONNECTED")
def fully_connected(imp, op, ins, outs):
    o = _opt(op, tflite.FullyConnectedOptions)
    m, k = imp.shape(ins[1])
    x = imp.fvalue(ins[0])
    xs = imp.g.tensors[x].shape
    if len(xs) != 2 and not (o is not None and o.KeepNumDims()):
        x = imp.emit("Reshape", [x], {"shape": (int(np.prod(xs)) // k, k)})
    attrs = {}
    imp.activation(None, o.FusedActivationFunction() if o else 0, attrs)
    y = imp.emit("FullyConnected", [x, imp.weight(ins[1])] + _bias(imp, ins), attrs)
    out_shape = imp.shape(outs[0])
    if out_shape and tuple(out_shape) != imp.g.tensors[y].shape:
        y = imp.emit("Reshape", [y], {"shape": tuple(out_shape)})
    imp.finish(y, outs[0])


_BINARY = {"ADD": ("Add", tflite.AddOptions), "SUB": ("Sub", tflite.SubOptions), "MUL": ("Mul", tflite.MulOptions),
           "DIV": ("Div", tflite.DivOptions), "MAXIMUM": ("Max", None), "MINIMUM": ("Min", None)}


def _binary(name):
    ir_op, opts = _BINARY[name]

    def lower(imp, op, ins, outs):
        o = _opt(op, opts) if opts else None
        fused = o.FusedActivationFunction() if o is not None and hasattr(o, "FusedActivationFunction") else 0
        a, b = imp.fvalue(ins[0]), imp.fvalue(ins[1])
        if ir_op == "Add":
            attrs = {}
            imp.activation(None, fused, attrs)
            y = imp.emit("Add", [a, b], attrs)
        else:
            y = imp.activation(imp.emit(ir_op, [a, b]), fused)
        imp.finish(y, outs[0])
    return lower


for _name in _BINARY:
    LOWER[_name] = _binary(_name)


@lowers("AVERAGE_POOL_2D", "MAX_POOL_2D")
def pool(imp, op, ins, outs):
    o = _opt(op, tflite.Pool2DOptions)
    n, h, w, c = imp.shape(ins[0])
    k, s = (o.FilterHeight(), o.FilterWidth()), (o.StrideH(), o.StrideW())
    _, pt, pb = same_padding(h, k[0], s[0], 1, o.Padding())
    _, pl, pr = same_padding(w, k[1], s[1], 1, o.Padding())
    is_max = _code(imp, op) == tflite.BuiltinOperator.MAX_POOL_2D
    attrs = {"kernel": k, "strides": s, "pads": (pt, pl, pb, pr)}
    if not is_max:
        attrs["count_include_pad"] = 0
    y = imp.emit("MaxPool" if is_max else "AveragePool", [imp.to_nchw(ins[0])], attrs)
    imp.finish(imp.activation(y, o.FusedActivationFunction()), outs[0], layout_nchw=True)


def _code(imp, op):
    code = imp.model.OperatorCodes(op.OpcodeIndex())
    return max(code.BuiltinCode(), code.DeprecatedBuiltinCode())


@lowers("MEAN")
def mean(imp, op, ins, outs):
    o = _opt(op, tflite.ReducerOptions)
    keep = bool(o.KeepDims()) if o else False
    shape = imp.shape(ins[0])
    rank = len(shape)
    axes = sorted({int(a) % rank for a in np.asarray(imp.const_data(ins[1])).reshape(-1)})
    if rank == 4 and axes == [1, 2]:
        y = imp.emit("ReduceMean", [imp.to_nchw(ins[0])], {"axes": (2, 3), "keepdims": int(keep)})
        imp.finish(y, outs[0], layout_nchw=keep)
        return
    y = imp.emit("ReduceMean", [imp.fvalue(ins[0])], {"axes": tuple(axes), "keepdims": int(keep)})
    imp.finish(y, outs[0])


@lowers("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def reshape(imp, op, ins, outs):
    y = imp.emit("Reshape", [imp.fvalue(ins[0])], {"shape": tuple(imp.shape(outs[0]))})
    imp.finish(y, outs[0])


@lowers("TRANSPOSE")
def transpose(imp, op, ins, outs):
    perm = tuple(int(p) for p in np.asarray(imp.const_data(ins[1])).reshape(-1))
    imp.finish(imp.emit("Transpose", [imp.fvalue(ins[0])], {"perm": perm}), outs[0])


@lowers("SOFTMAX")
def softmax(imp, op, ins, outs):
    o = _opt(op, tflite.SoftmaxOptions)
    x = imp.fvalue(ins[0])
    beta = o.Beta() if o else 1.0
    if beta != 1.0:
        x = imp.emit("Mul", [x, imp.g.const("beta", np.array([beta], np.float32))])
    imp.finish(imp.emit("Softmax", [x], {"axis": len(imp.shape(ins[0])) - 1}), outs[0])


_UNARY = {"LOGISTIC": ("Sigmoid", {}), "TANH": ("Tanh", {}), "RELU": ("Relu", {}), "RELU6": ("Clip", {"min": 0.0, "max": 6.0}),
          "RELU_N1_TO_1": ("Clip", {"min": -1.0, "max": 1.0}), "HARD_SWISH": ("HardSwish", {}), "EXP": ("Exp", {}),
          "SQRT": ("Sqrt", {}), "NEG": ("Neg", {}), "ABS": ("Abs", {})}


def _unary(name):
    ir_op, attrs = _UNARY[name]

    def lower(imp, op, ins, outs):
        imp.finish(imp.emit(ir_op, [imp.fvalue(ins[0])], attrs), outs[0])
    return lower


for _name in _UNARY:
    LOWER[_name] = _unary(_name)


@lowers("LEAKY_RELU")
def leaky_relu(imp, op, ins, outs):
    o = _opt(op, tflite.LeakyReluOptions)
    imp.finish(imp.emit("LeakyRelu", [imp.fvalue(ins[0])], {"alpha": float(o.Alpha()) if o else 0.2}), outs[0])


@lowers("QUANTIZE")
def quantize(imp, op, ins, outs):
    imp.finish(imp.fvalue(ins[0]), outs[0])  # int8 in: Dequantize then Quantize = Requantize after the passes


@lowers("DEQUANTIZE")
def dequantize(imp, op, ins, outs):
    data = imp.const_data(ins[0])
    if data is not None and data.dtype == np.float16:
        imp.names[outs[0]] = imp.weight(ins[0])  # float16 weights: folded to float32 constants
        return
    imp.finish(imp.fvalue(ins[0]), outs[0])


@lowers("DENSIFY")
def densify_op(imp, op, ins, outs):
    imp.names[outs[0]] = imp.tensor(ins[0])  # the importer already densified the constant


@lowers("CONCATENATION")
def concatenation(imp, op, ins, outs):
    o = _opt(op, tflite.ConcatenationOptions)
    rank = len(imp.shape(ins[0]))
    axis = o.Axis() % rank
    if rank == 4 and axis == 3:
        y = imp.emit("Concat", [imp.to_nchw(i) for i in ins], {"axis": 1})
        imp.finish(imp.activation(y, o.FusedActivationFunction()), outs[0], layout_nchw=True)
        return
    y = imp.emit("Concat", [imp.fvalue(i) for i in ins], {"axis": axis})
    imp.finish(imp.activation(y, o.FusedActivationFunction()), outs[0])


@lowers("PAD", "PADV2")
def pad(imp, op, ins, outs):
    paddings = np.asarray(imp.const_data(ins[1])).reshape(-1, 2)
    value = 0.0
    if len(ins) > 2 and ins[2] >= 0:
        v = imp.const_data(ins[2])
        q = imp.qparams(ins[2])
        value = float(v.reshape(-1)[0]) if q is None else float((int(v.reshape(-1)[0]) - int(q.zero_point[0])) * q.scale[0])
    if len(paddings) == 4:
        p = paddings[list(TO_NCHW)]
        y = imp.emit("Pad", [imp.to_nchw(ins[0])], {"pads": tuple(int(v) for v in p[:, 0]) + tuple(int(v) for v in p[:, 1]),
                                                    "mode": "constant", "value": value})
        imp.finish(y, outs[0], layout_nchw=True)
        return
    y = imp.emit("Pad", [imp.fvalue(ins[0])], {"pads": tuple(int(v) for v in paddings[:, 0]) + tuple(int(v) for v in paddings[:, 1]),
                                              "mode": "constant", "value": value})
    imp.finish(y, outs[0])


@lowers("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR")
def resize(imp, op, ins, outs):
    bilinear = _code(imp, op) == tflite.BuiltinOperator.RESIZE_BILINEAR
    o = _opt(op, tflite.ResizeBilinearOptions if bilinear else tflite.ResizeNearestNeighborOptions)
    align = bool(o.AlignCorners()) if o else False
    half = bool(o.HalfPixelCenters()) if o else False
    n, h, w, c = imp.shape(ins[0])
    oh, ow = (int(v) for v in np.asarray(imp.const_data(ins[1])).reshape(-1))
    if bilinear:
        attrs = {"mode": "linear", "coord": "align_corners" if align else "half_pixel" if half else "asymmetric"}
    elif align:
        attrs = {"mode": "nearest", "coord": "align_corners", "nearest_mode": "round_prefer_ceil"}
    else:
        attrs = {"mode": "nearest", "coord": "tf_half_pixel_for_nn" if half else "asymmetric", "nearest_mode": "floor"}
    y = imp.emit("Resize", [imp.to_nchw(ins[0])], attrs, shape=(n, c, oh, ow))
    imp.finish(y, outs[0], layout_nchw=True)


@lowers("DEPTH_TO_SPACE")
def depth_to_space(imp, op, ins, outs):
    o = _opt(op, tflite.DepthToSpaceOptions)
    y = imp.emit("DepthToSpace", [imp.to_nchw(ins[0])], {"blocksize": int(o.BlockSize()), "mode": "DCR"})
    imp.finish(y, outs[0], layout_nchw=True)


SUPPORTED = sorted(LOWER)
