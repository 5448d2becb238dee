"""Write a seed corpus for fuzz_loader (valid artifacts from the native tests' builders) and,
with --mutations N, N random mutations of them with CRCs fixed (for the no-libFuzzer mode)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from edge_sdk.artifact.writer import fix_crcs  # noqa: E402
from edge_sdk.compile import bcsr  # noqa: E402
from native_harness import Graph  # noqa: E402
from test_native_loader import sample_graph  # noqa: E402


def kchunk_graph() -> Graph:
    """A SPARSE_CONV1X1 with K-chunked weights (format 1.1 k_chunk word, chunk-major rows)."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((6, 10)).astype(np.float32)
    w[rng.random(w.shape) < 0.5] = 0.0
    p = bcsr.pack_k_chunked(w, 4)
    g = Graph()
    xi = g.input("x", rng.standard_normal((1, 10, 3, 3)).astype(np.float32))
    yi = g.output("y", "float32", (1, 6, 3, 3))
    g.op("SPARSE_CONV1X1", [xi, g.const("v", p.values), g.const("rp", p.row_ptr), g.const("ci", p.col_idx), None],
         [yi], block_r=1, block_c=1, rows=6, cols=10, k_chunk=4)
    return g


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--mutations", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = [sample_graph().to_bytes(), kchunk_graph().to_bytes()]
    for i, s in enumerate(seeds):
        (args.out / f"seed_{i}.esm").write_bytes(s)
    rng = np.random.default_rng(args.seed)
    for i in range(args.mutations):
        buf = bytearray(seeds[i % len(seeds)])
        for _ in range(int(rng.integers(1, 8))):
            op = rng.integers(4)
            pos = int(rng.integers(0, len(buf)))
            if op == 0:
                buf[pos] ^= 1 << int(rng.integers(8))
            elif op == 1:
                buf[pos] = int(rng.choice([0, 1, 0x7F, 0x80, 0xFF]))
            elif op == 2 and pos + 4 <= len(buf):
                buf[pos:pos + 4] = int(rng.choice([0, 1, 2**31 - 1, 2**32 - 1, 64, 4096])).to_bytes(4, "little")
            else:
                del buf[pos:]
                if not buf:
                    buf = bytearray(b"E")
        (args.out / f"mut_{i}.esm").write_bytes(fix_crcs(bytes(buf)) if rng.random() < 0.8 else bytes(buf))


if __name__ == "__main__":
    main()
