"""Input data for a measured artifact (deterministic, per input dtype) and the host reference run
of the same artifact that device outputs are compared with."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def artifact_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_inputs(artifact: Path, seed: int = 0) -> tuple[list[np.ndarray], list]:
    """(input arrays in graph order, Session output infos)."""
    from ..runtime.session import Session

    s = Session(artifact)
    rng = np.random.default_rng(seed)
    arrays = []
    for info in s.inputs:
        if info.dtype == np.float32:
            a = rng.uniform(-1, 1, info.shape).astype(np.float32)
        elif info.dtype == np.int8:
            a = rng.integers(-128, 128, info.shape, dtype=np.int8)
        elif info.dtype == np.uint8:
            a = rng.integers(0, 256, info.shape, dtype=np.uint8)
        else:
            a = rng.integers(-100, 100, info.shape).astype(info.dtype)
        arrays.append(a)
    return arrays, s


def host_reference(session, arrays: list[np.ndarray]) -> list[np.ndarray]:
    out = session.run(arrays)
    return [out[o.name] for o in session.outputs]


def dequantize(arr: np.ndarray, info) -> np.ndarray:
    if info.dtype in (np.int8, np.uint8) and info.scale:
        return info.scale * (arr.astype(np.float32) - info.zero_point)
    return arr.astype(np.float32)
