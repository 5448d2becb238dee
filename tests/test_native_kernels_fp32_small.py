"""fp32 x86 kernels added for small maps and short reductions, at every ISA level against
float64 numpy: the padded-plane depthwise 3x3 (stride 1/2, any pads, OW <= 64), the patch
GEMM for convolutions with C*KH*KW <= 64 (row tiles with plain / stride-2 loads / gathers,
and flattened tiles for rows narrower than 32), the 1x1-block SpMM with up-to-128-pixel
tiles (P across tile counts and remainders, density 0 / 100%, empty rows), and the
vectorised BINARY f32 (same shape, per-channel / scalar / two-sided broadcast, every kind,
activation clamp). Correctness only."""
from __future__ import annotations

import numpy as np
import pytest

native_harness = pytest.importorskip("native_harness")
from native_harness import Graph, ISAS, lib  # noqa: E402

if lib is None:
    pytest.skip("native runtime not built", allow_module_level=True)

from test_native_kernels import check_conv_f32, close, conv_ref, make_bcsr  # noqa: E402

ISA = list(ISAS)

CONV = [
    # C, M, H, W, KH, KW, stride, pads (t, l, b, r), dil, group
    (7, 7, 14, 14, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 7),      # dw plane 14x14
    (9, 9, 7, 7, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 9),        # dw plane 7x7
    (6, 6, 28, 28, 3, 3, (2, 2), (0, 0, 1, 1), (1, 1), 6),      # dw plane s2, TF pads
    (5, 5, 15, 13, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 5),      # dw plane s2, odd H/W
    (4, 4, 56, 56, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 4),      # dw plane s2, 4 phase planes
    (3, 3, 60, 61, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 3),      # dw plane, OW 61
    (4, 4, 10, 12, 3, 3, (1, 1), (0, 0, 0, 0), (1, 1), 4),      # dw plane, no padding
    (3, 3, 9, 11, 3, 3, (1, 1), (2, 1, 0, 2), (1, 1), 3),       # dw plane, asymmetric pads
    (2, 2, 1, 1, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 2),        # dw plane, 1x1 map
    (2, 2, 112, 112, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 2),    # dw plane at its size limit
    (2, 2, 120, 113, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 2),    # OW 113 > 112: row kernel
    (3, 3, 225, 223, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 3),    # s2, OW 112, planes too big: row kernel
    (3, 16, 40, 70, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),     # patch, row tiles, stride 2 (35 wide)
    (3, 13, 20, 50, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),     # patch, stride 1, M = 8 + 4 + 1
    (2, 8, 30, 100, 3, 3, (3, 3), (1, 1, 1, 1), (1, 1), 1),     # patch, stride 3 (gathers), 33 wide
    (3, 12, 33, 80, 5, 5, (2, 2), (2, 2, 2, 2), (1, 1), 1),     # patch, 5x5/s2, KK 75 > 64: declined
    (2, 8, 40, 90, 3, 3, (2, 2), (2, 2, 2, 2), (2, 2), 1),      # patch, dilation with stride 2
    (1, 64, 49, 10, 10, 4, (2, 2), (4, 1, 5, 2), (1, 1), 1),    # DS-CNN first conv: flattened tiles
    (4, 9, 11, 7, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),       # flattened, 77 px, M 9
    (3, 32, 224, 64, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),    # first layer (cut to 64 wide)
    (5, 5, 9, 9, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 5),        # dw rows: OW 9, the narrowest
    (3, 3, 12, 40, 3, 3, (1, 1), (2, 2, 0, 0), (1, 1), 3),      # dw rows: pads 2, OW 40 (3 of 4 vectors)
    (2, 2, 6, 100, 3, 3, (1, 1), (0, 1, 2, 1), (1, 1), 2),      # dw rows: OW 100 (7 vectors, last masked)
    (6, 6, 13, 30, 3, 3, (1, 1), (1, 0, 1, 0), (1, 1), 6),      # dw rows: OW 28, odd row count, no left pad
    (4, 4, 5, 17, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 4),       # dw rows: OW 17 (2 vectors, 1 lane)
    (2, 2, 112, 112, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 2),    # dw rows s2: OW 56 (4 vectors)
    (2, 2, 9, 11, 3, 3, (2, 2), (2, 2, 0, 0), (1, 1), 2),       # dw rows s2: pads 2, OW 6
    (3, 3, 20, 100, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 3),     # dw rows s2: OW 50 (3 of 4 vectors)
    (2, 2, 10, 140, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 2),     # s2, OW 70 > 64: plane kernel
    (4, 4, 7, 9, 3, 3, (2, 2), (0, 0, 0, 0), (1, 1), 4),        # s2, OW 4 < 5: plane kernel
    (3, 32, 224, 224, 3, 3, (2, 2), (0, 0, 1, 1), (1, 1), 1),   # phase rows: MobileNet stem, 112 = 3x32 + 16
    (2, 12, 30, 225, 5, 5, (2, 2), (2, 2, 2, 2), (1, 1), 1),    # phase rows: OW 113, taps left of the pad
    (3, 9, 17, 40, 3, 3, (1, 1), (1, 1, 1, 1), (2, 2), 1),      # phase rows: stride 1, dilation 2, OW 36
    (1, 8, 12, 130, 3, 3, (1, 1), (0, 0, 0, 0), (1, 1), 1),     # phase rows: OW 128, the width limit
    (1, 8, 9, 131, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),      # OW 131 > 128: row tiles
    (2, 11, 13, 37, 3, 3, (2, 2), (1, 0, 1, 2), (1, 1), 1),     # phase rows: stride 2, asymmetric pads, OW 19
]


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("case", range(len(CONV)))
@pytest.mark.parametrize("threads", [1, 2])
def test_conv_small(isa, case, threads):
    check_conv_f32(CONV[case], 300 + case, isa, threads)  # batch 1 + case % 2


# P: 1, 15, 16, 17, 127, 128, 129, 196 / 176 / 208 (one tile of up to 13 vectors), 209 / 257 (3 tiles), 784
SPMM_P = [(1, 1), (3, 5), (4, 4), (1, 17), (1, 127), (8, 16), (3, 43), (14, 14), (11, 16), (13, 16), (1, 209),
          (1, 257), (28, 28)]


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("hw", SPMM_P)
@pytest.mark.parametrize("dens", [0.0, 0.1, 0.5, 1.0])
def test_spmm_unstructured_tiles(isa, hw, dens):
    H, W = hw
    K, M = 37, 11
    rng = np.random.default_rng(H * 13 + W + int(dens * 10))
    dense = make_bcsr(rng, M, K, 1, 1, dens, np.float32)[3]
    dense[3] = 0  # an empty row whatever the density
    rp2 = np.concatenate([[0], np.cumsum([np.count_nonzero(r) for r in dense])]).astype(np.uint32)
    ci2 = np.concatenate([np.nonzero(r)[0] for r in dense] + [np.zeros(0, np.int64)]).astype(np.uint32)
    vals2 = np.concatenate([r[r != 0] for r in dense] + [np.zeros(0, np.float32)]).astype(np.float32)
    if vals2.size == 0:
        ci2, vals2 = np.zeros(1, np.uint32), np.zeros(1, np.float32)
    x = rng.standard_normal((2, K, H, W)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    ref = np.einsum("mk,nkhw->nmhw", dense.astype(np.float64), x.astype(np.float64)) + b.reshape(1, -1, 1, 1)
    ref = np.clip(ref, -1.0, 1.5)
    for threads in (1, 2):
        g = Graph()
        xi = g.input("x", x)
        ins = [xi, g.const("v", vals2.reshape(-1, 1, 1)), g.const("rp", rp2), g.const("ci", ci2), g.const("b", b)]
        yi = g.output("y", "float32", ref.shape)
        g.op("SPARSE_CONV1X1", ins, [yi], block_r=1, block_c=1, rows=M, cols=K, act=2, act_min=-1.0, act_max=1.5)
        close(ref, g.run(isa, threads)[0])


def _unstructured_op(dense, x, b, threads, isa, lo=-1.0, hi=1.5):
    """SPARSE_CONV1X1 with 1x1 blocks built from the dense matrix; returns edge-sdk's output."""
    M, K = dense.shape
    rp = np.concatenate([[0], np.cumsum([np.count_nonzero(r) for r in dense])]).astype(np.uint32)
    ci = np.concatenate([np.nonzero(r)[0] for r in dense] + [np.zeros(0, np.int64)]).astype(np.uint32)
    vals = np.concatenate([r[r != 0] for r in dense] + [np.zeros(0, np.float32)]).astype(np.float32)
    if vals.size == 0:
        ci, vals = np.zeros(1, np.uint32), np.zeros(1, np.float32)
    g = Graph()
    xi = g.input("x", x)
    ins = [xi, g.const("v", vals.reshape(-1, 1, 1)), g.const("rp", rp), g.const("ci", ci), g.const("b", b)]
    yi = g.output("y", "float32", (x.shape[0], M) + x.shape[2:])
    g.op("SPARSE_CONV1X1", ins, [yi], block_r=1, block_c=1, rows=M, cols=K, act=2, act_min=lo, act_max=hi)
    return g.run(isa, threads)[0]


# K-chunked path (>= 512 pixels, >= 25% nonzeros, K above one chunk): P 512 / 529 / 667 / 789,
# K 33 (one column past a chunk), 101 (three chunks and a remainder), rows empty, rows with
# nonzeros in the first or the last chunk only, density 0 / 30% / 100%.
@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("hw", [(16, 32), (23, 23), (23, 29), (3, 263)])
@pytest.mark.parametrize("K", [33, 101])
@pytest.mark.parametrize("dens", [0.0, 0.3, 1.0])
def test_spmm_unstructured_k_chunks(isa, hw, K, dens):
    M = 13
    rng = np.random.default_rng(hw[0] * 7 + hw[1] + K + int(dens * 10))
    dense = np.where(rng.random((M, K)) < dens, rng.standard_normal((M, K)), 0.0).astype(np.float32)
    dense[2] = 0  # empty row
    if dens > 0:
        dense[5] = 0
        dense[5, :3] = 1.5  # first chunk only
        dense[8] = 0
        dense[8, -2:] = -0.5  # last chunk only
    x = rng.standard_normal((1, K) + hw).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    ref = np.einsum("mk,nkhw->nmhw", dense.astype(np.float64), x.astype(np.float64)) + b.reshape(1, -1, 1, 1)
    ref = np.clip(ref, -1.0, 1.5)
    for threads in (1, 2):
        close(ref, _unstructured_op(dense, x, b, threads, isa))


BCAST = [
    ((2, 5, 7, 9), (2, 5, 7, 9)),      # same shape: one flat loop
    ((1, 16, 6, 5), (1, 16, 1, 1)),    # per-channel (squeeze-excite scale)
    ((1, 16, 1, 1), (1, 16, 6, 5)),    # per-channel on the left
    ((3, 4, 17), (1,)),                # scalar
    ((3, 1, 17), (1, 5, 1)),           # two-sided broadcast
    ((2, 3, 4, 33), (4, 1)),           # inner dim broadcast (stride 0 inner)
    ((1, 1, 1, 1), (1, 1, 1, 1)),      # one element
]


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("shapes", range(len(BCAST)))
@pytest.mark.parametrize("act", [0, 1])
def test_binary_f32_vector(isa, kind, shapes, act):
    sa, sb = BCAST[shapes]
    rng = np.random.default_rng(kind * 10 + shapes)
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    if kind == 3:
        b = np.where(np.abs(b) < 0.1, 0.5, b).astype(np.float32)
    if kind == 4:
        a = np.abs(a).astype(np.float32) + 0.1
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    ref = [lambda: fa + fb, lambda: fa - fb, lambda: fa * fb, lambda: fa / fb, lambda: np.power(fa, fb),
           lambda: np.maximum(fa, fb), lambda: np.minimum(fa, fb), lambda: np.where(fa < 0, fa * fb, fa)][kind]()
    ref = np.broadcast_to(ref, np.broadcast_shapes(sa, sb))
    if act:
        ref = np.maximum(ref, 0)
    g = Graph()
    ai, bi = g.input("a", a), g.const("b", b)
    yi = g.output("y", "float32", ref.shape)
    g.op("BINARY", [ai, bi], [yi], kind=kind, act=act)
    close(ref, g.run(isa)[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("K,M,H,W", [(16, 7, 7, 7), (64, 13, 7, 7), (32, 5, 1, 17), (48, 11, 3, 11), (16, 6, 5, 13),
                                     (32, 4, 1, 65), (20, 9, 7, 7), (16, 3, 1, 81)])
@pytest.mark.parametrize("threads", [1, 2])
def test_conv1x1_odd_pixel(isa, K, M, H, W, threads):
    """1x1 GEMM on 16*V + 1 pixels (V = 1..4; K % 16 != 0 and V > 4 fall back to the 4x64 tile)."""
    rng = np.random.default_rng(K * 7 + M + H * W)
    x = rng.standard_normal((2, K, H, W)).astype(np.float32)
    w = rng.standard_normal((M, K, 1, 1)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    ref = np.clip(conv_ref(x, w, b, (1, 1), (0, 0, 0, 0), (1, 1), 1), -1.0, 3.0)
    g = Graph()
    xi, wi, bi = g.input("x", x), g.const("w", w), g.const("b", b)
    yi = g.output("y", "float32", ref.shape)
    g.op("CONV2D", [xi, wi, bi], [yi], stride_h=1, stride_w=1, pad_t=0, pad_l=0, pad_b=0, pad_r=0, dil_h=1,
         dil_w=1, group=1, act=2, act_min=-1.0, act_max=3.0)
    close(ref, g.run(isa, threads)[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (2, 5, 7, 7), (1, 16, 4, 4), (1, 9, 6, 37), (1, 2, 56, 56)])
def test_global_avgpool_f32_vector(isa, shape):
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) + 3.0).astype(np.float32)
    ref = x.astype(np.float64).mean(axis=(2, 3), keepdims=True)
    g = Graph()
    xi = g.input("x", x)
    yi = g.output("y", "float32", ref.shape)
    g.op("GLOBAL_AVGPOOL", [xi], [yi])
    close(ref, g.run(isa)[0])
