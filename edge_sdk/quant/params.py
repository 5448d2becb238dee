"""Quantization parameters from ranges: activations, weights, biases, constants."""
from __future__ import annotations

import numpy as np

from ..ir.graph import QuantParams
from . import fixedpoint as fp

MIN_SCALE = 1e-8  # an all-zero tensor still needs a positive scale
INT32_LIMIT = 2**31 - 1


def activation_params(lo: float, hi: float) -> QuantParams:
    """Per-tensor asymmetric int8: [lo, hi] (widened to contain 0, so 0 is exact) onto
    [-128, 127]."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = np.float32(max((hi - lo) / 255.0, MIN_SCALE))
    zp = int(np.clip(np.floor(-128.0 - lo / float(scale) + 0.5), -128, 127))
    return QuantParams(np.array([scale], np.float32), np.array([zp], np.int32))


def weight_scales(w: np.ndarray) -> np.ndarray:
    """Per output channel (axis 0) symmetric scale max|w_c|/127. A channel that is all
    zeros (pruned away) borrows the median of the others: any positive value represents
    its zeros exactly, and a typical one keeps its bias step and multiplier ordinary."""
    amax = np.abs(w.reshape(w.shape[0], -1).astype(np.float64)).max(axis=1) / 127.0
    live = amax[amax > 0]
    fill = float(np.median(live)) if live.size else 1.0
    return np.where(amax > 0, amax, fill)


def quantize_weight(w: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, QuantParams]:
    s32 = scales.astype(np.float32)
    q = fp.quantize(w, s32, np.zeros(s32.size, np.int32), axis=0)
    # symmetric: [-127, 127] (TFLite's int8 weight range), so -w quantizes to -q
    q = np.clip(q, -127, 127).astype(np.int8)
    return q, QuantParams(s32, np.zeros(s32.size, np.int32), axis=0)


def fit_bias_scales(w_scales: np.ndarray, bias: np.ndarray | None, x_scale: float) -> np.ndarray:
    """Raise a channel's weight scale just enough that its int32 bias does not saturate
    (only matters for tiny-weight channels with a large bias)."""
    if bias is None:
        return w_scales
    need = np.abs(bias.astype(np.float64)) / (float(x_scale) * (INT32_LIMIT * 0.5))
    return np.maximum(w_scales, need)


def quantize_bias(b: np.ndarray, x_scale: float, w_q: QuantParams) -> tuple[np.ndarray, QuantParams]:
    s = (np.float64(np.float32(x_scale)) * w_q.scale.astype(np.float64)).astype(np.float32)
    v = b.astype(np.float64) / s.astype(np.float64)
    q = np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5), -INT32_LIMIT - 1, INT32_LIMIT).astype(np.int32)
    return q, QuantParams(s, np.zeros(s.size, np.int32), axis=0)


def quantize_constant(v: np.ndarray) -> tuple[np.ndarray, QuantParams]:
    """A constant operand of an int8 Add/Mul: per-tensor asymmetric from its own range."""
    qp = activation_params(float(np.min(v)), float(np.max(v)))
    return fp.quantize(v.astype(np.float32), qp.scale, qp.zero_point), qp


def range_of(qp: QuantParams) -> tuple[float, float]:
    s, zp = float(qp.scale[0]), int(qp.zero_point[0])
    return (-128 - zp) * s, (127 - zp) * s
