"""Every opcode of the native runtime, at every ISA level, against straightforward numpy.

f32: within 1e-5 of max|ref|; int8: bit-exact with edge_sdk.quant.fixedpoint. Shapes are
chosen with odd remainders (channel counts, HW not a multiple of the SIMD width, empty
block-CSR rows, 0% and 100% sparsity) so every SIMD tail path runs."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge_sdk.quant import fixedpoint as fp

native_harness = pytest.importorskip("native_harness")
from native_harness import Graph, ISAS, lib  # noqa: E402

if lib is None:
    pytest.skip("native runtime not built", allow_module_level=True)

ISA = list(ISAS)


def close(ref, got, tol=1e-5):
    ref = np.asarray(ref, np.float64)
    got = np.asarray(got, np.float64)
    assert ref.shape == got.shape, (ref.shape, got.shape)
    scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-30)
    err = float(np.max(np.abs(ref - got))) / scale if ref.size else 0.0
    assert err <= tol, f"relative error {err:.3g}"


def exact(ref, got):
    assert ref.shape == got.shape and ref.dtype == got.dtype, (ref.shape, got.shape, ref.dtype, got.dtype)
    bad = np.argwhere(ref != got)
    assert bad.size == 0, f"{len(bad)} mismatches, first at {bad[0]}: ref {ref[tuple(bad[0])]} got {got[tuple(bad[0])]}"


def act_clamp(y, act, lo, hi):
    if act == 1:
        return np.maximum(y, 0)
    if act == 2:
        return np.clip(y, lo, hi)
    return y


def rand_q(rng, shape, lo=-128, hi=127):
    return rng.integers(lo, hi + 1, size=shape).astype(np.int8)


def rand_mult(rng, n):
    reals = rng.uniform(0.0005, 0.02, size=n)
    return fp.quantize_multipliers(reals)


# ---------------------------------------------------------------------------------------
# convolution references
def conv_ref(x, w, b, stride, pads, dil, group):
    """Direct NCHW conv in float64 (or int64 for ints): pads (t, l, b, r)."""
    N, C, H, W = x.shape
    M, cg, KH, KW = w.shape
    pt, pl, pb, pr = pads
    acc_t = np.float64 if x.dtype.kind == "f" else np.int64
    xp = np.zeros((N, C, H + pt + pb, W + pl + pr), acc_t)
    xp[:, :, pt:pt + H, pl:pl + W] = x
    OH = (H + pt + pb - dil[0] * (KH - 1) - 1) // stride[0] + 1
    OW = (W + pl + pr - dil[1] * (KW - 1) - 1) // stride[1] + 1
    y = np.zeros((N, M, OH, OW), acc_t)
    mg = M // group
    for g in range(group):
        xs = xp[:, g * cg:(g + 1) * cg]
        ws = w[g * mg:(g + 1) * mg].astype(acc_t)
        for kh in range(KH):
            for kw in range(KW):
                h0, w0 = kh * dil[0], kw * dil[1]
                patch = xs[:, :, h0:h0 + stride[0] * (OH - 1) + 1:stride[0], w0:w0 + stride[1] * (OW - 1) + 1:stride[1]]
                y[:, g * mg:(g + 1) * mg] += np.einsum("nchw,mc->nmhw", patch, ws[:, :, kh, kw])
    if b is not None:
        y += b.astype(acc_t).reshape(1, -1, 1, 1)
    return y


CONV_CASES = [
    # C, M, H, W, K, stride, pads, dil, group
    (3, 5, 9, 7, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (4, 6, 8, 11, 3, (2, 1), (0, 1, 2, 0), (1, 2), 2),
    (6, 6, 10, 13, 3, (1, 1), (1, 1, 1, 1), (1, 1), 6),   # depthwise s1
    (7, 7, 11, 37, 3, (2, 2), (1, 1, 1, 1), (1, 1), 7),   # depthwise s2 (odd W)
    (5, 5, 17, 35, 3, (2, 2), (0, 0, 1, 1), (1, 1), 5),   # depthwise s2, TF-style pads
    (16, 16, 9, 40, 3, (1, 1), (1, 1, 1, 1), (1, 1), 16),
    (17, 33, 7, 9, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),   # 1x1, HW=63
    (32, 8, 5, 5, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),    # HW=25
    (9, 37, 13, 11, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),  # HW=143
    (64, 64, 1, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (3, 4, 12, 12, 1, (2, 2), (0, 0, 0, 0), (1, 1), 1),   # strided 1x1
    (2, 3, 6, 5, 5, (1, 3), (2, 2, 2, 2), (1, 1), 1),
]


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
@pytest.mark.parametrize("act", [0, 1, 2])
def test_conv2d_f32(isa, case, act):
    C, M, H, W, K, stride, pads, dil, group = CONV_CASES[case]
    rng = np.random.default_rng(case * 7 + act)
    N = 2 if case % 3 == 0 else 1
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((M, C // group, K, K)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32) if case % 2 == 0 else None
    ref = conv_ref(x, w, b, stride, pads, dil, group)
    ref = act_clamp(ref, act, -0.5, 0.75)
    g = Graph()
    xi = g.input("x", x)
    wi = g.const("w", w)
    bi = g.const("b", b) if b is not None else None
    yi = g.output("y", "float32", ref.shape)
    g.op("CONV2D", [xi, wi, bi], [yi], stride_h=stride[0], stride_w=stride[1], pad_t=pads[0], pad_l=pads[1],
         pad_b=pads[2], pad_r=pads[3], dil_h=dil[0], dil_w=dil[1], group=group, act=act, act_min=-0.5, act_max=0.75)
    close(ref, g.run(isa)[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv2d_i8(isa, case):
    C, M, H, W, K, stride, pads, dil, group = CONV_CASES[case]
    rng = np.random.default_rng(100 + case)
    N = 2 if case % 3 == 0 else 1
    zx, zy = int(rng.integers(-20, 20)), int(rng.integers(-10, 10))
    x = rand_q(rng, (N, C, H, W))
    w = rand_q(rng, (M, C // group, K, K), -127, 127)
    b = rng.integers(-5000, 5000, size=M).astype(np.int32)
    mult, shift = rand_mult(rng, M)
    qmin, qmax = (-128, 127) if case % 2 else (-100, 90)
    acc = conv_ref(x.astype(np.int64) - zx, w, b, stride, pads, dil, group)
    # padding must contribute zero *after* subtracting zx: conv_ref pads the shifted input
    ref = fp.requantize(acc, mult.reshape(1, -1, 1, 1), shift.reshape(1, -1, 1, 1), zy, qmin, qmax)
    g = Graph()
    xi = g.input("x", x, scale=0.05, zp=zx)
    wi = g.const("w", w, scale=0.01)
    bi = g.const("b", b)
    mi, si = g.const("mult", mult), g.const("shift", shift)
    yi = g.output("y", "int8", ref.shape, scale=0.1, zp=zy)
    g.op("CONV2D", [xi, wi, bi, mi, si], [yi], stride_h=stride[0], stride_w=stride[1], pad_t=pads[0], pad_l=pads[1],
         pad_b=pads[2], pad_r=pads[3], dil_h=dil[0], dil_w=dil[1], group=group, qmin=qmin, qmax=qmax)
    exact(ref, g.run(isa)[0])


def conv_transpose_ref(x, w, b, stride, pads, dil, group, out_hw):
    N, C, H, W = x.shape
    _, mg, KH, KW = w.shape
    M = mg * group
    cg = C // group
    OH, OW = out_hw
    y = np.zeros((N, M, OH, OW))
    for n, c, ih, iw in itertools.product(range(N), range(C), range(H), range(W)):
        g = c // cg
        for kh, kw in itertools.product(range(KH), range(KW)):
            oh = ih * stride[0] - pads[0] + kh * dil[0]
            ow = iw * stride[1] - pads[1] + kw * dil[1]
            if 0 <= oh < OH and 0 <= ow < OW:
                y[n, g * mg:(g + 1) * mg, oh, ow] += x[n, c, ih, iw] * w[c, :, kh, kw]
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("C,mg,H,W,K,stride,pads,dil,group,opad", [
    (3, 2, 4, 5, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1, (1, 0)),
    (4, 3, 3, 3, 2, (1, 2), (0, 0, 0, 0), (1, 1), 2, (0, 1)),
    (2, 2, 5, 4, 3, (1, 1), (0, 1, 1, 0), (2, 1), 1, (0, 0)),
])
def test_conv2d_transpose_f32(isa, C, mg, H, W, K, stride, pads, dil, group, opad):
    rng = np.random.default_rng(C * 10 + H)
    x = rng.standard_normal((1, C, H, W)).astype(np.float32)
    w = rng.standard_normal((C, mg, K, K)).astype(np.float32)
    b = rng.standard_normal(mg * group).astype(np.float32)
    OH = stride[0] * (H - 1) + dil[0] * (K - 1) + 1 - pads[0] - pads[2] + opad[0]
    OW = stride[1] * (W - 1) + dil[1] * (K - 1) + 1 - pads[1] - pads[3] + opad[1]
    ref = conv_transpose_ref(x, w, b, stride, pads, dil, group, (OH, OW))
    g = Graph()
    xi, wi, bi = g.input("x", x), g.const("w", w), g.const("b", b)
    yi = g.output("y", "float32", ref.shape)
    g.op("CONV2D_TRANSPOSE", [xi, wi, bi], [yi], stride_h=stride[0], stride_w=stride[1], pad_t=pads[0], pad_l=pads[1],
         pad_b=pads[2], pad_r=pads[3], dil_h=dil[0], dil_w=dil[1], group=group)
    close(ref, g.run(isa)[0])


# ---------------------------------------------------------------------------------------
# fully connected, dense and sparse
FC_SHAPES = [(1, 1, 1), (1, 7, 3), (3, 33, 17), (2, 100, 65), (1, 1024, 10), (5, 64, 129), (1, 3, 250)]


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("B,K,M", FC_SHAPES)
def test_fc_f32(isa, B, K, M):
    rng = np.random.default_rng(K + M)
    x = rng.standard_normal((B, K)).astype(np.float32)
    w = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    ref = act_clamp(x.astype(np.float64) @ w.T.astype(np.float64) + b, 1, 0, 0)
    g = Graph()
    xi, wi, bi = g.input("x", x), g.const("w", w), g.const("b", b)
    yi = g.output("y", "float32", ref.shape)
    g.op("FULLY_CONNECTED", [xi, wi, bi], [yi], act=1)
    close(ref, g.run(isa)[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("B,K,M", FC_SHAPES)
def test_fc_i8(isa, B, K, M):
    rng = np.random.default_rng(K * 3 + M)
    zx, zy = int(rng.integers(-128, 127)), int(rng.integers(-20, 20))
    x = rand_q(rng, (B, K))
    w = rand_q(rng, (M, K), -127, 127)
    b = rng.integers(-10000, 10000, size=M).astype(np.int32)
    mult, shift = rand_mult(rng, M)
    acc = (x.astype(np.int64) - zx) @ w.T.astype(np.int64) + b
    ref = fp.requantize(acc, mult, shift, zy, -128, 127)
    g = Graph()
    xi = g.input("x", x, scale=0.1, zp=zx)
    wi, bi, mi, si = g.const("w", w, scale=0.01), g.const("b", b), g.const("m", mult), g.const("s", shift)
    yi = g.output("y", "int8", ref.shape, scale=0.2, zp=zy)
    g.op("FULLY_CONNECTED", [xi, wi, bi, mi, si], [yi])
    exact(ref, g.run(isa)[0])


def check_conv_f32(case, seed, isa, threads):
    """One fp32 CONV2D (bias, clamp to [-1, 2]) of `case` = (C, M, H, W, KH, KW, stride, pads, dil,
    group) at this ISA level and thread count, against conv_ref in float64."""
    C, M, H, W, KH, KW, stride, pads, dil, group = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1 + seed % 2, C, H, W)).astype(np.float32)
    w = rng.standard_normal((M, C // group, KH, KW)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    ref = np.clip(conv_ref(x, w, b, stride, pads, dil, group), -1.0, 2.0)
    g = Graph()
    xi, wi, bi = g.input("x", x), g.const("w", w), g.const("b", b)
    yi = g.output("y", "float32", ref.shape)
    g.op("CONV2D", [xi, wi, bi], [yi], stride_h=stride[0], stride_w=stride[1], pad_t=pads[0], pad_l=pads[1],
         pad_b=pads[2], pad_r=pads[3], dil_h=dil[0], dil_w=dil[1], group=group, act=2, act_min=-1.0, act_max=2.0)
    close(ref, g.run(isa, threads)[0])


def make_bcsr(rng, rows, cols, br, bc, density, dtype):
    """Random block-CSR; forces the first block row empty when there are several rows."""
    nbr, nbc = rows // br, cols // bc
    mask = rng.random((nbr, nbc)) < density
    if nbr > 1:
        mask[0] = False
    row_ptr = np.zeros(nbr + 1, np.uint32)
    col_idx, vals = [], []
    dense = np.zeros((rows, cols), np.float64 if dtype == np.float32 else np.int64)
    for r in range(nbr):
        for c in np.nonzero(mask[r])[0]:
            if dtype == np.float32:
                blk = rng.standard_normal((br, bc)).astype(np.float32)
            else:
                blk = rand_q(rng, (br, bc), -127, 127)
            col_idx.append(c)
            vals.append(blk)
            dense[r * br:(r + 1) * br, c * bc:(c + 1) * bc] = blk
        row_ptr[r + 1] = len(col_idx)
    nnzb = len(col_idx)
    values = np.stack(vals) if nnzb else np.zeros((1, br, bc), dtype)
    col = np.array(col_idx if nnzb else [0], np.uint32)
    return row_ptr, col, values.astype(dtype), dense


SPARSE_CASES = [
    # K, M, H, W, br, bc, density
    (17, 33, 7, 9, 1, 1, 0.3),
    (32, 64, 5, 5, 1, 1, 0.0),
    (32, 64, 5, 5, 1, 1, 1.0),
    (24, 40, 13, 11, 4, 1, 0.5),
    (16, 24, 8, 8, 2, 2, 0.4),
    (64, 32, 4, 10, 8, 1, 0.2),
    (8, 8, 1, 1, 1, 4, 0.7),
    (96, 48, 16, 16, 1, 1, 0.1),
]


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("case", range(len(SPARSE_CASES)))
def test_sparse_conv1x1_f32(isa, case):
    K, M, H, W, br, bc, dens = SPARSE_CASES[case]
    rng = np.random.default_rng(200 + case)
    rp, ci, vals, dense = make_bcsr(rng, M, K, br, bc, dens, np.float32)
    N = 2 if case % 2 else 1
    x = rng.standard_normal((N, K, H, W)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    ref = np.einsum("mk,nkp->nmp", dense, x.reshape(N, K, -1).astype(np.float64)).reshape(N, M, H, W)
    ref = act_clamp(ref + b.reshape(1, -1, 1, 1), 2, -1.0, 1.5)
    g = Graph()
    xi = g.input("x", x)
    ins = [xi, g.const("v", vals), g.const("rp", rp), g.const("ci", ci), g.const("b", b)]
    yi = g.output("y", "float32", ref.shape)
    g.op("SPARSE_CONV1X1", ins, [yi], block_r=br, block_c=bc, rows=M, cols=K, act=2, act_min=-1.0, act_max=1.5)
    close(ref, g.run(isa)[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("case", range(len(SPARSE_CASES)))
def test_sparse_conv1x1_i8(isa, case):
    K, M, H, W, br, bc, dens = SPARSE_CASES[case]
    rng = np.random.default_rng(300 + case)
    rp, ci, vals, dense = make_bcsr(rng, M, K, br, bc, dens, np.int8)
    zx, zy = int(rng.integers(-50, 50)), int(rng.integers(-5, 5))
    x = rand_q(rng, (1, K, H, W))
    b = rng.integers(-3000, 3000, size=M).astype(np.int32)
    mult, shift = rand_mult(rng, M)
    acc = np.einsum("mk,kp->mp", dense, x.reshape(K, -1).astype(np.int64) - zx) + b.reshape(-1, 1)
    ref = fp.requantize(acc, mult.reshape(-1, 1), shift.reshape(-1, 1), zy, -128, 127).reshape(1, M, H, W)
    g = Graph()
    xi = g.input("x", x, scale=0.1, zp=zx)
    ins = [xi, g.const("v", vals, scale=0.01), g.const("rp", rp), g.const("ci", ci), g.const("b", b),
           g.const("m", mult), g.const("s", shift)]
    yi = g.output("y", "int8", ref.shape, scale=0.3, zp=zy)
    g.op("SPARSE_CONV1X1", ins, [yi], block_r=br, block_c=bc, rows=M, cols=K)
    exact(ref, g.run(isa)[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("dtype", ["float32", "int8"])
@pytest.mark.parametrize("B,K,M,br,bc,dens", [(1, 64, 30, 2, 4, 0.5), (3, 17, 9, 1, 1, 0.4), (1, 8, 8, 1, 1, 0.0),
                                               (2, 128, 64, 4, 1, 1.0)])
def test_sparse_fc(isa, dtype, B, K, M, br, bc, dens):
    rng = np.random.default_rng(K + M + B)
    g = Graph()
    if dtype == "float32":
        rp, ci, vals, dense = make_bcsr(rng, M, K, br, bc, dens, np.float32)
        x = rng.standard_normal((B, K)).astype(np.float32)
        ref = x.astype(np.float64) @ dense.T
        xi = g.input("x", x)
        ins = [xi, g.const("v", vals), g.const("rp", rp), g.const("ci", ci)]
        yi = g.output("y", "float32", ref.shape)
        g.op("SPARSE_FULLY_CONNECTED", ins, [yi], block_r=br, block_c=bc, rows=M, cols=K)
        close(ref, g.run(isa)[0])
    else:
        rp, ci, vals, dense = make_bcsr(rng, M, K, br, bc, dens, np.int8)
        x = rand_q(rng, (B, K))
        mult, shift = rand_mult(rng, 1)
        ref = fp.requantize((x.astype(np.int64) - 3) @ dense.T, mult[0], shift[0], -1, -128, 127)
        xi = g.input("x", x, scale=0.1, zp=3)
        ins = [xi, g.const("v", vals), g.const("rp", rp), g.const("ci", ci), None, g.const("m", mult),
               g.const("s", shift)]
        yi = g.output("y", "int8", ref.shape, scale=0.1, zp=-1)
        g.op("SPARSE_FULLY_CONNECTED", ins, [yi], block_r=br, block_c=bc, rows=M, cols=K)
        exact(ref, g.run(isa)[0])


# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((7,), (7, 3)), ((2, 3, 4), (4,)),
                                   ((1, 2, 3), (3, 2, 3, 1))])
def test_matmul(isa, sa, sb):
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    g = Graph()
    ai, bi = g.input("a", a), g.input("b", b)
    yi = g.output("y", "float32", ref.shape)
    g.op("MATMUL", [ai, bi], [yi])
    close(ref, g.run(isa)[0])


BCAST = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((1, 3, 1), (2, 1, 5)), ((5,), (3, 1)), ((2, 1, 3, 1, 2, 1), (5, 3, 4, 1, 3))]


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("kind", range(8))
@pytest.mark.parametrize("shapes", BCAST)
def test_binary_f32(isa, kind, shapes):
    rng = np.random.default_rng(kind)
    a = rng.standard_normal(shapes[0]).astype(np.float32)
    b = rng.standard_normal(shapes[1]).astype(np.float32)
    if kind == 4:
        a = np.abs(a) + 0.1
    if kind == 3:
        b = np.where(np.abs(b) < 0.1, 0.5, b).astype(np.float32)
    fns = [np.add, np.subtract, np.multiply, np.divide, np.power, np.maximum, np.minimum,
           lambda p, q: np.where(p < 0, p * q, p)]
    ref = fns[kind](a.astype(np.float64), b.astype(np.float64))
    act = 1 if kind == 0 else 0
    ref = act_clamp(ref, act, 0, 0)
    g = Graph()
    ai, bi = g.input("a", a), g.const("b", b)
    yi = g.output("y", "float32", ref.shape)
    g.op("BINARY", [ai, bi], [yi], kind=kind, act=act)
    close(ref, g.run(isa)[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("kind", [0, 2])
@pytest.mark.parametrize("shapes", BCAST)
def test_binary_i8(isa, kind, shapes):
    rng = np.random.default_rng(kind + 50)
    a, b = rand_q(rng, shapes[0]), rand_q(rng, shapes[1])
    za, zb, zy = 5, -7, 3
    g = Graph()
    ai, bi = g.input("a", a, scale=0.1, zp=za), g.input("b", b, scale=0.2, zp=zb)
    M = fp.multiply_by_quantized_multiplier
    if kind == 0:
        ls = 20
        am, ash = fp.quantize_multiplier(0.1 / (2 * 0.2))
        bm, bsh = fp.quantize_multiplier(0.2 / (2 * 0.2))
        om, osh = fp.quantize_multiplier(2 * 0.2 / ((1 << ls) * 0.15))
        s = M((a.astype(np.int64) - za) << ls, am, ash) + M((b.astype(np.int64) - zb) << ls, bm, bsh)
        acc = np.broadcast_to(M(s, om, osh), np.broadcast_shapes(a.shape, b.shape))
        params = dict(a_mult=am, a_shift=ash, b_mult=bm, b_shift=bsh, out_mult=om, out_shift=osh, left_shift=ls)
    else:
        om, osh = fp.quantize_multiplier(0.1 * 0.2 / 0.15)
        acc = M((a.astype(np.int64) - za) * (b.astype(np.int64) - zb), om, osh)
        params = dict(out_mult=om, out_shift=osh)
    ref = np.clip(acc + zy, -120, 127).astype(np.int8)
    yi = g.output("y", "int8", ref.shape, scale=0.15, zp=zy)
    g.op("BINARY", [ai, bi], [yi], kind=kind, qmin=-120, qmax=127, **params)
    exact(ref, g.run(isa)[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("kind", range(11))
def test_unary(isa, kind):
    rng = np.random.default_rng(kind)
    x = (rng.standard_normal((2, 3, 5, 7)) * 3).astype(np.float32)
    if kind == 7:
        x = np.abs(x)
    p0, p1 = {1: (-1.0, 2.0), 2: (0.1, 0.0), 4: (0.2, 0.5)}.get(kind, (0.0, 0.0))
    xd = x.astype(np.float64)
    ref = [np.maximum(xd, 0), np.clip(xd, p0, p1), np.where(xd < 0, xd * p0, xd), 1 / (1 + np.exp(-xd)),
           np.clip(p0 * xd + p1, 0, 1), xd * np.clip(xd + 3, 0, 6) / 6, np.tanh(xd), np.sqrt(xd), np.exp(xd), -xd,
           np.abs(xd)][kind]
    g = Graph()
    xi = g.input("x", x)
    yi = g.output("y", "float32", x.shape)
    g.op("UNARY", [xi], [yi], kind=kind, p0=p0, p1=p1)
    close(ref, g.run(isa)[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("axis", [-1, 0, 1, 2])
def test_softmax(isa, axis):
    rng = np.random.default_rng(axis + 5)
    x = (rng.standard_normal((3, 5, 7)) * 20).astype(np.float32)
    xd = x.astype(np.float64)
    e = np.exp(xd - xd.max(axis=axis, keepdims=True))
    ref = e / e.sum(axis=axis, keepdims=True)
    g = Graph()
    xi = g.input("x", x)
    yi = g.output("y", "float32", x.shape)
    g.op("SOFTMAX", [xi], [yi], axis=axis)
    close(ref, g.run(isa)[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("axes,keep", [((1,), True), ((2, 3), True), ((0, 2), False), ((3,), False), ((0, 1, 2, 3), True)])
def test_reduce_mean(isa, axes, keep):
    rng = np.random.default_rng(len(axes))
    x = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    ref = x.astype(np.float64).mean(axis=axes, keepdims=keep)
    g = Graph()
    xi = g.input("x", x)
    yi = g.output("y", "float32", ref.shape)
    g.op("REDUCE_MEAN", [xi], [yi], axes_mask=sum(1 << a for a in axes))
    close(ref, g.run(isa)[0])


# ---------------------------------------------------------------------------------------
def pool_ref(x, k, s, pads, kind, cip=0, zp=0):
    """zp: int8 zero point; padded positions counted by count_include_pad hold it (real 0)."""
    N, C, H, W = x.shape
    OH = (H + pads[0] + pads[2] - k[0]) // s[0] + 1
    OW = (W + pads[1] + pads[3] - k[1]) // s[1] + 1
    y = np.zeros((N, C, OH, OW), np.float64 if x.dtype == np.float32 else np.int64)
    for oh, ow in itertools.product(range(OH), range(OW)):
        h0, w0 = oh * s[0] - pads[0], ow * s[1] - pads[1]
        hs, ws, he, we = max(h0, 0), max(w0, 0), min(h0 + k[0], H), min(w0 + k[1], W)
        win = x[:, :, hs:he, ws:we].astype(y.dtype)
        if kind == "max":
            y[:, :, oh, ow] = win.max(axis=(2, 3))
        else:
            cnt = k[0] * k[1] if cip else (he - hs) * (we - ws)
            ssum = win.sum(axis=(2, 3)) + zp * (cnt - (he - hs) * (we - ws))
            if x.dtype == np.float32:
                y[:, :, oh, ow] = ssum / cnt
            else:
                q = (np.abs(ssum) + cnt // 2) // cnt
                y[:, :, oh, ow] = np.sign(ssum) * q
    return y


POOLS = [((2, 2), (2, 2), (0, 0, 0, 0)), ((3, 3), (2, 2), (1, 1, 1, 1)), ((3, 2), (1, 2), (0, 1, 2, 0)), ((1, 1), (1, 1), (0, 0, 0, 0))]


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("dtype", ["float32", "int8"])
@pytest.mark.parametrize("kind,cip", [("max", 0), ("avg", 0), ("avg", 1)])
@pytest.mark.parametrize("pool", POOLS)
def test_pool(isa, dtype, kind, cip, pool):
    k, s, pads = pool
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32) if dtype == "float32" else rand_q(rng, (2, 3, 9, 8))
    q = dict(scale=0.1, zp=4) if dtype == "int8" else {}
    ref = pool_ref(x, k, s, pads, kind, cip, q.get("zp", 0))
    g = Graph()
    xi = g.input("x", x, **q)
    yi = g.output("y", dtype, ref.shape, **q)
    params = dict(kh=k[0], kw=k[1], stride_h=s[0], stride_w=s[1], pad_t=pads[0], pad_l=pads[1], pad_b=pads[2], pad_r=pads[3])
    if kind == "avg":
        params["count_include_pad"] = cip
    g.op("MAXPOOL" if kind == "max" else "AVGPOOL", [xi], [yi], **params)
    got = g.run(isa)[0]
    if dtype == "float32":
        close(ref, got)
    else:
        exact(ref.astype(np.int8), got)


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_global_avgpool(isa, dtype):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 5, 7, 3)).astype(np.float32) if dtype == "float32" else rand_q(rng, (2, 5, 7, 3))
    ref = pool_ref(x, (7, 3), (1, 1), (0, 0, 0, 0), "avg")
    g = Graph()
    q = dict(scale=0.1, zp=-2) if dtype == "int8" else {}
    xi = g.input("x", x, **q)
    yi = g.output("y", dtype, (2, 5, 1, 1), **q)
    g.op("GLOBAL_AVGPOOL", [xi], [yi])
    got = g.run(isa)[0]
    if dtype == "float32":
        close(ref, got)
    else:
        exact(ref.astype(np.int8), got)


# ---------------------------------------------------------------------------------------
DTYPES = ["float32", "int8", "uint8", "int32"]


def rand_any(rng, shape, dtype):
    if dtype == "float32":
        return rng.standard_normal(shape).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 1000) + 1, size=shape).astype(dtype)


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("dtype", DTYPES)
def test_reshape(isa, dtype):
    x = rand_any(np.random.default_rng(1), (2, 3, 4), dtype)
    g = Graph()
    xi = g.input("x", x)
    yi = g.output("y", dtype, (6, 4))
    g.op("RESHAPE", [xi], [yi])
    exact(x.reshape(6, 4), g.run(isa)[0])


def test_reshape_in_place():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    g = Graph()
    xi = g.input("x", x)
    g.off = 0
    t = g.b.activation("t", "float32", (4, 6), offset=256)  # alias-free copy target
    y = g.b.activation("y", "float32", (24,), offset=256, flags=2)  # aliases t exactly
    g.outputs.append((y, "float32", (24,)))
    g.b.arena_size = 512
    g.op("RESHAPE", [xi], [t])
    g.op("RESHAPE", [t], [y])
    exact(x.reshape(24), g.run("scalar")[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("perm", [(1, 0), (0, 2, 1), (3, 1, 0, 2), (5, 4, 3, 2, 1, 0), (0,)])
def test_transpose(isa, dtype, perm):
    shape = (2, 3, 4, 5, 2, 3)[:len(perm)]
    x = rand_any(np.random.default_rng(2), shape, dtype)
    ref = np.transpose(x, perm)
    g = Graph()
    xi = g.input("x", x)
    yi = g.output("y", dtype, ref.shape)
    g.op("TRANSPOSE", [xi], [yi], **{f"perm{i}": p for i, p in enumerate(perm)})
    exact(ref, g.run(isa)[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_concat(isa, dtype, axis):
    rng = np.random.default_rng(4)
    shapes = [[2, 3, 4] for _ in range(3)]
    for i, s in enumerate(shapes):
        s[axis] = i + 1
    xs = [rand_any(rng, s, dtype) for s in shapes]
    ref = np.concatenate(xs, axis=axis)
    g = Graph()
    ins = [g.input(f"x{i}", x) for i, x in enumerate(xs[:2])] + [g.const("c", xs[2])]
    yi = g.output("y", dtype, ref.shape)
    g.op("CONCAT", ins, [yi], axis=axis)
    exact(ref, g.run(isa)[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spec", [((1, 2), (0, 1), (3, -1)), ((0, 3), (2, 1), (0, 1)), ((4, -2), (0, 3), (1, 2))])
def test_slice(isa, dtype, spec):
    x = rand_any(np.random.default_rng(5), (6, 5, 4), dtype)
    sl = tuple(slice(s, None if st > 0 else None, st) for s, st in spec)
    ref = x[sl]
    g = Graph()
    xi = g.input("x", x)
    yi = g.output("y", dtype, ref.shape)
    extra = [v for s, st in spec for v in (s, st)]
    g.op("SLICE", [xi], [yi], extra=extra)
    exact(ref, g.run(isa)[0])


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad(isa, dtype, mode):
    x = rand_any(np.random.default_rng(6), (2, 3, 4, 5), dtype)
    pads = [(0, 1), (1, 0), (2, 3), (3, 1)]
    kw = {"constant_values": 7} if mode == "constant" else {}
    ref = np.pad(x, pads, mode=mode, **kw)
    g = Graph()
    xi = g.input("x", x)
    yi = g.output("y", dtype, ref.shape)
    extra = [p[0] for p in pads] + [p[1] for p in pads]
    g.op("PAD", [xi], [yi], extra=extra, mode={"constant": 0, "reflect": 1, "edge": 2}[mode], value_f=7.0, value_q=7)
    exact(ref, g.run(isa)[0])


def resize_coords(coord, n_out, n_in):
    f = np.float32
    o = np.arange(n_out, dtype=np.float32)
    scale = f(n_out) / f(n_in)
    if coord == 0:
        return (o + f(0.5)) / scale - f(0.5)
    if coord == 1:
        return np.zeros(n_out, np.float32) if n_out == 1 else o * f(n_in - 1) / f(n_out - 1)
    if coord == 2:
        return o / scale
    if coord == 3:
        return (o + f(0.5)) / scale - f(0.5) if n_out > 1 else np.zeros(n_out, np.float32)
    return (o + f(0.5)) / scale


def nearest_idx(v, mode, n_in):
    fl = np.floor(v)
    frac = v - fl
    idx = [np.where(frac > 0.5, fl + 1, fl), np.where(frac >= 0.5, fl + 1, fl), fl, np.ceil(v)][mode]
    return np.clip(idx, 0, n_in - 1).astype(np.int64)


def resize_ref(x, out_hw, mode, coord, nmode):
    H, W = x.shape[2:]
    ch, cw = resize_coords(coord, out_hw[0], H), resize_coords(coord, out_hw[1], W)
    if mode == 0:
        return x[:, :, nearest_idx(ch, nmode, H)][:, :, :, nearest_idx(cw, nmode, W)]

    def lin(c, n):
        c = np.clip(c, 0, n - 1)
        i0 = np.floor(c).astype(np.int64)
        return i0, np.minimum(i0 + 1, n - 1), (c - i0).astype(np.float64)

    h0, h1, th = lin(ch, H)
    w0, w1, tw = lin(cw, W)
    xd = x.astype(np.float64)
    top = xd[:, :, h0][:, :, :, w0] * (1 - tw) + xd[:, :, h0][:, :, :, w1] * tw
    bot = xd[:, :, h1][:, :, :, w0] * (1 - tw) + xd[:, :, h1][:, :, :, w1] * tw
    return top * (1 - th[:, None]) + bot * th[:, None]


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("out_hw", [(10, 14), (3, 2), (1, 1), (8, 7)])
@pytest.mark.parametrize("mode,coord,nmode", [(0, c, n) for c in range(5) for n in range(4)] + [(1, c, 0) for c in range(4)])
def test_resize(isa, out_hw, mode, coord, nmode):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 2, 5, 7)).astype(np.float32)
    ref = resize_ref(x, out_hw, mode, coord, nmode)
    g = Graph()
    xi = g.input("x", x)
    yi = g.output("y", "float32", ref.shape)
    g.op("RESIZE", [xi], [yi], mode=mode, coord=coord, nearest_mode=nmode)
    got = g.run(isa)[0]
    if mode == 0:
        exact(ref.astype(np.float32), got)
    else:
        close(ref, got)
    if mode == 0:
        xq = rand_q(rng, x.shape)
        g = Graph()
        xi = g.input("x", xq, scale=0.1, zp=1)
        yi = g.output("y", "int8", ref.shape, scale=0.1, zp=1)
        g.op("RESIZE", [xi], [yi], mode=mode, coord=coord, nearest_mode=nmode)
        exact(resize_ref(xq, out_hw, mode, coord, nmode), g.run(isa)[0])


@pytest.mark.parametrize("isa", ISA)
def test_quantize_dequantize_requantize(isa):
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((3, 50)) * 4).astype(np.float32)
    x[0, :5] = [0.05, -0.05, 0.15, -0.25, 1000.0]  # ties and saturation
    g = Graph()
    xi = g.input("x", x)
    q = g.output("q", "int8", x.shape, scale=0.1, zp=-3)
    d = g.output("d", "float32", x.shape)
    r = g.output("r", "int8", x.shape, scale=0.37, zp=9)
    m, s = fp.quantize_multiplier(0.1 / 0.37)
    g.op("QUANTIZE", [xi], [q])
    g.op("DEQUANTIZE", [q], [d])
    g.op("REQUANTIZE", [q], [r], mult=m, shift=s)
    got_q, got_d, got_r = g.run(isa)
    ref_q = fp.quantize(x, 0.1, -3)
    exact(ref_q, got_q)
    exact(fp.dequantize(ref_q, 0.1, -3), got_d)
    exact(fp.requantize(ref_q.astype(np.int64) + 3, m, s, 9), got_r)


# ---------------------------------------------------------------------------------------
def test_isa_name_and_threads():
    x = np.random.default_rng(0).standard_normal((1, 64, 14, 14)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((96, 64, 1, 1)).astype(np.float32)
    g = Graph()
    xi, wi = g.input("x", x), g.const("w", w)
    yi = g.output("y", "float32", (1, 96, 14, 14))
    g.op("CONV2D", [xi, wi, None], [yi], stride_h=1, stride_w=1, dil_h=1, dil_w=1, group=1)
    ref = conv_ref(x, w, None, (1, 1), (0, 0, 0, 0), (1, 1), 1)
    close(ref, g.run("best", threads=3)[0])
    close(ref, g.run("scalar", threads=2)[0])
