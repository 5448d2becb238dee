"""Activation ranges from running the float graph over calibration inputs."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph
from .errors import QuantizationError

METHODS = ("minmax", "percentile")
# Percentile ranges only need the tails; a random subsample per batch bounds memory on
# big activations while keeping the 99.99th percentile well estimated.
_SAMPLES_PER_BATCH = 200_000


def activation_names(graph: Graph) -> list[str]:
    names = [i for i in graph.inputs if graph.tensors[i].dtype == "float32"]
    for n in graph.nodes:
        names += [o for o in n.outputs if graph.tensors[o].dtype == "float32"]
    return names


def collect_ranges(
    graph: Graph, calibration: list[dict[str, np.ndarray]], method: str = "minmax", percentile: float = 99.99,
    progress=None,
) -> dict[str, tuple[float, float]]:
    """Per float activation tensor: (lo, hi), always containing 0."""
    if method not in METHODS:
        raise QuantizationError(f"calibration method '{method}' not understood; expected minmax or percentile")
    if not calibration:
        raise QuantizationError("quantization needs calibration inputs; pass calibration=[{input: array}, ...]")
    if not 50.0 < percentile <= 100.0:
        raise QuantizationError(f"percentile {percentile} is outside (50, 100]")
    from ..reference.executor import run

    names = activation_names(graph)
    lo = {k: 0.0 for k in names}
    hi = {k: 0.0 for k in names}
    samples: dict[str, list[np.ndarray]] = {k: [] for k in names}
    rng = np.random.default_rng(0)
    for step, feeds in enumerate(calibration):
        if progress:
            progress("calibrate", step, len(calibration))
        missing = [i for i in graph.inputs if i not in feeds]
        if missing:
            raise QuantizationError(f"calibration sample lacks input(s) {', '.join(missing)}")
        env = run(graph, feeds, keep_all=True)
        for k in names:
            v = np.asarray(env[k], dtype=np.float32).reshape(-1)
            if v.size == 0:
                continue
            if not np.all(np.isfinite(v)):
                raise QuantizationError(f"tensor '{k}' is not finite on a calibration input")
            if method == "minmax":
                lo[k] = min(lo[k], float(v.min()))
                hi[k] = max(hi[k], float(v.max()))
            else:
                if v.size > _SAMPLES_PER_BATCH:
                    v = v[rng.choice(v.size, _SAMPLES_PER_BATCH, replace=False)]
                samples[k].append(v)
    if method == "percentile":
        for k in names:
            if samples[k]:
                v = np.concatenate(samples[k])
                lo[k] = min(0.0, float(np.percentile(v, 100.0 - percentile)))
                hi[k] = max(0.0, float(np.percentile(v, percentile)))
    return {k: (lo[k], hi[k]) for k in names}
