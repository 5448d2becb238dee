"""Shared fixtures: zoo models and tiny MoE models built once per test session."""
from pathlib import Path

import numpy as np
import pytest

from models.zoo import ZOO

# every zoo model is in one of these lists: the tests iterate them, so a new entry is covered
SMALL_ZOO = ["ds_cnn", "resnet8", "autoencoder", "mobilenet_v1_025_96"]
BIG_ZOO = sorted(set(ZOO) - set(SMALL_ZOO))


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("zoo")


@pytest.fixture(scope="session")
def zoo_model(zoo_dir):
    """zoo_model(name, "onnx" | "tflite") -> path, built on first use."""
    from models import zoo

    def get(name: str, fmt: str = "onnx") -> Path:
        path = zoo_dir / f"{name}.{fmt}"
        if not path.exists():
            (zoo.build_onnx if fmt == "onnx" else zoo.build_tflite)(name, path)
        return path

    return get


def rel_err(ref: np.ndarray, got: np.ndarray) -> float:
    ref = np.asarray(ref, np.float64)
    return float(np.max(np.abs(ref - np.asarray(got, np.float64))) / max(np.max(np.abs(ref)), 1e-30))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="session")
def moe_tiny(tmp_path_factory) -> dict:
    """name -> MoE artifact path (bundle beside it), tiny random models: int8 / int4 / f32,
    pre-attention router, gated shared expert."""
    from edge_sdk.moe.export import export_dir
    from models.moe_lm import build

    d = tmp_path_factory.mktemp("moe")
    out = {}
    for name, kw, q in [("plain", {}, "int8"), ("pre", {"pre_router": True}, "int8"),
                        ("shared", {"d_ff_shared": 32, "shared_gate": True}, "f32"), ("q4", {}, "int4"),
                        ("f32", {}, "f32")]:
        src = build(d / f"{name}_hf", seed=3, **kw)
        export_dir(src, d / f"{name}.esmoe", quantize=q)
        out[name] = d / f"{name}.esmoe"
    return out


@pytest.fixture(scope="session")
def moe_uring(moe_tiny):
    """None where io_uring works here, else why not (seccomp, kernel.io_uring_disabled, ...)."""
    from edge_sdk import Generator
    from edge_sdk.errors import EdgeSdkError

    try:
        Generator(moe_tiny["plain"], expert_cache_mb=1.0, io="io_uring").close()
        return None
    except EdgeSdkError as e:
        return str(e)
