"""End-to-end latency and peak memory: edge-sdk vs onnxruntime vs LiteRT (+XNNPACK), one thread.

Models: MobileNetV1-1.0-224, MobileNetV2-1.0-224, DS-CNN (models/zoo.py, both formats from
the same weights) and one real pretrained model (PP-OCR text-direction classifier, ONNX;
models/pretrained.py), at 0/50/70/80/90% sparsity. fp32 rows compare edge-sdk with
onnxruntime and LiteRT; int8 rows (--int8) compare edge-sdk int8 with onnxruntime's own
static int8 (quantize_static, QDQ, per-channel, QInt8 activations and weights) calibrated on
the same inputs. The peers run the source model: they densify sparse weights, so their
latency does not depend on the weight values and is measured once per model.

Latency: every contender runs once per round, rotating the order, in this one process
(edge_sdk.benchmark.interleaved); ratio = peer median / edge-sdk median.
Peak memory: each runtime in a fresh subprocess that imports all three runtimes, then resets
the kernel's peak-RSS mark (write 5 to /proc/self/clear_refs), notes VmRSS, loads the model
and runs it 5 times: the figure is VmHWM minus that VmRSS, i.e. the peak resident memory the
model's load + runs added on top of the same interpreter (input arrays included for all).

    python bench/end_to_end.py [--runs 30] [--models mobilenet_v1 ...] [--sparsity 0 0.5 ...]
                               [--int8] [--pattern unstructured] [--no-rss] [--no-write]
"""
from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import edge_sdk  # noqa: E402
from bench_common import cpu_name  # noqa: E402
from edge_sdk.benchmark import interleaved  # noqa: E402
from edge_sdk.peers import LiteRTRunner, OrtRunner  # noqa: E402

BEGIN, END = "<!-- e2e:begin -->", "<!-- e2e:end -->"
ZOO = {"mobilenet_v1": "MobileNetV1-1.0-224", "mobilenet_v2": "MobileNetV2-1.0-224", "ds_cnn": "DS-CNN (KWS)"}
PRETRAINED = {"ppocr_cls": "PP-OCR cls (pretrained)"}


def build(name: str, tmp: Path) -> tuple[Path, Path | None, tuple]:
    """(onnx path, tflite path or None, NCHW input shape)."""
    if name in ZOO:
        from models import zoo

        onnx = zoo.build_onnx(name, tmp / f"{name}.onnx")
        tfl = zoo.build_tflite(name, tmp / f"{name}.tflite")
        return onnx, tfl, tuple(zoo.sample_input(name).shape)
    from models.pretrained import PRETRAINED as P, pretrained_path

    return pretrained_path(name), None, P[name].input_shape


def ort_int8(onnx: Path, calib: list[np.ndarray], out: Path) -> Path:
    """onnxruntime's static int8: QDQ, per-channel, QInt8 activations and weights."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    name = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: x} for x in calib])

        def get_next(self):
            return next(self.it, None)

    pre = out.with_suffix(".pre.onnx")
    try:
        quant_pre_process(str(onnx), str(pre))
    except Exception:  # pre-processing is an optimisation; quantize the model as it is
        pre = onnx
    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    return out


RSS_CHILD = r"""
import json, resource, sys
import numpy as np
kind, path, shape = sys.argv[1], sys.argv[2], tuple(json.loads(sys.argv[3]))
import onnxruntime, edge_sdk
from ai_edge_litert.interpreter import Interpreter
from edge_sdk.runtime.session import Session
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets VmHWM to the current RSS: import-time peaks do not count
base = status("VmRSS:")
x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
if kind == "edge-sdk":
    s = Session(path); run = lambda: s.run({s.inputs[0].name: x.reshape(s.inputs[0].shape)})
elif kind == "onnxruntime":
    so = onnxruntime.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
    s = onnxruntime.InferenceSession(path, so, providers=["CPUExecutionProvider"]); n = s.get_inputs()[0].name
    run = lambda: s.run(None, {n: x})
else:
    it = Interpreter(model_path=path, num_threads=1); it.allocate_tensors(); d = it.get_input_details()[0]
    xn = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if len(shape) == 4 else x
    def run():
        it.set_tensor(d["index"], xn.reshape(d["shape"])); it.invoke()
for _ in range(5):
    run()
print(json.dumps((status("VmHWM:") - base) / 1024.0))
"""


def rss_mb(kind: str, path: Path, shape: tuple) -> float | None:
    r = subprocess.run([sys.executable, "-c", RSS_CHILD, kind, str(path), json.dumps(list(shape))],
                       capture_output=True, text=True, cwd=str(ROOT), timeout=600)
    try:
        return float(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--models", nargs="+", default=list(ZOO) + list(PRETRAINED))
    ap.add_argument("--sparsity", type=float, nargs="+", default=[0.0, 0.5, 0.7, 0.8, 0.9])
    ap.add_argument("--pattern", default="unstructured")
    ap.add_argument("--int8", action="store_true", help="also int8 rows (edge-sdk int8 vs onnxruntime QDQ int8)")
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="esdk-e2e-"))
    rng = np.random.default_rng(0)
    rows, mem = [], []
    for name in args.models:
        try:
            onnx, tfl, shape = build(name, tmp)
        except (FileNotFoundError, KeyError) as e:
            print(f"skip {name}: {e}", flush=True)
            continue
        x = rng.standard_normal(shape).astype(np.float32)
        calib = [rng.standard_normal(shape).astype(np.float32) for _ in range(8)]
        ort = OrtRunner(onnx)
        in_onnx = ort.sess.get_inputs()[0].name
        lit = LiteRTRunner(tfl) if tfl else None
        x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if len(shape) == 4 else x
        in_tfl = next(iter(lit.inputs)) if lit else None
        dtypes = ["fp32"] + (["int8"] if args.int8 else [])
        ort_q = None
        if args.int8:
            try:
                ort_q = OrtRunner(ort_int8(onnx, calib, tmp / f"{name}.int8.onnx"))
            except Exception as e:  # noqa: BLE001 - report, do not crash the table
                print(f"{name}: onnxruntime int8 quantization failed: {str(e).splitlines()[0][:160]}", flush=True)
        for dtype in dtypes:
            for s in args.sparsity:
                try:
                    art = edge_sdk.export(onnx, sparsity=s, pattern=args.pattern,
                                          quantize="int8" if dtype == "int8" else "none",
                                          calibration=[{in_onnx: c} for c in calib] if dtype == "int8" else None,
                                          input_shapes={in_onnx: shape}, validate=False)
                except Exception as e:  # noqa: BLE001
                    print(f"{name} {dtype} {s:.0%}: export failed: {str(e).splitlines()[0][:160]}", flush=True)
                    continue
                sess = edge_sdk.Session(art.data, threads=1)
                feeds = {sess.inputs[0].name: x.reshape(sess.inputs[0].shape)}
                cont = {"edge-sdk": lambda: sess.run(feeds)}
                if dtype == "fp32":
                    cont["onnxruntime"] = lambda: ort.run({in_onnx: x})
                    if lit:
                        cont["litert"] = lambda: lit.run({in_tfl: x_nhwc})
                elif ort_q:
                    cont["onnxruntime"] = lambda: ort_q.run({in_onnx: x})
                t = interleaved(cont, runs=args.runs, warmup=args.warmup)
                e = t["edge-sdk"].median
                o = t["onnxruntime"].median if "onnxruntime" in t else None
                li = t["litert"].median if "litert" in t else None
                sparse = sum(1 for layer in art.report.layers if layer["kernel"].startswith("sparse"))
                rows.append((name, dtype, s, e, o, li, sparse, sess.isa))
                print(f"{name} {dtype} {s:.0%}: edge-sdk {e:.2f} ms, onnxruntime {o or float('nan'):.2f} ms, "
                      f"litert {li or float('nan'):.2f} ms, sparse layers {sparse}", flush=True)
                if not args.no_rss and s == 0.0:
                    p = tmp / f"{name}.{dtype}.esm"
                    art.save(p)
                    peer = (tmp / f"{name}.int8.onnx") if dtype == "int8" else onnx
                    m = {"edge-sdk": rss_mb("edge-sdk", p, shape),
                         "onnxruntime": rss_mb("onnxruntime", peer, shape) if peer.exists() else None,
                         "litert": rss_mb("litert", tfl, shape) if tfl and dtype == "fp32" else None}
                    mem.append((name, dtype, m))
                    print(f"{name} {dtype} peak RSS above baseline (MB): {m}", flush=True)

    def f(v, fmt="{:.2f}"):
        return fmt.format(v) if v is not None else "–"

    lines = [BEGIN,
             f"Batch 1, one thread, pattern `{args.pattern}`. Median of {args.runs} interleaved runs in one process "
             f"({args.warmup} warm-up runs each). {cpu_name()}; measured {datetime.date.today().isoformat()} by "
             f"`python bench/end_to_end.py{' --int8' if args.int8 else ''}`. Ratio = peer median / edge-sdk median "
             "(above 1: edge-sdk is faster). int8 rows: edge-sdk int8 vs onnxruntime static QDQ int8 "
             "(per-channel, same 8 calibration inputs).", "",
             "| model | dtype | sparsity | edge-sdk ms | onnxruntime ms | LiteRT ms | vs onnxruntime | vs LiteRT "
             "| sparse layers | ISA |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, dtype, s, e, o, li, n, isa in rows:
        label = ZOO.get(name) or PRETRAINED.get(name, name)
        lines.append(f"| {label} | {dtype} | {s:.0%} | {e:.2f} | {f(o)} | {f(li)} | "
                     f"{f(o / e if o else None, '{:.2f}x')} | {f(li / e if li else None, '{:.2f}x')} | {n} | {isa} |")
    if mem:
        lines += ["", "Peak RSS of load + 5 runs above the interpreter baseline (MB; fresh subprocess per "
                  "runtime, dense model; VmHWM after clear_refs reset minus VmRSS before loading):", "",
                  "| model | dtype | edge-sdk | onnxruntime | LiteRT |", "|---|---|---|---|---|"]
        for name, dtype, m in mem:
            label = ZOO.get(name) or PRETRAINED.get(name, name)
            lines.append(f"| {label} | {dtype} | {f(m['edge-sdk'], '{:.1f}')} | {f(m['onnxruntime'], '{:.1f}')} | "
                         f"{f(m['litert'], '{:.1f}')} |")
    lines.append(END)
    block = "\n".join(lines)
    print(block)
    if not args.no_write:
        from bench_common import write_marked

        write_marked(ROOT / "docs" / "performance.md", block, BEGIN, END, heading="## End to end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
