"""Guest instructions per inference on the emulated aarch64 boards (rpi4 = Cortex-A72 NEON,
rpi5 = Cortex-A76 NEON + SDOT), dense vs sparse, fp32 and int8.

Wall time under qemu says nothing about a real board, so the measure is the number of guest
instructions qemu executes for one esdk_invoke, counted by the TCG plugin
native/tools/insn_count_plugin.c. Method (edge_sdk.build.linux.count_instructions): run the
bench program with 1 and with 1 + K inferences and take the difference / K, so process start,
artifact reading and validation cancel out. Counts are deterministic (same binary, same
inputs). The energy column multiplies by the target's nominal pJ/instruction
(targets/*.toml, a documented estimate, not a measurement). Instruction counts are not time:
an SDOT or a 4-wide FMA is one instruction, and cache misses are invisible here.

Writes the table into docs/performance.md between the emulated markers and prints it.

    python bench/emulated_targets.py [--models ds_cnn mobilenet_v1] [--sparsity 0.9] [--no-scalar] [--no-write]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import edge_sdk  # noqa: E402
from edge_sdk.build import linux  # noqa: E402
from edge_sdk.compile.target import load_target  # noqa: E402
from bench_common import write_marked  # noqa: E402
from models import zoo  # noqa: E402

BEGIN, END = "<!-- emulated:begin -->", "<!-- emulated:end -->"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["ds_cnn", "mobilenet_v1"])
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--runs", type=int, default=1, help="K extra inferences for the difference (counts are exact)")
    ap.add_argument("--no-scalar", action="store_true", help="skip the scalar-kernel column")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    rpi4, rpi5 = load_target("rpi4"), load_target("rpi5")
    miss = linux.missing_tools(rpi4)
    if miss:
        print(f"emulated_targets: needs {', '.join(miss)}", file=sys.stderr)
        return 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            src = Path(tmp) / f"{model}.onnx"
            zoo.build_onnx(model, src)
            for quant in ("none", "int8"):
                for sp in (0.0, args.sparsity):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        art = edge_sdk.export(src, sparsity=sp, quantize=quant, target="rpi4")
                    path = art.save(Path(tmp) / f"{model}-{quant}-{sp}.esm")
                    a72 = linux.count_instructions(rpi4, path, args.runs)
                    a76 = linux.count_instructions(rpi5, path, args.runs)
                    sc = None if args.no_scalar else linux.count_instructions(rpi4, path, args.runs, isa="scalar")
                    rows.append((model, "int8" if quant == "int8" else "fp32", sp, a72, a76, sc))
                    print(f"# {rows[-1][:3]}: a72 {a72['insns_per_inference']:.4g} a76 {a76['insns_per_inference']:.4g}"
                          + (f" scalar {sc['insns_per_inference']:.4g}" if sc else ""), file=sys.stderr)
    e4, e5 = rpi4.raw["energy_pj_per_insn"], rpi5.raw["energy_pj_per_insn"]
    lines = [BEGIN, "",
             "Guest instructions per inference (millions) under qemu-aarch64 7.2 user mode, counted by",
             "`native/tools/insn_count_plugin.c`: (count with 1 + K inferences - count with 1) / K.",
             "One static binary (`edge-sdk build --target rpi4`); the kernel set is picked at load time",
             "from HWCAP: `neon` on `-cpu cortex-a72` (rpi4), `neon-dotprod` on `-cpu cortex-a76` (rpi5).",
             f"Energy = instructions x the nominal {e4} pJ (rpi4) / {e5} pJ (rpi5) per instruction from",
             "targets/*.toml: an order-of-magnitude estimate, not a measurement. Sparse rows: unstructured",
             f"magnitude pruning at {args.sparsity:.0%}; layers go block-CSR where the target's break-even says so.",
             "Instructions are not time (vector width, memory stalls): use these to compare kernels.", "",
             "| model | dtype | sparsity | rpi4 A72 neon (M) | rpi5 A76 neon-dotprod (M) | A72 scalar kernels (M) "
             "| sparse / dense (A72) | energy rpi4 (mJ) | energy rpi5 (mJ) |",
             "|---|---|---|---|---|---|---|---|---|"]
    dense = {(m, d): a72["insns_per_inference"] for m, d, sp, a72, _, _ in rows if sp == 0.0}
    for m, d, sp, a72, a76, sc in rows:
        n4, n5 = a72["insns_per_inference"], a76["insns_per_inference"]
        ratio = n4 / dense[(m, d)]
        lines.append(f"| {m} | {d} | {sp:.0%} | {n4 / 1e6:.2f} | {n5 / 1e6:.2f} | "
                     f"{sc['insns_per_inference'] / 1e6:.2f} | " if sc else f"| {m} | {d} | {sp:.0%} | {n4 / 1e6:.2f} | "
                     f"{n5 / 1e6:.2f} | – | ")
        lines[-1] += f"{ratio:.2f} | {n4 * e4 * 1e-9:.3f} | {n5 * e5 * 1e-9:.3f} |"
    lines += ["", END]
    block = "\n".join(lines)
    print(block)
    if not args.no_write:
        write_marked(ROOT / "docs" / "performance.md", block, BEGIN, END,
                     "## Emulated aarch64 boards (instructions per inference)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
