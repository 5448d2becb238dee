"""Per-kernel microbenchmarks and the sparse/dense cost model for this machine.

* Peak FMA rate of one core, measured (bench/peak_fma.c: 16 independent FMA chains on zmm /
  ymm registers, built with cffi).
* Each fp32 kernel on MobileNet-like shapes as a one-op artifact run by the native runtime
  (the same dispatch as a model): effective GFLOP/s = 2 x nonzero MACs / median time, and the
  fraction of the measured peak.
* Dense 1x1 vs block-CSR sparse 1x1 at several densities per block shape (1x1, 4x1, 8x1, 1x4),
  interleaved in one process; the break-even density (sparse as fast as dense, interpolated)
  per block shape and pixel-count class goes to targets/<target>.toml [cost.sparse_break_even]
  with --write, where edge_sdk/compile/lower.py reads it (Target.break_even_entry).

Prints the markdown it writes into docs/performance.md (between the kernels markers).

    python bench/kernels.py [--runs 25] [--write] [--no-doc] [--target host] [--isa auto|avx2|scalar]
"""
from __future__ import annotations

import argparse
import datetime
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_sdk.artifact.writer import GRAPH_INPUT, GRAPH_OUTPUT, ArtifactBuilder  # noqa: E402
from edge_sdk.benchmark import interleaved  # noqa: E402
from edge_sdk.compile import bcsr  # noqa: E402
from edge_sdk.compile.target import load_target  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from bench_common import cpu_name, write_marked  # noqa: E402

BEGIN, END = "<!-- kernels:begin -->", "<!-- kernels:end -->"
BLOCKS = [(1, 1), (4, 1), (8, 1), (1, 4)]
DENSITIES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
# (K, M, H, W): MobileNetV1's 1x1 layers; the first two are "large HW", the last two "small HW"
SHAPES_1X1 = [(128, 128, 56, 56), (256, 256, 28, 28), (512, 512, 14, 14), (1024, 1024, 7, 7)]
SMALL_HW = 256  # pixel count at or below which the "@hw<=256" table entries apply
# small-map classes of the table: 7x7 (K-chunked weights, 4 vectors a row) and 14x14 differ
SMALL_CLASSES = (64, SMALL_HW)


# ---- peak FMA --------------------------------------------------------------------------
def peak_gflops() -> dict[str, float]:
    """Best of several runs of the FMA loop, per ISA ({'avx512': GFLOP/s, 'avx2': ...})."""
    from cffi import FFI

    ffi = FFI()
    ffi.cdef("double esdk_peak_fma_avx512(int64_t iters); double esdk_peak_fma_avx2(int64_t iters);")
    ffi.set_source("_esdk_peak", "#include <stdint.h>\ndouble esdk_peak_fma_avx512(int64_t);"
                   "double esdk_peak_fma_avx2(int64_t);", sources=[str(ROOT / "bench" / "peak_fma.c")],
                   extra_compile_args=["-O2"])
    build = Path(tempfile.mkdtemp(prefix="esdk-peak-"))
    so = ffi.compile(tmpdir=str(build), verbose=False)
    import importlib.util

    spec = importlib.util.spec_from_file_location("_esdk_peak", so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    flags = open("/proc/cpuinfo").read() if Path("/proc/cpuinfo").exists() else ""
    out = {}
    for isa, fn, lanes in (("avx512", mod.lib.esdk_peak_fma_avx512, 16), ("avx2", mod.lib.esdk_peak_fma_avx2, 8)):
        if isa == "avx512" and " avx512f " not in flags.replace("\n", " "):
            continue
        iters = 2_000_000
        best = 0.0
        for _ in range(7):
            t0 = time.perf_counter()
            fn(iters)
            dt = time.perf_counter() - t0
            best = max(best, iters * 16 * lanes * 2 / dt / 1e9)
        out[isa] = best
    return out


# ---- one-op artifacts ---------------------------------------------------------------------
class OneOp:
    def __init__(self):
        self.b = ArtifactBuilder()
        self.off = 0
        self.ins, self.outs = [], []

    def act(self, name, shape, flags):
        n = int(np.prod(shape)) * 4
        i = self.b.activation(name, "float32", tuple(shape), offset=self.off, flags=flags)
        self.off += (n + 63) // 64 * 64
        return i

    def session(self, opcode, inputs, out_shape, params, isa, threads=1):
        import edge_sdk

        y = self.act("y", out_shape, GRAPH_OUTPUT)
        self.outs.append(y)
        self.b.op(opcode, inputs=inputs, outputs=[y], params=params)
        self.b.set_io(inputs=self.ins, outputs=self.outs)
        return edge_sdk.Session(self.b.to_bytes(), threads=threads, isa="scalar" if isa == "scalar" else "auto")

    def x(self, shape, rng):
        i = self.act("x", shape, GRAPH_INPUT)
        self.ins.append(i)
        return i

    def c(self, name, arr):
        return self.b.constant(name, np.ascontiguousarray(arr))


def conv_session(rng, C, M, H, W, K, stride, pad, group, isa, threads=1, sparse_w=None):
    o = OneOp()
    xi = o.x((1, C, H, W), rng)
    w = sparse_w if sparse_w is not None else rng.standard_normal((M, C // group, K, K)).astype(np.float32)
    OH, OW = (H + 2 * pad - K) // stride + 1, (W + 2 * pad - K) // stride + 1
    s = o.session("CONV2D", [xi, o.c("w", w), o.c("b", rng.standard_normal(M).astype(np.float32))], (1, M, OH, OW),
                  dict(stride_h=stride, stride_w=stride, pad_t=pad, pad_l=pad, pad_b=pad, pad_r=pad, dil_h=1, dil_w=1,
                       group=group, act=1), isa, threads)
    return s, int(np.count_nonzero(w)) * OH * OW


def pruned(rng, M, K, density, block):
    br, bc = block
    w = rng.standard_normal((M, K)).astype(np.float32)
    keep = rng.random((M // br, K // bc)) < density
    return (w * np.kron(keep, np.ones((br, bc), np.float32))).astype(np.float32)


def spmm_session(rng, w2, block, H, W, isa, threads=1, fc=False, target=None):
    """One sparse op, its weights packed as the exporter packs them for `target` (K-chunked
    for unstructured 1x1 convs on small maps, edge_sdk/compile/lower.py)."""
    M, K = w2.shape
    kc = target.k_chunk(H * W, K, float(np.count_nonzero(w2)) / w2.size) \
        if target is not None and block == (1, 1) and not fc else 0
    p = bcsr.pack_k_chunked(w2, kc) if kc else bcsr.pack(w2, block)
    o = OneOp()
    xi = o.x((1, K) if fc else (1, K, H, W), rng)
    ins = [xi, o.c("v", p.values), o.c("r", p.row_ptr), o.c("c", p.col_idx), o.c("b", np.zeros(M, np.float32))]
    s = o.session("SPARSE_FULLY_CONNECTED" if fc else "SPARSE_CONV1X1", ins, (1, M) if fc else (1, M, H, W),
                  dict(block_r=block[0], block_c=block[1], rows=M, cols=K, act=1, **({"k_chunk": kc} if kc else {})),
                  isa, threads)
    return s, int(np.count_nonzero(w2)) * (1 if fc else H * W)


def fc_session(rng, K, M, isa, threads=1):
    o = OneOp()
    xi = o.x((1, K), rng)
    s = o.session("FULLY_CONNECTED", [xi, o.c("w", rng.standard_normal((M, K)).astype(np.float32)),
                                      o.c("b", np.zeros(M, np.float32))], (1, M), dict(act=0), isa, threads)
    return s, K * M


def fill(sess, rng):
    sess.run({i.name: rng.standard_normal(i.shape).astype(np.float32) for i in sess.inputs})


# ---- measurements ---------------------------------------------------------------------------
def measure(cases: dict, runs: int, warmup: int = 3) -> dict[str, float]:
    """{name: (session, macs)} -> {name: median seconds}, interleaved in this process."""
    t = interleaved({k: v[0].invoke for k, v in cases.items()}, runs=runs, warmup=warmup)
    return {k: t[k].median / 1e3 for k in cases}


def kernel_rows(rng, isa, runs, peak):
    """(kernel, shape, nonzero MACs, median us, GFLOP/s, % peak) for the dense kernels and a few
    sparse points; threads=1 plus a threads=2 row for the big three."""
    rows = []
    cases = {
        ("first conv 3x3/s2 (direct)", "3->32, 224x224"): conv_session(rng, 3, 32, 224, 224, 3, 2, 1, 1, isa),
        ("depthwise 3x3/s1", "32ch, 112x112"): conv_session(rng, 32, 32, 112, 112, 3, 1, 1, 32, isa),
        ("depthwise 3x3/s2", "64ch, 112x112"): conv_session(rng, 64, 64, 112, 112, 3, 2, 1, 64, isa),
        ("depthwise 3x3/s1", "512ch, 14x14"): conv_session(rng, 512, 512, 14, 14, 3, 1, 1, 512, isa),
        ("general conv 3x3/s1 (direct)", "32->32, 56x56"): conv_session(rng, 32, 32, 56, 56, 3, 1, 1, 1, isa),
        ("general conv 5x5/s1 depthwise", "64ch, 32x32"): conv_session(rng, 64, 64, 32, 32, 5, 1, 2, 64, isa),
        ("fully connected (GEMV)", "1024->1000"): fc_session(rng, 1024, 1000, isa),
    }
    for K, M, H, W in [(32, 64, 112, 112)] + SHAPES_1X1:
        cases[("dense 1x1 (GEMM)", f"{K}->{M}, {H}x{W}")] = conv_session(rng, K, M, H, W, 1, 1, 0, 1, isa)
    for block in BLOCKS:
        w2 = pruned(rng, 512, 512, 0.1, block)
        cases[(f"sparse 1x1 {block[0]}x{block[1]}, 90%", "512->512, 14x14")] = spmm_session(rng, w2, block, 14, 14, isa)
    cases[("sparse FC 1x1, 90%", "1024->1000")] = spmm_session(rng, pruned(rng, 1000, 1024, 0.1, (1, 1)), (1, 1),
                                                              1, 1, isa, fc=True)
    cases[("sparse FC 8x1, 90%", "1024->1000")] = spmm_session(rng, pruned(rng, 1000, 1024, 0.1, (8, 1)), (8, 1),
                                                              1, 1, isa, fc=True)
    for k, (s, _) in cases.items():
        fill(s, rng)
    named = {f"{k[0]} | {k[1]}": v for k, v in cases.items()}
    t = measure(named, runs)
    for name, (s, macs) in named.items():
        kern, shape = name.split(" | ")
        gf = 2 * macs / t[name] / 1e9
        rows.append((kern, shape, 1, macs, t[name] * 1e6, gf, gf / peak))
    # threads=2 for the three dominant kernels (the pool splits output channels)
    thr = {
        "dense 1x1 (GEMM) | 256->256, 28x28": (conv_session(rng, 256, 256, 28, 28, 1, 1, 0, 1, isa, threads=2)),
        "sparse 1x1 1x1, 90% | 512->512, 14x14": spmm_session(rng, pruned(rng, 512, 512, 0.1, (1, 1)), (1, 1), 14, 14,
                                                              isa, threads=2),
        "depthwise 3x3/s1 | 32ch, 112x112": conv_session(rng, 32, 32, 112, 112, 3, 1, 1, 32, isa, threads=2),
    }
    for s, _ in thr.values():
        fill(s, rng)
    t2 = measure(thr, runs)
    for name, (s, macs) in thr.items():
        kern, shape = name.split(" | ")
        gf = 2 * macs / t2[name] / 1e9
        rows.append((kern, shape, 2, macs, t2[name] * 1e6, gf, gf / peak))
    return rows


def break_even(rng, isa, runs, target=None):
    """{block: {(K, M, H, W): (break-even density, {density: sparse/dense time ratio})}}."""
    out = {}
    for block in BLOCKS:
        out[block] = {}
        for K, M, H, W in SHAPES_1X1:
            cases = {"dense": conv_session(rng, K, M, H, W, 1, 1, 0, 1, isa)}
            for d in DENSITIES:
                cases[f"{d}"] = spmm_session(rng, pruned(rng, M, K, d, block), block, H, W, isa, target=target)
            for s, _ in cases.values():
                fill(s, rng)
            t = measure(cases, runs)
            ratios = {d: t[f"{d}"] / t["dense"] for d in DENSITIES}
            out[block][(K, M, H, W)] = (crossing(ratios), ratios)
            print(f"  {block[0]}x{block[1]} {K}->{M} {H}x{W}: " +
                  " ".join(f"{d:.1f}:{r:.2f}" for d, r in ratios.items()), flush=True)
    return out


def despike(ratios: dict[float, float]) -> dict[float, float]:
    """Median of each interior point and its two neighbours. Sparse time grows with density, so
    a lone point several times above both neighbours (another job took the core for that
    case's runs on this shared machine) is noise; without this one spike moved a break-even
    from 0.80 to 0.21."""
    ds = sorted(ratios)
    out = dict(ratios)
    for a, d, b in zip(ds, ds[1:], ds[2:]):
        out[d] = sorted((ratios[a], ratios[d], ratios[b]))[1]
    return out


def crossing(ratios: dict[float, float]) -> float:
    """Largest density at which sparse/dense <= 1, interpolated between measured points
    (after despike)."""
    ratios = despike(ratios)
    ds = sorted(ratios)
    if ratios[ds[0]] > 1:
        return round(ds[0] / 2, 3)  # slower even at the sparsest point measured
    best = ds[0]
    for a, b in zip(ds, ds[1:]):
        ra, rb = ratios[a], ratios[b]
        if ra <= 1 < rb:
            best = a + (b - a) * (1 - ra) / (rb - ra)
            break
        if rb <= 1:
            best = b
    return round(best, 3)


def table_entries(be, default: float = 0.5, small_classes=(SMALL_HW,)) -> dict[str, float]:
    """Conservative per-class break-even: the minimum over each pixel-count class's shapes (so a
    layer only goes sparse where it was measured faster); "default" is the 1x1 value. Classes:
    maps above SMALL_HW pixels, then "@hw<=N" for each N in small_classes (a shape belongs to
    the smallest N that covers it)."""
    entries = {}
    for block, per in be.items():
        key = f"{block[0]}x{block[1]}"
        large = [v[0] for s, v in per.items() if s[2] * s[3] > SMALL_HW]
        classes = {n: [v[0] for s, v in per.items() if s[2] * s[3] <= n and
                       not any(m < n and s[2] * s[3] <= m for m in small_classes)] for n in small_classes}
        entries[key] = min(large or [x for c in classes.values() for x in c])
        for n, vals in sorted(classes.items()):
            if vals:
                entries[f"{key}@hw<={n}"] = min(vals)
    entries["default"] = entries.get("1x1", default)
    return entries


def write_cost_section(target: str, section: str, note: str, entries: dict[str, float]) -> Path:
    """Replace `section` of targets/<target>.toml and the comment lines right above it by `note`
    (comment lines) and the new entries; append both when the section is not there yet."""
    path = ROOT / "targets" / f"{target}.toml"
    text = path.read_text()
    body = section + "\n" + "".join(f'"{k}" = {v:.3f}\n' for k, v in entries.items())
    if section + "\n" in text:
        start = text.index(section + "\n")
        rest = text[start + len(section) + 1:]
        # the next section starts at its header, or at the comment lines right above it
        m = re.search(r"^(?:#[^\n]*\n)*\[", rest, re.M)
        tail = rest[m.start():] if m else ""
        pre = re.sub(r"(?:^#[^\n]*\n)+\Z", "", text[:start], flags=re.M)
        text = pre + note + body + ("\n" + tail if tail else "")
    else:
        text = text.rstrip() + "\n\n" + note + body
    path.write_text(text)
    return path


def write_target(target: str, entries: dict[str, float], stamp: str) -> Path:
    note = ("# Kernel choice for sparse-capable layers (1x1 conv, fully connected): a layer runs the\n"
            "# block-CSR kernel when its weight density is at or below the break-even density for its\n"
            "# block shape; otherwise it stays dense. Values are the density at which the sparse kernel\n"
            "# took as long as the dense one, measured by bench/kernels.py on this machine class.\n"
            f"# measured {stamp} by `python bench/kernels.py --write` (1x1 conv, fp32, one thread)\n")
    return write_cost_section(target, "[cost.sparse_break_even]", note, entries)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=25)
    ap.add_argument("--target", default="host")
    ap.add_argument("--isa", default="auto", choices=["auto", "scalar"])
    ap.add_argument("--write", action="store_true", help="write the break-even table into targets/<target>.toml")
    ap.add_argument("--no-doc", action="store_true", help="do not touch docs/performance.md")
    args = ap.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    return run(args)


def run(args) -> int:
    rng = np.random.default_rng(0)
    peaks = peak_gflops()
    probe = conv_session(rng, 8, 8, 8, 8, 1, 1, 0, 1, args.isa)[0]
    isa = probe.isa
    peak = peaks.get(isa, max(peaks.values()) if peaks else float("nan"))
    print("peak FMA: " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in peaks.items()) + f"; kernels run as {isa}",
          flush=True)
    rows = kernel_rows(rng, args.isa, args.runs, peak)
    print("break-even sweep (sparse/dense time at density):", flush=True)
    be = break_even(rng, args.isa, args.runs, load_target(args.target))
    entries = table_entries(be, small_classes=SMALL_CLASSES)
    stamp = datetime.date.today().isoformat()

    lines = [BEGIN,
             f"{cpu_name()}, one core unless `threads` says otherwise; kernels chosen at load time: `{isa}`. "
             f"Measured {stamp} by `python bench/kernels.py --runs {args.runs}`; median of {args.runs} interleaved "
             f"runs per kernel (one-op artifacts through the normal runtime dispatch).",
             "Peak FMA rate measured by bench/peak_fma.c: " +
             ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in peaks.items()) +
             ". GFLOP/s = 2 x nonzero MACs / median time.", "",
             "| kernel | shape | threads | nonzero MACs | median us | GFLOP/s | of peak |", "|---|---|---|---|---|---|---|"]
    for kern, shape, thr, macs, us, gf, frac in rows:
        lines.append(f"| {kern} | {shape} | {thr} | {macs / 1e6:.2f}M | {us:.1f} | {gf:.1f} | {frac:.0%} |")
    lines += ["", "Sparse 1x1 time / dense 1x1 time by weight density (below 1: sparse is faster), and the "
              "interpolated break-even density:", "",
              "| block | shape | " + " | ".join(f"{d:.0%}" for d in DENSITIES) + " | break-even |",
              "|---|---|" + "---|" * len(DENSITIES) + "---|"]
    for block, per in be.items():
        for (K, M, H, W), (cross, ratios) in per.items():
            lines.append(f"| {block[0]}x{block[1]} | {K}->{M}, {H}x{W} | " +
                         " | ".join(f"{ratios[d]:.2f}" for d in DENSITIES) + f" | {cross:.2f} |")
    lines += ["", f"Cost-model table (targets/{args.target}.toml `[cost.sparse_break_even]`; the minimum over "
              f"the shapes of each class, `@hw<=N` for layers with at most N pixels; unstructured 1x1 weights "
              f"packed as the exporter packs them, K-chunked on small maps):", "",
              "| key | break-even density |", "|---|---|"]
    lines += [f"| `{k}` | {v:.3f} |" for k, v in entries.items()]
    lines.append(END)
    block = "\n".join(lines)
    print(block)
    if args.write:
        print(f"wrote {write_target(args.target, entries, stamp)}")
    if not args.no_doc:
        write_marked(ROOT / "docs" / "performance.md", block, BEGIN, END, "## Kernels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
