"""Guest instructions per expert matvec on aarch64: the NEON kernels against the scalar
reference, at the benchmark model's expert shapes (gate/up 8192 x 256, down 256 x 8192).

An instruction count, not a time: qemu-aarch64 runs native/programs/moe_xmatvec_check.c
(`run QUANT ISA ROWS COLS N`), the TCG plugin native/tools/insn_count_plugin.c counts the
guest instructions, and (count with 1 + K matvecs - count with 1) / K leaves one matvec. The
binary is built like the aarch64 targets' library (-O3 -ffp-contract=off, static). A 4-wide
vmul is one instruction here, as is a scalar fmul; memory stalls are invisible.

    python bench/xmatvec_neon_insns.py [--runs 4]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_sdk.build import linux  # noqa: E402

SHAPES = [(8192, 256), (256, 8192)]
QUANTS = [(1, "int8"), (2, "int4"), (0, "f32")]
ISAS = [(0, "scalar"), (2, "neon")]


def build(out: Path) -> Path:
    cc = shutil.which("aarch64-linux-gnu-gcc")
    if not cc or not shutil.which("qemu-aarch64"):
        sys.exit("needs aarch64-linux-gnu-gcc and qemu-aarch64")
    srcs = sorted(str(p) for p in (ROOT / "native" / "src" / "moe").glob("*.c"))
    exe = out / "moe_xmatvec_check"
    subprocess.run([cc, "-O3", "-std=c99", "-ffp-contract=off", "-static", "-pthread", f"-I{ROOT / 'native/include'}",
                    *srcs, str(ROOT / "native/programs/moe_xmatvec_check.c"), "-o", str(exe), "-lm"], check=True)
    return exe


def count(exe: Path, plugin: Path, quant: int, isa: int, rows: int, cols: int, n: int) -> int:
    r = subprocess.run(["qemu-aarch64", "-plugin", str(plugin), "-d", "plugin", str(exe), "run", str(quant), str(isa), str(rows),
                        str(cols), str(n)], capture_output=True, text=True, check=True)
    return int([ln for ln in r.stderr.splitlines() if ln.startswith("insns:")][-1].split(":", 1)[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=4, help="K: matvecs in the second run, beyond the first")
    args = ap.parse_args()
    plugin = linux.insn_plugin()
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(Path(tmp))
        print("| weights | matrix, rows x cols | scalar, instructions | NEON, instructions | per weight, scalar / NEON | scalar / NEON |")
        print("|---|---|---|---|---|---|")
        for quant, qname in QUANTS:
            for rows, cols in SHAPES:
                per = {}
                for isa, _ in ISAS:
                    one = count(exe, plugin, quant, isa, rows, cols, 1)
                    more = count(exe, plugin, quant, isa, rows, cols, 1 + args.runs)
                    per[isa] = (more - one) / args.runs
                s, v = per[0], per[2]
                w = rows * cols
                print(f"| {qname} | {rows} x {cols} | {s / 1e6:.2f} M | {v / 1e6:.2f} M | {s / w:.2f} / {v / w:.3f} "
                      f"| {s / v:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
