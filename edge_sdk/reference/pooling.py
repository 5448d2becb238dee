"""Pools and reductions over NCHW activations."""
from __future__ import annotations

import numpy as np

from .common import qparams, rounding_div


def windows(x: np.ndarray, kernel, strides, pads, fill) -> np.ndarray:
    """[N, C, kh*kw, OH, OW] view of every pooling window, padding with `fill`."""
    n, c, h, w = x.shape
    kh, kw = kernel
    sh, sw = strides
    pt, pl, pb, pr = pads
    oh = (h + pt + pb - kh) // sh + 1
    ow = (w + pl + pr - kw) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)
    out = np.empty((n, c, kh * kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i * kw + j] = xp[:, :, i: i + sh * (oh - 1) + 1: sh, j: j + sw * (ow - 1) + 1: sw]
    return out


def max_pool(g, node, xs):
    a = node.attrs
    x = xs[0]
    fill = -128 if x.dtype == np.int8 else -np.inf
    return [windows(x, a["kernel"], a["strides"], a["pads"], fill).max(axis=2)]


def _counts(shape, a):
    ones = np.ones((1, 1) + tuple(shape[2:]), dtype=np.int64)
    if a["count_include_pad"]:
        ones = np.pad(ones, ((0, 0), (0, 0), (a["pads"][0], a["pads"][2]), (a["pads"][1], a["pads"][3])),
                      constant_values=1)
        return windows(ones, a["kernel"], a["strides"], (0, 0, 0, 0), 0).sum(axis=2)
    return windows(ones, a["kernel"], a["strides"], a["pads"], 0).sum(axis=2)


def average_pool(g, node, xs):
    a = node.attrs
    x = xs[0]
    count = _counts(x.shape, a)
    if x.dtype == np.int8:
        # padded elements that count hold the real value 0, i.e. the zero point
        fill = int(qparams(g, node.inputs[0]).zero_point[0]) if a["count_include_pad"] else 0
        total = windows(x.astype(np.int64), a["kernel"], a["strides"], a["pads"], fill).sum(axis=2)
        return [np.clip(rounding_div(total, count), -128, 127).astype(np.int8)]
    total = windows(x.astype(np.float32), a["kernel"], a["strides"], a["pads"], 0).sum(axis=2)
    return [(total / count).astype(np.float32)]


def global_average_pool(g, node, xs):
    x = xs[0]
    if x.dtype == np.int8:
        total = x.astype(np.int64).sum(axis=(2, 3), keepdims=True)
        return [np.clip(rounding_div(total, x.shape[2] * x.shape[3]), -128, 127).astype(np.int8)]
    return [x.astype(np.float32).mean(axis=(2, 3), keepdims=True, dtype=np.float32)]


def reduce_mean(g, node, xs):
    a = node.attrs
    return [np.mean(xs[0].astype(np.float32), axis=tuple(a["axes"]), keepdims=bool(a["keepdims"]), dtype=np.float32)]


def softmax(g, node, xs):
    x = xs[0].astype(np.float32)
    e = np.exp(x - x.max(axis=node.attrs["axis"], keepdims=True))
    return [e / e.sum(axis=node.attrs["axis"], keepdims=True)]


IMPL = {
    "MaxPool": max_pool,
    "AveragePool": average_pool,
    "GlobalAveragePool": global_average_pool,
    "ReduceMean": reduce_mean,
    "Softmax": softmax,
}
INT8 = {"MaxPool", "AveragePool", "GlobalAveragePool"}
