"""TFLite frontend + reference executor vs LiteRT (models built with models/tflite_writer)."""
from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.errors import ModelError, UnsupportedOpError
from edge_sdk.frontends import load_model
from edge_sdk.reference import run

tw = pytest.importorskip("models.tflite_writer")
pytest.importorskip("ai_edge_litert.interpreter")

RNG = np.random.default_rng(0)


def rand(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, size=shape).astype(np.float32)


def build(fn):
    """fn(builder) -> (inputs, outputs) tensor handles; returns the serialized model."""
    b = tw.TFLiteBuilder()
    ins, outs = fn(b)
    b.set_io(ins, outs)
    return b.to_bytes()


def compare(model: bytes, tmp_path, feeds, tol=1e-4, name="m.tflite"):
    path = tmp_path / name
    path.write_bytes(model)
    g = load_model(path)
    ref = tw.run_tflite(model, feeds)
    got = run(g, dict(zip(g.inputs, feeds)))
    for o, r in zip(g.outputs, ref):
        assert got[o].shape == r.shape, (o, got[o].shape, r.shape)
        assert np.abs(got[o].astype(np.float64) - r).max() <= tol * max(np.abs(r).max(), 1e-6), o
    return g


def transposes(g):
    return sum(n.op == "Transpose" for n in g.nodes)


# ---- float32 -------------------------------------------------------------------------------
@pytest.mark.parametrize("padding,stride,act", [("SAME", 1, "NONE"), ("SAME", 2, "RELU6"), ("VALID", 2, "RELU")])
def test_conv(padding, stride, act, tmp_path):
    def f(b):
        x = b.add_tensor("x", [1, 9, 10, 3])
        w = b.add_const("w", rand(4, 3, 3, 3))
        bias = b.add_const("b", rand(4))
        y = b.add_tensor("y", [1, -(-9 // stride) if padding == "SAME" else (9 - 3) // stride + 1,
                               -(-10 // stride) if padding == "SAME" else (10 - 3) // stride + 1, 4])
        b.add_op("CONV_2D", [x, w, bias], [y], dict(padding=padding, stride_h=stride, stride_w=stride,
                                                      fused_activation_function=act))
        return [x], [y]
    g = compare(build(f), tmp_path, [rand(1, 9, 10, 3)])
    assert g.tensors["x"].shape == (1, 9, 10, 3) and g.outputs == ["y"]
    assert [n.op for n in g.nodes] == ["Transpose", "Conv", "Transpose"]


def test_depthwise_multiplier(tmp_path):
    def f(b):
        x = b.add_tensor("x", [1, 8, 8, 3])
        w = b.add_const("w", rand(1, 3, 3, 6))
        bias = b.add_const("b", rand(6))
        y = b.add_tensor("y", [1, 4, 4, 6])
        b.add_op("DEPTHWISE_CONV_2D", [x, w, bias], [y], dict(padding="SAME", stride_h=2, stride_w=2, depth_multiplier=2))
        return [x], [y]
    compare(build(f), tmp_path, [rand(1, 8, 8, 3)])


def test_dilated_conv(tmp_path):
    def f(b):
        x = b.add_tensor("x", [1, 9, 9, 2])
        w = b.add_const("w", rand(3, 3, 3, 2))
        y = b.add_tensor("y", [1, 9, 9, 3])
        b.add_op("CONV_2D", [x, w, b.add_const("b", rand(3))], [y], dict(padding="SAME", dilation_h_factor=2, dilation_w_factor=2))
        return [x], [y]
    compare(build(f), tmp_path, [rand(1, 9, 9, 2)])


def test_fully_connected(tmp_path):
    def f(b):
        x = b.add_tensor("x", [2, 12])
        w = b.add_const("w", rand(5, 12))
        bias = b.add_const("b", rand(5))
        y = b.add_tensor("y", [2, 5])
        b.add_op("FULLY_CONNECTED", [x, w, bias], [y], dict(fused_activation_function="RELU"))
        return [x], [y]
    compare(build(f), tmp_path, [rand(2, 12)])


def _cnn(b, pool="AVERAGE_POOL_2D"):
    x = b.add_tensor("x", [1, 8, 8, 3])
    c1 = b.add_tensor("c1", [1, 8, 8, 8])
    b.add_op("CONV_2D", [x, b.add_const("w1", rand(8, 3, 3, 3)), b.add_const("b1", rand(8))], [c1],
             dict(padding="SAME", fused_activation_function="RELU"))
    c2 = b.add_tensor("c2", [1, 8, 8, 8])
    b.add_op("DEPTHWISE_CONV_2D", [c1, b.add_const("w2", rand(1, 3, 3, 8)), b.add_const("b2", rand(8))], [c2],
             dict(padding="SAME"))
    a = b.add_tensor("a", [1, 8, 8, 8])
    b.add_op("ADD", [c1, c2], [a], dict(fused_activation_function="RELU6"))
    m = b.add_tensor("m", [1, 8, 8, 8])
    b.add_op("MUL", [a, b.add_const("scale", rand(8))], [m])
    p = b.add_tensor("p", [1, 4, 4, 8])
    b.add_op(pool, [m], [p], dict(filter_height=2, filter_width=2, stride_h=2, stride_w=2))
    cc = b.add_tensor("cc", [1, 4, 4, 16])
    b.add_op("CONCATENATION", [p, p], [cc], dict(axis=3))
    mean = b.add_tensor("mean", [1, 16])
    b.add_op("MEAN", [cc, b.add_const("axes", np.array([1, 2], np.int32))], [mean], dict(keep_dims=False))
    fc = b.add_tensor("fc", [1, 10])
    b.add_op("FULLY_CONNECTED", [mean, b.add_const("wf", rand(10, 16)), b.add_const("bf", rand(10))], [fc])
    y = b.add_tensor("y", [1, 10])
    b.add_op("SOFTMAX", [fc], [y])
    return [x], [y]


@pytest.mark.parametrize("pool", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
def test_cnn_ends_up_nchw(pool, tmp_path):
    g = compare(build(lambda b: _cnn(b, pool)), tmp_path, [rand(1, 8, 8, 3)])
    assert transposes(g) == 1 and g.nodes[0].op == "Transpose"  # only NHWC -> NCHW at the input


@pytest.mark.parametrize("case", ["reshape", "pad", "mean_keep", "concat_axis1", "logistic", "hard_swish", "sub_bcast"])
def test_misc_ops(case, tmp_path):
    def f(b):
        x = b.add_tensor("x", [1, 4, 6, 3])
        if case == "reshape":
            y = b.add_tensor("y", [1, 72])
            b.add_op("RESHAPE", [x, b.add_const("s", np.array([1, 72], np.int32))], [y], dict(new_shape=[1, 72]))
        elif case == "pad":
            y = b.add_tensor("y", [1, 7, 8, 3])
            b.add_op("PAD", [x, b.add_const("p", np.array([[0, 0], [1, 2], [0, 2], [0, 0]], np.int32))], [y])
        elif case == "mean_keep":
            y = b.add_tensor("y", [1, 1, 1, 3])
            b.add_op("MEAN", [x, b.add_const("a", np.array([1, 2], np.int32))], [y], dict(keep_dims=True))
        elif case == "concat_axis1":
            y = b.add_tensor("y", [1, 8, 6, 3])
            b.add_op("CONCATENATION", [x, x], [y], dict(axis=1))
        elif case == "logistic":
            y = b.add_tensor("y", [1, 4, 6, 3])
            b.add_op("LOGISTIC", [x], [y])
        elif case == "hard_swish":
            y = b.add_tensor("y", [1, 4, 6, 3])
            b.add_op("HARD_SWISH", [x], [y])
        else:
            y = b.add_tensor("y", [1, 4, 6, 3])
            b.add_op("SUB", [x, b.add_const("c", rand(1, 1, 6, 1))], [y])
        return [x], [y]
    compare(build(f), tmp_path, [rand(1, 4, 6, 3, lo=-4, hi=4)])


@pytest.mark.parametrize("op", ["RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"])
@pytest.mark.parametrize("align,half", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("size", [(8, 12), (7, 5)])
def test_resize(op, align, half, size, tmp_path):
    def f(b):
        x = b.add_tensor("x", [1, 4, 6, 2])
        y = b.add_tensor("y", [1, size[0], size[1], 2])
        b.add_op(op, [x, b.add_const("size", np.array(size, np.int32))], [y],
                 dict(align_corners=align, half_pixel_centers=half))
        return [x], [y]
    compare(build(f), tmp_path, [rand(1, 4, 6, 2)])


def test_float16_weights(tmp_path):
    def f(b):
        x = b.add_tensor("x", [1, 6, 6, 3])
        w16 = b.add_const("w16", rand(4, 3, 3, 3).astype(np.float16))
        w = b.add_tensor("w", [4, 3, 3, 3])
        b.add_op("DEQUANTIZE", [w16], [w])
        y = b.add_tensor("y", [1, 6, 6, 4])
        b.add_op("CONV_2D", [x, w, b.add_const("b", rand(4))], [y], dict(padding="SAME"))
        return [x], [y]
    g = compare(build(f), tmp_path, [rand(1, 6, 6, 3)])
    conv = next(n for n in g.nodes if n.op == "Conv")
    assert g.tensors[conv.inputs[1]].dtype == "float32" and g.is_const(conv.inputs[1])
    assert "Dequantize" not in {n.op for n in g.nodes}


# ---- int8 ------------------------------------------------------------------------------------
def run_ref_kernels(model: bytes, inputs, preserve=False):
    """LiteRT with its reference builtin kernels (no XNNPACK): TFLite's own fixed-point arithmetic."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=preserve)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return it, [it.get_tensor(d["index"]) for d in it.get_output_details()]


def _q(x, s, zp):
    return np.clip(np.round(x / s) + zp, -128, 127).astype(np.int8)


def _int8_cnn(b, pool):
    """QUANTIZE -> int8 conv (per-channel) -> depthwise -> ADD -> pool -> MUL -> DEQUANTIZE."""
    sx, zx = 1 / 64, 3
    x = b.add_tensor("x", [1, 8, 8, 3])
    xq = b.add_tensor("xq", [1, 8, 8, 3], "int8", quant=(sx, zx))
    b.add_op("QUANTIZE", [x], [xq])
    w1 = rand(8, 3, 3, 3)
    s1 = np.abs(w1).reshape(8, -1).max(axis=1) / 127
    w1q = b.add_const("w1", np.round(w1 / s1[:, None, None, None]).astype(np.int8), quant=(s1, np.zeros(8, np.int64), 0))
    b1 = b.add_const("b1", np.round(rand(8) / (sx * s1)).astype(np.int32), quant=(sx * s1, np.zeros(8, np.int64), 0))
    c1 = b.add_tensor("c1", [1, 8, 8, 8], "int8", quant=(0.03, -128))
    b.add_op("CONV_2D", [xq, w1q, b1], [c1], dict(padding="SAME", fused_activation_function="RELU"))
    w2 = rand(1, 3, 3, 8)
    s2 = np.abs(w2).reshape(-1, 8).max(axis=0) / 127
    w2q = b.add_const("w2", np.round(w2 / s2).astype(np.int8), quant=(s2, np.zeros(8, np.int64), 3))
    b2 = b.add_const("b2", np.round(rand(8) / (0.03 * s2)).astype(np.int32), quant=(0.03 * s2, np.zeros(8, np.int64), 0))
    c2 = b.add_tensor("c2", [1, 8, 8, 8], "int8", quant=(0.05, 2))
    b.add_op("DEPTHWISE_CONV_2D", [c1, w2q, b2], [c2], dict(padding="SAME"))
    a = b.add_tensor("a", [1, 8, 8, 8], "int8", quant=(0.06, -10))
    b.add_op("ADD", [c1, c2], [a], dict(fused_activation_function="RELU6"))
    p = b.add_tensor("p", [1, 4, 4, 8], "int8", quant=(0.06, -10))
    b.add_op(pool, [a], [p], dict(filter_height=3, filter_width=3, stride_h=2, stride_w=2, padding="SAME"))
    m = b.add_tensor("m", [1, 4, 4, 8], "int8", quant=(0.04, 5))
    b.add_op("MUL", [p, p], [m])
    y = b.add_tensor("y", [1, 4, 4, 8])
    b.add_op("DEQUANTIZE", [m], [y])
    return [x], [y]


@pytest.mark.parametrize("pool", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
def test_int8_cnn(pool, tmp_path):
    model = build(lambda b: _int8_cnn(b, pool))
    path = tmp_path / "q.tflite"
    path.write_bytes(model)
    g = load_model(path)
    ops = [n.op for n in g.nodes]
    assert ops.count("Transpose") == 2  # float input -> NCHW, int8 result -> NHWC
    for n in g.nodes:
        if n.op in ("Conv", "Add", "Mul", "AveragePool", "MaxPool"):
            assert g.tensors[n.inputs[0]].dtype == "int8", (n.op, ops)
    for i in range(5):
        x = rand(1, 8, 8, 3)
        env = run(g, {"x": x}, keep_all=True)
        # TFLite's reference kernels use the same fixed-point arithmetic: every int8 tensor is bit-exact
        it, (ref,) = run_ref_kernels(model, [x], preserve=True)
        for d in it.get_tensor_details():
            name = d["name"]
            ours = env.get(name)
            if ours is None and name + "_nt" in env:  # kept NCHW inside the graph
                ours = env[name + "_nt"].transpose(0, 2, 3, 1)
            if ours is not None:
                np.testing.assert_array_equal(ours, it.get_tensor(d["index"]), err_msg=name)
        np.testing.assert_array_equal(env["y"], ref)
        # the default (XNNPACK) kernels requantize in float: 1 LSB per layer, amplified by the final
        # MUL (p*p doubles a 1-LSB difference of p) -- measured up to 5 LSB of m
        lsb = np.rint(np.abs(tw.run_tflite(model, [x])[0] - env["y"]) / 0.04)
        assert lsb.max() <= 6 and np.mean(lsb <= 1) >= 0.9, np.bincount(lsb.astype(int).ravel())


def test_int8_io_fully_connected(tmp_path):
    def f(b):
        x = b.add_tensor("x", [2, 16], "int8", quant=(0.05, -3))
        w = rand(6, 16)
        s = np.abs(w).max(axis=1) / 127
        wq = b.add_const("w", np.round(w / s[:, None]).astype(np.int8), quant=(s, np.zeros(6, np.int64), 0))
        bias = b.add_const("b", np.round(rand(6) / (0.05 * s)).astype(np.int32), quant=(0.05 * s, np.zeros(6, np.int64), 0))
        y = b.add_tensor("y", [2, 6], "int8", quant=(0.08, 1))
        b.add_op("FULLY_CONNECTED", [x, wq, bias], [y])
        return [x], [y]
    model = build(f)
    path = tmp_path / "fc.tflite"
    path.write_bytes(model)
    g = load_model(path)
    assert [n.op for n in g.nodes] == ["FullyConnected"] and g.tensors["y"].dtype == "int8"
    x = RNG.integers(-128, 128, (2, 16)).astype(np.int8)
    got = run(g, {"x": x})["y"]
    np.testing.assert_array_equal(got, run_ref_kernels(model, [x])[1][0])
    assert np.abs(tw.run_tflite(model, [x])[0].astype(int) - got.astype(int)).max() <= 1


# ---- sparse ------------------------------------------------------------------------------------
@pytest.mark.parametrize("block", [None, (4, 1), (2, 4)])
def test_sparse_fc_densify(block, tmp_path):
    w = rand(8, 16)
    if block is None:
        w[RNG.random(w.shape) < 0.6] = 0
    else:
        bm, bk = block
        mask = RNG.random((8 // bm, 16 // bk)) < 0.5
        w = w * np.kron(mask, np.ones(block))
        w = w.astype(np.float32)
    sp = tw.sparse_encode(w, block)

    def f(b):
        x = b.add_tensor("x", [2, 16])
        ws = b.add_tensor("w_sparse", [8, 16], "float32", sparsity=sp)
        wd = b.add_tensor("w_dense", [8, 16])
        b.add_op("DENSIFY", [ws], [wd])
        y = b.add_tensor("y", [2, 8])
        b.add_op("FULLY_CONNECTED", [x, wd, b.add_const("b", rand(8))], [y])
        return [x], [y]
    g = compare(build(f), tmp_path, [rand(2, 16)])
    assert g.metadata["source_sparse"] == ["w_sparse"]
    fc = next(n for n in g.nodes if n.op == "FullyConnected")
    np.testing.assert_array_equal(g.tensors[fc.inputs[1]].data, w)


# ---- errors ---------------------------------------------------------------------------------
def test_unsupported_op(tmp_path):
    def f(b):
        x = b.add_tensor("x", [1, 4])
        y = b.add_tensor("y_dense", [1, 4])
        b.add_op("DENSIFY", [x], [y])
        return [x], [y]
    model = bytearray(build(f))
    # turn the DENSIFY opcode into an op we do not support by swapping in a different builtin code
    import tflite
    m = tflite.Model.GetRootAsModel(bytes(model), 0)
    code = m.OperatorCodes(0)
    pos = code._tab.Offset(10)  # builtin_code (int32) field
    import struct
    off = code._tab.Pos + pos
    struct.pack_into("<i", model, off, tflite.BuiltinOperator.GELU)
    path = tmp_path / "u.tflite"
    path.write_bytes(bytes(model))
    with pytest.raises(UnsupportedOpError) as e:
        load_model(path)
    msg = str(e.value)
    assert "'GELU'" in msg and "y_dense" in msg and "TFLite" in msg and "\n" not in msg


@pytest.mark.parametrize("content", [b"\x00\x00\x00\x00TFL3" + b"\xff" * 20, b"1234TFL3"])
def test_garbage_tflite(content, tmp_path):
    path = tmp_path / "junk.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError) as e:
        load_model(path)
    assert "\n" not in str(e.value)
