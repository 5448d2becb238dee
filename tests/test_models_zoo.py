"""models.zoo: ONNX and TFLite exports of the seeded models agree, and the
int8 / fp16 / sparse TFLite variants stay faithful to the float model."""
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert")
import onnx
import onnxruntime as ort
from ai_edge_litert.interpreter import Interpreter

from models import zoo
from models.pretrained import PRETRAINED, pretrained_path
from models.tflite_export import to_nhwc
from models.tflite_writer import builtin_ops, run_tflite

NAMES = sorted(zoo.ZOO)


def rel_err(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def run_int8(path, x_nhwc):
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    assert d["dtype"] == np.int8 and o["dtype"] == np.int8
    s, z = d["quantization"]
    it.set_tensor(d["index"], np.clip(np.round(x_nhwc / s) + z, -128, 127).astype(np.int8))
    it.invoke()
    s, z = o["quantization"]
    return (it.get_tensor(o["index"]).astype(np.float32) - z) * s


@pytest.mark.parametrize("name", NAMES)
def test_onnx_and_tflite_agree(name, tmp_path):
    e = zoo.ZOO[name]
    onnx_path = zoo.build_onnx(name, tmp_path / f"{name}.onnx")
    tfl_path = zoo.build_tflite(name, tmp_path / f"{name}.tflite")

    g = onnx.load(str(onnx_path)).graph
    assert [i.name for i in g.input] == ["input"] and [o.name for o in g.output] == ["output"]
    assert [d.dim_value for d in g.input[0].type.tensor_type.shape.dim] == list(e.input_shape)
    ops = {n.op_type for n in g.node}
    assert "BatchNormalization" in ops and ops & {"Conv", "Gemm"}
    assert not ops & {"Identity", "Constant"}

    x = zoo.sample_input(name, seed=7)
    ref = zoo.torch_output(name, x)
    assert 0.1 < ref.std() < 10, "activations vanished or exploded"
    y_onnx = ort.InferenceSession(str(onnx_path)).run(None, {"input": x})[0]
    y_tfl = run_tflite(tfl_path, to_nhwc(x))[0]
    assert rel_err(y_onnx, ref) < 1e-4
    assert rel_err(y_tfl, y_onnx) < 1e-4

    ops = builtin_ops(tfl_path.read_bytes())
    assert set(ops) <= {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "PAD",
                        "AVERAGE_POOL_2D", "MEAN", "RESHAPE"}


@pytest.mark.parametrize("name", NAMES)
def test_int8_close_to_float(name, tmp_path):
    path = zoo.zoo_int8_tflite(name, tmp_path / f"{name}_int8.tflite")
    x = zoo.sample_input(name, seed=8)
    assert cosine(run_int8(path, to_nhwc(x)), zoo.torch_output(name, x)) >= 0.99


def test_int8_float_io_and_custom_calibration(tmp_path):
    calib = zoo.sample_input("resnet8", seed=3, batch=4)
    path = zoo.zoo_int8_tflite("resnet8", tmp_path / "r8.tflite", calibration_inputs=calib, io="float")
    ops = builtin_ops(path.read_bytes())
    assert ops["QUANTIZE"] == 1 and ops["DEQUANTIZE"] == 1
    x = zoo.sample_input("resnet8", seed=9)
    assert cosine(run_tflite(path, to_nhwc(x))[0], zoo.torch_output("resnet8", x)) >= 0.99
    with pytest.raises(ValueError):
        zoo.zoo_int8_tflite("resnet8", tmp_path / "bad.tflite", calibration_inputs=np.zeros((2, 5)))


@pytest.mark.parametrize("name", ["ds_cnn", "mobilenet_v2"])
def test_fp16_weights(name, tmp_path):
    path = zoo.zoo_fp16_tflite(name, tmp_path / "m.tflite")
    assert builtin_ops(path.read_bytes())["DEQUANTIZE"] > 0
    x = zoo.sample_input(name, seed=4)
    assert rel_err(run_tflite(path, to_nhwc(x))[0], zoo.torch_output(name, x)) < 1e-2


@pytest.mark.parametrize("name,block", [(n, None) for n in NAMES] + [("autoencoder", (4, 1))])
def test_sparse_matches_pruned(name, block, tmp_path):
    path = zoo.zoo_sparse_tflite(name, tmp_path / "s.tflite", sparsity=0.8, block_shape=block)
    assert builtin_ops(path.read_bytes())["DENSIFY"] > 0
    x = zoo.sample_input(name, seed=5)
    pruned = zoo.pruned_model(name, 0.8)
    dense = zoo.build_tflite(name, tmp_path / "d.tflite", model=pruned)
    y_sparse = run_tflite(path, to_nhwc(x))[0]
    assert rel_err(y_sparse, run_tflite(dense, to_nhwc(x))[0]) < 1e-5
    assert rel_err(y_sparse, zoo.torch_output(name, x, pruned)) < 1e-4
    assert path.stat().st_size < dense.stat().st_size


def test_models_are_deterministic():
    a, b = zoo.get_model("ds_cnn"), zoo.get_model("ds_cnn")
    zoo._built.cache_clear()
    c = zoo.get_model("ds_cnn")
    for p, q, r in zip(a.state_dict().values(), b.state_dict().values(), c.state_dict().values()):
        assert (p == q).all() and (p == r).all()


def test_cli_build(tmp_path):
    out = tmp_path / "kws.tflite"
    subprocess.run([sys.executable, "-m", "models.zoo", "build", "ds_cnn", "--format", "tflite",
                    "-o", str(out)], check=True, capture_output=True)
    assert builtin_ops(out.read_bytes())["DEPTHWISE_CONV_2D"] == 4


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_pretrained_runs(name):
    try:
        path = pretrained_path(name)
    except FileNotFoundError as err:
        pytest.skip(str(err))
    shape = PRETRAINED[name].input_shape
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    if PRETRAINED[name].format == "onnx":
        sess = ort.InferenceSession(str(path))
        out = sess.run(None, {sess.get_inputs()[0].name: x})
    else:
        out = run_tflite(path, x)
    assert all(np.isfinite(o).all() for o in out)
