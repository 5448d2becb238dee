"""int8 sparse 1x1 conv vs dense: the break-even table of the int8 cost model.

For each block shape the x86 int8 kernels take (1x4: the VNNI lane group, which unstructured
weights are re-encoded into; 4x1 and 1x1 for the other patterns) and each MobileNetV1 1x1
shape, one-op int8 artifacts (dense CONV2D and SPARSE_CONV1X1 at several densities of nonzero
BLOCKS) run interleaved in this process through the normal runtime dispatch; the interpolated
density where sparse time = dense time, the minimum over the shapes of each pixel-count class,
goes to targets/<target>.toml [cost.sparse_break_even_i8] with --write, where
edge_sdk/compile/lower.py compares it with each int8 1x1 layer's block density.

    python bench/kernels_i8.py [--runs 15] [--write] [--target host]
"""
from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import edge_sdk  # noqa: E402
from edge_sdk.artifact.writer import GRAPH_INPUT, GRAPH_OUTPUT, ArtifactBuilder  # noqa: E402
from edge_sdk.benchmark import interleaved  # noqa: E402
from edge_sdk.compile import bcsr  # noqa: E402
from edge_sdk.quant import fixedpoint as fp  # noqa: E402
from kernels import SHAPES_1X1, crossing, table_entries, write_cost_section  # noqa: E402

# the small-K shapes of MobileNetV1 too: at 10% they are bound by requantization, not MACs
SHAPES = [(32, 64, 112, 112), (64, 128, 56, 56)] + SHAPES_1X1
DENSITIES = {(1, 4): [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], (4, 1): [0.05, 0.1, 0.2, 0.3], (1, 1): [0.05, 0.1, 0.2, 0.3]}
SECTION = "[cost.sparse_break_even_i8]"


def session(rng, K, M, H, W, block=None, density=1.0):
    """(Session, description): a one-op int8 1x1 conv, dense or block-CSR at a block density."""
    b = ArtifactBuilder()
    x = b.activation("x", "int8", (1, K, H, W), offset=0, flags=GRAPH_INPUT, scale=0.05, zero_point=-3)
    y = b.activation("y", "int8", (1, M, H, W), offset=(K * H * W + 63) // 64 * 64, flags=GRAPH_OUTPUT,
                     scale=0.1, zero_point=2)
    w = rng.integers(-127, 128, size=(M, K)).astype(np.int8)
    mult, shift = fp.quantize_multipliers(np.full(M, 0.05 * 0.01 / 0.1 / 8))
    bias = rng.integers(-2000, 2000, size=M).astype(np.int32)
    q = [b.constant("b", bias), b.constant("m", mult.astype(np.int32)), b.constant("s", shift.astype(np.int32))]
    if block is None:
        wi = b.constant("w", w.reshape(M, K, 1, 1), scale=0.01)
        b.op("CONV2D", inputs=[x, wi] + q, outputs=[y],
             params=dict(stride_h=1, stride_w=1, pad_t=0, pad_l=0, pad_b=0, pad_r=0, dil_h=1, dil_w=1, group=1,
                         qmin=-128, qmax=127))
    else:
        br, bc = block
        keep = rng.random((M // br, K // bc)) < density
        w = (w * np.kron(keep, np.ones((br, bc), np.int8))).astype(np.int8)
        p = bcsr.pack(w, block)
        ins = [x, b.constant("v", p.values, scale=0.01), b.constant("r", p.row_ptr), b.constant("c", p.col_idx)] + q
        b.op("SPARSE_CONV1X1", inputs=ins, outputs=[y],
             params=dict(block_r=br, block_c=bc, rows=M, cols=K))
    b.set_io(inputs=[x], outputs=[y])
    s = edge_sdk.Session(b.to_bytes(), threads=1)
    s.run({s.inputs[0].name: rng.integers(-128, 128, size=(1, K, H, W)).astype(np.int8)})
    return s


def sweep(rng, runs):
    """{block: {(K, M, H, W): (break-even block density, {density: sparse/dense time})}}."""
    out = {}
    for block, dens in DENSITIES.items():
        out[block] = {}
        for K, M, H, W in SHAPES:
            cases = {"dense": session(rng, K, M, H, W)}
            for d in dens:
                cases[f"{d}"] = session(rng, K, M, H, W, block, d)
            t = interleaved({k: s.invoke for k, s in cases.items()}, runs=runs, warmup=3)
            ratios = {d: t[f"{d}"].median / t["dense"].median for d in dens}
            out[block][(K, M, H, W)] = (crossing(ratios), ratios)
            print(f"  {block[0]}x{block[1]} {K}->{M} {H}x{W}: " + " ".join(f"{d:.2f}:{r:.2f}" for d, r in ratios.items()),
                  flush=True)
    return out


def write_target(target: str, table: dict[str, float], stamp: str) -> Path:
    note = (f"# int8 SPARSE_CONV1X1 (AVX-512 VNNI kernels), compared with the density of nonzero BLOCKS.\n"
            f"# With this table present the compiler re-encodes unstructured int8 1x1 weights as 1x4 blocks\n"
            f"# (VPDPBUSD consumes 4 input channels per lane; see edge_sdk/compile/lower.py sparse_choice).\n"
            f"# measured {stamp} by `python bench/kernels_i8.py --write` (one-op int8 artifacts, MobileNetV1\n"
            f"# 1x1 shapes, one thread; minimum over the shapes of each pixel-count class)\n")
    return write_cost_section(target, SECTION, note, table)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--target", default="host")
    ap.add_argument("--write", action="store_true", help="write the table into targets/<target>.toml")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    probe = session(rng, 8, 8, 4, 4)
    print(f"int8 sparse 1x1 / dense 1x1 time by block density (kernels: {probe.isa}):", flush=True)
    be = sweep(rng, args.runs)
    table = table_entries(be, default=0.05)
    stamp = datetime.date.today().isoformat()
    print("| key | break-even block density |\n|---|---|")
    for k, v in table.items():
        print(f"| `{k}` | {v:.3f} |")
    if args.write:
        print(f"wrote {write_target(args.target, table, stamp)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
