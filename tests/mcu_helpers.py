"""Shared by the MCU tests: tool checks, firmware builds and zoo artifacts, each made once."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

MCU_TARGETS = ["cortex-m4", "cortex-m7", "cortex-m55"]
NEEDED = ["qemu-system-arm", "arm-none-eabi-gcc", "cmake"]


def require_tools() -> None:
    missing = [t for t in NEEDED if shutil.which(t) is None]
    if missing:
        pytest.skip(f"MCU tests need {', '.join(missing)} "
                    "(apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm cmake)")


_firmware: dict[str, Path] = {}
_artifacts: dict[tuple, Path] = {}


def firmware(target: str) -> Path:
    """The target's firmware ELF, built into build/<target> (incremental)."""
    from edge_sdk.build import mcu
    from edge_sdk.compile.target import load_target

    if target not in _firmware:
        _firmware[target] = mcu.build_firmware(load_target(target), mcu.ROOT / "build" / target)
    return _firmware[target]


def artifact(tmp_dir: Path, model: str, quantize: str = "none", sparsity: float = 0.0,
             target: str = "host") -> Path:
    """Zoo model exported as .esm (made once per test session)."""
    from edge_sdk.export import export
    from models import zoo

    key = (model, quantize, sparsity, target)
    if key not in _artifacts:
        onnx = tmp_dir / f"{model}.onnx"
        if not onnx.exists():
            zoo.build_onnx(model, onnx)
        calib = [{zoo.ZOO[model].input_name: zoo.sample_input(model, seed=100 + i)} for i in range(4)]
        art = export(onnx, quantize=quantize, sparsity=sparsity, target=target,
                     calibration=calib if quantize == "int8" or sparsity else None, validate=False)
        path = tmp_dir / f"{model}-{quantize}-{sparsity}-{target}.esm"
        art.save(path)
        _artifacts[key] = path
    return _artifacts[key]
