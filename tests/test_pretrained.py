"""Real pretrained models shipped inside PyPI packages (installed by scripts/setup.sh)."""
import numpy as np
import pytest

import edge_sdk
from edge_sdk.peers import source_runner

from conftest import rel_err

models_pretrained = pytest.importorskip("models.pretrained")


def _path(name):
    try:
        return models_pretrained.pretrained_path(name)
    except FileNotFoundError as e:
        pytest.skip(f"pretrained model package not installed: {e}")


def _input_name(path, fmt):
    if fmt == "onnx":
        import onnx

        return onnx.load(str(path), load_external_data=False).graph.input[0].name
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path)).get_input_details()[0]["name"]


@pytest.mark.parametrize("name", ["ppocr_cls", "blazeface", "blazeface_full_sparse"])
def test_pretrained_fp32_matches_source_runtime(name):
    spec = models_pretrained.PRETRAINED[name]
    path = _path(name)
    inp = _input_name(path, spec.format)
    shapes = {inp: spec.input_shape}
    art = edge_sdk.export(path, input_shapes=shapes, validate=False)
    sess = edge_sdk.Session(art.data)
    peer = source_runner(path, 1, shapes)
    rng = np.random.default_rng(5)
    for _ in range(2):
        feeds = {inp: rng.uniform(-1, 1, spec.input_shape).astype(np.float32)}
        ref, got = peer.run(feeds), sess.run(feeds)
        assert set(ref) == set(got)
        for k in ref:
            assert rel_err(ref[k], got[k]) <= 1e-4, (name, k, rel_err(ref[k], got[k]))


def test_sparse_source_model_keeps_its_sparsity():
    path = _path("blazeface_full_sparse")
    art = edge_sdk.export(path, validate=False)  # no --sparsity flag
    sparse = [l for l in art.report.layers if l["density"] < 0.9]
    assert sparse, "the DENSIFY weights lost their zeros"
    assert art.report.sparsity is not None


def test_dynamic_input_needs_a_shape():
    path = _path("ppocr_cls")
    with pytest.raises(edge_sdk.EdgeSdkError, match="input-shape"):
        edge_sdk.export(path, validate=False)


def test_ppocr_cls_int8_bit_exact_and_close_to_onnxruntime_qdq(tmp_path):
    """PP-OCR cls int8 (5x5 and (2, 1)-strided 3x3 depthwise layers): the native runtime at the
    best ISA and the scalar one equal the numpy reference byte for byte, and the output is as
    close to onnxruntime's own static QDQ int8 model as test_quant's bar (cosine >= 0.98)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from edge_sdk.reference import run as ref_run

    from conftest import cosine

    spec = models_pretrained.PRETRAINED["ppocr_cls"]
    path = _path("ppocr_cls")
    inp = _input_name(path, spec.format)
    rng = np.random.default_rng(11)
    calib = [{inp: rng.standard_normal(spec.input_shape).astype(np.float32)} for _ in range(8)]
    tests = [{inp: rng.standard_normal(spec.input_shape).astype(np.float32)} for _ in range(3)]
    art = edge_sdk.export(path, quantize="int8", calibration=calib, input_shapes={inp: spec.input_shape},
                          validate=False)
    sessions = [edge_sdk.Session(art.data), edge_sdk.Session(art.data, isa="scalar")]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calib)

        def get_next(self):
            return next(self.it, None)

    q = tmp_path / "ppocr_cls.int8.onnx"
    quantize_static(str(path), str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    peer = source_runner(q, 1, {inp: spec.input_shape})
    ours, theirs = [], []
    for feeds in tests:
        ref = ref_run(art.graph, feeds)
        for s in sessions:
            got = s.run(feeds)
            for k in ref:
                np.testing.assert_array_equal(ref[k], got[k])
        ours.append(np.concatenate([np.ravel(ref[k]) for k in sorted(ref)]))
        o = peer.run(feeds)
        theirs.append(np.concatenate([np.ravel(o[k]) for k in sorted(o)]))
    ours, theirs = np.concatenate(ours), np.concatenate(theirs)
    # the outputs are two-class probabilities near 1/2 on these inputs, so the cosine alone says
    # little: the probabilities must also agree within 0.05 (int8 rounding and ranges differ)
    print(f"\nPP-OCR cls int8: ours {np.round(ours, 4)} onnxruntime QDQ {np.round(theirs, 4)}")
    assert cosine(ours, theirs) >= 0.98
    assert np.abs(ours - theirs).max() <= 0.05
