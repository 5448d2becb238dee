"""The runtimes we compare against and validate with: onnxruntime and LiteRT; Apache TVM (optional,
benchmarks only)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from .errors import EdgeSdkError


def model_kind(path: str | Path) -> str:
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(8)
    if head[4:8] == b"TFL3" or p.suffix == ".tflite":
        return "tflite"
    return "onnx"


class OrtRunner:
    name = "onnxruntime"

    def __init__(self, path: str | Path, threads: int = 1, input_shapes: Mapping[str, tuple] | None = None):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.sess.get_outputs()]
        shapes = dict(input_shapes or {})
        self.input_specs = [(i.name, tuple(shapes.get(i.name, i.shape))) for i in self.sess.get_inputs()]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.sess.run(self.output_names, dict(feeds))))


class LiteRTRunner:
    name = "litert"

    def __init__(self, path: str | Path, threads: int = 1, input_shapes: Mapping[str, tuple] | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.interp = Interpreter(model_path=str(path), num_threads=threads)
        inputs = self.interp.get_input_details()
        for d in inputs:
            if input_shapes and d["name"] in input_shapes and tuple(d["shape"]) != tuple(input_shapes[d["name"]]):
                self.interp.resize_tensor_input(d["index"], list(input_shapes[d["name"]]))
        self.interp.allocate_tensors()
        self.inputs = {d["name"]: d for d in self.interp.get_input_details()}
        self.outputs = self.interp.get_output_details()
        self.input_specs = [(n, tuple(int(v) for v in d["shape"])) for n, d in self.inputs.items()]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name, arr in feeds.items():
            d = self.inputs[name]
            self.interp.set_tensor(d["index"], np.asarray(arr, dtype=d["dtype"]))
        self.interp.invoke()
        return {d["name"]: self.interp.get_tensor(d["index"]).copy() for d in self.outputs}


class TvmRunner:
    """Apache TVM (Relax) compiled for this host from the ONNX model: `tuned` when a MetaSchedule
    database (work dir of relax.pipeline.static_shape_tuning_pipeline) is given, else TVM's default
    schedules. One thread (TVM_NUM_THREADS=1 unless set before tvm is first imported)."""

    def __init__(self, path: str | Path, threads: int = 1, input_shapes: Mapping[str, tuple] | None = None,
                 mcpu: str | None = None, tuning_db: str | Path | None = None):
        import os

        os.environ.setdefault("TVM_NUM_THREADS", str(threads))
        import onnx
        import tvm
        from tvm import relax
        from tvm.relax.frontend.onnx import from_onnx

        model = onnx.load(str(path))
        shapes = dict(input_shapes or {})
        inits = {i.name for i in model.graph.initializer}
        self.input_specs = []
        for i in model.graph.input:
            if i.name in inits:
                continue
            dims = tuple(d.dim_value if d.dim_value > 0 else 1 for d in i.type.tensor_type.shape.dim)
            self.input_specs.append((i.name, tuple(shapes.get(i.name, dims))))
        mod = from_onnx(model, shape_dict={n: list(s) for n, s in self.input_specs}, keep_params_in_input=False)
        target = {"kind": "llvm", "num-cores": threads}
        if mcpu:
            target["mcpu"] = mcpu
        self.tuned = tuning_db is not None
        with tvm.target.Target(target):
            if self.tuned:
                mod = relax.get_pipeline("static_shape_tuning", total_trials=0, target=target,
                                         work_dir=str(tuning_db))(mod)
        self.vm = relax.VirtualMachine(tvm.compile(mod, target=tvm.target.Target(target)), tvm.cpu())
        self.name = "tvm" if self.tuned else "tvm-untuned"
        self._tensor = getattr(tvm.runtime, "tensor", None) or tvm.nd.array
        self._dev = tvm.cpu()

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = self.vm["main"](*[self._tensor(np.asarray(feeds[n]), self._dev) for n, _ in self.input_specs])
        outs = [out] if hasattr(out, "numpy") else list(out)
        return {f"output{k}": o.numpy() for k, o in enumerate(outs)}


def tvm_host_mcpu() -> str | None:
    """LLVM's name for this CPU (e.g. znver4), or None when tvm is missing or cannot say."""
    try:
        import tvm

        f = tvm.get_global_func("target.llvm_get_system_cpu", allow_missing=True)
        return str(f()) if f else None
    except Exception:  # noqa: BLE001 - optional peer
        return None


def adapt_feeds(feeds: Mapping[str, np.ndarray], peer) -> dict[str, np.ndarray]:
    """The same input data in the peer's own names and layout.

    An artifact exported from ONNX takes NCHW, the TFLite version of the same model NHWC:
    inputs are matched by name (else by position) and transposed when that is the only
    difference.
    """
    arrays = list(feeds.items())
    out = {}
    for k, (name, shape) in enumerate(peer.input_specs):
        if name in feeds:
            a = np.asarray(feeds[name])
        elif k < len(arrays):
            a = np.asarray(arrays[k][1])
        else:
            raise EdgeSdkError(f"{peer.name} model input '{name}' has no matching edge-sdk input")
        if any(not isinstance(d, int) for d in shape) or a.shape == shape:
            out[name] = a
        elif a.ndim == 4 and a.transpose(0, 2, 3, 1).shape == shape:
            out[name] = np.ascontiguousarray(a.transpose(0, 2, 3, 1))
        elif a.ndim == 4 and a.transpose(0, 3, 1, 2).shape == shape:
            out[name] = np.ascontiguousarray(a.transpose(0, 3, 1, 2))
        else:
            raise EdgeSdkError(f"{peer.name} model input '{name}' has shape {list(shape)}, "
                               f"the artifact's input {list(a.shape)}: not the same model?")
    return out


def source_runner(path: str | Path, threads: int = 1, input_shapes=None):
    kind = model_kind(path)
    try:
        return (LiteRTRunner if kind == "tflite" else OrtRunner)(path, threads, input_shapes)
    except Exception as e:  # the peer refusing a model is information, not a crash
        raise EdgeSdkError(f"{kind} reference runtime cannot load {path}: {str(e).splitlines()[0][:200]}") from None


def peer_runners(path: str | Path, threads: int = 1, input_shapes=None) -> list:
    """Every peer that can run this model. ONNX: onnxruntime. TFLite: LiteRT."""
    return [source_runner(path, threads, input_shapes)]
