"""Sparsity must survive quantization: a weight pruned to 0.0 has to be int8 0, or block-CSR
packing of the int8 weights would store blocks the float model dropped.

Symmetric per-channel weight quantization (zero point 0) maps 0.0 to exactly 0; this is
the check that nothing (a zero point, a rounding mode) ever breaks that.
"""
from __future__ import annotations

import numpy as np

from .errors import QuantizationError


def check_zeros_preserved(layer: str, w_float: np.ndarray, w_int8: np.ndarray) -> int:
    """Raise if a zero float weight became nonzero; return how many nonzero (kept) weights
    rounded to 0 in int8. Those only make the int8 matrix sparser than its mask: packing
    stays valid, a block that ends all-zero is simply not stored."""
    zeros = w_float == 0
    if np.any(w_int8[zeros] != 0):
        raise QuantizationError(f"layer '{layer}': int8 weights lost their sparsity (pruned zeros became nonzero)")
    return int(np.count_nonzero(~zeros & (w_int8 == 0)))


def sparsity_structure_equal(w_float: np.ndarray, w_int8: np.ndarray, block: tuple[int, int]) -> bool:
    """True when the float and int8 matrices keep the same set of RxC blocks."""
    r, c = block
    a = w_float.reshape(w_float.shape[0], -1)
    b = w_int8.reshape(w_int8.shape[0], -1)
    rows, cols = a.shape
    if rows % r or cols % c:
        r, c = 1, 1
    ka = np.any(a.reshape(rows // r, r, cols // c, c) != 0, axis=(1, 3))
    kb = np.any(b.reshape(rows // r, r, cols // c, c) != 0, axis=(1, 3))
    return bool(np.array_equal(ka, kb))
