"""Conv, ConvTranspose, FullyConnected, MatMul (float32 and int8)."""
from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..quant.fixedpoint import requantize
from ..quant.multipliers import clamp_range, conv_multipliers
from .common import apply_act, qparams


def conv_acc(x: np.ndarray, w: np.ndarray, strides, pads, dilations, group: int) -> np.ndarray:
    """Direct convolution by im2col; the dtype of x and w decides the accumulator."""
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    if c != cg * group or m % group:
        raise ModelError(f"conv channels {c} / weight {w.shape} / group {group} disagree")
    pt, pl, pb, pr = pads
    sh, sw = strides
    dh, dw = dilations
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise ModelError(f"conv output would be empty (input {x.shape}, kernel {w.shape})")
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw]
    cols = cols.reshape(n, group, cg * kh * kw, oh * ow)
    wr = w.reshape(group, m // group, cg * kh * kw)
    return np.matmul(wr[None], cols).reshape(n, m, oh, ow)


def conv_transpose_acc(x: np.ndarray, w: np.ndarray, strides, pads, dilations, group: int, out_hw) -> np.ndarray:
    """Scatter form of the transposed convolution, cropped to the requested output size."""
    n, c, h, wd = x.shape
    _, mg, kh, kw = w.shape
    sh, sw = strides
    dh, dw = dilations
    pt, pl = pads[0], pads[1]
    oh, ow = out_hw
    full_h = max((h - 1) * sh + (kh - 1) * dh + 1, pt + oh)
    full_w = max((wd - 1) * sw + (kw - 1) * dw + 1, pl + ow)
    full = np.zeros((n, group, mg, full_h, full_w), dtype=np.result_type(x, w))
    xg = x.reshape(n, group, c // group, h * wd)
    wg = w.reshape(group, c // group, mg, kh, kw)
    for i in range(kh):
        for j in range(kw):
            contrib = np.matmul(np.swapaxes(wg[:, :, :, i, j], 1, 2)[None], xg).reshape(n, group, mg, h, wd)
            full[:, :, :, i * dh: i * dh + sh * (h - 1) + 1: sh, j * dw: j * dw + sw * (wd - 1) + 1: sw] += contrib
    return full.reshape(n, group * mg, full_h, full_w)[:, :, pt: pt + oh, pl: pl + ow]


def _bias(xs, shape_m):
    return xs[2] if len(xs) > 2 and xs[2] is not None else None


def conv(g, node, xs):
    a = node.attrs
    x, w, b = xs[0], xs[1], _bias(xs, None)
    if x.dtype == np.int8:
        xq, wq, yq = (qparams(g, node.inputs[0]), qparams(g, node.inputs[1]), qparams(g, node.outputs[0]))
        acc = conv_acc(x.astype(np.int64) - int(xq.zero_point[0]), w.astype(np.int64),
                       a["strides"], a["pads"], a["dilations"], a["group"])
        return [_requant_channels(acc, b, xq, wq, yq, a, axis=1)]
    y = conv_acc(x.astype(np.float32), w.astype(np.float32), a["strides"], a["pads"], a["dilations"], a["group"])
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return [apply_act(y, a)]


def conv_transpose(g, node, xs):
    a = node.attrs
    x, w, b = xs[0], xs[1], _bias(xs, None)
    out_hw = g.tensors[node.outputs[0]].shape[2:]
    if x.dtype == np.int8:
        xq, wq, yq = (qparams(g, node.inputs[0]), qparams(g, node.inputs[1]), qparams(g, node.outputs[0]))
        acc = conv_transpose_acc(x.astype(np.int64) - int(xq.zero_point[0]), w.astype(np.int64),
                                 a["strides"], a["pads"], a["dilations"], a["group"], out_hw)
        return [_requant_channels(acc, b, xq, wq, yq, a, axis=1)]
    y = conv_transpose_acc(x.astype(np.float32), w.astype(np.float32), a["strides"], a["pads"],
                           a["dilations"], a["group"], out_hw)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return [apply_act(y, a)]


def fully_connected(g, node, xs):
    a = node.attrs
    x, w, b = xs[0], xs[1], _bias(xs, None)
    if x.dtype == np.int8:
        xq, wq, yq = (qparams(g, node.inputs[0]), qparams(g, node.inputs[1]), qparams(g, node.outputs[0]))
        acc = np.matmul(x.astype(np.int64) - int(xq.zero_point[0]), w.astype(np.int64).T)
        return [_requant_channels(acc, b, xq, wq, yq, a, axis=-1)]
    y = np.matmul(x.astype(np.float32), w.astype(np.float32).T)
    if b is not None:
        y = y + b
    return [apply_act(y, a)]


def matmul(g, node, xs):
    return [np.matmul(xs[0].astype(np.float32), xs[1].astype(np.float32))]


def _requant_channels(acc, b, xq, wq, yq, attrs, axis):
    """acc + bias, then per-output-channel MBQM along `axis`, zero point, clamp."""
    m = acc.shape[axis]
    shape = [1] * acc.ndim
    shape[axis] = m
    if b is not None:
        acc = acc + b.astype(np.int64).reshape(shape)
    mult, shift = conv_multipliers(xq, wq, yq)
    if mult.size == 1:
        mult, shift = np.repeat(mult, m), np.repeat(shift, m)
    qmin, qmax = clamp_range(attrs["act"], attrs["act_min"], attrs["act_max"], yq)
    return requantize(acc, mult.reshape(shape), shift.reshape(shape), int(yq.zero_point[0]), qmin, qmax)


IMPL = {"Conv": conv, "ConvTranspose": conv_transpose, "FullyConnected": fully_connected, "MatMul": matmul}
INT8 = {"Conv", "ConvTranspose", "FullyConnected"}
