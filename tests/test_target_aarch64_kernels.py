"""NEON / SDOT kernels on emulated Cortex-A72 (rpi4) and Cortex-A76 (rpi5), shape by shape:
the odd shapes of test_native_kernels (tails in HW, K, M; strides; pads; block shapes) built
as one-op artifacts, run by the cross-built bench program under qemu-aarch64 and compared
with the host runtime: int8 bit-exact, fp32 within 1e-5 relative (test_target_aarch64_util)."""
from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.build import run_on_target

native_harness = pytest.importorskip("native_harness")
from native_harness import Graph  # noqa: E402
from test_target_aarch64_util import TARGETS, fp32_close, int8_exact, needs_aarch64  # noqa: E402
from test_native_kernels import CONV_CASES, FC_SHAPES, SPARSE_CASES, make_bcsr, rand_mult, rand_q  # noqa: E402

pytestmark = needs_aarch64


def conv_graph(case: int, dtype: str) -> Graph:
    C, M, H, W, K, stride, pads, dil, group = CONV_CASES[case]
    rng = np.random.default_rng(500 + case)
    N = 2 if case % 3 == 0 else 1
    OH = (H + pads[0] + pads[2] - dil[0] * (K - 1) - 1) // stride[0] + 1
    OW = (W + pads[1] + pads[3] - dil[1] * (K - 1) - 1) // stride[1] + 1
    geo = dict(stride_h=stride[0], stride_w=stride[1], pad_t=pads[0], pad_l=pads[1], pad_b=pads[2], pad_r=pads[3],
               dil_h=dil[0], dil_w=dil[1], group=group)
    g = Graph()
    if dtype == "float32":
        xi = g.input("x", rng.standard_normal((N, C, H, W)).astype(np.float32))
        wi = g.const("w", rng.standard_normal((M, C // group, K, K)).astype(np.float32))
        bi = g.const("b", rng.standard_normal(M).astype(np.float32)) if case % 2 == 0 else None
        yi = g.output("y", "float32", (N, M, OH, OW))
        g.op("CONV2D", [xi, wi, bi], [yi], act=2, act_min=-0.5, act_max=0.75, **geo)
    else:
        zx, zy = int(rng.integers(-20, 20)), int(rng.integers(-10, 10))
        xi = g.input("x", rand_q(rng, (N, C, H, W)), scale=0.05, zp=zx)
        wi = g.const("w", rand_q(rng, (M, C // group, K, K), -127, 127), scale=0.01)
        bi = g.const("b", rng.integers(-5000, 5000, size=M).astype(np.int32))
        mult, shift = rand_mult(rng, M)
        yi = g.output("y", "int8", (N, M, OH, OW), scale=0.1, zp=zy)
        g.op("CONV2D", [xi, wi, bi, g.const("mult", mult), g.const("shift", shift)], [yi],
             qmin=-128 if case % 2 else -100, qmax=127 if case % 2 else 90, **geo)
    return g


def sparse_graph(case: int, dtype: str) -> Graph:
    K, M, H, W, br, bc, dens = SPARSE_CASES[case]
    rng = np.random.default_rng(600 + case)
    N = 2 if case % 2 else 1
    g = Graph()
    if dtype == "float32":
        rp, ci, vals, _ = make_bcsr(rng, M, K, br, bc, dens, np.float32)
        xi = g.input("x", rng.standard_normal((N, K, H, W)).astype(np.float32))
        ins = [xi, g.const("v", vals), g.const("rp", rp), g.const("ci", ci),
               g.const("b", rng.standard_normal(M).astype(np.float32))]
        yi = g.output("y", "float32", (N, M, H, W))
        g.op("SPARSE_CONV1X1", ins, [yi], block_r=br, block_c=bc, rows=M, cols=K, act=2, act_min=-1.0, act_max=1.5)
    else:
        rp, ci, vals, _ = make_bcsr(rng, M, K, br, bc, dens, np.int8)
        zx, zy = int(rng.integers(-50, 50)), int(rng.integers(-5, 5))
        xi = g.input("x", rand_q(rng, (N, K, H, W)), scale=0.1, zp=zx)
        mult, shift = rand_mult(rng, M)
        ins = [xi, g.const("v", vals, scale=0.01), g.const("rp", rp), g.const("ci", ci),
               g.const("b", rng.integers(-3000, 3000, size=M).astype(np.int32)), g.const("m", mult), g.const("s", shift)]
        yi = g.output("y", "int8", (N, M, H, W), scale=0.3, zp=zy)
        g.op("SPARSE_CONV1X1", ins, [yi], block_r=br, block_c=bc, rows=M, cols=K)
    return g


def fc_graph(shape: tuple, dtype: str) -> Graph:
    B, K, M = shape
    rng = np.random.default_rng(700 + K + M)
    g = Graph()
    if dtype == "float32":
        xi, wi = g.input("x", rng.standard_normal((B, K)).astype(np.float32)), g.const("w", rng.standard_normal((M, K)).astype(np.float32))
        yi = g.output("y", "float32", (B, M))
        g.op("FULLY_CONNECTED", [xi, wi, g.const("b", rng.standard_normal(M).astype(np.float32))], [yi], act=1)
    else:
        zx, zy = int(rng.integers(-128, 127)), int(rng.integers(-20, 20))
        xi = g.input("x", rand_q(rng, (B, K)), scale=0.1, zp=zx)
        mult, shift = rand_mult(rng, M)
        ins = [xi, g.const("w", rand_q(rng, (M, K), -127, 127), scale=0.01),
               g.const("b", rng.integers(-10000, 10000, size=M).astype(np.int32)), g.const("m", mult), g.const("s", shift)]
        yi = g.output("y", "int8", (B, M), scale=0.2, zp=zy)
        g.op("FULLY_CONNECTED", ins, [yi])
    return g


def check(g: Graph, target: str, tmp_path) -> None:
    host = g.run("best")[0]
    path = tmp_path / "op.esm"
    path.write_bytes(g.to_bytes())
    got = run_on_target(path, target, {"x": g.inputs[0][1]})["y"]
    (fp32_close if host.dtype == np.float32 else int8_exact)(host, got)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", ["float32", "int8"])
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv(target, dtype, case, tmp_path):
    check(conv_graph(case, dtype), target, tmp_path)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", ["float32", "int8"])
@pytest.mark.parametrize("case", range(len(SPARSE_CASES)))
def test_sparse_conv1x1(target, dtype, case, tmp_path):
    check(sparse_graph(case, dtype), target, tmp_path)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", ["float32", "int8"])
@pytest.mark.parametrize("shape", FC_SHAPES)
def test_fc(target, dtype, shape, tmp_path):
    check(fc_graph(shape, dtype), target, tmp_path)
