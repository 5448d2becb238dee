"""Input samples: calibration directories, .npy/.npz files, generated inputs."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import EdgeSdkError
from .ir.graph import Graph


def _fit(arr: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float32)
    if arr.shape == shape:
        return arr
    if arr.shape == shape[1:] and shape[:1] == (1,):
        return arr.reshape(shape)
    raise EdgeSdkError(f"{what} has shape {arr.shape}, the model input expects {shape}")


def load_calibration(directory: str | Path, graph: Graph) -> list[dict[str, np.ndarray]]:
    """Each .npy file is one sample of a single-input model; each .npz one sample keyed by input name.

    A .npy whose leading dimension is N times the batch holds N samples.
    """
    d = Path(directory)
    if not d.is_dir():
        raise EdgeSdkError(f"calibration directory {d} does not exist")
    files = sorted(p for p in d.iterdir() if p.suffix in (".npy", ".npz"))
    if not files:
        raise EdgeSdkError(f"calibration directory {d} holds no .npy or .npz files")
    shapes = {n: graph.tensors[n].shape for n in graph.inputs}
    samples: list[dict[str, np.ndarray]] = []
    for f in files:
        try:
            obj = np.load(f, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise EdgeSdkError(f"cannot read calibration file {f.name}: {e}") from None
        if f.suffix == ".npz":
            missing = [n for n in shapes if n not in obj.files]
            if missing:
                raise EdgeSdkError(f"{f.name} lacks inputs {missing}")
            samples.append({n: _fit(obj[n], s, f"{f.name}:{n}") for n, s in shapes.items()})
        else:
            if len(shapes) != 1:
                raise EdgeSdkError(f"{f.name}: a multi-input model needs .npz calibration files keyed by input name")
            (name, shape), = shapes.items()
            arr = np.asarray(obj, dtype=np.float32)
            if arr.ndim == len(shape) and arr.shape[1:] == shape[1:] and arr.shape[0] > shape[0] and shape[0] == 1:
                samples += [{name: arr[i:i + 1]} for i in range(arr.shape[0])]
            else:
                samples.append({name: _fit(arr, shape, f.name)})
    return samples


def generated_inputs(graph: Graph, count: int, seed: int = 0, warn: bool = True) -> list[dict[str, np.ndarray]]:
    if warn:
        warnings.warn("no calibration data given: using generated N(0,1) inputs; "
                      "quantization ranges and pruning scores will not reflect real data", stacklevel=3)
    rng = np.random.default_rng(seed)
    return [{n: rng.standard_normal(graph.tensors[n].shape).astype(np.float32) for n in graph.inputs}
            for _ in range(count)]


def load_input_arg(spec: str) -> tuple[str, np.ndarray]:
    """NAME=path.npy for `edge-sdk run --input`."""
    if "=" not in spec:
        raise EdgeSdkError(f"--input expects NAME=FILE.npy, got '{spec}'")
    name, path = spec.split("=", 1)
    try:
        return name, np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise EdgeSdkError(f"cannot read input file {path}: {e}") from None


def parse_shape_args(specs: Sequence[str] | None) -> dict[str, tuple[int, ...]]:
    out = {}
    for spec in specs or ():
        name, _, dims = spec.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.replace("x", ",").split(",") if d)
        except ValueError:
            shape = ()
        if not name or not shape or any(d < 1 for d in shape):
            raise EdgeSdkError(f"--input-shape expects NAME=D0,D1,... with positive dims, got '{spec}'")
        out[name] = shape
    return out
