"""Integer requantization, bit for bit the arithmetic of native/src/runtime/fixedpoint.h.

A real multiplier M > 0 is stored as (m, shift): M ~= m * 2^(shift - 31), m in [2^30, 2^31).
Applying it to an int32 accumulator follows TFLite's reference kernels:
    x = SaturatingRoundingDoublingHighMul(acc * 2^max(shift,0), m)
    y = RoundingDivideByPOT(x, max(-shift, 0))
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Split a positive real multiplier into a Q31 mantissa and a power-of-two shift."""
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"bad requantization multiplier {real}")
    frac, shift = math.frexp(real)
    q = int(round(frac * (1 << 31)))
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -31:  # underflows to zero
        return 0, 0
    if shift > 30:
        raise ValueError(f"requantization multiplier {real} too large")
    return q, shift


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, dtype=np.float64).reshape(-1)]
    return (np.array([p[0] for p in pairs], dtype=np.int32), np.array([p[1] for p in pairs], dtype=np.int32))


def _trunc_div(a: np.ndarray, b: int) -> np.ndarray:
    """C integer division (rounds toward zero) on int64 arrays."""
    q = np.abs(a) // b
    return np.where(a < 0, -q, q)


def srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul on int32 values (given as int64 arrays)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    r = _trunc_div(ab + nudge, 1 << 31)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, INT32_MAX, r).astype(np.int64)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(acc: np.ndarray, m: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """acc: int32 values (any int array); m, shift broadcast against acc. Returns int64."""
    acc = np.asarray(acc, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = np.clip(acc * (np.int64(1) << left), INT32_MIN, INT32_MAX)
    return rounding_divide_by_pot(srdhm(shifted, m), right)


def requantize(acc: np.ndarray, m, shift, zero_point: int, qmin: int = -128, qmax: int = 127) -> np.ndarray:
    out = multiply_by_quantized_multiplier(acc, m, shift) + zero_point
    return np.clip(out, qmin, qmax).astype(np.int8)


def quantize(x: np.ndarray, scale, zero_point, axis: int | None = None) -> np.ndarray:
    """float -> int8, round half away from zero (C's roundf), saturating."""
    scale = np.asarray(scale, dtype=np.float32)
    zero_point = np.asarray(zero_point, dtype=np.int32)
    if axis is not None and scale.size > 1:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale = scale.reshape(shape)
        zero_point = zero_point.reshape(shape)
    else:
        scale = scale.reshape(())
        zero_point = zero_point.reshape(())
    v = np.asarray(x, dtype=np.float32) / scale
    q = np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))
    return np.clip(q + zero_point, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale, zero_point, axis: int | None = None) -> np.ndarray:
    scale = np.asarray(scale, dtype=np.float32)
    zero_point = np.asarray(zero_point, dtype=np.int32)
    if axis is not None and scale.size > 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale = scale.reshape(shape)
        zero_point = zero_point.reshape(shape)
    else:
        scale = scale.reshape(())
        zero_point = zero_point.reshape(())
    return ((q.astype(np.int32) - zero_point).astype(np.float32) * scale).astype(np.float32)
