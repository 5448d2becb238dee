"""The fast fp32 x86 kernels (direct conv, depthwise 3x3, 1x1 GEMM, block-CSR SpMM) at every
ISA level against float64 numpy, on odd shapes that reach every tile and remainder path:
full 64-pixel tiles, the merged <=16-pixel tail, 1..4-vector depthwise steps, masked borders,
strides 1/2/3, dilation, groups, 0% / 100% density and empty block rows, threads=2. Also the
host-only per-op profiler. Correctness only: speed is bench/'s business."""
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
    (3, 32, 37, 45, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),      # first layer, odd sizes
    (3, 7, 30, 67, 3, 3, (2, 2), (0, 0, 1, 1), (1, 1), 1),       # TF pads, M % 4 != 0
    (1, 9, 49, 10, 10, 4, (2, 2), (4, 1, 5, 2), (1, 1), 1),      # DS-CNN first conv
    (5, 6, 19, 41, 3, 3, (1, 1), (1, 1, 1, 1), (2, 2), 1),       # dilation
    (8, 12, 15, 23, 3, 5, (3, 3), (1, 2, 1, 2), (1, 1), 4),      # stride 3 (gather), groups
    (6, 6, 11, 70, 5, 5, (1, 1), (2, 2, 2, 2), (1, 1), 6),       # depthwise 5x5 (general path)
    (16, 16, 9, 5, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 16),      # narrow depthwise (declined by dw3x3)
    (5, 5, 7, 83, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 5),        # depthwise 3x3: 64 + 17 interior columns
    (5, 5, 9, 131, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 5),       # depthwise 3x3/s2, 4-vector steps
    (4, 4, 6, 48, 3, 3, (2, 2), (0, 0, 1, 1), (1, 1), 4),        # depthwise s2, even W, TF pads
    (3, 3, 17, 14, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 3),       # dw 1-vector rows: 7-row blocks + 3 left
    (3, 3, 8, 16, 3, 3, (1, 1), (0, 0, 0, 0), (1, 1), 3),        # dw 1-vector rows, no pads: OH 6 < 7
    (2, 2, 31, 27, 3, 3, (1, 1), (2, 1, 0, 2), (1, 1), 2),       # dw 2-vector rows: 4-row blocks, OH % 4 = 1
    (3, 3, 23, 13, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 3),       # dw s2 1-vector rows: OH 12 = 7 + 5
    (2, 2, 27, 14, 3, 3, (2, 2), (0, 0, 1, 1), (1, 1), 2),       # dw s2 7-wide rows, TF pads: OH 14
    (2, 2, 21, 55, 3, 3, (2, 2), (2, 2, 0, 0), (1, 1), 2),       # dw s2 2-vector rows: OH 10 = 4 + 4 + 2
    (3, 3, 13, 50, 3, 3, (1, 1), (1, 0, 1, 2), (1, 1), 3),       # dw 4-vector rows: 2-row blocks, OH 13
    (2, 2, 9, 112, 3, 3, (1, 1), (0, 0, 2, 2), (1, 1), 2),       # dw 7 full vectors, no left pad, OH 9
    (4, 8, 5, 20, 17, 1, (1, 1), (8, 0, 8, 0), (1, 1), 1),       # KH 17 (tall kernels are fine)
    (2, 3, 4, 40, 1, 18, (1, 1), (0, 8, 0, 9), (1, 1), 1),       # KW 18 > 16: declined to scalar
]


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("case", range(len(CONV)))
@pytest.mark.parametrize("threads", [1, 2])
def test_conv_direct(isa, case, threads):
    check_conv_f32(CONV[case], 100 + case, isa, threads)  # batch 1 + case % 2


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("K,M,H,W", [(7, 13, 9, 15), (33, 9, 8, 8), (16, 5, 1, 129), (64, 64, 7, 7), (3, 17, 11, 13)])
@pytest.mark.parametrize("threads", [1, 2])
def test_conv1x1_gemm(isa, K, M, H, W, threads):
    rng = np.random.default_rng(K * M + H)
    x = rng.standard_normal((1, K, H, W)).astype(np.float32)
    w = rng.standard_normal((M, K, 1, 1)).astype(np.float32)
    ref = np.maximum(conv_ref(x, w, None, (1, 1), (0, 0, 0, 0), (1, 1), 1), 0)
    g = Graph()
    xi, wi = g.input("x", x), g.const("w", w)
    yi = g.output("y", "float32", ref.shape)
    g.op("CONV2D", [xi, wi, None], [yi], stride_h=1, stride_w=1, pad_t=0, pad_l=0, pad_b=0, pad_r=0, dil_h=1,
         dil_w=1, group=1, act=1, act_min=0.0, act_max=0.0)
    close(ref, g.run(isa, threads)[0])


# P = H*W covers: < 16, exactly 64, 64 + 1..16 (merged tail), 64 + 17 (separate tail), 128 + 3, 32/48 (8x1 tiles)
SPMM_P = [(1, 5), (8, 8), (5, 13), (1, 80), (9, 9), (1, 131), (4, 8), (7, 7), (6, 8)]
BLOCKS = [(1, 1), (2, 1), (4, 1), (8, 1), (1, 4), (2, 2)]


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("hw", SPMM_P)
@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("dens", [0.0, 0.15, 1.0])
def test_spmm_tiles(isa, hw, block, dens):
    H, W = hw
    br, bc = block
    K, M = 8 * bc + 3 * bc, 3 * 8  # K not a multiple of the vector width; M a multiple of every br
    rng = np.random.default_rng(H * 31 + W + br * 7 + bc)
    rp, ci, vals, dense = make_bcsr(rng, M, K, br, bc, dens, np.float32)
    x = rng.standard_normal((2, K, H, W)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    ref = np.einsum("mk,nkhw->nmhw", dense.astype(np.float64), x.astype(np.float64)) + b.reshape(1, -1, 1, 1)
    ref = np.clip(ref, -1.0, 1.5)
    for threads in (1, 2):
        g = Graph()
        xi = g.input("x", x)
        ins = [xi, g.const("v", vals), g.const("rp", rp), g.const("ci", ci), g.const("b", b)]
        yi = g.output("y", "float32", ref.shape)
        g.op("SPARSE_CONV1X1", ins, [yi], block_r=br, block_c=bc, rows=M, cols=K, act=2, act_min=-1.0, act_max=1.5)
        close(ref, g.run(isa, threads)[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("B", [1, 3])
def test_sparse_fc(isa, block, B):
    br, bc = block
    K, M = 40 * bc + bc, 8 * 5
    rng = np.random.default_rng(br * 10 + bc + B)
    rp, ci, vals, dense = make_bcsr(rng, M, K, br, bc, 0.2, np.float32)
    x = rng.standard_normal((B, K)).astype(np.float32)
    ref = x.astype(np.float64) @ dense.astype(np.float64).T
    g = Graph()
    xi = g.input("x", x)
    yi = g.output("y", "float32", ref.shape)
    g.op("SPARSE_FULLY_CONNECTED", [xi, g.const("v", vals), g.const("rp", rp), g.const("ci", ci), None], [yi],
         block_r=br, block_c=bc, rows=M, cols=K)
    close(ref, g.run(isa)[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("K,M,B", [(1, 1, 1), (17, 5, 1), (1024, 13, 2), (33, 64, 3), (1030, 1001, 1)])
def test_fc(isa, K, M, B):
    rng = np.random.default_rng(K + M + B)
    x = rng.standard_normal((B, K)).astype(np.float32)
    w = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    ref = np.maximum(x.astype(np.float64) @ w.T.astype(np.float64) + b, 0)
    g = Graph()
    xi = g.input("x", x)
    yi = g.output("y", "float32", ref.shape)
    g.op("FULLY_CONNECTED", [xi, g.const("w", w), g.const("b", b)], [yi], act=1, act_min=0.0, act_max=0.0)
    close(ref, g.run(isa)[0])


def test_profile_per_op():
    """Session.profile: one row per op, in op order, with opcode names and non-negative times."""
    import edge_sdk

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 16, 16)).astype(np.float32)
    g = Graph()
    xi = g.input("x", x)
    hi = g.act("h", "float32", (1, 8, 8, 8))
    yi = g.output("y", "float32", (1, 8, 8, 8))
    g.op("CONV2D", [xi, g.const("w", rng.standard_normal((8, 3, 3, 3)).astype(np.float32)), None], [hi],
         stride_h=2, stride_w=2, pad_t=1, pad_l=1, pad_b=1, pad_r=1, dil_h=1, dil_w=1, group=1, act=1)
    g.op("UNARY", [hi], [yi], kind=0, p0=0.0, p1=0.0)
    sess = edge_sdk.Session(g.to_bytes())
    prof = sess.profile({"x": x}, runs=3)
    assert [p[0] for p in prof] == [0, 1]
    assert [p[1] for p in prof] == ["CONV2D", "UNARY"]
    assert all(p[3] >= 0 for p in prof)
