"""Shared by tests/test_hil*.py: two tiny artifacts (a dense and an 80%-sparse MLP) and lab files."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_artifacts(d: Path) -> tuple[Path, Path]:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edge_sdk.export import export

    out = []
    for name, sp in (("tiny_dense", 0.0), ("tiny_sparse", 0.8)):
        esm = d / f"{name}.esm"
        if not esm.exists():
            rng = np.random.default_rng(0)
            W = (rng.standard_normal((16, 32)) * 0.2).astype(np.float32)
            b = (rng.standard_normal(16) * 0.1).astype(np.float32)
            W2 = (rng.standard_normal((4, 16)) * 0.2).astype(np.float32)
            g = helper.make_graph(
                [helper.make_node("Gemm", ["x", "W", "b"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["r"]),
                 helper.make_node("Gemm", ["r", "W2"], ["y"], transB=1)], "tiny",
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                [numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b"), numpy_helper.from_array(W2, "W2")])
            m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
            m.ir_version = 8
            onnx.save(m, d / f"{name}.onnx")
            export(d / f"{name}.onnx", sparsity=sp).save(esm)
        out.append(esm)
    return out[0], out[1]


def write_lab(path: Path, *devices: str) -> Path:
    path.write_text("\n".join(devices))
    return path


def local_host(name="host-local", extra="") -> str:
    return f'[[device]]\nname = "{name}"\ntarget = "host"\ntransport = "local"\ncooldown_s = 0\n{extra}\n'


def fake_serial(url: str, name="fake-m4", extra="") -> str:
    return (f'[[device]]\nname = "{name}"\ntarget = "cortex-m4"\ntransport = "serial"\nport = "{url}"\n'
            f'timeout_s = 0.5\ninfer_timeout_s = 1\n{extra}\n')
