"""Model importers: ONNX and TFLite files -> the canonical IR, optimized."""
from __future__ import annotations

import os

from ..errors import EdgeSdkError, ModelError
from ..ir.graph import Graph


def _kind(path: str) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror})") from e
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return "tflite"
    ext = os.path.splitext(path)[1].lower()
    if ext == ".tflite":
        return "tflite"
    if ext == ".onnx" or (head[:1] == b"\x08"):  # ONNX ModelProto starts with ir_version (field 1, varint)
        return "onnx"
    raise ModelError(f"{path}: unknown model format (expected an ONNX or TFLite file)")


def load_model(path, input_shapes: dict[str, tuple[int, ...]] | None = None, optimize: bool = True) -> Graph:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelError(f"{path}: no such file")
    kind = _kind(path)
    try:
        if kind == "onnx":
            from .onnx_import import load_onnx
            graph = load_onnx(path, input_shapes)
        else:
            from .tflite_import import load_tflite
            graph = load_tflite(path, input_shapes)
        if optimize:
            from ..passes import optimize as run_passes
            graph = run_passes(graph)
    except EdgeSdkError:
        raise
    except Exception as e:  # never a traceback for a bad model
        msg = str(e).strip().splitlines()
        raise ModelError(f"{path}: cannot import {kind} model: {type(e).__name__}: {msg[0] if msg else ''}") from e
    return graph


def _supported() -> dict[str, list[str]]:
    from .onnx_ops import SUPPORTED as onnx_ops
    from .tflite_ops import SUPPORTED as tflite_ops
    return {"onnx": sorted(onnx_ops), "tflite": sorted(tflite_ops)}


def __getattr__(name):
    if name == "SUPPORTED_OPS":
        return _supported()
    raise AttributeError(name)


__all__ = ["load_model", "SUPPORTED_OPS"]
