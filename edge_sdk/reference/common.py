"""Helpers shared by the reference op implementations."""
from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..quant.fixedpoint import _trunc_div


def qparams(g, name):
    q = g.tensors[name].quant
    if q is None:
        raise ModelError(f"int8 tensor '{name}' has no quantization parameters")
    return q


def apply_act(y: np.ndarray, attrs: dict) -> np.ndarray:
    act = attrs.get("act", "none")
    if act == "relu":
        return np.maximum(y, np.float32(0))
    if act == "clip":
        return np.clip(y, np.float32(attrs["act_min"]), np.float32(attrs["act_max"]))
    if act != "none":
        raise ModelError(f"unknown fused activation '{act}'")
    return y


def rounding_div(total: np.ndarray, count) -> np.ndarray:
    """(sum + sign(sum) * (count / 2)) / count with C division, as the int8 pools define it."""
    total = np.asarray(total, dtype=np.int64)
    count = np.asarray(count, dtype=np.int64)
    return _trunc_div_arr(total + np.sign(total) * (count // 2), count)


def _trunc_div_arr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    q = np.abs(a) // b
    return np.where(a < 0, -q, q)


__all__ = ["qparams", "apply_act", "rounding_div", "_trunc_div"]
