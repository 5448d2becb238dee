"""Model zoo: seeded PyTorch networks exported to ONNX and TFLite.

Every model is built from its seed on demand (a few seconds at most), so no
model file is kept in the repository.  ONNX and TFLite variants come from the
same torch weights; TFLite tensors are NHWC, ONNX ones NCHW.

CLI::

    python -m models.zoo build NAME --format onnx|tflite|int8|fp16|sparse -o PATH
    python -m models.zoo build-all -o DIR
"""
from __future__ import annotations

import argparse
import copy
import functools
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from . import tflite_export as tx
from .autoencoder import autoencoder
from .ds_cnn import ds_cnn
from .layers import init_deterministic
from .mobilenet_v1 import mobilenet_v1
from .mobilenet_v2 import mobilenet_v2
from .mobilenet_v2_035 import mobilenet_v2_035
from .resnet8 import resnet8


@dataclass(frozen=True)
class ZooEntry:
    name: str
    factory: Callable[[], nn.Module]
    input_shape: tuple[int, ...]  # torch / ONNX layout (NCHW or [N, F])
    seed: int
    description: str
    input_name: str = "input"
    output_name: str = "output"

    @property
    def tflite_input_shape(self) -> tuple[int, ...]:
        return tuple(tx.nhwc_shape(self.input_shape))


ZOO: dict[str, ZooEntry] = {
    e.name: e for e in [
        ZooEntry("mobilenet_v1", mobilenet_v1, (1, 3, 224, 224), 101,
                 "MobileNetV1 1.0/224, ReLU6, 1000 classes (logits)"),
        ZooEntry("mobilenet_v2", mobilenet_v2, (1, 3, 224, 224), 102,
                 "MobileNetV2 1.0/224, 1000 classes (logits)"),
        ZooEntry("ds_cnn", ds_cnn, (1, 1, 49, 10), 103,
                 "MLPerf Tiny kws01 DS-CNN, 12 classes (logits)"),
        ZooEntry("resnet8", resnet8, (1, 3, 32, 32), 104,
                 "MLPerf Tiny ic01 ResNet-8, 10 classes (logits)"),
        ZooEntry("autoencoder", autoencoder, (1, 640), 105,
                 "MLPerf Tiny ad01 FC autoencoder 640-128x4-8-128x4-640"),
        ZooEntry("mobilenet_v2_035_128", mobilenet_v2_035, (1, 3, 128, 128), 106,
                 "MobileNetV2-w0.35 at 128x128, 10 classes (logits); the tiny-training benchmark model"),
        ZooEntry("mobilenet_v1_025_96", functools.partial(mobilenet_v1, num_classes=2, width=0.25),
                 (1, 3, 96, 96), 106, "MobileNetV1 0.25/96, 2 classes: MLPerf Tiny vww01 (logits)"),
    ]
}


def _entry(name: str) -> ZooEntry:
    try:
        return ZOO[name]
    except KeyError:
        raise KeyError(f"unknown zoo model {name!r}; choose from {sorted(ZOO)}") from None


@functools.lru_cache(maxsize=None)
def _built(name: str) -> nn.Module:
    e = _entry(name)
    torch.manual_seed(e.seed)
    return init_deterministic(e.factory(), e.input_shape, e.seed).eval()


def get_model(name: str) -> nn.Module:
    """A fresh copy of the seeded, eval-mode torch model."""
    return copy.deepcopy(_built(name))


def pruned_model(name: str, sparsity: float = 0.8) -> nn.Module:
    """The model with FC and 1x1-conv weights magnitude-pruned (the dense
    reference of :func:`zoo_sparse_tflite`)."""
    return tx.prune(get_model(name), sparsity)


def sample_input(name: str, seed: int = 0, batch: int = 1) -> np.ndarray:
    """Deterministic standard-normal input in torch/ONNX layout."""
    shape = (batch, *_entry(name).input_shape[1:])
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def torch_output(name: str, x: np.ndarray, model: nn.Module | None = None) -> np.ndarray:
    model = model if model is not None else _built(name)
    with torch.no_grad():
        return model(torch.from_numpy(np.asarray(x, np.float32))).numpy()


def build_onnx(name: str, path, opset: int = 17, model: nn.Module | None = None) -> Path:
    """Export to ONNX with static shapes, keeping Conv/BatchNormalization/Gemm
    nodes (BN is not folded, so importers must fold it themselves)."""
    import onnx

    e = _entry(name)
    model = model if model is not None else _built(name)
    path = Path(path)
    x = torch.from_numpy(sample_input(name))
    # The TorchScript exporter (dynamo=False) is used on purpose: with constant
    # folding off it keeps BatchNormalization nodes instead of fusing them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (x,), str(path), input_names=[e.input_name], output_names=[e.output_name],
                          opset_version=opset, dynamo=False, do_constant_folding=False)
    m = _clean_onnx(onnx.load(str(path)))
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def _clean_onnx(m):
    """Turn Constant nodes into initializers and drop the Identity nodes the
    exporter leaves in front of parameters, so the graph holds only compute ops."""
    from onnx import numpy_helper

    g = m.graph
    rename: dict[str, str] = {}
    keep = []
    outputs = {o.name for o in g.output}
    for node in g.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            arr = numpy_helper.to_array(node.attribute[0].t)
            g.initializer.append(numpy_helper.from_array(arr, node.output[0]))
        elif node.op_type == "Identity" and node.output[0] not in outputs:
            rename[node.output[0]] = rename.get(node.input[0], node.input[0])
        else:
            keep.append(node)
    for node in keep:
        for i, n in enumerate(node.input):
            if n in rename:
                node.input[i] = rename[n]
    del g.node[:]
    g.node.extend(keep)
    return m


def _write(path, data: bytes) -> Path:
    path = Path(path)
    path.write_bytes(data)
    return path


def build_tflite(name: str, path, model: nn.Module | None = None) -> Path:
    """Float32 TFLite (NHWC) from the same weights as :func:`build_onnx`."""
    model = model if model is not None else _built(name)
    return _write(path, tx.convert(model, _entry(name).input_shape, "float")[0])


def zoo_int8_tflite(name: str, path, calibration_inputs: np.ndarray | None = None,
                    io: str = "int8") -> Path:
    """Full-integer TFLite quantized here with min/max calibration.

    ``calibration_inputs`` is a batch in torch layout (NCHW / [N, F]); by
    default 8 seeded standard-normal samples.  Weights are per-channel
    symmetric int8, biases int32, activations asymmetric int8.  ``io="int8"``
    gives int8 model input/output; ``io="float"`` adds QUANTIZE/DEQUANTIZE.
    """
    e = _entry(name)
    if calibration_inputs is None:
        calibration_inputs = sample_input(name, seed=1000, batch=8)
    calibration_inputs = np.asarray(calibration_inputs, np.float32)
    if calibration_inputs.shape[1:] != tuple(e.input_shape[1:]):
        raise ValueError(f"calibration inputs must be [N, {', '.join(map(str, e.input_shape[1:]))}]")
    model = _built(name)
    ranges = tx.calibrate(model, e.input_shape, calibration_inputs)
    return _write(path, tx.convert(model, e.input_shape, "int8", ranges=ranges, io=io)[0])


def zoo_fp16_tflite(name: str, path) -> Path:
    """Float16 weights and biases, each followed by DEQUANTIZE to float32."""
    return _write(path, tx.convert(_built(name), _entry(name).input_shape, "fp16")[0])


def zoo_sparse_tflite(name: str, path, sparsity: float = 0.8, block_shape=None) -> Path:
    """FC and 1x1-conv weights pruned to ``sparsity`` and stored sparse
    (SparsityParameters, CSR; ``block_shape`` for FC block sparsity) + DENSIFY.
    Matches :func:`pruned_model` exactly."""
    model = pruned_model(name, sparsity)
    return _write(path, tx.convert(model, _entry(name).input_shape, "sparse", block_shape=block_shape)[0])


FORMATS = {
    "onnx": (build_onnx, ".onnx"),
    "tflite": (build_tflite, ".tflite"),
    "int8": (zoo_int8_tflite, "_int8.tflite"),
    "fp16": (zoo_fp16_tflite, "_fp16.tflite"),
    "sparse": (zoo_sparse_tflite, "_sparse.tflite"),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.zoo", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build one model")
    b.add_argument("name", choices=sorted(ZOO))
    b.add_argument("--format", choices=sorted(FORMATS), default="onnx")
    b.add_argument("-o", "--output", required=True)
    a = sub.add_parser("build-all", help="build every model in ONNX and float TFLite")
    a.add_argument("-o", "--output", required=True)
    a.add_argument("--formats", default="onnx,tflite", help="comma list of " + ",".join(FORMATS))
    sub.add_parser("list", help="list the models")
    args = p.parse_args(argv)
    if args.cmd == "list":
        for e in ZOO.values():
            print(f"{e.name:14s} {str(e.input_shape):18s} {e.description}")
    elif args.cmd == "build":
        print(FORMATS[args.format][0](args.name, args.output))
    else:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        for name in ZOO:
            for fmt in args.formats.split(","):
                fn, suffix = FORMATS[fmt]
                print(fn(name, out / f"{name}{suffix}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
