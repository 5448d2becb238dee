"""MobileNetV1-1.0-224 at several sparsities: edge-sdk vs onnxruntime vs LiteRT, one thread.

All contenders run in this one process, interleaved round by round (edge_sdk.benchmark),
median of --runs. onnxruntime and LiteRT run the source model: they densify sparse weights,
so their latency does not depend on the weight values. Writes the table into
docs/performance.md between the markers and prints exactly what it writes.

    python bench/mobilenet_sparsity.py [--runs 30] [--sparsity 0 0.5 0.8 0.9] [--pattern unstructured]
"""
from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import edge_sdk  # noqa: E402
from edge_sdk.benchmark import interleaved  # noqa: E402
from edge_sdk.peers import LiteRTRunner, OrtRunner  # noqa: E402
from bench_common import cpu_name, write_marked  # noqa: E402
from models import zoo  # noqa: E402

BEGIN, END = "<!-- mobilenet_sparsity:begin -->", "<!-- mobilenet_sparsity:end -->"




def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--sparsity", type=float, nargs="+", default=[0.0, 0.5, 0.8, 0.9])
    ap.add_argument("--pattern", default="unstructured")
    ap.add_argument("--quantize", default="none")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="esdk-bench-"))
    onnx_path = zoo.build_onnx("mobilenet_v1", tmp / "mobilenet_v1.onnx")
    tfl_path = zoo.build_tflite("mobilenet_v1", tmp / "mobilenet_v1.tflite")
    ort, tfl = OrtRunner(onnx_path), LiteRTRunner(tfl_path)
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    in_onnx = ort.sess.get_inputs()[0].name
    in_tfl = next(iter(tfl.inputs))

    rows = []
    for s in args.sparsity:
        art = edge_sdk.export(onnx_path, sparsity=s, pattern=args.pattern, quantize=args.quantize, validate=False)
        sess = edge_sdk.Session(art.data, threads=1)
        feeds = {sess.inputs[0].name: x}
        t = interleaved({
            "edge-sdk": lambda: sess.run(feeds),
            "onnxruntime": lambda: ort.run({in_onnx: x}),
            "litert": lambda: tfl.run({in_tfl: x_nhwc}),
        }, runs=args.runs, warmup=args.warmup)
        e, o, l = t["edge-sdk"].median, t["onnxruntime"].median, t["litert"].median
        sparse_layers = sum(1 for layer in art.report.layers if layer["kernel"].startswith("sparse"))
        rows.append((s, e, o, l, o / e, l / e, sparse_layers, sess.isa))
        print(f"sparsity {s:.0%}: edge-sdk {e:.2f} ms, onnxruntime {o:.2f} ms, litert {l:.2f} ms", flush=True)

    lines = [
        BEGIN,
        f"MobileNetV1-1.0-224 fp32, batch 1, one thread, pattern `{args.pattern}`, quantize `{args.quantize}`. "
        f"Median of {args.runs} interleaved runs in one process ({args.warmup} warm-up runs each). "
        f"{cpu_name()}; measured {datetime.date.today().isoformat()} by `python bench/mobilenet_sparsity.py`.",
        "Ratios are peer median / edge-sdk median (above 1: edge-sdk is faster).",
        "",
        "| sparsity | edge-sdk ms | onnxruntime ms | LiteRT ms | vs onnxruntime | vs LiteRT | sparse layers | edge-sdk ISA |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s, e, o, l, ro, rl, n, isa in rows:
        lines.append(f"| {s:.0%} | {e:.2f} | {o:.2f} | {l:.2f} | {ro:.2f}x | {rl:.2f}x | {n} | {isa} |")
    lines.append(END)
    block = "\n".join(lines)
    print(block)
    if not args.no_write:
        write_marked(ROOT / "docs" / "performance.md", block, BEGIN, END, "## MobileNetV1 at several sparsities")
    return 0


if __name__ == "__main__":
    sys.exit(main())
