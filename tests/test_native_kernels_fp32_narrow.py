"""The flat depthwise 3x3 f32 kernel (dwconv3x3-f32-flat-avx512: stride 1, rows under 16 outputs,
OW == W, up to 512 outputs per channel; DS-CNN's 25x5 maps) at every ISA level, against float64
numpy and against the scalar kernel: fixed shapes at its edges (1-wide rows, one pixel, the
512-output limit and one past it, asymmetric and 2-wide pads, OH != H) and seeded random ones,
with batch 2 and the channels split over two threads. Correctness only."""
from __future__ import annotations

import numpy as np
import pytest

native_harness = pytest.importorskip("native_harness")
from native_harness import Graph, ISAS, lib  # noqa: E402

if lib is None:
    pytest.skip("native runtime not built", allow_module_level=True)

from test_native_kernels import check_conv_f32, close, conv_ref  # noqa: E402

ISA = list(ISAS)

# C, M, H, W, KH, KW, stride, pads (t, l, b, r), dil, group
DW = [
    (64, 64, 25, 5, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 64),    # DS-CNN: 125 px, 8 vectors, last 13 lanes
    (7, 7, 25, 5, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 7),       # odd channel count
    (5, 5, 17, 1, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 5),       # 1-wide rows
    (3, 3, 1, 1, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 3),        # one pixel
    (4, 4, 34, 15, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 4),      # 510 px: 32 vectors (4 steps of 8)
    (4, 4, 35, 15, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 4),      # 525 px > 512: padded-plane kernel
    (3, 3, 12, 9, 3, 3, (1, 1), (2, 0, 0, 2), (1, 1), 3),       # pads 2 on one side, 0 on the other
    (3, 3, 6, 5, 3, 3, (1, 1), (2, 1, 2, 1), (1, 1), 3),        # OH 8 > H 6: rows past the input
    (3, 3, 9, 7, 3, 3, (1, 1), (0, 1, 0, 1), (1, 1), 3),        # OH 7 < H 9, no vertical pads
    (6, 6, 11, 3, 3, 3, (1, 1), (1, 2, 1, 0), (1, 1), 6),       # 33 px, left pad 2
]


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("case", range(len(DW)))
@pytest.mark.parametrize("threads", [1, 2])
def test_dw_flat(isa, case, threads):
    check_conv_f32(DW[case], 700 + case, isa, threads)  # batch 1 + case % 2


def _run(case, x, w, b, isa, threads):
    C, M, H, W, KH, KW, stride, pads, dil, group = case
    ref = conv_ref(x, w, b, stride, pads, dil, group)
    g = Graph()
    xi, wi, bi = g.input("x", x), g.const("w", w), g.const("b", b)
    yi = g.output("y", "float32", ref.shape)
    g.op("CONV2D", [xi, wi, bi], [yi], stride_h=1, stride_w=1, pad_t=pads[0], pad_l=pads[1], pad_b=pads[2],
         pad_r=pads[3], dil_h=1, dil_w=1, group=group, act=1)  # ReLU
    return np.maximum(ref, 0.0), g.run(isa, threads)[0]


@pytest.mark.parametrize("seed", range(12))
def test_dw_flat_random_vs_scalar(seed):
    """Random narrow maps (W 1..15, pads 0..2 with OW == W, channels 1..19, batch 1..2) at the best
    ISA level against the scalar kernel and float64 numpy."""
    rng = np.random.default_rng(9000 + seed)
    W = int(rng.integers(1, 16))
    pl = int(rng.integers(0, 3))
    pt, pb = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    H = int(rng.integers(max(1, 3 - pt - pb), 512 // W + 3))
    while (H + pt + pb - 2) * W > 512 or H + pt + pb - 2 < 1:
        H -= 1 if (H + pt + pb - 2) * W > 512 else -1
    C = int(rng.integers(1, 20))
    case = (C, C, H, W, 3, 3, (1, 1), (pt, pl, pb, 2 - pl), (1, 1), C)
    x = rng.standard_normal((int(rng.integers(1, 3)), C, H, W)).astype(np.float32)
    w = rng.standard_normal((C, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    ref, best = _run(case, x, w, b, "best", 1 + seed % 2)
    _, scalar = _run(case, x, w, b, "scalar", 1)
    close(ref, best)
    close(scalar, best)
