"""Shared helpers for the aarch64 emulated-target tests (no tests here; imported by test_target_aarch64*.py)."""
from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.build import linux
from edge_sdk.compile.target import load_target

TARGETS = ["rpi4", "rpi5", "android-arm64"]  # every aarch64 target with an emulated stand-in
# the kernel set each emulated CPU must get from cpu.c's HWCAP check
EXPECTED_ISA = {"rpi4": "neon", "rpi5": "neon-dotprod", "android-arm64": "neon-dotprod"}


def skip_reason() -> str | None:
    miss = linux.missing_tools(load_target("rpi4"))
    return f"aarch64 targets need {', '.join(miss)} (apt-get install gcc-aarch64-linux-gnu qemu-user cmake)" if miss else None


needs_aarch64 = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


def fp32_close(ref: np.ndarray, got: np.ndarray, rtol: float = 1e-5) -> None:
    """fp32 agreement with the host: |got - ref| <= rtol * (|ref| + max|ref|).

    Relative to each element and to the output's scale: a NEON kernel sums in a different order
    than the host's AVX-512 one, so an element that cancels to ~0 carries an absolute error of
    the size of its summands, which a purely element-wise relative test would misread."""
    ref = np.asarray(ref, np.float64)
    got = np.asarray(got, np.float64)
    assert ref.shape == got.shape
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    err = np.abs(got - ref)
    bound = rtol * (np.abs(ref) + scale) + 1e-30
    worst = float(np.max(err / bound)) if ref.size else 0.0
    assert worst <= 1.0, f"fp32 mismatch: max |err| = {float(np.max(err)):.3g}, output scale {scale:.3g}"


def int8_exact(ref: np.ndarray, got: np.ndarray) -> None:
    assert ref.dtype == got.dtype and ref.shape == got.shape
    bad = int(np.count_nonzero(ref != got))
    assert bad == 0, f"{bad} of {ref.size} values differ from the host"
