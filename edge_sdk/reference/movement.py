"""Data movement ops; dtype-agnostic, so the same code serves float32 and int8."""
from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..quant.fixedpoint import quantize
from .common import qparams


def reshape(g, node, xs):
    return [xs[0].reshape(node.attrs["shape"])]


def transpose(g, node, xs):
    return [np.transpose(xs[0], node.attrs["perm"])]


def concat(g, node, xs):
    return [np.concatenate(xs, axis=node.attrs["axis"])]


def split(g, node, xs):
    sizes = node.attrs["sizes"]
    return list(np.split(xs[0], np.cumsum(sizes)[:-1], axis=node.attrs["axis"]))


def slice_(g, node, xs):
    a = node.attrs
    idx = [slice(None)] * xs[0].ndim
    for s, e, ax, st in zip(a["starts"], a["ends"], a["axes"], a["steps"]):
        idx[ax] = slice(s, None if e < 0 else e, st)
    return [xs[0][tuple(idx)]]


def pad(g, node, xs):
    a = node.attrs
    x = xs[0]
    r = x.ndim
    widths = [(a["pads"][i], a["pads"][i + r]) for i in range(r)]
    if a["mode"] == "constant":
        value = a["value"]
        if x.dtype == np.int8:
            q = qparams(g, node.inputs[0])
            value = int(quantize(np.float32(value), q.scale[0], q.zero_point[0]))
        return [np.pad(x, widths, mode="constant", constant_values=value)]
    if a["mode"] in ("reflect", "edge"):
        return [np.pad(x, widths, mode=a["mode"])]
    raise ModelError(f"unknown pad mode '{a['mode']}'")


def _source_coord(out_size: int, in_size: int, coord: str) -> np.ndarray:
    x = np.arange(out_size, dtype=np.float64)
    scale = out_size / in_size
    if coord == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if coord == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if out_size > 1 else np.zeros_like(x)
    if coord == "align_corners":
        return x * (in_size - 1) / (out_size - 1) if out_size > 1 else np.zeros_like(x)
    if coord == "asymmetric":
        return x / scale
    if coord == "tf_half_pixel_for_nn":
        return (x + 0.5) / scale
    raise ModelError(f"unknown resize coordinate mode '{coord}'")


def _nearest_index(c: np.ndarray, mode: str, in_size: int) -> np.ndarray:
    if mode == "round_prefer_floor":
        i = np.ceil(c - 0.5)
    elif mode == "round_prefer_ceil":
        i = np.floor(c + 0.5)
    elif mode == "floor":
        i = np.floor(c)
    elif mode == "ceil":
        i = np.ceil(c)
    else:
        raise ModelError(f"unknown nearest mode '{mode}'")
    return np.clip(i, 0, in_size - 1).astype(np.int64)


def _linear_weights(c: np.ndarray, in_size: int):
    c = np.clip(c, 0, in_size - 1)
    i0 = np.floor(c).astype(np.int64)
    i1 = np.minimum(i0 + 1, in_size - 1)
    return i0, i1, (c - i0).astype(np.float32)


def resize(g, node, xs):
    a = node.attrs
    x = xs[0]
    h, w = x.shape[-2:]
    oh, ow = g.tensors[node.outputs[0]].shape[-2:]
    ch, cw = _source_coord(oh, h, a["coord"]), _source_coord(ow, w, a["coord"])
    if a["mode"] == "nearest":
        ih = _nearest_index(ch, a["nearest_mode"], h)
        iw = _nearest_index(cw, a["nearest_mode"], w)
        return [x[..., ih[:, None], iw[None, :]]]
    if a["mode"] != "linear":
        raise ModelError(f"unknown resize mode '{a['mode']}'")
    x = x.astype(np.float32)
    h0, h1, fh = _linear_weights(ch, h)
    w0, w1, fw = _linear_weights(cw, w)
    fh, fw = fh[:, None], fw[None, :]
    top = x[..., h0[:, None], w0[None, :]] * (1 - fw) + x[..., h0[:, None], w1[None, :]] * fw
    bot = x[..., h1[:, None], w0[None, :]] * (1 - fw) + x[..., h1[:, None], w1[None, :]] * fw
    return [(top * (1 - fh) + bot * fh).astype(np.float32)]


def depth_to_space(g, node, xs):
    x = xs[0]
    b = node.attrs["blocksize"]
    n, c, h, w = x.shape
    if node.attrs["mode"] == "DCR":
        t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return [t.reshape(n, c // (b * b), h * b, w * b)]


IMPL = {
    "Reshape": reshape,
    "Transpose": transpose,
    "Concat": concat,
    "Split": split,
    "Slice": slice_,
    "Pad": pad,
    "Resize": resize,
    "DepthToSpace": depth_to_space,
}
# Resize is int8 only in nearest mode; linear int8 goes through float (see executor)
INT8 = {"Reshape", "Transpose", "Concat", "Split", "Slice", "Pad", "Resize", "DepthToSpace"}
