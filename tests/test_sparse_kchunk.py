"""SPARSE_CONV1X1 with K-chunked (chunk-major) weights, format 1.1: every ISA level against
float64 numpy on random shapes with remainders (odd channel counts, K not a multiple of the
chunk, a chunk of one channel, density 0 and 1, empty rows, maps of 1..300 pixels covering the
13-vector, masked and multi-tile paths), bit-identical to the plain layout on the scalar
reference (same products in the same order), and corrupt chunk parameters rejected at load."""
from __future__ import annotations

import numpy as np
import pytest

native_harness = pytest.importorskip("native_harness")
from native_harness import Graph, ISAS, Loaded, lib  # noqa: E402

if lib is None:
    pytest.skip("native runtime not built", allow_module_level=True)

from edge_sdk.compile import bcsr  # noqa: E402
from test_native_kernels import close  # noqa: E402

ISA = list(ISAS)

CASES = [
    # K, M, H, W, k_chunk, density
    (64, 48, 14, 14, 16, 0.2),     # MobileNet-like 14x14, K a multiple of the chunk
    (67, 33, 14, 14, 16, 0.3),     # K % chunk = 3: a short last chunk
    (129, 17, 7, 7, 32, 0.2),      # 7x7 (masked 4th vector), odd channel counts
    (50, 9, 13, 16, 50, 0.5),      # one chunk of all K
    (21, 11, 3, 5, 1, 0.4),        # chunks of one channel, 15-pixel map
    (40, 24, 15, 20, 8, 0.15),     # 300 px: several pixel tiles
    (32, 16, 14, 14, 8, 0.0),      # no nonzeros at all
    (33, 16, 14, 14, 8, 1.0),      # dense
    (24, 8, 1, 1, 5, 0.5),         # one pixel
    (200, 20, 14, 14, 100, 0.3),   # chunk rows larger than the kernel's aligned buffer: read in place
]


def random_weights(rng, M, K, density):
    w = rng.standard_normal((M, K)).astype(np.float32)
    w[rng.random((M, K)) >= density] = 0.0
    if M > 2:
        w[1] = 0.0          # an empty row
        w[2, : K // 2] = 0  # a row empty in the first chunks
    return w


def sparse_graph(x, p: bcsr.BlockCSR, b, k_chunk: int, lo=-1.0, hi=1.5) -> Graph:
    M, K = p.shape
    g = Graph()
    xi = g.input("x", x)
    ins = [xi, g.const("v", p.values), g.const("rp", p.row_ptr), g.const("ci", p.col_idx), g.const("b", b)]
    yi = g.output("y", "float32", (x.shape[0], M) + x.shape[2:])
    g.op("SPARSE_CONV1X1", ins, [yi], block_r=1, block_c=1, rows=M, cols=K, act=2, act_min=lo, act_max=hi,
         k_chunk=k_chunk)
    return g


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_kchunk_vs_numpy(isa, case):
    K, M, H, W, kc, dens = CASES[case]
    rng = np.random.default_rng(700 + case)
    w = random_weights(rng, M, K, dens)
    N = 2 if case % 2 else 1
    x = rng.standard_normal((N, K, H, W)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    ref = np.einsum("mk,nkhw->nmhw", w.astype(np.float64), x.astype(np.float64)) + b.reshape(1, -1, 1, 1)
    ref = np.clip(ref, -1.0, 1.5)
    p = bcsr.pack_k_chunked(w, kc)
    assert np.array_equal(p.to_dense(), w)
    for threads in (1, 2):
        close(ref, sparse_graph(x, p, b, kc).run(isa, threads)[0])


@pytest.mark.parametrize("case", range(len(CASES)))
def test_kchunk_scalar_bit_identical_to_plain(case):
    K, M, H, W, kc, dens = CASES[case]
    rng = np.random.default_rng(800 + case)
    w = random_weights(rng, M, K, dens)
    x = rng.standard_normal((1, K, H, W)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    chunked = sparse_graph(x, bcsr.pack_k_chunked(w, kc), b, kc).run("scalar")[0]
    plain = sparse_graph(x, bcsr.pack(w, (1, 1)), b, 0).run("scalar")[0]
    assert chunked.tobytes() == plain.tobytes()


def load_error(g: Graph) -> str:
    ld = Loaded(g.to_bytes())
    assert ld.status != lib.ESDK_OK, "corrupt artifact was accepted"
    return ld.error


def corrupt(mutate, k_chunk=4, block=(1, 1), K=10, M=3):
    rng = np.random.default_rng(5)
    w = random_weights(rng, M, K, 0.6)
    p = bcsr.pack_k_chunked(w, 4) if block == (1, 1) else bcsr.pack(w, block)
    rp, ci = p.row_ptr.copy(), p.col_idx.copy()
    rp, ci = mutate(rp, ci)
    g = Graph()
    xi = g.input("x", rng.standard_normal((1, K, 2, 2)).astype(np.float32))
    yi = g.output("y", "float32", (1, M, 2, 2))
    g.op("SPARSE_CONV1X1", [xi, g.const("v", p.values), g.const("rp", rp), g.const("ci", ci), None], [yi],
         block_r=block[0], block_c=block[1], rows=M, cols=K, k_chunk=k_chunk)
    return g


@pytest.mark.parametrize("k_chunk,mutate,block,msg", [
    (-3, None, (1, 1), "k_chunk -3 outside"),
    (11, None, (1, 1), "k_chunk 11 outside"),
    (5, None, (1, 1), "row_ptr has"),                        # 2 chunks declared, 3 stored
    (4, "wrong_chunk", (1, 1), "outside K chunk"),           # a column in another chunk's row
    (4, "plain_rows", (1, 1), "row_ptr has"),                # plain CSR with a chunk word
    (2, None, (1, 2), "needs a float32 SPARSE_CONV1X1 with 1x1 blocks"),
])
def test_kchunk_corrupt_rejected(k_chunk, mutate, block, msg):
    def wrong_chunk(rp, ci):
        j = int(rp[-1]) - 1  # the last nonzero: move its column into another chunk
        chunk = (int(np.searchsorted(rp, j, side="right")) - 1) // 3
        ci[j] = 9 if chunk == 0 else 0
        return rp, ci

    def plain_rows(rp, ci):
        return rp[:4].copy(), ci

    fn = {None: lambda rp, ci: (rp, ci), "wrong_chunk": wrong_chunk, "plain_rows": plain_rows}[mutate]
    err = load_error(corrupt(fn, k_chunk, block))
    assert msg in err and "\n" not in err, err


def test_kchunk_word_on_sparse_fc_rejected():
    import struct

    rng = np.random.default_rng(10)
    p = bcsr.pack(random_weights(rng, 4, 8, 0.5), (1, 1))
    g = Graph()
    xi = g.input("x", np.zeros((1, 8), np.float32))
    yi = g.output("y", "float32", (1, 4))
    # the writer knows no k_chunk on SPARSE_FULLY_CONNECTED: append the word as the raw tenth one
    g.op("SPARSE_FULLY_CONNECTED", [xi, g.const("v", p.values), g.const("rp", p.row_ptr), g.const("ci", p.col_idx),
                                    None], [yi], block_r=1, block_c=1, rows=4, cols=8)
    b = g.b
    b.parm += struct.pack("<i", 4)
    from edge_sdk.artifact import layout as L
    code, nin, nout, io0, p0, n = L.OP.unpack(b.ops[-1])
    b.ops[-1] = L.OP.pack(code, nin, nout, io0, p0, n + 1)
    err = load_error(g)
    assert "10 parameter words, need 9" in err and "\n" not in err, err


def test_kchunk_int8_rejected():
    rng = np.random.default_rng(9)
    w = random_weights(rng, 4, 8, 0.5)
    p = bcsr.pack_k_chunked(w, 4)
    g = Graph()
    xi = g.input("x", np.zeros((1, 8, 2, 2), np.int8))
    yi = g.output("y", "int8", (1, 4, 2, 2))
    q = [g.const("mu", np.full(4, 1 << 30, np.int32)), g.const("sh", np.zeros(4, np.int32))]
    g.op("SPARSE_CONV1X1", [xi, g.const("v", np.ones(p.values.shape, np.int8)), g.const("rp", p.row_ptr),
                            g.const("ci", p.col_idx), None] + q, [yi],
         block_r=1, block_c=1, rows=4, cols=8, qmin=-128, qmax=127, k_chunk=4)
    assert "needs a float32" in load_error(g)


def test_plain_sparse_artifact_unchanged_by_the_minor_version():
    """Without a chunk the op keeps its nine words, and a 1.0 header still loads and runs."""
    import struct

    from edge_sdk.artifact.reader import read_artifact
    from edge_sdk.artifact.writer import fix_crcs
    from native_harness import run_artifact

    rng = np.random.default_rng(11)
    w = random_weights(rng, 6, 9, 0.5)
    x = rng.standard_normal((1, 9, 3, 3)).astype(np.float32)
    b = np.zeros(6, np.float32)
    data = sparse_graph(x, bcsr.pack(w, (1, 1)), b, 0, lo=-1e30, hi=1e30).to_bytes()
    assert [len(op.params) for op in read_artifact(data).ops] == [9]
    old = bytearray(data)
    struct.pack_into("<H", old, 6, 0)
    old = fix_crcs(bytes(old))
    assert read_artifact(old).version == (1, 0)
    ref = np.einsum("mk,nkhw->nmhw", w.astype(np.float64), x.astype(np.float64))
    close(ref, run_artifact(old, [x], "best", 1, [("float32", ref.shape)])[0])


def small_map_model(path):
    """1x1 convs on a 14x14 map (160 -> 300) and, after a 2x2 max pool, a 7x7 map (300 -> 64):
    input channels beyond one K chunk on both, so the exporter chunks them."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(21)
    w1 = rng.standard_normal((300, 160, 1, 1)).astype(np.float32) * 0.1
    w2 = rng.standard_normal((64, 300, 1, 1)).astype(np.float32) * 0.1
    b1 = rng.standard_normal(300).astype(np.float32) * 0.1
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2"], ["y"], kernel_shape=[1, 1])]
    g = helper.make_graph(nodes, "kchunk", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 160, 14, 14])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64, 7, 7])],
                          [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
                           numpy_helper.from_array(b1, "b1")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def test_exporter_chunks_small_maps_and_matches_reference(tmp_path):
    import edge_sdk
    from edge_sdk.artifact.reader import read_artifact
    from edge_sdk.reference import run as ref_run
    from edge_sdk.peers import source_runner

    path = small_map_model(tmp_path / "kchunk.onnx")
    art = edge_sdk.export(path, sparsity=0.8, pattern="unstructured", keep_dense=[], validate=False)
    chunked = [op for op in read_artifact(art.data).ops if op.name == "SPARSE_CONV1X1" and len(op.params) == 10]
    assert len(chunked) == 2, [(op.name, len(op.params)) for op in read_artifact(art.data).ops]
    assert read_artifact(art.data).version == (1, 1)
    reasons = [l["reason"] for l in art.report.layers]
    assert all("K in chunks of" in r for r in reasons), reasons
    x = np.random.default_rng(4).standard_normal((1, 160, 14, 14)).astype(np.float32)
    ref = ref_run(art.pruned_float, {"x": x})["y"]
    for isa in ("scalar", "auto"):
        got = edge_sdk.Session(art.data, isa=isa).run({"x": x})["y"]
        close(ref, got)
    # dense weights (sparsity 0) are not chunked: the dense GEMM runs, the source model agrees
    art0 = edge_sdk.export(path, validate=False)
    assert not any(op.name == "SPARSE_CONV1X1" for op in read_artifact(art0.data).ops)
    close(source_runner(path).run({"x": x})["y"], edge_sdk.Session(art0.data).run({"x": x})["y"])


def test_k_chunk_choice():
    from edge_sdk.compile.target import Target

    t = Target("t", "x86_64", {"cost": {"sparse_k_chunk": {"max_hw": 208, "x_bytes": 65536, "min_row_nnz": 10}}})
    assert t.k_chunk(196, 512, 0.2) == 64       # 78 rows of 832 B fit: 8 even chunks of 64
    assert t.k_chunk(49, 1024, 0.2) == 256      # 256-byte rows
    assert t.k_chunk(196, 512, 0.1) == 0        # ~7 nonzeros per row chunk: plain
    assert t.k_chunk(784, 512, 0.5) == 0        # larger maps: plain
    assert t.k_chunk(196, 64, 0.5) == 0         # one chunk: plain
    assert Target("t", "x86_64", {}).k_chunk(196, 512, 0.5) == 0
    t = Target("t", "x86_64", {"cost": {"sparse_k_chunk": {"max_hw": 784, "x_bytes": 49152, "row_fma": 200,
                                                           "min_row_nnz": 10}}})
    assert t.k_chunk(196, 512, 0.2) == 56       # 13 vectors a row: 80 channels wanted, 59 rows fit
    assert t.k_chunk(196, 512, 0.5) == 32       # denser: smaller chunks (16 nonzeros x 13 vectors)
    assert t.k_chunk(49, 1024, 0.5) == 104      # 4 vectors a row: 100 channels, evened over 1024
    assert t.k_chunk(784, 256, 0.2) == 88       # 28x28: 7 tiles of 112 px, 7 vectors
    assert t.k_chunk(784, 256, 0.1) == 0        # 8.8 nonzeros per row chunk after evening out
    assert t.k_chunk(3136, 128, 0.5) == 0       # beyond max_hw


@pytest.mark.parametrize("target", ["rpi4", "rpi5"])
@pytest.mark.parametrize("case", [0, 2, 4, 6])
def test_kchunk_on_emulated_aarch64(target, case, tmp_path, monkeypatch):
    """The NEON kernel walks the chunks too (16-pixel tiles and the scalar pixel tail)."""
    import hashlib

    from test_target_aarch64_util import fp32_close, skip_reason

    if skip_reason():
        pytest.skip(skip_reason())
    from edge_sdk.build import linux, run_on_target

    # the cross build cache is configured for one source tree; build this checkout's own
    key = hashlib.sha1(str(linux.ROOT).encode()).hexdigest()[:10]
    monkeypatch.setattr(linux, "CACHE", linux.CACHE / "checkouts" / key)

    K, M, H, W, kc, dens = CASES[case]
    rng = np.random.default_rng(900 + case)
    w = random_weights(rng, M, K, dens)
    x = rng.standard_normal((1, K, H, W)).astype(np.float32)
    g = sparse_graph(x, bcsr.pack_k_chunked(w, kc), rng.standard_normal(M).astype(np.float32), kc)
    path = tmp_path / "op.esm"
    path.write_bytes(g.to_bytes())
    fp32_close(g.run("scalar")[0], run_on_target(path, target, {"x": x})["y"])
