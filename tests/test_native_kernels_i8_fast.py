"""int8 fast kernels (AVX-512 VNNI, AVX2 tiers) bit-exact against numpy + fixedpoint.py and
against the scalar kernels, at every ISA level (best, <= AVX2, scalar).

Shapes aim at every SIMD tail: odd K and M, K % 4 != 0 (partial VPDPBUSD groups), K above
1024 (smaller pixel tiles), HW = 1 and HW not a multiple of 16/64, every block-CSR shape with
0% / 100% density and empty rows, activation zero points across [-128, 127], per-tensor and
per-channel requantization, clamps tighter than int8, and extreme values (x = -128 / 127,
w = +-127) that would expose saturating instructions."""
from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.quant import fixedpoint as fp

native_harness = pytest.importorskip("native_harness")
from native_harness import Graph, ISAS, lib, run_artifact  # noqa: E402

if lib is None:
    pytest.skip("native runtime not built", allow_module_level=True)

from test_native_kernels import conv_ref, exact, make_bcsr, rand_mult  # noqa: E402

ISA = list(ISAS)


def qdata(rng, shape, extreme, lo=-128, hi=127):
    if extreme:
        return rng.choice(np.array([lo, hi], np.int8), size=shape)
    return rng.integers(lo, hi + 1, size=shape).astype(np.int8)


def quant_params(rng, M, per_channel):
    mult, shift = rand_mult(rng, M if per_channel else 1)
    # include a left shift (shift > 0) and large right shifts
    if per_channel and M > 2:
        m2, s2 = fp.quantize_multipliers(np.array([3.7, 2.0 ** -20]))
        mult[:2], shift[:2] = m2, s2
    return mult, shift


def run_all(g, ref):
    outs = {isa: g.run(isa)[0] for isa in ISA}
    for isa in ISA:
        exact(ref, outs[isa])


# ---------------------------------------------------------------------------------------
CONV_I8 = [
    # C, M, H, W, K, stride, pads, dil, group
    (1, 1, 1, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),      # 1x1, K=1, HW=1
    (3, 5, 1, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (17, 33, 7, 9, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),    # odd K, M, HW=63
    (8, 7, 4, 4, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),      # HW=16
    (64, 12, 9, 15, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),   # HW=135 (3 tiles)
    (1030, 6, 3, 7, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),   # K > 1024: 32-pixel tiles
    (3, 32, 23, 25, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),   # first conv
    (3, 8, 10, 9, 3, (2, 2), (0, 0, 1, 1), (1, 1), 1),     # first conv, TF pads
    (16, 9, 9, 11, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
    # 3x3 over <= 8 channels on padded planes: M not a multiple of 4, stride 1, asymmetric
    # pads, maps split into bands, 8 channels, and 9 channels (too many: im2col GEMM)
    (1, 5, 13, 17, 3, (1, 1), (1, 0, 0, 2), (1, 1), 1),
    (4, 6, 40, 70, 3, (1, 1), (0, 1, 2, 0), (1, 1), 1),
    (3, 4, 61, 150, 3, (2, 2), (0, 0, 1, 1), (1, 1), 1),
    (3, 7, 33, 131, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),
    (8, 4, 9, 9, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),
    (9, 4, 9, 9, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (8, 16, 9, 11, 3, (1, 2), (0, 1, 2, 0), (2, 1), 2),    # grouped, dilated
    (130, 5, 5, 6, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),    # K' = 1170
    (3, 8, 5, 150, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),    # row-run im2col, OW = 75 > 64
    (2, 6, 4, 131, 3, (1, 1), (0, 2, 1, 0), (1, 1), 1),    # row-run im2col stride 1, wide
    (5, 7, 12, 12, 1, (2, 2), (0, 0, 0, 0), (1, 1), 1),    # strided 1x1
    (4, 6, 6, 5, 2, (1, 1), (0, 0, 1, 1), (1, 1), 1),      # even kernel
    # depthwise 3x3, stride 1 and 2, many widths
    (6, 6, 10, 13, 3, (1, 1), (1, 1, 1, 1), (1, 1), 6),
    (5, 5, 1, 1, 3, (1, 1), (1, 1, 1, 1), (1, 1), 5),       # HW=1
    (3, 3, 7, 70, 3, (1, 1), (1, 1, 1, 1), (1, 1), 3),
    (4, 4, 3, 17, 3, (1, 1), (0, 0, 0, 0), (1, 1), 4),      # no padding
    (7, 7, 11, 37, 3, (2, 2), (1, 1, 1, 1), (1, 1), 7),
    (5, 5, 17, 35, 3, (2, 2), (0, 0, 1, 1), (1, 1), 5),
    (3, 3, 8, 66, 3, (2, 2), (1, 1, 1, 1), (1, 1), 3),
    (2, 2, 2, 2, 3, (2, 2), (1, 1, 1, 1), (1, 1), 2),
    (4, 4, 9, 9, 3, (1, 1), (2, 2, 2, 2), (1, 1), 4),       # pads 2
    # whole-plane depthwise (small maps): 14x14 / 7x7 / 28->14, odd sizes and pads, and a
    # stride-1 map too big for the plane (row kernel)
    (5, 5, 14, 14, 3, (1, 1), (1, 1, 1, 1), (1, 1), 5),
    (3, 3, 7, 7, 3, (1, 1), (1, 1, 1, 1), (1, 1), 3),
    (4, 4, 28, 28, 3, (2, 2), (0, 0, 1, 1), (1, 1), 4),
    (3, 3, 13, 11, 3, (2, 2), (1, 2, 0, 1), (1, 1), 3),
    (3, 3, 5, 3, 3, (1, 1), (0, 2, 2, 0), (1, 1), 3),
    # single-band stride-1 depthwise built by byte expand / stored by compress (VBMI2 CPUs):
    # rows wider than 64 bytes, a plane taller than the map (pads 2 and 0), data chunks that
    # start mid-plane, one row, and inputs cropped at the bottom (negative-free but OH < H)
    (3, 3, 40, 70, 3, (1, 1), (1, 1, 1, 1), (1, 1), 3),
    (4, 4, 6, 9, 3, (1, 1), (2, 1, 0, 2), (1, 1), 4),
    (2, 2, 1, 50, 3, (1, 1), (1, 0, 1, 2), (1, 1), 2),
    (6, 6, 21, 5, 3, (1, 1), (0, 0, 0, 1), (1, 1), 6),
    # single-band stride-2 depthwise built by byte permutes (VBMI): 14 -> 7, top pad 2, and a
    # width whose chunks span more than 128 input bytes (row-copy path)
    (4, 4, 14, 14, 3, (2, 2), (1, 1, 1, 1), (1, 1), 4),
    (3, 3, 9, 20, 3, (2, 2), (2, 0, 1, 2), (1, 1), 3),
    (2, 2, 12, 60, 3, (2, 2), (1, 1, 1, 1), (1, 1), 2),
    (17, 17, 3, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 17),
    (2, 2, 100, 97, 3, (1, 1), (1, 1, 1, 1), (1, 1), 2),
    # depthwise planes split into bands of rows (stride 2 and 1), a stride-2 map with an odd
    # width and asymmetric pads, and a row too wide for any band (falls back)
    (2, 2, 121, 301, 3, (2, 2), (1, 1, 1, 1), (1, 1), 2),
    (3, 3, 90, 127, 3, (1, 1), (0, 1, 2, 0), (1, 1), 3),
    (3, 3, 9, 65, 3, (2, 2), (2, 0, 0, 2), (1, 1), 3),
    (1, 1, 2, 9000, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (4, 4, 9, 9, 5, (1, 1), (2, 2, 2, 2), (1, 1), 4),       # depthwise 5x5 (any-size kernel)
    (4, 4, 9, 9, 3, (1, 1), (2, 2, 2, 2), (2, 2), 4),       # dilated depthwise (any-size kernel)
    # any-size depthwise with width stride 1 (MobileNetV3 / PP-OCR 5x5, 3x3 at stride (2, 1)):
    # widths around 16-lane tails, height strides, asymmetric pads, 7x7, 1x1 maps, crop at the
    # bottom / right, and a plane too big for the kernel (falls back to the scalar one)
    (7, 7, 6, 96, 5, (1, 1), (2, 2, 2, 2), (1, 1), 7),
    (5, 5, 13, 17, 5, (2, 1), (2, 2, 2, 2), (1, 1), 5),
    (3, 3, 24, 33, 3, (2, 1), (1, 1, 1, 1), (1, 1), 3),
    (6, 6, 11, 15, 5, (3, 1), (0, 3, 1, 0), (1, 1), 6),
    (2, 2, 10, 31, 7, (1, 1), (3, 3, 3, 3), (1, 1), 2),
    (3, 3, 1, 1, 5, (1, 1), (2, 2, 2, 2), (1, 1), 3),
    (4, 4, 9, 20, 5, (1, 1), (0, 0, 0, 0), (1, 1), 4),
    (3, 3, 12, 17, 3, (1, 1), (1, 2, 1, 0), (2, 3), 3),
    (2, 2, 200, 300, 5, (1, 1), (2, 2, 2, 2), (1, 1), 2),
]


@pytest.mark.parametrize("case", range(len(CONV_I8)))
@pytest.mark.parametrize("variant", ["plain", "extreme", "pertensor", "relu"])
def test_conv_i8_fast(case, variant):
    """relu: qmin == zy, the fused ReLU / ReLU6 clamp (the AVX-512 requantization has a
    shorter form for it)."""
    C, M, H, W, K, stride, pads, dil, group = CONV_I8[case]
    rng = np.random.default_rng(1000 + case * 3 + len(variant))
    extreme = variant == "extreme"
    N = 2 if case % 4 == 1 else 1
    zx = int(rng.choice([-128, 127])) if extreme else int(rng.integers(-128, 128))
    zy = int(rng.integers(-128, 128))
    x = qdata(rng, (N, C, H, W), extreme)
    w = qdata(rng, (M, C // group, K, K), extreme, -127, 127)
    b = rng.integers(-100000, 100000, size=M).astype(np.int32) if case % 3 else None
    mult, shift = quant_params(rng, M, variant != "pertensor")
    qmin, qmax = (-128, 127) if case % 2 else (-90, 100)
    if variant == "relu":
        zy = int(rng.integers(-128, 100))
        qmin, qmax = zy, 127 if case % 2 else 110
    acc = conv_ref(x.astype(np.int64) - zx, w, b, stride, pads, dil, group)
    if variant == "pertensor":
        ref = fp.requantize(acc, mult[0], shift[0], zy, qmin, qmax)
    else:
        ref = fp.requantize(acc, mult.reshape(1, -1, 1, 1), shift.reshape(1, -1, 1, 1), zy, qmin, qmax)
    g = Graph()
    xi = g.input("x", x, scale=0.05, zp=zx)
    wi = g.const("w", w, scale=0.01)
    bi = g.const("b", b) if b is not None else None
    mi, si = g.const("mult", mult), g.const("shift", shift)
    yi = g.output("y", "int8", ref.shape, scale=0.1, zp=zy)
    g.op("CONV2D", [xi, wi, bi, mi, si], [yi], stride_h=stride[0], stride_w=stride[1], pad_t=pads[0],
         pad_l=pads[1], pad_b=pads[2], pad_r=pads[3], dil_h=dil[0], dil_w=dil[1], group=group, qmin=qmin, qmax=qmax)
    run_all(g, ref)


# ---------------------------------------------------------------------------------------
FC_I8 = [(1, 1, 1), (1, 3, 7), (1, 63, 5), (1, 64, 9), (1, 65, 4), (3, 200, 13), (2, 1024, 33), (5, 129, 3),
         (1, 4100, 6)]


@pytest.mark.parametrize("B,K,M", FC_I8)
@pytest.mark.parametrize("extreme", [False, True])
def test_fc_i8_fast(B, K, M, extreme):
    rng = np.random.default_rng(K * 7 + M + B)
    zx = int(rng.choice([-128, 127])) if extreme else int(rng.integers(-128, 128))
    zy = int(rng.integers(-128, 128))
    x = qdata(rng, (B, K), extreme)
    w = qdata(rng, (M, K), extreme, -127, 127)
    b = rng.integers(-100000, 100000, size=M).astype(np.int32)
    mult, shift = quant_params(rng, M, M % 2 == 1)
    acc = (x.astype(np.int64) - zx) @ w.T.astype(np.int64) + b
    ref = fp.requantize(acc, mult if mult.size > 1 else mult[0], shift if shift.size > 1 else shift[0], zy, -128, 127)
    g = Graph()
    xi = g.input("x", x, scale=0.1, zp=zx)
    wi, bi, mi, si = g.const("w", w, scale=0.01), g.const("b", b), g.const("m", mult), g.const("s", shift)
    yi = g.output("y", "int8", ref.shape, scale=0.2, zp=zy)
    g.op("FULLY_CONNECTED", [xi, wi, bi, mi, si], [yi])
    run_all(g, ref)


# ---------------------------------------------------------------------------------------
SP_BLOCKS = [(1, 1), (4, 1), (8, 1), (1, 4), (2, 2), (1, 8), (4, 4), (1, 2)]
SP_SHAPES = [
    # K, M, H, W, N
    (16, 8, 1, 1, 1),      # HW = 1
    (24, 40, 13, 11, 2),   # HW = 143
    (64, 32, 4, 10, 1),
    (1032, 16, 3, 5, 1),   # K > 1024
    (32, 16, 17, 19, 1),   # HW = 323: 4-tile groups (K <= 256) and a short last group
    (256, 8, 5, 60, 1),    # K = 256: largest K with 4-tile groups
    (264, 8, 3, 7, 1),     # K > 256: one tile at a time
    # 1x4 tiles whose last 16-pixel vector holds 1-4 pixels (a 128-bit tail): 7x7, 14x14, 18
    (40, 24, 7, 7, 2),
    (72, 16, 14, 14, 1),
    (8, 8, 2, 9, 1),
]


@pytest.mark.parametrize("blk", SP_BLOCKS)
@pytest.mark.parametrize("shape", range(len(SP_SHAPES)))
@pytest.mark.parametrize("dens", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("relu", [False, True])
def test_sparse_conv1x1_i8_fast(blk, shape, dens, relu):
    br, bc = blk
    K, M, H, W, N = SP_SHAPES[shape]
    rng = np.random.default_rng(int(dens * 10) * 100 + shape * 10 + br * 3 + bc)
    extreme = shape == 2
    rp, ci, vals, dense = make_bcsr(rng, M, K, br, bc, dens, np.int8)
    if extreme:
        vals = np.where(vals > 0, 127, np.where(vals < 0, -127, 0)).astype(np.int8)
        dense = np.where(dense > 0, 127, np.where(dense < 0, -127, 0))
    zx = int(rng.choice([-128, 127])) if extreme else int(rng.integers(-128, 128))
    zy = int(rng.integers(-128, 128))
    x = qdata(rng, (N, K, H, W), extreme)
    b = rng.integers(-30000, 30000, size=M).astype(np.int32)
    mult, shift = quant_params(rng, M, True)
    acc = np.einsum("mk,nkp->nmp", dense, x.reshape(N, K, -1).astype(np.int64) - zx) + b.reshape(1, -1, 1)
    qmin = zy if relu else -128  # relu: the fused ReLU clamp (qmin == zy)
    ref = fp.requantize(acc, mult.reshape(1, -1, 1), shift.reshape(1, -1, 1), zy, qmin, 127).reshape(N, M, H, W)
    g = Graph()
    xi = g.input("x", x, scale=0.1, zp=zx)
    ins = [xi, g.const("v", vals, scale=0.01), g.const("rp", rp), g.const("ci", ci), g.const("b", b),
           g.const("m", mult), g.const("s", shift)]
    yi = g.output("y", "int8", ref.shape, scale=0.3, zp=zy)
    g.op("SPARSE_CONV1X1", ins, [yi], block_r=br, block_c=bc, rows=M, cols=K, qmin=qmin, qmax=127)
    run_all(g, ref)


@pytest.mark.parametrize("blk", SP_BLOCKS)
@pytest.mark.parametrize("B,K,M,dens", [(1, 64, 32, 0.1), (3, 40, 16, 0.5), (1, 8, 8, 0.0), (2, 128, 64, 1.0)])
def test_sparse_fc_i8_fast(blk, B, K, M, dens):
    br, bc = blk
    rng = np.random.default_rng(B + K + M + br * 5 + bc)
    rp, ci, vals, dense = make_bcsr(rng, M, K, br, bc, dens, np.int8)
    zx, zy = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    x = qdata(rng, (B, K), False)
    mult, shift = quant_params(rng, M, True)
    ref = fp.requantize((x.astype(np.int64) - zx) @ dense.T, mult, shift, zy, -128, 127)
    g = Graph()
    xi = g.input("x", x, scale=0.1, zp=zx)
    ins = [xi, g.const("v", vals), g.const("rp", rp), g.const("ci", ci), None, g.const("m", mult), g.const("s", shift)]
    yi = g.output("y", "int8", ref.shape, scale=0.1, zp=zy)
    g.op("SPARSE_FULLY_CONNECTED", ins, [yi], block_r=br, block_c=bc, rows=M, cols=K)
    run_all(g, ref)


# ---------------------------------------------------------------------------------------
# BINARY int8 Add / Mul: inner dims past 16 with remainders, operands broadcast along the
# inner dim (stride 0) and outer dims, and parameters the vector kernel declines (left_shift
# 23, an input multiplier >= 1), a single-value operand: every ISA level against numpy + fixedpoint.py.
BIN_I8 = [((1, 24, 56, 56), (1, 24, 56, 56)), ((2, 37, 19), (37, 1)), ((3, 1, 33), (3, 7, 33)), ((17,), (1,)),
          ((4, 1), (4, 45)),
          # one operand a single value, the other contiguous with >= 1024 elements (the table
          # path on VBMI CPUs), on either side, a 64-byte tail, and a broadcast (1, 1, 1) value
          ((3, 5, 7, 11), (1,)), ((1,), (2, 40, 33)), ((1, 1, 1), (1, 64, 32))]


@pytest.mark.parametrize("shapes", BIN_I8)
@pytest.mark.parametrize("kind,ls,ascale", [(0, 20, 0.5), (0, 22, 0.3), (0, 23, 0.5), (0, 20, 1.5), (2, 0, 0)])
def test_binary_i8_fast(shapes, kind, ls, ascale):
    rng = np.random.default_rng(len(shapes[0]) * 10 + ls + kind)
    a, b = qdata(rng, shapes[0], False), qdata(rng, shapes[1], ls == 22)
    za, zb, zy = int(rng.integers(-128, 128)), int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    M = fp.multiply_by_quantized_multiplier
    if kind == 0:
        am, ash = fp.quantize_multiplier(ascale)
        bm, bsh = fp.quantize_multiplier(0.45)
        om, osh = fp.quantize_multiplier(0.7 / (1 << ls))
        s = M((a.astype(np.int64) - za) << ls, am, ash) + M((b.astype(np.int64) - zb) << ls, bm, bsh)
        acc = M(np.clip(s, -2 ** 31, 2 ** 31 - 1), om, osh)
        params = dict(a_mult=am, a_shift=ash, b_mult=bm, b_shift=bsh, out_mult=om, out_shift=osh, left_shift=ls)
    else:
        om, osh = fp.quantize_multiplier(0.013)
        acc = M((a.astype(np.int64) - za) * (b.astype(np.int64) - zb), om, osh)
        params = dict(out_mult=om, out_shift=osh)
    ref = np.clip(np.broadcast_to(acc, np.broadcast_shapes(a.shape, b.shape)) + zy, -100, 120).astype(np.int8)
    g = Graph()
    ai, bi = g.input("a", a, scale=0.1, zp=za), g.input("b", b, scale=0.2, zp=zb)
    yi = g.output("y", "int8", ref.shape, scale=0.15, zp=zy)
    g.op("BINARY", [ai, bi], [yi], kind=kind, qmin=-100, qmax=120, **params)
    run_all(g, ref)


# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ds_cnn", "resnet8", "mobilenet_v1_025_96"])
def test_zoo_int8_identical_across_isas(tmp_path, name):
    """An int8 export of a zoo model gives the same bytes at every ISA level."""
    import edge_sdk
    from models import zoo

    path = zoo.build_onnx(name, tmp_path / f"{name}.onnx")
    art = edge_sdk.export(str(path), quantize="int8", validate=False)
    data = bytes(art.data)
    from edge_sdk.artifact.reader import read_artifact

    ra = read_artifact(data)
    rng = np.random.default_rng(0)
    ins = [rng.standard_normal(ra.tensors[i].shape).astype(np.float32) for i in ra.inputs]
    outs = {isa: run_artifact(data, ins, isa) for isa in ISA}
    outs["best, 3 threads"] = run_artifact(data, ins, "best", threads=3)  # channel ranges split 3 ways
    for isa in outs:
        for a, b in zip(outs["scalar"], outs[isa]):
            assert np.array_equal(a, b), isa


# ---------------------------------------------------------------------------------------
# QUANTIZE / DEQUANTIZE (AVX-512 16 lanes, AVX2 8 lanes + scalar tail): every length tail,
# exact ties (k + 0.5) * scale, values just beside ties, saturation, +-inf, NaN, -0, denormals.
@pytest.mark.parametrize("n", [1, 7, 8, 15, 17, 31, 33, 64, 100, 1027])
@pytest.mark.parametrize("scale,zp", [(0.1, -3), (0.0123, 127), (3.0, -128), (1.0, 0), (2.0 ** -20, 5)])
def test_quantize_dequantize_fast(n, scale, zp):
    rng = np.random.default_rng(n * 7 + zp + 128)
    k = rng.integers(-300, 300, size=n)
    x = ((k + 0.5) * scale).astype(np.float32)
    pick = rng.integers(0, 6, size=n)
    x = np.where(pick == 1, np.nextafter(x, np.float32(np.inf)), x)
    x = np.where(pick == 2, np.nextafter(x, np.float32(-np.inf)), x)
    x = np.where(pick == 3, (rng.standard_normal(n) * 200 * scale).astype(np.float32), x).astype(np.float32)
    special = np.array([0.0, -0.0, 1e-45, -1e-45, 3e38, -3e38, np.inf, -np.inf, np.nan, 1e9], np.float32)
    x[:min(n, special.size)] = special[:min(n, special.size)]
    g = Graph()
    xi = g.input("x", x.reshape(1, n))
    q = g.output("q", "int8", (1, n), scale=scale, zp=zp)
    d = g.output("d", "float32", (1, n))
    g.op("QUANTIZE", [xi], [q])
    g.op("DEQUANTIZE", [q], [d])
    outs = {isa: g.run(isa) for isa in ISA}
    finite = np.isfinite(x)
    with np.errstate(all="ignore"):
        ref_q = fp.quantize(np.where(finite, x, 0).astype(np.float32), scale, zp).reshape(1, n)
    ref_q = np.where(finite.reshape(1, n), ref_q, np.where(np.isnan(x), 0, np.where(x > 0, 127, -128)).reshape(1, n))
    for isa in ISA:
        exact(ref_q.astype(np.int8), outs[isa][0])
        exact(outs["scalar"][1], outs[isa][1])
    exact(fp.dequantize(ref_q.astype(np.int8), scale, zp), outs["scalar"][1])


# ---------------------------------------------------------------------------------------
def test_block_density():
    from edge_sdk.compile import bcsr

    w = np.zeros((4, 8), np.int8)
    w[0, 1] = 3
    w[2, 5] = w[2, 6] = -1
    assert bcsr.block_density(w, (1, 4)) == 2 / 8
    assert bcsr.block_density(w, (1, 1)) == 3 / 32
    assert bcsr.block_density(w, (4, 1)) == 3 / 8


def test_int8_unstructured_reencoded_1x4(tmp_path):
    """On the host target an unstructured int8 export stores its sparse 1x1 convs as 1x4 blocks
    (zero-padded, so exact), and runs identically at every ISA level."""
    import edge_sdk
    from edge_sdk.artifact.reader import read_artifact
    from models import zoo

    path = zoo.build_onnx("ds_cnn", tmp_path / "ds_cnn.onnx")
    rng = np.random.default_rng(3)
    ra0 = read_artifact(bytes(edge_sdk.export(str(path), validate=False).data))
    calib = [{ra0.tensors[i].name: rng.standard_normal(ra0.tensors[i].shape).astype(np.float32)
              for i in ra0.inputs} for _ in range(2)]
    art = edge_sdk.export(str(path), quantize="int8", calibration=calib, sparsity=0.95, pattern="unstructured",
                          validate=False)
    sparse = [layer for layer in art.report.layers if layer["kernel"].startswith("sparse_conv1x1")]
    assert sparse and all(tuple(layer["block"]) == (1, 4) for layer in sparse)
    assert all("1x4" in layer["reason"] for layer in sparse)
    data = bytes(art.data)
    ra = read_artifact(data)
    ins = [calib[0][ra.tensors[i].name] for i in ra.inputs]
    outs = {isa: run_artifact(data, ins, isa) for isa in ISA}
    for isa in ISA:
        for a, b in zip(outs["scalar"], outs[isa]):
            assert np.array_equal(a, b), isa


# ---------------------------------------------------------------------------------------
# Requantization at its rounding boundaries: the vector kernels rewrite TFLite's two-step
# rounding (SRDHM, then RDBPOT) as one 64-bit rounding with a sign term, in two forms (e >= 1
# without a left shift, and the general one). Each output channel gets its own shift (left
# shifts, e = 0 .. 31) and a bias that puts the channel's 256 accumulators (bias + x, x over
# every int8 value) across a point where the final rounding changes (a half-way point of
# either sign), or at the int32 limits. The "relu" variant clamps at qmin == zy (a fused ReLU /
# ReLU6), where the AVX-512 kernels leave the sign term out (negative values clamp to qmin
# either way): zy = -128 as MobileNetV1's ReLU6 layers have it, and a zero point inside the range.
def boundary_channels(rng):
    shifts = [2, 1, 0, 0] + [-e for e in range(1, 32)] + [-e for e in rng.integers(1, 14, size=13)]
    mult, bias = [], []
    for i, s in enumerate(shifts):
        m = int(rng.integers(1 << 30, 1 << 31))
        if i % 5 == 0:
            m = (m >> 12) << 12  # multipliers with trailing zero bits
        S = 31 - s  # value = acc * m / 2^S (before the clamp)
        reach = int(min(100, 0.9 * 2.0**31 * m / 2.0**S))  # |value| an int32 accumulator can give
        j = (int(rng.integers(-reach, reach + 1)) if reach else 0) + (0.5 if i % 3 else -0.5)
        if i % 7 == 3:
            a = (2**31 - 200) * (1 if i % 2 else -1)
        else:
            a = int(round(j * 2.0**S / m))
        bias.append(int(np.clip(a, -(2**31) + 200, 2**31 - 200)))
        mult.append(m)
    return np.array(mult, np.int32), np.array(shifts, np.int32), np.array(bias, np.int32)


@pytest.mark.parametrize("op", ["conv1x1", "sparse1x4", "dwconv3x3"])
@pytest.mark.parametrize("clamp", ["int8", "relu-128", "relu"])
def test_requant_rounding_boundaries_i8_fast(op, clamp):
    rng = np.random.default_rng({"conv1x1": 1, "sparse1x4": 2, "dwconv3x3": 3}[op] + 10 * len(clamp))
    zy = {"int8": int(rng.integers(-20, 20)), "relu-128": -128, "relu": int(rng.integers(-20, 20))}[clamp]
    qmin = -128 if clamp == "int8" else zy
    mult, shift, b = boundary_channels(rng)
    M = mult.size
    xs = np.arange(-128, 128, dtype=np.int8)
    g = Graph()
    if op == "dwconv3x3":  # center tap 1: acc = b + x, one 16x16 map per channel
        x = np.stack([rng.permutation(xs) for _ in range(M)]).reshape(1, M, 16, 16)
        w = np.zeros((M, 1, 3, 3), np.int8)
        w[:, 0, 1, 1] = 1
        acc = x.astype(np.int64) + b.reshape(1, -1, 1, 1)
        xi = g.input("x", x, scale=0.05, zp=0)
        ins = [xi, g.const("w", w, scale=0.01), g.const("b", b), g.const("mult", mult), g.const("shift", shift)]
        yi = g.output("y", "int8", acc.shape, scale=0.1, zp=zy)
        g.op("CONV2D", ins, [yi], stride_h=1, stride_w=1, pad_t=1, pad_l=1, pad_b=1, pad_r=1, dil_h=1, dil_w=1,
             group=M, qmin=qmin, qmax=127)
    else:  # 4 input channels, only the first weighted: acc = b + x[0]
        x = np.stack([xs] + [rng.permutation(xs) for _ in range(3)]).reshape(1, 4, 16, 16)
        acc = x[:, :1].astype(np.int64) + b.reshape(1, -1, 1, 1)
        xi = g.input("x", x, scale=0.05, zp=0)
        yi = g.output("y", "int8", acc.shape, scale=0.1, zp=zy)
        if op == "conv1x1":
            w = np.zeros((M, 4, 1, 1), np.int8)
            w[:, 0] = 1
            ins = [xi, g.const("w", w, scale=0.01), g.const("b", b), g.const("mult", mult), g.const("shift", shift)]
            g.op("CONV2D", ins, [yi], stride_h=1, stride_w=1, pad_t=0, pad_l=0, pad_b=0, pad_r=0, dil_h=1,
                 dil_w=1, group=1, qmin=qmin, qmax=127)
        else:
            vals = np.tile(np.array([1, 0, 0, 0], np.int8), M)
            ins = [xi, g.const("v", vals, scale=0.01), g.const("rp", np.arange(M + 1, dtype=np.uint32)),
                   g.const("ci", np.zeros(M, np.uint32)), g.const("b", b), g.const("m", mult), g.const("s", shift)]
            g.op("SPARSE_CONV1X1", ins, [yi], block_r=1, block_c=4, rows=M, cols=4, qmin=qmin, qmax=127)
    ref = fp.requantize(acc, mult.reshape(1, -1, 1, 1), shift.reshape(1, -1, 1, 1), zy, qmin, 127)
    # the boundaries are really crossed: most channels take more than one output value (with
    # the ReLU clamp, the channels whose boundary is negative clamp to one value)
    assert np.mean([np.unique(ref[0, m]).size > 1 for m in range(M)]) > (0.5 if clamp == "int8" else 0.3)
    run_all(g, ref)
