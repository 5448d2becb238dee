"""MoE expert matvec kernels (native/src/moe/xmatvec*.c): the scalar kernel against a numpy
reference of the documented accumulation order, and every SIMD variant bit for bit against
the scalar kernel, over odd shapes; then a whole model decoded with each kernel. The NEON
kernels are checked under qemu-aarch64 (test_moe_aarch64.py); here, that hosts without them
refuse them clearly."""
from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_sdk.runtime._esdk import ffi, lib  # noqa: E402

SHAPES = [(1, 2), (3, 8), (4, 14), (5, 16), (7, 30), (9, 64), (12, 130), (33, 256)]


def _pack(quant, q):
    """rows of weights as stored in an expert record (docs/moe.md) and their float values"""
    if quant == 0:
        return q.astype(np.float32).view(np.uint8), q.astype(np.float32)
    if quant == 1:
        return q.astype(np.int8).view(np.uint8), q.astype(np.float32)
    nib = (q + 8).astype(np.uint8)
    return (nib[:, 0::2] | (nib[:, 1::2] << 4)).astype(np.uint8), q.astype(np.float32)


def reference(quant, w, sc, x):
    """y = sc * dot: 8 lane sums (element i into lane i % 8, product rounded then added),
    lanes ((0+1)+(2+3))+((4+5)+(6+7)), then the tail in order (int4: pairs summed first)"""
    rows, cols = w.shape
    p = w * x[None, :]
    c8 = cols // 8 * 8
    s = np.zeros((rows, 8), np.float32)
    for b in range(0, c8, 8):
        s = s + p[:, b:b + 8]
    t = ((s[:, 0] + s[:, 1]) + (s[:, 2] + s[:, 3])) + ((s[:, 4] + s[:, 5]) + (s[:, 6] + s[:, 7]))
    if quant == 2:
        for i in range(c8, cols, 2):
            t = t + (p[:, i] + p[:, i + 1])
    else:
        for i in range(c8, cols):
            t = t + p[:, i]
    return sc * t


def native(quant, isa, packed, sc, x, rows, cols):
    y = np.full(rows, np.nan, np.float32)
    rb = packed.shape[1] + 3  # rows need not be contiguous: an odd stride
    buf = np.zeros((rows, rb), np.uint8)
    buf[:, :packed.shape[1]] = packed
    st = lib.esdk_moe_expert_matvec(quant, isa, ffi.from_buffer(buf), rb, ffi.cast("float *", ffi.from_buffer(sc)),
                                    ffi.cast("float *", ffi.from_buffer(x)), ffi.cast("float *", ffi.from_buffer(y)),
                                    rows, cols)
    return st, y


def _case(quant, rows, cols, seed):
    rng = np.random.default_rng(seed)
    if quant == 0:
        q = rng.standard_normal((rows, cols)).astype(np.float32)
    elif quant == 1:
        q = rng.integers(-127, 128, (rows, cols))
    else:
        q = rng.integers(-8, 8, (rows, cols))
    packed, w = _pack(quant, q)
    sc = (rng.random(rows) + 0.01).astype(np.float32)
    x = (rng.standard_normal(cols) * 3).astype(np.float32)
    return packed, w, sc, x


def _has_avx2():
    packed, w, sc, x = _case(1, 1, 8, 0)
    return native(1, 1, packed, sc, x, 1, 8)[0] == 0


@pytest.mark.parametrize("quant", [0, 1, 2])
def test_scalar_matches_numpy_reference(quant):
    for i, (rows, cols) in enumerate(SHAPES):
        packed, w, sc, x = _case(quant, rows, cols, i)
        st, y = native(quant, 0, packed, sc, x, rows, cols)
        assert st == 0
        np.testing.assert_array_equal(y.view(np.uint32), reference(quant, w, sc, x).view(np.uint32))


@pytest.mark.skipif(not _has_avx2(), reason="this CPU has no AVX2")
@pytest.mark.parametrize("quant", [0, 1, 2])
def test_avx2_bit_exact_with_scalar(quant):
    for i, (rows, cols) in enumerate(SHAPES + [(8192 // 64, 256), (256, 1024)]):
        packed, w, sc, x = _case(quant, rows, cols, 100 + i)
        st0, y0 = native(quant, 0, packed, sc, x, rows, cols)
        st1, y1 = native(quant, 1, packed, sc, x, rows, cols)
        assert st0 == st1 == 0
        np.testing.assert_array_equal(y1.view(np.uint32), y0.view(np.uint32))


def test_bad_arguments_refused():
    packed, w, sc, x = _case(2, 2, 8, 0)
    assert native(2, 0, packed, sc, x, 2, 7)[0] != 0  # int4 needs an even column count
    assert native(3, 0, packed, sc, x, 2, 8)[0] != 0  # no such quantization
    assert native(1, 5, packed, sc, x, 2, 8)[0] != 0  # no such isa


@pytest.mark.skipif(platform.machine().lower() in ("aarch64", "arm64"), reason="NEON exists on this host")
def test_neon_refused_off_aarch64(tmp_path):
    """isa 2 / kernels="neon" / --kernels neon on a host build without NEON: unsupported, with a
    one-line error, never a silent fallback to another kernel."""
    pytest.importorskip("torch")
    from edge_sdk import Generator
    from edge_sdk.errors import RuntimeFailure
    from edge_sdk.moe.export import export_dir
    from models.moe_lm import build

    packed, w, sc, x = _case(1, 3, 16, 0)
    assert native(1, 2, packed, sc, x, 3, 16)[0] == lib.ESDK_ERR_UNSUPPORTED
    art = tmp_path / "m.esmoe"
    export_dir(build(tmp_path / "hf", seed=2), art, quantize="int8")
    with pytest.raises(RuntimeFailure, match="NEON needs an aarch64 build"):
        Generator(art, mode="resident", kernels="neon")
    r = subprocess.run([sys.executable, "-m", "edge_sdk.cli.main", "generate", str(art), "--prompt", "x",
                        "--max-tokens", "2", "--kernels", "neon"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and r.stderr.strip() == "error: expert kernels: NEON needs an aarch64 build", r.stderr
