"""Requantization constants of the int8 ops: the ONE place they are derived.

The reference executor and the compiler both call these, so the integers the C runtime
reads from an artifact are exactly the ones the oracle used. Real multipliers are
computed in float64 from the float32 scales, as TFLite does, then split by
`quantize_multiplier`.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ModelError
from .fixedpoint import quantize_multiplier, quantize_multipliers

# TFLite's int8 Add/Sub headroom: inputs are shifted left by 20 bits before rescaling.
ADD_LEFT_SHIFT = 20


def _scale(q) -> float:
    if q is None:
        raise ModelError("int8 op is missing quantization parameters")
    return float(np.float32(q.scale[0]))


def round_half_away(v: float) -> int:
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def conv_multipliers(x_q, w_q, y_q) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel: s_x * s_w[c] / s_y (Conv, ConvTranspose and FullyConnected).

    `w_q` may be per-tensor; the result always has one entry per scale in `w_q`.
    """
    sx, sy = _scale(x_q), _scale(y_q)
    sw = np.asarray(w_q.scale, dtype=np.float32).astype(np.float64)
    return quantize_multipliers(sx * sw / sy)


fc_multipliers = conv_multipliers


def add_multipliers(a_q, b_q, y_q) -> dict[str, int]:
    """TFLite's int8 Add: both inputs rescaled to 2*max(sa, sb) with 20 bits of headroom."""
    sa, sb, sy = _scale(a_q), _scale(b_q), _scale(y_q)
    twice_max = 2.0 * max(sa, sb)
    a_mult, a_shift = quantize_multiplier(sa / twice_max)
    b_mult, b_shift = quantize_multiplier(sb / twice_max)
    out_mult, out_shift = quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * sy))
    return {
        "a_mult": a_mult, "a_shift": a_shift, "b_mult": b_mult, "b_shift": b_shift,
        "out_mult": out_mult, "out_shift": out_shift, "left_shift": ADD_LEFT_SHIFT,
    }


def mul_multipliers(a_q, b_q, y_q) -> tuple[int, int]:
    return quantize_multiplier(_scale(a_q) * _scale(b_q) / _scale(y_q))


def requant_multiplier(x_q, y_q) -> tuple[int, int]:
    return quantize_multiplier(_scale(x_q) / _scale(y_q))


def clamp_range(act: str, act_min: float, act_max: float, quant) -> tuple[int, int]:
    """The int8 clamp [qmin, qmax] that implements a fused activation on an int8 output."""
    s, zp = _scale(quant), int(quant.zero_point[0])
    qmin, qmax = -128, 127
    if act == "relu":
        qmin = max(qmin, zp)
    elif act == "clip":
        if math.isfinite(act_min):
            qmin = max(qmin, zp + round_half_away(act_min / s))
        if math.isfinite(act_max):
            qmax = min(qmax, zp + round_half_away(act_max / s))
    elif act != "none":
        raise ModelError(f"unknown fused activation '{act}'")
    return qmin, qmax
