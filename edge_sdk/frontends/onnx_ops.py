"""Lowering of each supported ONNX op onto the canonical IR (see edge_sdk.ir.ops)."""
from __future__ import annotations

import math

import numpy as np

from ..errors import ModelError
from ..ir.graph import QuantParams

LOWER = {}


def lowers(*ops):
    def deco(fn):
        for op in ops:
            LOWER[op] = fn
        return fn
    return deco


def _in(node, i):
    return node.input[i] if len(node.input) > i and node.input[i] else ""


def _axis(a: int, rank: int) -> int:
    return a + rank if a < 0 else a


def _const_input(imp, node, i, what):
    name = _in(node, i)
    if not name:
        return None
    v = imp.const_value(name)
    if v is None:
        raise imp.fail(f"{what} must be a constant (after shape folding)")
    return v


# ---- convolution / matmul -------------------------------------------------------------
def _auto_pads(auto_pad, in_hw, k, s, d, pads):
    if auto_pad in ("", "NOTSET"):
        p = list(pads) if pads else [0, 0, 0, 0]
        return (p[0], p[1], p[2], p[3])
    if auto_pad == "VALID":
        return (0, 0, 0, 0)
    begin, end = [], []
    for i in range(2):
        out = -(-in_hw[i] // s[i])
        total = max((out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in_hw[i], 0)
        small = total // 2
        b = small if auto_pad == "SAME_UPPER" else total - small
        begin.append(b)
        end.append(total - b)
    return (begin[0], begin[1], end[0], end[1])


def _spatial2d(imp, node, x):
    if len(imp.shape(x)) != 4:
        raise imp.fail(f"only 2-D (NCHW) inputs are supported, got shape {imp.shape(x)}")


@lowers("Conv")
def conv(imp, node, a):
    x, w, b = node.input[0], node.input[1], _in(node, 2)
    _spatial2d(imp, node, x)
    kh, kw = imp.shape(w)[2:]
    s = tuple(a.get("strides", (1, 1)))
    d = tuple(a.get("dilations", (1, 1)))
    pads = _auto_pads(a.get("auto_pad", "NOTSET"), imp.shape(x)[2:], (kh, kw), s, d, a.get("pads"))
    ins = [imp.ir_name(x), imp.weight(w) or imp.ir_name(w)]
    if b:
        ins.append(imp.weight(b) or imp.ir_name(b))
    imp.out(node.output[0], "Conv", ins, {"strides": s, "pads": pads, "dilations": d, "group": int(a.get("group", 1))})


@lowers("ConvTranspose")
def conv_transpose(imp, node, a):
    x, w, b = node.input[0], node.input[1], _in(node, 2)
    _spatial2d(imp, node, x)
    n, _, h, wd = imp.shape(x)
    cin, mg, kh, kw = imp.shape(w)
    g = int(a.get("group", 1))
    s = tuple(a.get("strides", (1, 1)))
    d = tuple(a.get("dilations", (1, 1)))
    op = tuple(a.get("output_padding", (0, 0)))
    full = [s[i] * ((h, wd)[i] - 1) + op[i] + (((kh, kw)[i] - 1) * d[i] + 1) for i in range(2)]
    auto = a.get("auto_pad", "NOTSET")
    if "output_shape" in a or auto in ("SAME_UPPER", "SAME_LOWER"):
        target = list(a["output_shape"])[-2:] if "output_shape" in a else [(h, wd)[i] * s[i] for i in range(2)]
        begin, end = [], []
        for i in range(2):
            total = full[i] - target[i]
            small = total // 2
            bgn = small if auto == "SAME_UPPER" else total - small
            begin.append(bgn)
            end.append(total - bgn)
        pads = (begin[0], begin[1], end[0], end[1])
    elif auto == "VALID":
        pads = (0, 0, 0, 0)
    else:
        p = list(a.get("pads", (0, 0, 0, 0)))
        pads = (p[0], p[1], p[2], p[3])
    if min(pads) < 0:
        raise imp.fail("negative ConvTranspose padding is not supported")
    oh, ow = full[0] - pads[0] - pads[2], full[1] - pads[1] - pads[3]
    ins = [imp.ir_name(x), imp.weight(w) or imp.ir_name(w)]
    if b:
        ins.append(imp.weight(b) or imp.ir_name(b))
    imp.out(node.output[0], "ConvTranspose", ins, {"strides": s, "pads": pads, "dilations": d, "group": g},
            shape=(n, mg * g, oh, ow))


@lowers("Gemm")
def gemm(imp, node, a):
    A, B, C = node.input[0], node.input[1], _in(node, 2)
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    x = imp.ir_name(A)
    if a.get("transA", 0):
        x = imp.emit("Transpose", [x], {"perm": (1, 0)})
    n_out = imp.shape(B)[0 if a.get("transB", 0) else 1]
    rows = imp.g.tensors[x].shape[0]
    if imp.is_const(B):
        w = imp.weight(B, perm=None if a.get("transB", 0) else (1, 0), scale=alpha)
        ins = [x, w]
        bias_full = None
        if C:
            cshape = imp.shape(C)
            if int(np.prod(cshape)) == n_out and (len(cshape) == 1 or cshape[0] == 1) and imp.is_const(C):
                ins.append(imp.weight(C, scale=beta, shape=(n_out,)) if (beta != 1.0 or len(cshape) != 1)
                           else imp.weight(C))
            else:
                bias_full = C
        if bias_full is None:
            imp.out(node.output[0], "FullyConnected", ins)
            return
        y = imp.emit("FullyConnected", ins)
    else:
        bt = imp.ir_name(B)
        if a.get("transB", 0):
            bt = imp.emit("Transpose", [bt], {"perm": (1, 0)})
        y = imp.emit("MatMul", [x, bt])
        if alpha != 1.0:
            y = imp.emit("Mul", [y, imp.g.const("alpha", np.array(alpha, np.float32))])
        bias_full = C or None
        if bias_full is None:
            imp.names[node.output[0]] = imp.emit("Reshape", [y], {"shape": (rows, n_out)}, out=node.output[0])
            return
    c = imp.ir_name(bias_full)
    if beta != 1.0:
        c = imp.emit("Mul", [c, imp.g.const("beta", np.array(beta, np.float32))])
    imp.out(node.output[0], "Add", [y, c])


@lowers("MatMul")
def matmul(imp, node, a):
    A, B = node.input
    sa, sb = imp.shape(A), imp.shape(B)
    if imp.is_const(B) and len(sb) == 2 and len(sa) >= 2:
        imp.out(node.output[0], "FullyConnected", [imp.ir_name(A), imp.weight(B, perm=(1, 0))])
    else:
        imp.out(node.output[0], "MatMul", [imp.ir_name(A), imp.ir_name(B)])


@lowers("BatchNormalization")
def batch_norm(imp, node, a):
    x = node.input[0]
    scale, bias, mean, var = (_const_input(imp, node, i, "BatchNormalization parameters").astype(np.float64)
                              for i in range(1, 5))
    eps = float(a.get("epsilon", 1e-5))
    k = scale / np.sqrt(var + eps)
    shift = bias - mean * k
    rank = len(imp.shape(x))
    shape = (-1,) + (1,) * (rank - 2)
    y = imp.emit("Mul", [imp.ir_name(x), imp.g.const(node.input[1] + "_bn_scale", k.astype(np.float32).reshape(shape))])
    imp.out(node.output[0], "Add", [y, imp.g.const(node.input[2] + "_bn_shift", shift.astype(np.float32).reshape(shape))])


# ---- elementwise -------------------------------------------------------------------------
def _float_operand(imp, name):
    ir = imp.ir_name(name)
    t = imp.g.tensors[ir]
    if t.dtype != "float32" and t.is_const:
        return imp.g.const(name + "_f32", t.data.astype(np.float32))
    return ir


@lowers("Add", "Sub", "Mul", "Div", "Pow", "PRelu")
def binary(imp, node, a):
    imp.out(node.output[0], node.op_type, [_float_operand(imp, node.input[0]), _float_operand(imp, node.input[1])])


@lowers("Max", "Min", "Sum")
def variadic(imp, node, a):
    op = "Add" if node.op_type == "Sum" else node.op_type
    ins = [_float_operand(imp, i) for i in node.input]
    if len(ins) == 1:
        imp.names[node.output[0]] = ins[0]
        return
    y = ins[0]
    for i, other in enumerate(ins[1:]):
        last = i == len(ins) - 2
        y = imp.out(node.output[0], op, [y, other]) if last else imp.emit(op, [y, other])


@lowers("Relu", "Sigmoid", "Tanh", "Sqrt", "Exp", "Neg", "Abs", "HardSwish")
def unary(imp, node, a):
    imp.out(node.output[0], node.op_type, [imp.ir_name(node.input[0])])


@lowers("LeakyRelu")
def leaky_relu(imp, node, a):
    imp.out(node.output[0], "LeakyRelu", [imp.ir_name(node.input[0])], {"alpha": float(a.get("alpha", 0.01))})


@lowers("HardSigmoid")
def hard_sigmoid(imp, node, a):
    imp.out(node.output[0], "HardSigmoid", [imp.ir_name(node.input[0])],
            {"alpha": float(a.get("alpha", 0.2)), "beta": float(a.get("beta", 0.5))})


@lowers("Clip")
def clip(imp, node, a):
    if imp.opset < 11:
        lo, hi = a.get("min", -math.inf), a.get("max", math.inf)
    else:
        lo_v, hi_v = _const_input(imp, node, 1, "Clip min"), _const_input(imp, node, 2, "Clip max")
        lo = -math.inf if lo_v is None else float(lo_v.reshape(-1)[0])
        hi = math.inf if hi_v is None else float(hi_v.reshape(-1)[0])
    imp.out(node.output[0], "Clip", [imp.ir_name(node.input[0])], {"min": float(lo), "max": float(hi)})


@lowers("Softmax")
def softmax(imp, node, a):
    x = imp.ir_name(node.input[0])
    shape = imp.g.tensors[x].shape
    rank = len(shape)
    axis = _axis(int(a.get("axis", 1 if imp.opset < 13 else -1)), rank)
    if imp.opset >= 13 or axis == rank - 1:
        imp.out(node.output[0], "Softmax", [x], {"axis": axis})
        return
    # opset < 13: softmax over the flattened trailing dims [axis:]
    flat = imp.emit("Reshape", [x], {"shape": (int(np.prod(shape[:axis])), int(np.prod(shape[axis:])))})
    y = imp.emit("Softmax", [flat], {"axis": 1})
    imp.out(node.output[0], "Reshape", [y], {"shape": shape})


@lowers("ReduceMean")
def reduce_mean(imp, node, a):
    x = imp.ir_name(node.input[0])
    rank = len(imp.g.tensors[x].shape)
    if imp.opset >= 18:
        v = _const_input(imp, node, 1, "ReduceMean axes")
        axes = None if v is None else [int(i) for i in v.reshape(-1)]
    else:
        axes = a.get("axes")
    if not axes:
        if a.get("noop_with_empty_axes", 0):
            imp.names[node.output[0]] = x
            return
        axes = list(range(rank))
    axes = tuple(sorted(_axis(int(i), rank) for i in axes))
    imp.out(node.output[0], "ReduceMean", [x], {"axes": axes, "keepdims": int(a.get("keepdims", 1))})


# ---- pooling ------------------------------------------------------------------------------
def _pool_geometry(imp, node, a, x):
    _spatial2d(imp, node, x)
    hw = imp.shape(x)[2:]
    k = tuple(a["kernel_shape"])
    s = tuple(a.get("strides", (1, 1)))
    if any(d != 1 for d in a.get("dilations", (1, 1))):
        raise imp.fail("dilated pooling is not supported")
    pads = list(_auto_pads(a.get("auto_pad", "NOTSET"), hw, k, s, (1, 1), a.get("pads")))
    extra = [0, 0]
    if a.get("ceil_mode", 0):
        for i in range(2):
            span = hw[i] + pads[i] + pads[i + 2] - k[i]
            out = -(-span // s[i]) + 1
            if (out - 1) * s[i] >= hw[i] + pads[i]:
                out -= 1  # the last window must start inside the input or its begin padding
            extra[i] = max((out - 1) * s[i] + k[i] - (hw[i] + pads[i] + pads[i + 2]), 0)
    return k, s, pads, extra


@lowers("MaxPool")
def max_pool(imp, node, a):
    if len(node.output) > 1 and node.output[1]:
        raise imp.fail("MaxPool indices output is not supported")
    x = node.input[0]
    k, s, pads, extra = _pool_geometry(imp, node, a, x)
    pads = (pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1])
    imp.out(node.output[0], "MaxPool", [imp.ir_name(x)], {"kernel": k, "strides": s, "pads": pads})


@lowers("AveragePool")
def average_pool(imp, node, a):
    x = node.input[0]
    k, s, pads, extra = _pool_geometry(imp, node, a, x)
    cip = int(a.get("count_include_pad", 0))
    xi = imp.ir_name(x)
    if cip and any(extra):
        # ceil-mode overhang never counts: make the explicit pads real zeros instead
        xi = imp.emit("Pad", [xi], {"pads": (0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]), "mode": "constant", "value": 0.0})
        pads, cip = [0, 0, 0, 0], 0
    pads = (pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1])
    imp.out(node.output[0], "AveragePool", [xi], {"kernel": k, "strides": s, "pads": pads, "count_include_pad": cip})


@lowers("GlobalAveragePool")
def global_average_pool(imp, node, a):
    x = node.input[0]
    _spatial2d(imp, node, x)
    imp.out(node.output[0], "GlobalAveragePool", [imp.ir_name(x)])


@lowers("GlobalMaxPool")
def global_max_pool(imp, node, a):
    x = node.input[0]
    _spatial2d(imp, node, x)
    imp.out(node.output[0], "MaxPool", [imp.ir_name(x)], {"kernel": tuple(imp.shape(x)[2:])})


# ---- data movement ----------------------------------------------------------------------
def _reshape_to(imp, node, shape):
    imp.out(node.output[0], "Reshape", [imp.ir_name(node.input[0])], {"shape": tuple(int(d) for d in shape)})


@lowers("Reshape")
def reshape(imp, node, a):
    x_shape = imp.shape(node.input[0])
    target = [int(v) for v in _const_input(imp, node, 1, "Reshape shape").reshape(-1)]
    if not a.get("allowzero", 0):
        target = [x_shape[i] if v == 0 else v for i, v in enumerate(target)]
    if -1 in target:
        known = int(np.prod([v for v in target if v != -1]))
        total = int(np.prod(x_shape))
        if known == 0 or total % known:
            raise imp.fail(f"cannot reshape {x_shape} to {target}")
        target[target.index(-1)] = total // known
    _reshape_to(imp, node, target)


@lowers("Flatten")
def flatten(imp, node, a):
    shape = imp.shape(node.input[0])
    axis = _axis(int(a.get("axis", 1)), len(shape))
    _reshape_to(imp, node, (int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))))


def _axes_arg(imp, node, a, first_input_opset):
    if imp.opset >= first_input_opset:
        v = _const_input(imp, node, 1, f"{node.op_type} axes")
        return None if v is None else [int(i) for i in v.reshape(-1)]
    return a.get("axes")


@lowers("Squeeze")
def squeeze(imp, node, a):
    shape = imp.shape(node.input[0])
    axes = _axes_arg(imp, node, a, 13)
    axes = [i for i, d in enumerate(shape) if d == 1] if axes is None else [_axis(i, len(shape)) for i in axes]
    _reshape_to(imp, node, [d for i, d in enumerate(shape) if i not in axes])


@lowers("Unsqueeze")
def unsqueeze(imp, node, a):
    shape = list(imp.shape(node.input[0]))
    axes = _axes_arg(imp, node, a, 13)
    r = len(shape) + len(axes)
    for ax in sorted(_axis(i, r) for i in axes):
        shape.insert(ax, 1)
    _reshape_to(imp, node, shape)


@lowers("Transpose")
def transpose(imp, node, a):
    rank = len(imp.shape(node.input[0]))
    perm = tuple(int(p) for p in a.get("perm", range(rank - 1, -1, -1)))
    imp.out(node.output[0], "Transpose", [imp.ir_name(node.input[0])], {"perm": perm})


@lowers("Concat")
def concat(imp, node, a):
    ins = [i for i in node.input if i and int(np.prod(imp.shape(i))) > 0 or len(node.input) == 1]
    rank = len(imp.shape(ins[0]))
    imp.out(node.output[0], "Concat", [_float_operand(imp, i) for i in ins], {"axis": _axis(int(a["axis"]), rank)})


@lowers("Split")
def split(imp, node, a):
    shape = imp.shape(node.input[0])
    axis = _axis(int(a.get("axis", 0)), len(shape))
    if imp.opset >= 13:
        v = _const_input(imp, node, 1, "Split sizes")
        sizes = None if v is None else [int(i) for i in v.reshape(-1)]
    else:
        sizes = a.get("split")
    if not sizes:
        n = int(a.get("num_outputs", len(node.output)))
        chunk = -(-shape[axis] // n)
        sizes = [min(chunk, shape[axis] - i * chunk) for i in range(n)]
    if sum(sizes) != shape[axis] or len(sizes) != len(node.output):
        raise imp.fail(f"split sizes {sizes} do not fit dimension {shape[axis]}")
    from ..passes.util import make_node
    n = make_node(imp.g, "Split", [imp.ir_name(node.input[0])], {"axis": axis, "sizes": tuple(sizes)},
                  name=imp.node_label, outputs=[o or f"{imp.node_label}_unused{i}" for i, o in enumerate(node.output)])
    for o, ir in zip(node.output, n.outputs):
        if o:
            imp.names[o] = ir


def normalize_slice(dim: int, start: int, end: int, step: int) -> tuple[int, int]:
    """ONNX start/end (negative, out of range, INT_MAX) -> the IR's clamped non-negative form."""
    if step == 0:
        raise ModelError("Slice step 0")
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        return min(max(start, 0), dim), min(max(end, 0), dim)
    return min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)


@lowers("Slice")
def slice_(imp, node, a):
    shape = imp.shape(node.input[0])
    rank = len(shape)
    if imp.opset < 10:
        starts, ends = list(a["starts"]), list(a["ends"])
        axes = list(a.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts = [int(v) for v in _const_input(imp, node, 1, "Slice starts").reshape(-1)]
        ends = [int(v) for v in _const_input(imp, node, 2, "Slice ends").reshape(-1)]
        ax = _const_input(imp, node, 3, "Slice axes")
        st = _const_input(imp, node, 4, "Slice steps")
        axes = list(range(len(starts))) if ax is None else [int(v) for v in ax.reshape(-1)]
        steps = [1] * len(starts) if st is None else [int(v) for v in st.reshape(-1)]
    axes = [_axis(i, rank) for i in axes]
    ss, es = [], []
    for s, e, ax_, step in zip(starts, ends, axes, steps):
        s2, e2 = normalize_slice(shape[ax_], s, e, step)
        ss.append(s2)
        es.append(e2)
    imp.out(node.output[0], "Slice", [imp.ir_name(node.input[0])],
            {"starts": tuple(ss), "ends": tuple(es), "axes": tuple(axes), "steps": tuple(steps)})


@lowers("Gather")
def gather(imp, node, a):
    shape = imp.shape(node.input[0])
    axis = _axis(int(a.get("axis", 0)), len(shape))
    idx = _const_input(imp, node, 1, "Gather indices on activations")
    x = imp.ir_name(node.input[0])
    flat = [int(i) + shape[axis] if i < 0 else int(i) for i in idx.reshape(-1)]
    parts = [imp.emit("Slice", [x], {"starts": (i,), "ends": (i + 1,), "axes": (axis,), "steps": (1,)}) for i in flat]
    y = parts[0] if len(parts) == 1 else imp.emit("Concat", parts, {"axis": axis})
    out_shape = list(shape[:axis]) + list(idx.shape) + list(shape[axis + 1:])
    imp.out(node.output[0], "Reshape", [y], {"shape": tuple(out_shape)})


@lowers("Pad")
def pad(imp, node, a):
    shape = imp.shape(node.input[0])
    rank = len(shape)
    mode = a.get("mode", "constant")
    if imp.opset < 11:
        pads, value = list(a["pads"]), float(a.get("value", 0.0))
    else:
        pads = [int(v) for v in _const_input(imp, node, 1, "Pad pads").reshape(-1)]
        v = _const_input(imp, node, 2, "Pad constant_value")
        value = 0.0 if v is None or v.size == 0 else float(v.reshape(-1)[0])
        axes_v = _const_input(imp, node, 3, "Pad axes")
        if axes_v is not None:
            axes = [_axis(int(i), rank) for i in axes_v.reshape(-1)]
            full = [0] * (2 * rank)
            for j, ax in enumerate(axes):
                full[ax], full[ax + rank] = pads[j], pads[j + len(axes)]
            pads = full
    if mode not in ("constant", "reflect", "edge"):
        raise imp.fail(f"Pad mode '{mode}' is not supported")
    if min(pads) < 0:
        raise imp.fail("negative pads are not supported")
    imp.out(node.output[0], "Pad", [imp.ir_name(node.input[0])], {"pads": tuple(pads), "mode": mode, "value": value})


@lowers("Resize", "Upsample")
def resize(imp, node, a):
    x = node.input[0]
    shape = imp.shape(x)
    if len(shape) != 4:
        raise imp.fail("only 4-D NCHW Resize is supported")
    mode = a.get("mode", "nearest")
    if mode not in ("nearest", "linear", "bilinear"):
        raise imp.fail(f"Resize mode '{mode}' is not supported")
    if node.op_type == "Upsample" or imp.opset < 11:
        scales = a.get("scales")
        scales = _const_input(imp, node, 1, "Upsample scales") if scales is None else np.array(scales)
        sizes = None
        coord, nearest = "asymmetric", "floor"
    else:
        scales = _const_input(imp, node, 2, "Resize scales")
        sizes = _const_input(imp, node, 3, "Resize sizes")
        coord = a.get("coordinate_transformation_mode", "half_pixel")
        nearest = a.get("nearest_mode", "round_prefer_floor")
        if a.get("antialias", 0) or coord == "tf_crop_and_resize":
            raise imp.fail(f"Resize with {'antialias' if a.get('antialias', 0) else coord} is not supported")
        axes = a.get("axes")
        if axes is not None:
            full = [1.0] * 4 if sizes is None or sizes.size == 0 else list(shape)
            src = sizes if sizes is not None and sizes.size else scales
            for j, ax in enumerate(axes):
                full[_axis(int(ax), 4)] = src[j]
            if sizes is not None and sizes.size:
                sizes = np.array(full)
            else:
                scales = np.array(full)
    if sizes is not None and sizes.size:
        out = [int(v) for v in sizes.reshape(-1)]
    elif scales is not None and scales.size:
        out = [int(math.floor(d * float(s))) for d, s in zip(shape, scales.reshape(-1))]
    else:
        raise imp.fail("Resize needs scales or sizes")
    if out[:2] != list(shape[:2]):
        raise imp.fail("Resize may only change H and W")
    imp.out(node.output[0], "Resize", [imp.ir_name(x)],
            {"mode": "linear" if mode == "bilinear" else mode, "coord": coord, "nearest_mode": nearest},
            shape=tuple(out))


@lowers("DepthToSpace")
def depth_to_space(imp, node, a):
    imp.out(node.output[0], "DepthToSpace", [imp.ir_name(node.input[0])],
            {"blocksize": int(a["blocksize"]), "mode": a.get("mode", "DCR")})


@lowers("Identity", "Dropout")
def identity(imp, node, a):
    if len(node.output) > 1 and node.output[1]:
        if any(node.output[1] in n.input for n in imp.model.graph.node) or \
                node.output[1] in [o.name for o in imp.model.graph.output]:
            raise imp.fail("Dropout mask output is not supported")
    imp.alias(node.output[0], node.input[0])


@lowers("Cast")
def cast(imp, node, a):
    from onnx import TensorProto
    if a["to"] not in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE) or \
            imp.g.tensors[imp.ir_name(node.input[0])].dtype != "float32":
        raise imp.fail("only float-to-float Cast of activations is supported")
    imp.alias(node.output[0], node.input[0])


@lowers("Expand")
def expand(imp, node, a):
    target = [int(v) for v in _const_input(imp, node, 1, "Expand shape").reshape(-1)]
    shape = np.broadcast_shapes(imp.shape(node.input[0]), tuple(target))
    zeros = imp.g.const(node.output[0] + "_zeros", np.zeros(shape, np.float32))
    imp.out(node.output[0], "Add", [imp.ir_name(node.input[0]), zeros])


# ---- quantization -------------------------------------------------------------------------
def _qparams(imp, node, a, data_rank, for_activation, default_kind="uint8"):
    scale = _const_input(imp, node, 1, "quantization scale").astype(np.float32).reshape(-1)
    zp_v = _const_input(imp, node, 2, "quantization zero point")
    zp_name = _in(node, 2)
    if zp_name:
        kind = str(imp.g.tensors[imp.ir_name(zp_name)].dtype)
        zp = zp_v.astype(np.int64).reshape(-1)
    else:
        kind, zp = default_kind, np.zeros(1, np.int64)
    if kind not in ("int8", "uint8", "int32"):
        raise imp.fail(f"{kind} quantization is not supported (int8/uint8 only)")
    if zp.size == 1 and scale.size > 1:
        zp = np.repeat(zp, scale.size)
    axis = None
    if scale.size > 1:
        if for_activation:
            raise imp.fail("per-channel quantization of activations is not supported")
        axis = _axis(int(a.get("axis", 1)), data_rank)
    shift = 128 if kind == "uint8" else 0  # uint8 becomes int8 with the zero point moved by 128
    return QuantParams(scale, (zp - shift).astype(np.int32), axis), kind, shift


@lowers("QuantizeLinear")
def quantize_linear(imp, node, a):
    x = node.input[0]
    rank = len(imp.shape(x))
    q, kind, shift = _qparams(imp, node, a, rank, for_activation=not imp.is_const(x))
    if imp.is_const(x):
        from ..quant.fixedpoint import quantize
        data = quantize(imp.const_value(x).astype(np.float32), q.scale, q.zero_point, q.axis)
        imp.set_const(node.output[0], (data.astype(np.int16) + shift).astype(kind))
        return
    imp.out(node.output[0], "Quantize", [imp.ir_name(x)], quant=q)


@lowers("DequantizeLinear")
def dequantize_linear(imp, node, a):
    x = node.input[0]
    rank = len(imp.shape(x))
    if imp.is_const(x):
        raw = imp.const_value(x)
        q, kind, shift = _qparams(imp, node, a, rank, for_activation=False, default_kind=str(raw.dtype))
        if raw.dtype == np.int32:
            data = raw
        elif raw.dtype in (np.int8, np.uint8):
            data = (raw.astype(np.int16) - shift).astype(np.int8)
        else:
            raise imp.fail(f"cannot dequantize a {raw.dtype} constant")
        imp.qconst[node.output[0]] = (data, q)
        return
    q, kind, shift = _qparams(imp, node, a, rank, for_activation=True)
    xi = imp.ir_name(x)
    t = imp.g.tensors[xi]
    if t.dtype != "int8":
        raise imp.fail("DequantizeLinear input must be an int8/uint8 tensor produced by QuantizeLinear")
    if t.quant is None:
        t.quant = q
    elif not t.quant.same_as(q):
        raise imp.fail("DequantizeLinear parameters differ from those of the producing QuantizeLinear")
    imp.out(node.output[0], "Dequantize", [xi])


SUPPORTED = sorted(set(LOWER) | {"Constant", "Shape", "Size", "Range", "ConstantOfShape", "Tile", "Equal", "Where",
                                 "ReduceProd", "ReduceSum", "Floor", "Ceil", "NonZero", "Less", "Greater", "Not"})
