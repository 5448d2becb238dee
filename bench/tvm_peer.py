"""Apache TVM as a peer: MobileNetV1-1.0-224 fp32, one thread, edge-sdk vs onnxruntime vs TVM.

TVM (Relax, `pip install apache-tvm`) compiles the same ONNX model for this host's CPU
(`-mcpu` from LLVM's host detection). Untuned unless a MetaSchedule database is given with
--tuning-db; --tune N first tunes N trials into that database (relax static_shape_tuning
pipeline; hours for a useful N on a small machine). The table says which it was.
Every contender's output is checked against onnxruntime before timing; latencies are
medians of interleaved rounds in this one process (edge_sdk.benchmark.interleaved).

    python bench/tvm_peer.py [--runs 15] [--sparsity 0 0.9] [--tune N] [--tuning-db DIR] [--no-write]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TVM_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import edge_sdk  # noqa: E402
from bench_common import cpu_name, write_marked  # noqa: E402
from edge_sdk.benchmark import interleaved  # noqa: E402
from edge_sdk.peers import OrtRunner, TvmRunner, tvm_host_mcpu  # noqa: E402

BEGIN, END = "<!-- tvm:begin -->", "<!-- tvm:end -->"


def tune(onnx_path: Path, shape, mcpu: str, trials: int, work_dir: Path) -> None:
    import onnx
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    model = onnx.load(str(onnx_path))
    mod = from_onnx(model, shape_dict={model.graph.input[0].name: list(shape)}, keep_params_in_input=False)
    target = {"kind": "llvm", "mcpu": mcpu, "num-cores": os.cpu_count() or 1}
    with tvm.target.Target(target):
        relax.get_pipeline("static_shape_tuning", total_trials=trials, target=target, work_dir=str(work_dir),
                           max_trials_per_task=max(8, trials // 16))(mod)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--sparsity", type=float, nargs="+", default=[0.0, 0.9])
    ap.add_argument("--tune", type=int, default=0, help="MetaSchedule trials to run first (0: none)")
    ap.add_argument("--tuning-db", type=Path, default=None, help="MetaSchedule work dir to apply")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    try:
        import tvm  # noqa: F401
    except ImportError:
        print("Apache TVM is not installed: pip install apache-tvm", file=sys.stderr)
        return 2
    from models import zoo

    mcpu = tvm_host_mcpu()
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        onnx_path = zoo.build_onnx("mobilenet_v1", tmp / "mobilenet_v1.onnx")
        shape = tuple(zoo.sample_input("mobilenet_v1").shape)
        if args.tune:
            args.tuning_db = args.tuning_db or (ROOT / "build" / "tvm-tuning")
            tune(onnx_path, shape, mcpu, args.tune, args.tuning_db)
        x = rng.standard_normal(shape).astype(np.float32)
        ort = OrtRunner(onnx_path)
        name = ort.sess.get_inputs()[0].name
        tvm_r = TvmRunner(onnx_path, 1, {name: shape}, mcpu=mcpu, tuning_db=args.tuning_db)
        ref = next(iter(ort.run({name: x}).values()))
        got = next(iter(tvm_r.run({name: x}).values()))
        err = float(np.abs(got - ref).max() / np.abs(ref).max())
        if err > 1e-4:
            print(f"TVM output differs from onnxruntime (max rel err {err:.2e}): not timing it", file=sys.stderr)
            return 1
        for s in args.sparsity:
            art = edge_sdk.export(onnx_path, sparsity=s, input_shapes={name: shape}, validate=False)
            sess = edge_sdk.Session(art.data, threads=1)
            feeds = {sess.inputs[0].name: x}
            t = interleaved({"edge-sdk": lambda: sess.run(feeds), "onnxruntime": lambda: ort.run({name: x}),
                             tvm_r.name: lambda: tvm_r.run({name: x})}, runs=args.runs, warmup=args.warmup)
            e, o, v = t["edge-sdk"].median, t["onnxruntime"].median, t[tvm_r.name].median
            rows.append((s, e, o, v))
            print(f"{s:.0%}: edge-sdk {e:.2f} ms, onnxruntime {o:.2f} ms, {tvm_r.name} {v:.2f} ms "
                  f"(edge-sdk {v / e:.2f}x faster than TVM)", flush=True)
    how = (f"tuned with MetaSchedule (database {args.tuning_db})" if tvm_r.tuned
           else "untuned: TVM's default schedules, no MetaSchedule records")
    lines = [BEGIN, f"TVM {tvm.__version__} (Relax, ONNX frontend, llvm -mcpu={mcpu}), {how}. MobileNetV1-1.0-224 fp32, "
             f"one thread, {cpu_name()}, median of {args.runs} interleaved rounds; printed by "
             "`python bench/tvm_peer.py`. TVM's output matched onnxruntime (max rel err "
             f"{err:.1e}) before timing.", "",
             "| sparsity | edge-sdk ms | onnxruntime ms | TVM ms | TVM / edge-sdk |", "|---|---|---|---|---|"]
    lines += [f"| {s:.0%} | {e:.2f} | {o:.2f} | {v:.1f} | {v / e:.1f}x |" for s, e, o, v in rows]
    lines.append(END)
    print("\n".join(lines))
    if not args.no_write:
        write_marked(ROOT / "docs" / "performance.md", "\n".join(lines), BEGIN, END, "## Apache TVM as a peer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
