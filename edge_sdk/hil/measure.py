"""Measurement rules: warmup outside the timed window (the device runs it before its first
timestamp), latency = window duration / N, median over windows with min and max, raw windows kept."""
from __future__ import annotations

import math
import statistics


def per_window_n(per_inference_us: float, min_window_s: float, floor: int = 1, cap: int = 1_000_000) -> int:
    """Inferences per window so that one window lasts at least min_window_s (the runner's rule)."""
    if per_inference_us <= 0:
        return floor
    return int(min(cap, max(floor, math.ceil(min_window_s * 1e6 / per_inference_us))))


def summary(values: list[float]) -> dict:
    if not values:
        return {"median": None, "min": None, "max": None}
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def max_rel_err(ref, got) -> float:
    import numpy as np

    ref = np.asarray(ref, np.float64).ravel()
    got = np.asarray(got, np.float64).ravel()
    if ref.shape != got.shape:
        return float("inf")
    if ref.size == 0:
        return 0.0
    return float(np.max(np.abs(ref - got)) / max(float(np.max(np.abs(ref))), 1e-30))
