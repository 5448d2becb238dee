"""Model file -> export -> native runtime, checked against onnxruntime, LiteRT and the reference."""
import numpy as np
import pytest

import edge_sdk
from edge_sdk.data import generated_inputs
from edge_sdk.peers import source_runner
from edge_sdk.reference import run as ref_run

from conftest import BIG_ZOO, SMALL_ZOO, cosine, rel_err

ALL_ZOO = SMALL_ZOO + [pytest.param(n, marks=pytest.mark.slow) for n in BIG_ZOO]


def _inputs(art, seed=3, n=2):
    return generated_inputs(art.pruned_float, n, seed=seed, warn=False)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
@pytest.mark.parametrize("name", ALL_ZOO)
def test_fp32_dense_matches_source_runtime(zoo_model, name, fmt):
    path = zoo_model(name, fmt)
    art = edge_sdk.export(path, validate=False)
    sess = edge_sdk.Session(art.data)
    peer = source_runner(path)
    for feeds in _inputs(art):
        ref = peer.run(feeds)
        got = sess.run(feeds)
        for k in ref:
            assert rel_err(ref[k], got[k]) <= 1e-4, (name, fmt, k)


@pytest.mark.parametrize("pattern", ["unstructured", "2:4", "1:4", "block:4x1", "block:1x4", "block:8x1",
                                     "kernel-pattern"])
def test_sparse_artifact_computes_the_pruned_model(zoo_model, pattern):
    art = edge_sdk.export(zoo_model("resnet8"), sparsity=0.8, pattern=pattern, validate=False)
    sess = edge_sdk.Session(art.data)
    zeros = sum(1 - l["density"] for l in art.report.layers) / len(art.report.layers)
    assert zeros > 0.2, "pruning did nothing"
    for feeds in _inputs(art):
        ref = ref_run(art.pruned_float, feeds)
        got = sess.run(feeds)
        for k in ref:
            assert rel_err(ref[k], got[k]) <= 1e-5, (pattern, k)


def test_sparse_layers_use_sparse_kernels(zoo_model):
    art = edge_sdk.export(zoo_model("ds_cnn"), sparsity=0.9, pattern="unstructured", validate=False)
    kernels = {l["node"]: l["kernel"] for l in art.report.layers}
    assert any(k.startswith("sparse") for k in kernels.values()), kernels


@pytest.mark.parametrize("name", ALL_ZOO)
def test_int8_close_to_float(zoo_model, name):
    path = zoo_model(name)
    rng = np.random.default_rng(11)
    art0 = edge_sdk.export(path, validate=False)
    shape = art0.graph.tensors[art0.graph.inputs[0]].shape
    calib = [{art0.graph.inputs[0]: rng.standard_normal(shape).astype(np.float32)} for _ in range(24)]
    art = edge_sdk.export(path, quantize="int8", calibration=calib, validate=False)
    sess = edge_sdk.Session(art.data)
    held_out = [{art0.graph.inputs[0]: rng.standard_normal(shape).astype(np.float32)} for _ in range(4)]
    for feeds in held_out:
        fl = ref_run(art0.graph, feeds)
        q = sess.run(feeds)
        for k in fl:
            assert cosine(fl[k], q[k]) >= 0.99, (name, k)


def test_int8_native_bit_exact_with_reference(zoo_model):
    art = edge_sdk.export(zoo_model("resnet8"), quantize="int8", sparsity=0.7, pattern="block:4x1", validate=False)
    for isa in ("auto", "scalar"):
        sess = edge_sdk.Session(art.data, isa=isa)
        for feeds in _inputs(art):
            ref = ref_run(art.graph, feeds)
            got = sess.run(feeds)
            for k in ref:
                # float outputs come from one int8 tensor through DEQUANTIZE: equal int8 means equal floats
                np.testing.assert_array_equal(ref[k], got[k])


def test_scalar_and_simd_kernels_agree(zoo_model):
    art = edge_sdk.export(zoo_model("ds_cnn"), sparsity=0.5, validate=False)
    a, b = edge_sdk.Session(art.data, isa="scalar"), edge_sdk.Session(art.data)
    for feeds in _inputs(art):
        ra, rb = a.run(feeds), b.run(feeds)
        for k in ra:
            assert rel_err(ra[k], rb[k]) <= 1e-5


def test_export_report_and_validation(zoo_model, tmp_path):
    dense = edge_sdk.export(zoo_model("ds_cnn"))
    against = {f.against.split()[0]: f for f in dense.report.fidelity}
    assert against["onnxruntime"].max_rel <= 1e-4  # validation ran the source model in onnxruntime
    art = edge_sdk.export(zoo_model("ds_cnn"), sparsity=0.9)  # past every measured break-even density
    r = art.report
    assert r.arena_bytes > 0 and r.artifact_bytes == len(art.data)
    assert r.macs < r.macs_dense
    against = {f.against.split()[0]: f for f in r.fidelity}
    assert against["reference"].max_rel <= 1e-5  # the pruned model, computed exactly
    p = art.save(tmp_path / "m.esm")
    assert p.read_bytes() == art.data


def test_invoke_twice_without_rewriting_inputs(zoo_model):
    """Benchmarks and firmware write the input once and invoke many times."""
    art = edge_sdk.export(zoo_model("resnet8"), validate=False)
    sess = edge_sdk.Session(art.data)
    feeds = _inputs(art, n=1)[0]
    first = sess.run(feeds)
    sess.invoke()  # no new input copy
    again = {o.name: sess._view(sess._lib.esdk_output_data(sess._model, k), o).copy()
             for k, o in enumerate(sess.outputs)}
    for k in first:
        np.testing.assert_array_equal(first[k], again[k])
