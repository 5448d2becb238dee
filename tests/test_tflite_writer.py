"""models.tflite_writer: every op it writes runs in LiteRT as numpy says it should."""
import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")
from models.tflite_writer import TFLiteBuilder, builtin_ops, run_tflite, sparse_decode, sparse_encode

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def one_op(op, inputs, out_shape, options=None, consts=(), out_dtype="float32", out_quant=None):
    """Model with a single op: ``inputs`` are (name, array, dtype, quant) runtime inputs,
    ``consts`` extra constant inputs appended after them."""
    b = TFLiteBuilder()
    ins = [b.add_tensor(n, a.shape, d, quant=q) for n, a, d, q in inputs]
    cs = [b.add_const(f"c{i}", c) for i, c in enumerate(consts)]
    y = b.add_tensor("y", out_shape, out_dtype, quant=out_quant)
    b.add_op(op, ins + cs, [y], options)
    b.set_io(ins, [y])
    data = b.to_bytes()
    assert builtin_ops(data) == {op: 1}
    return run_tflite(data, [a for _, a, _, _ in inputs])[0]


def f32(name, a):
    return (name, a, "float32", None)


def conv_ref(x, w, b, stride, pad, depthwise=False):
    """NHWC conv; ``w`` is TFLite layout ([O,kh,kw,I] or [1,kh,kw,C])."""
    x = np.pad(x, [(0, 0), pad[0], pad[1], (0, 0)])
    kh, kw = w.shape[1:3]
    oh = (x.shape[1] - kh) // stride + 1
    ow = (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], oh, ow, w.shape[0] if not depthwise else w.shape[3]), np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i:i + stride * oh:stride, j:j + stride * ow:stride, :]
            if depthwise:
                mult = w.shape[3] // x.shape[3]
                out += np.repeat(patch, mult, axis=3) * w[0, i, j]
            else:
                out += patch @ w[:, i, j, :].T
    return out + b


def test_conv2d_same_stride2_relu6():
    x, w, b = rand(1, 9, 9, 3), rand(4, 3, 3, 3), rand(4)
    y = one_op("CONV_2D", [f32("x", x)], [1, 5, 5, 4], {"padding": "SAME", "stride_h": 2, "stride_w": 2,
                                                         "fused_activation_function": "RELU6"}, [w, b])
    np.testing.assert_allclose(y, np.clip(conv_ref(x, w, b, 2, [(1, 1), (1, 1)]), 0, 6), atol=1e-5)


def test_depthwise_conv_multiplier2():
    x, w, b = rand(1, 6, 6, 3), rand(1, 3, 3, 6), rand(6)
    y = one_op("DEPTHWISE_CONV_2D", [f32("x", x)], [1, 4, 4, 6], {"depth_multiplier": 2}, [w, b])
    np.testing.assert_allclose(y, conv_ref(x, w, b, 1, [(0, 0), (0, 0)], depthwise=True), atol=1e-5)


def test_fully_connected_relu():
    x, w, b = rand(2, 16), rand(5, 16), rand(5)
    y = one_op("FULLY_CONNECTED", [f32("x", x)], [2, 5], {"fused_activation_function": "RELU"}, [w, b])
    np.testing.assert_allclose(y, np.maximum(x @ w.T + b, 0), atol=1e-5)


@pytest.mark.parametrize("op,fn", [("ADD", np.add), ("SUB", np.subtract), ("MUL", np.multiply)])
def test_binary_broadcast(op, fn):
    a, c = rand(1, 4, 4, 3), rand(3)
    y = one_op(op, [f32("a", a)], [1, 4, 4, 3], {}, [c])
    np.testing.assert_allclose(y, fn(a, c), atol=1e-6)


@pytest.mark.parametrize("op,fn", [("AVERAGE_POOL_2D", np.mean), ("MAX_POOL_2D", np.max)])
def test_pool(op, fn):
    x = rand(1, 6, 6, 2)
    y = one_op(op, [f32("x", x)], [1, 3, 3, 2], {"filter_height": 2, "filter_width": 2,
                                                 "stride_h": 2, "stride_w": 2})
    np.testing.assert_allclose(y, fn(x.reshape(1, 3, 2, 3, 2, 2), axis=(2, 4)), atol=1e-6)


def test_mean():
    x = rand(1, 5, 4, 3)
    y = one_op("MEAN", [f32("x", x)], [1, 3], {"keep_dims": False}, [np.array([1, 2], np.int32)])
    np.testing.assert_allclose(y, x.mean(axis=(1, 2)), atol=1e-6)


def test_reshape():
    x = rand(1, 2, 3, 4)
    y = one_op("RESHAPE", [f32("x", x)], [6, 4], {"new_shape": [6, 4]}, [np.array([6, 4], np.int32)])
    np.testing.assert_array_equal(y, x.reshape(6, 4))


def test_softmax_beta():
    x = rand(2, 7)
    y = one_op("SOFTMAX", [f32("x", x)], [2, 7], {"beta": 0.5})
    e = np.exp(0.5 * (x - x.max(1, keepdims=True)))
    np.testing.assert_allclose(y, e / e.sum(1, keepdims=True), atol=1e-6)


def test_pad():
    x = rand(1, 3, 3, 2)
    pads = np.array([[0, 0], [1, 2], [0, 1], [0, 0]], np.int32)
    y = one_op("PAD", [f32("x", x)], [1, 6, 4, 2], {}, [pads])
    np.testing.assert_array_equal(y, np.pad(x, pads))


def test_concatenation():
    a, c = rand(1, 2, 2, 3), rand(1, 2, 2, 2)
    y = one_op("CONCATENATION", [f32("a", a), f32("c", c)], [1, 2, 2, 5], {"axis": 3})
    np.testing.assert_array_equal(y, np.concatenate([a, c], axis=3))


def test_resize_bilinear_align_corners():
    x = rand(1, 3, 3, 2)
    y = one_op("RESIZE_BILINEAR", [f32("x", x)], [1, 5, 5, 2], {"align_corners": True},
               [np.array([5, 5], np.int32)])
    src = np.arange(5) * (3 - 1) / (5 - 1)  # align_corners maps the corner pixels exactly
    i0 = np.minimum(np.floor(src).astype(int), 1)
    f = src - i0
    rows = x[:, i0] * (1 - f)[None, :, None, None] + x[:, i0 + 1] * f[None, :, None, None]
    ref = rows[:, :, i0] * (1 - f)[None, None, :, None] + rows[:, :, i0 + 1] * f[None, None, :, None]
    np.testing.assert_allclose(y, ref, atol=1e-5)


def test_resize_nearest_neighbor():
    x = rand(1, 2, 3, 2)
    y = one_op("RESIZE_NEAREST_NEIGHBOR", [f32("x", x)], [1, 4, 6, 2], {},
               [np.array([4, 6], np.int32)])
    np.testing.assert_array_equal(y, x.repeat(2, axis=1).repeat(2, axis=2))


@pytest.mark.parametrize("op,fn", [
    ("LOGISTIC", lambda x: 1 / (1 + np.exp(-x))),
    ("TANH", np.tanh),
    ("RELU", lambda x: np.maximum(x, 0)),
    ("RELU6", lambda x: np.clip(x, 0, 6)),
    ("HARD_SWISH", lambda x: x * np.clip(x + 3, 0, 6) / 6),
])
def test_unary(op, fn):
    x = rand(2, 10) * 4
    np.testing.assert_allclose(one_op(op, [f32("x", x)], [2, 10]), fn(x), atol=1e-5)


def test_quantize_dequantize_roundtrip():
    x = rand(3, 8)
    q = one_op("QUANTIZE", [f32("x", x)], [3, 8], out_dtype="int8", out_quant=(0.05, 3))
    np.testing.assert_array_equal(q, np.clip(np.round(x / 0.05) + 3, -128, 127).astype(np.int8))
    d = one_op("DEQUANTIZE", [("q", q, "int8", (0.05, 3))], [3, 8])
    np.testing.assert_allclose(d, (q.astype(np.float32) - 3) * 0.05, atol=1e-6)


def test_fp16_weights_dequantize():
    """The FP16-weights pattern: float16 constant -> DEQUANTIZE -> FULLY_CONNECTED."""
    x, w = rand(1, 8), rand(4, 8)
    b = TFLiteBuilder()
    xi = b.add_tensor("x", [1, 8])
    wh = b.add_const("w16", w.astype(np.float16))
    wf = b.add_tensor("w", [4, 8])
    y = b.add_tensor("y", [1, 4])
    b.add_op("DEQUANTIZE", [wh], [wf])
    b.add_op("FULLY_CONNECTED", [xi, wf, -1], [y])  # -1: no bias
    b.set_io([xi], [y])
    out = run_tflite(b.to_bytes(), x)[0]
    np.testing.assert_allclose(out, x @ w.astype(np.float16).astype(np.float32).T, atol=1e-5)


def test_int8_per_channel_conv():
    x, w, bias = rand(1, 6, 6, 3), rand(4, 3, 3, 3), rand(4)
    sx, zx, sy, zy = 0.03, -5, 0.1, 10
    ws = np.abs(w).max(axis=(1, 2, 3)) / 127
    wq = np.round(w / ws[:, None, None, None]).astype(np.int8)
    bq = np.round(bias / (sx * ws)).astype(np.int32)
    xq = np.clip(np.round(x / sx) + zx, -128, 127).astype(np.int8)
    b = TFLiteBuilder()
    xi = b.add_tensor("x", x.shape, "int8", quant=(sx, zx))
    wi = b.add_const("w", wq, "int8", quant={"scale": ws, "zero_point": 0, "quantized_dimension": 0})
    bi = b.add_const("b", bq, "int32", quant=(sx * ws, 0))
    y = b.add_tensor("y", [1, 4, 4, 4], "int8", quant=(sy, zy))
    b.add_op("CONV_2D", [xi, wi, bi], [y])
    b.set_io([xi], [y])
    out = run_tflite(b.to_bytes(), xq)[0]
    ref = conv_ref((xq.astype(np.float32) - zx) * sx, wq * ws[:, None, None, None], bq * sx * ws,
                   1, [(0, 0), (0, 0)])
    expect = np.clip(np.round(ref / sy) + zy, -128, 127)
    assert np.abs(out.astype(int) - expect).max() <= 1


@pytest.mark.parametrize("block", [None, (4, 1), (2, 4)])
def test_sparse_encode_roundtrip(block):
    w = rand(8, 16) * (RNG.random((8, 16)) < 0.3)
    sp = sparse_encode(w, block)
    np.testing.assert_array_equal(sparse_decode(sp, w.shape), w)
    if block is None:
        assert sp.values.size == np.count_nonzero(w)
        assert [d.format for d in sp.dim_metadata] == ["DENSE", "SPARSE_CSR"]
    else:
        assert sp.traversal_order == [0, 1, 2, 3] and sp.block_map == [0, 1]
        assert [d.format for d in sp.dim_metadata] == ["DENSE", "SPARSE_CSR", "DENSE", "DENSE"]


@pytest.mark.parametrize("block", [None, (4, 1), (1, 4), (2, 4)])
def test_sparse_fc_densify_matches_dense(block):
    """A sparse FC weight + DENSIFY loads in LiteRT and equals the dense model."""
    x = rand(2, 16)
    w = rand(8, 16)
    if block is None:
        w *= RNG.random(w.shape) < 0.2
    else:
        bm, bk = block
        keep = RNG.random((8 // bm, 16 // bk)) < 0.3
        w *= np.kron(keep, np.ones(block))
    bias = rand(8)

    def model(sparse):
        b = TFLiteBuilder()
        xi = b.add_tensor("x", x.shape)
        if sparse:
            s = b.add_tensor("w_sparse", w.shape, sparsity=sparse_encode(w, block))
            wi = b.add_tensor("w", w.shape)
            b.add_op("DENSIFY", [s], [wi])
        else:
            wi = b.add_const("w", w)
        y = b.add_tensor("y", [2, 8])
        b.add_op("FULLY_CONNECTED", [xi, wi, b.add_const("b", bias)], [y])
        b.set_io([xi], [y])
        return b.to_bytes()

    sparse_bytes, dense_bytes = model(True), model(False)
    assert builtin_ops(sparse_bytes) == {"DENSIFY": 1, "FULLY_CONNECTED": 1}
    out_sparse = run_tflite(sparse_bytes, x)[0]
    np.testing.assert_allclose(out_sparse, run_tflite(dense_bytes, x)[0], atol=1e-6)
    np.testing.assert_allclose(out_sparse, x @ w.T + bias, atol=1e-5)


def test_unknown_op_rejected():
    with pytest.raises(ValueError):
        TFLiteBuilder().add_op("NOT_AN_OP", [], [])
