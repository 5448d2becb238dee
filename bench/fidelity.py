"""Per-model fidelity: fp32 against the source runtime, int8 against float and against
onnxruntime's own static int8 (QDQ, per-channel, same calibration inputs).

Writes docs/fidelity.md between its markers and prints what it writes.

    python bench/fidelity.py [--models ds_cnn resnet8 ...] [--no-write]
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
from edge_sdk.peers import OrtRunner, source_runner  # noqa: E402
from edge_sdk.reference import run as ref_run  # noqa: E402
from bench_common import write_marked  # noqa: E402
from models import zoo  # noqa: E402

BEGIN, END = "<!-- fidelity:begin -->", "<!-- fidelity:end -->"


def rel(ref, got) -> float:
    ref = np.asarray(ref, np.float64)
    return float(np.max(np.abs(ref - got)) / max(np.max(np.abs(ref)), 1e-30))


def cos(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def samples(shape, n, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(n)]


def fp32_row(label: str, path: Path, shapes=None) -> str:
    art = edge_sdk.export(path, input_shapes=shapes, validate=False)
    sess, peer = edge_sdk.Session(art.data), source_runner(path, 1, shapes)
    worst = 0.0
    for s in range(3):
        feeds = {i.name: x for i, x in zip(sess.inputs, samples(sess.inputs[0].shape, 1, s))}
        ref, got = peer.run(feeds), sess.run(feeds)
        worst = max(worst, max(rel(ref[k], got[k]) for k in ref))
    return f"| {label} | {path.suffix[1:]} | {peer.name} | {worst:.2e} | {'yes' if worst <= 1e-4 else 'NO'} |"


def ort_int8(onnx_path: Path, calib, name: str, tmp: Path) -> OrtRunner:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: x} for x in calib])

        def get_next(self):
            return next(self.it, None)

    out = tmp / (onnx_path.stem + "_ort_int8.onnx")
    quantize_static(str(onnx_path), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    return OrtRunner(out)


def int8_row(label: str, path: Path, tmp: Path) -> str:
    art0 = edge_sdk.export(path, validate=False)
    name = art0.graph.inputs[0]
    shape = art0.graph.tensors[name].shape
    calib, held = samples(shape, 32, 0), samples(shape, 8, 99)
    art = edge_sdk.export(path, quantize="int8", calibration=[{name: x} for x in calib], validate=False)
    sess = edge_sdk.Session(art.data)
    ort_q = ort_int8(path, calib, name, tmp)
    ours, theirs, agree = [], [], []
    for x in held:
        fl = ref_run(art0.graph, {name: x})
        q = sess.run({name: x})
        oq = ort_q.run({name: x})
        k = next(iter(fl))
        ours.append(cos(fl[k], q[k]))
        theirs.append(cos(fl[k], oq[next(iter(oq))]))
        agree.append(cos(q[k], oq[next(iter(oq))]))
    return (f"| {label} | {min(ours):.5f} | {min(theirs):.5f} | {min(agree):.5f} | "
            f"{'yes' if min(ours) >= 0.99 else 'NO'} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(zoo.ZOO))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="esdk-fid-"))

    fp_rows, q_rows = [], []
    for m in args.models:
        onnx_path = zoo.build_onnx(m, tmp / f"{m}.onnx")
        tfl_path = zoo.build_tflite(m, tmp / f"{m}.tflite")
        fp_rows += [fp32_row(m, onnx_path), fp32_row(m, tfl_path)]
        q_rows.append(int8_row(m, onnx_path, tmp))
        print(fp_rows[-2], fp_rows[-1], q_rows[-1], sep="\n", flush=True)
    try:
        from models.pretrained import PRETRAINED, pretrained_path

        for key, spec in PRETRAINED.items():
            path = pretrained_path(key)
            if spec.format == "onnx":
                import onnx

                name = onnx.load(str(path), load_external_data=False).graph.input[0].name
            else:
                from ai_edge_litert.interpreter import Interpreter

                name = Interpreter(model_path=str(path)).get_input_details()[0]["name"]
            fp_rows.append(fp32_row(f"{key} (pretrained, {spec.distribution} {spec.version})", path,
                                    {name: spec.input_shape}))
            print(fp_rows[-1], flush=True)
    except FileNotFoundError as e:  # the package is missing here; scripts/setup.sh installs it
        print(f"pretrained models skipped: {e}", file=sys.stderr)

    block = "\n".join([
        BEGIN,
        f"Measured {datetime.date.today().isoformat()} by `python bench/fidelity.py` on random N(0,1) inputs.",
        "",
        "### fp32: native runtime against the source model's runtime (max|diff| / max|reference|, worst of 3 inputs)",
        "",
        "| model | format | against | max rel error | <= 1e-4 |",
        "|---|---|---|---|---|",
        *fp_rows,
        "",
        "### int8: cosine similarity on 8 held-out inputs (worst), 32 calibration inputs",
        "",
        "| model | edge-sdk int8 vs float | onnxruntime int8 (QDQ, per-channel) vs float | edge-sdk int8 vs onnxruntime int8 | >= 0.99 |",
        "|---|---|---|---|---|",
        *q_rows,
        END,
    ])
    print(block)
    if not args.no_write:
        write_marked(ROOT / "docs" / "fidelity.md", block, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
