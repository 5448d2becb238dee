"""Quantize, Dequantize, Requantize."""
from __future__ import annotations

import numpy as np

from ..quant import fixedpoint as fp
from ..quant.multipliers import requant_multiplier
from .common import qparams


def quantize(g, node, xs):
    q = qparams(g, node.outputs[0])
    return [fp.quantize(xs[0].astype(np.float32), q.scale, q.zero_point, q.axis)]


def dequantize(g, node, xs):
    q = qparams(g, node.inputs[0])
    return [fp.dequantize(xs[0], q.scale, q.zero_point, q.axis)]


def requantize(g, node, xs):
    return [requantize_array(xs[0], qparams(g, node.inputs[0]), qparams(g, node.outputs[0]))]


def requantize_array(x: np.ndarray, xq, yq) -> np.ndarray:
    mult, shift = requant_multiplier(xq, yq)
    return fp.requantize(x.astype(np.int64) - int(xq.zero_point[0]), mult, shift, int(yq.zero_point[0]))


IMPL = {"Quantize": quantize, "Dequantize": dequantize, "Requantize": requantize}
