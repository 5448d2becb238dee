"""Microbenchmark of the MoE expert matvec kernels (native/src/moe/xmatvec-*.c): scalar
reference against AVX2, interleaved in one process, median of several windows, on the shapes
of the benchmark model's experts (d_model 256, d_ff 8192: gate/up 8192x256, down 256x8192).
Each pair is checked bit for bit first.

    python bench/moe_xmatvec.py [--windows 7]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edge_sdk.runtime._esdk import ffi, lib  # noqa: E402

NAMES = {0: "f32", 1: "int8", 2: "int4"}


def call(quant, isa, w, rb, sc, x, y, rows, cols):
    return lib.esdk_moe_expert_matvec(quant, isa, ffi.from_buffer(w), rb, ffi.cast("float *", ffi.from_buffer(sc)),
                                      ffi.cast("float *", ffi.from_buffer(x)), ffi.cast("float *", ffi.from_buffer(y)),
                                      rows, cols)


def window(quant, isa, args, seconds=0.2):
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        call(quant, isa, *args)
        n += 1
    return (time.perf_counter() - t0) / n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--windows", type=int, default=7)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    for quant, rows, cols in [(1, 8192, 256), (1, 256, 8192), (2, 8192, 256), (0, 2048, 256)]:
        rb = cols * 4 if quant == 0 else cols if quant == 1 else cols // 2
        w = rng.standard_normal(rows * cols).astype(np.float32).view(np.uint8) if quant == 0 else \
            rng.integers(0, 256, rows * rb, dtype=np.uint8)
        sc = rng.random(rows).astype(np.float32)
        x = rng.standard_normal(cols).astype(np.float32)
        ys, ya = np.zeros(rows, np.float32), np.zeros(rows, np.float32)
        call(quant, 0, w, rb, sc, x, ys, rows, cols)
        if call(quant, 1, w, rb, sc, x, ya, rows, cols) != 0:
            print("no AVX2 on this CPU: nothing to compare")
            return 0
        same = np.array_equal(ys.view(np.uint32), ya.view(np.uint32))
        t = {0: [], 1: []}
        for _ in range(a.windows):
            for isa in (0, 1):
                t[isa].append(window(quant, isa, (w, rb, sc, x, ys, rows, cols)))
        m = {isa: statistics.median(v) for isa, v in t.items()}
        mb = rows * rb / 1e9
        print(f"{NAMES[quant]:4s} {rows}x{cols} ({rows * rb / 2**20:.1f} MiB): scalar {m[0] * 1e3:.2f} ms "
              f"({mb / m[0]:.2f} GB/s), avx2 {m[1] * 1e3:.2f} ms ({mb / m[1]:.2f} GB/s), {m[0] / m[1]:.1f}x, "
              f"bit-exact {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
