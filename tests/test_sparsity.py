"""Sparsification: mask structure per pattern, allocation, permutation, defaults, errors."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from edge_sdk.errors import EdgeSdkError
from edge_sdk.ir.graph import Graph, Node, Tensor
from edge_sdk.ir.ops import defaults
from edge_sdk.sparsity import SparsityError, default_keep_dense, parse_pattern, sparsify
from edge_sdk.sparsity.patterns import (
    KERNEL_PATTERN_SPARSITY,
    block_mask,
    compute_mask,
    kernel_matches_library,
    kernel_pattern_mask,
    nm_mask,
    unstructured_mask,
)

try:
    from edge_sdk.reference.executor import run
except ImportError:  # pragma: no cover - the executor lands separately
    run = None

needs_executor = pytest.mark.skipif(run is None, reason="edge_sdk.reference.executor not available yet")


# ---- graph builders ---------------------------------------------------------------
class Builder:
    def __init__(self, name="m", seed=0):
        self.g = Graph(name)
        self.rng = np.random.default_rng(seed)

    def input(self, name, shape):
        self.g.add_tensor(Tensor(name, tuple(shape)))
        self.g.inputs.append(name)
        return name

    def node(self, op, name, inputs, out_shape, **attrs):
        a = defaults(op)
        a.update(attrs)
        out = f"{name}_out"
        self.g.add_tensor(Tensor(out, tuple(out_shape)))
        self.g.nodes.append(Node(op, name, inputs, [out], a))
        return out

    def conv(self, name, x, cout, k=1, group=1, act="relu", stride=1):
        n, c, h, w = self.g.tensors[x].shape
        p = k // 2
        oh, ow = (h + 2 * p - k) // stride + 1, (w + 2 * p - k) // stride + 1
        wt = self.g.const(f"{name}_w", (self.rng.standard_normal((cout, c // group, k, k)) / np.sqrt(c // group * k * k)).astype(np.float32))
        b = self.g.const(f"{name}_b", (0.1 * self.rng.standard_normal(cout)).astype(np.float32))
        return self.node("Conv", name, [x, wt, b], (n, cout, oh, ow), pads=(p, p, p, p), group=group,
                         strides=(stride, stride), act=act)

    def fc(self, name, x, m, act="none"):
        k = self.g.tensors[x].shape[-1]
        wt = self.g.const(f"{name}_w", (self.rng.standard_normal((m, k)) / np.sqrt(k)).astype(np.float32))
        b = self.g.const(f"{name}_b", (0.1 * self.rng.standard_normal(m)).astype(np.float32))
        return self.node("FullyConnected", name, [x, wt, b], (*self.g.tensors[x].shape[:-1], m), act=act)

    def output(self, t):
        self.g.outputs.append(t)
        return self.g


def mobilenet_like(seed=0, n=1, hw=8, softmax=True) -> Graph:
    """conv3x3 -> [1x1 -> dw3x3 -> 1x1] x2 -> GAP -> Reshape -> FC (-> Softmax)."""
    b = Builder("mobilenet_like", seed)
    x = b.input("image", (n, 3, hw, hw))
    y = b.conv("stem", x, 16, k=3)
    y = b.conv("expand1", y, 32)
    y = b.conv("dw1", y, 32, k=3, group=32)
    y = b.conv("project1", y, 32, act="none")
    y = b.conv("expand2", y, 64)
    y = b.conv("dw2", y, 64, k=3, group=64)
    y = b.conv("project2", y, 64, act="relu")
    y = b.node("GlobalAveragePool", "gap", [y], (n, 64, 1, 1))
    y = b.node("Reshape", "flatten", [y], (n, 64), shape=(n, 64))
    y = b.fc("classifier", y, 10)
    if softmax:
        y = b.node("Softmax", "softmax", [y], (n, 10), axis=-1)
    return b.output(y)


def residual_net(seed=0) -> Graph:
    b = Builder("residual", seed)
    x = b.input("x", (1, 8, 6, 6))
    a = b.conv("c1", x, 16, k=3)
    c = b.conv("c2", a, 16, k=3)
    s = b.node("Add", "res", [a, c], (1, 16, 6, 6), **{"act": "relu"})
    d = b.conv("c3", s, 16)
    return b.output(d)


def big_matrix(shape=(64, 256), seed=0):
    return np.abs(np.random.default_rng(seed).standard_normal(shape))


def feeds_for(g: Graph, k=1, seed=0):
    rng = np.random.default_rng(seed)
    return [{i: rng.standard_normal(g.tensors[i].shape).astype(np.float32) for i in g.inputs} for _ in range(k)]


# ---- pattern parsing ----------------------------------------------------------------
def test_parse_patterns():
    assert parse_pattern("2:4").n == 2 and parse_pattern("2:4").m == 4
    assert parse_pattern("block:4x1").block == (4, 1)
    assert parse_pattern("unstructured").kind == "unstructured"
    assert parse_pattern("kernel-pattern").kind == "kernel-pattern"
    with pytest.raises(EdgeSdkError) as e:
        parse_pattern("block:3")
    assert str(e.value) == (
        "pattern 'block:3' not understood; expected unstructured, n:m (e.g. 2:4), "
        "block:RxC (e.g. 4x1) or kernel-pattern"
    )
    for bad in ("5:4", "0:4", "block:0x4", "random"):
        with pytest.raises(SparsityError):
            parse_pattern(bad)


# ---- mask structure ----------------------------------------------------------------
@pytest.mark.parametrize("s", [0.3, 0.5, 0.75, 0.9])
def test_unstructured_hits_target(s):
    m = unstructured_mask(big_matrix(), s)
    assert abs((1 - m.mean()) - s) <= 0.01


@pytest.mark.parametrize("n,m", [(2, 4), (1, 4), (4, 8)])
def test_nm_groups(n, m):
    scores = big_matrix((32, 64))
    mask = nm_mask(scores, n, m)
    groups = mask.reshape(32, 64 // m, m)
    assert np.all(groups.sum(axis=2) == n)
    # the kept ones are the group's largest
    g = scores.reshape(32, 64 // m, m)
    kept_min = np.where(groups, g, np.inf).min(axis=2)
    dropped_max = np.where(groups, -np.inf, g).max(axis=2)
    assert np.all(kept_min >= dropped_max)


def test_nm_on_conv_weight_groups_along_k():
    scores = big_matrix((8, 6, 3, 3))  # K = 54, not a multiple of 4: last group is partial
    mask = nm_mask(scores, 2, 4)
    mat = mask.reshape(8, 54)
    for start in range(0, 54, 4):
        assert np.all(mat[:, start:start + 4].sum(axis=1) <= 2)


@pytest.mark.parametrize("block", [(1, 4), (4, 1), (8, 1), (2, 2)])
@pytest.mark.parametrize("s", [0.5, 0.8])
def test_block_mask_structure(block, s):
    r, c = block
    mask = block_mask(big_matrix((64, 128)), s, block)
    blocks = mask.reshape(64 // r, r, 128 // c, c)
    assert np.array_equal(blocks.all(axis=(1, 3)), blocks.any(axis=(1, 3)))
    assert abs((1 - mask.mean()) - s) <= 0.01


def test_kernel_pattern_structure():
    scores = big_matrix((32, 16, 3, 3))
    for s in (0.6, 0.7, 0.9):
        mask, ids = kernel_pattern_mask(scores, s)
        for o in range(32):
            for c in range(16):
                assert kernel_matches_library(mask[o, c])
                assert (ids[o, c] == -1) == (not mask[o, c].any())
        assert abs((1 - mask.mean()) - s) <= 0.01
    mask, ids = kernel_pattern_mask(scores, 0.2)  # below the floor: patterns alone
    assert abs((1 - mask.mean()) - KERNEL_PATTERN_SPARSITY) < 1e-9 and np.all(ids >= 0)
    assert np.all(mask[:, :, 1, 1])  # every kept kernel has its center


@pytest.mark.parametrize("pattern", ["unstructured", "block:4x1", "block:1x4", "kernel-pattern"])
def test_zero_and_full_sparsity_masks(pattern):
    scores = big_matrix((16, 16, 3, 3))
    full, _ = compute_mask(parse_pattern(pattern), scores, 1.0)
    assert not full.any()
    if pattern != "kernel-pattern":  # patterns always drop 5 of 9 kernel positions
        none, _ = compute_mask(parse_pattern(pattern), scores, 0.0)
        assert none.all()


# ---- sparsify on graphs ----------------------------------------------------------------
def test_keep_dense_defaults_mobilenet():
    g = mobilenet_like()
    assert default_keep_dense(g) == {"stem", "dw1", "dw2", "classifier"}
    g2 = mobilenet_like(softmax=False)
    assert "classifier" in default_keep_dense(g2)


def test_sparsify_uniform_default_layers():
    g = mobilenet_like()
    before = {k: t.data.copy() for k, t in g.tensors.items() if t.is_const}
    rep = sparsify(g, 0.5, permute=False)
    for name in ("stem", "dw1", "dw2", "classifier"):
        w = next(n for n in g.nodes if n.name == name).inputs[1]
        assert np.array_equal(g.value(w), before[w])
        assert "sparsity" not in next(n for n in g.nodes if n.name == name).attrs
    for name in ("expand1", "project1", "expand2", "project2"):
        node = next(n for n in g.nodes if n.name == name)
        assert abs(rep.layer(name).sparsity - 0.5) <= 0.01
        assert node.attrs["sparsity"] == {"pattern": "unstructured", "density": pytest.approx(0.5, abs=0.01), "block": (1, 1)}
    d = rep.to_dict()
    assert d["totals"]["params_after"] < d["totals"]["params_before"]
    assert d["totals"]["macs_after"] < d["totals"]["macs_before"]


def test_keep_dense_none_sparsifies_everything():
    g = mobilenet_like()
    rep = sparsify(g, 0.5, keep_dense="none")
    assert all(r.pattern != "dense" for r in rep.layers)
    with pytest.raises(SparsityError, match="unknown layer"):
        sparsify(mobilenet_like(), 0.5, keep_dense={"nope"})
    g = mobilenet_like()
    rep = sparsify(g, 0.5, keep_dense={"expand1"})
    assert rep.layer("expand1").sparsity == 0 and rep.layer("stem").sparsity > 0.4


def test_zero_sparsity_is_noop_and_bad_targets_rejected():
    g = mobilenet_like()
    before = copy.deepcopy(g)
    sparsify(g, 0.0)
    for k, t in g.tensors.items():
        if t.is_const:
            assert np.array_equal(t.data, before.tensors[k].data)
    for bad in (1.0, -0.1, 1.5, float("nan")):
        with pytest.raises(SparsityError, match="outside"):
            sparsify(mobilenet_like(), bad)
    with pytest.raises(SparsityError):
        sparsify(mobilenet_like(), 0.5, allocation="layerwise")


@pytest.mark.parametrize("pattern", ["2:4", "1:4", "block:4x1", "block:1x4", "block:2x2", "kernel-pattern"])
def test_sparsify_patterns_on_graph(pattern):
    g = mobilenet_like()
    rep = sparsify(g, 0.75, pattern=pattern, keep_dense="none", permute=False)
    pat = parse_pattern(pattern)
    for n in g.iter_ops("Conv", "FullyConnected"):
        w = g.value(n.inputs[1])
        mat = w.reshape(w.shape[0], -1) != 0
        if pat.kind == "n:m":
            k = mat.shape[1]
            for s in range(0, k, pat.m):
                assert np.all(mat[:, s:s + pat.m].sum(axis=1) <= pat.n)
        elif pat.kind == "block":
            r, c = pat.block
            if mat.shape[0] % r == 0 and mat.shape[1] % c == 0:
                b = mat.reshape(mat.shape[0] // r, r, mat.shape[1] // c, c)
                # all-zero or fully kept (a kept weight that is exactly 0.0 is possible but not here)
                assert np.array_equal(b.all(axis=(1, 3)), b.any(axis=(1, 3)))
                assert n.attrs["sparsity"]["block"] == (r, c)
        elif pat.kind == "kernel-pattern" and w.shape[2:] == (3, 3):
            for kern in (w != 0).reshape(-1, 3, 3):
                assert kernel_matches_library(kern)
            assert np.array(n.attrs["sparsity"]["pattern_ids"]).shape == w.shape[:2]
    if pat.kind == "n:m":
        assert rep.target == pytest.approx(1 - pat.n / pat.m)


def test_global_vs_uniform_allocation():
    g_u, g_g = mobilenet_like(), mobilenet_like()
    # make one layer's weights much larger in spread so global treats layers unevenly
    w = g_g.value("expand2_w")
    w[: w.shape[0] // 2] *= 0.01
    g_u.tensors["expand2_w"].data = w.copy()
    ru = sparsify(g_u, 0.6, allocation="uniform")
    rg = sparsify(g_g, 0.6, allocation="global")
    pruned = [r for r in ru.layers if r.pattern != "dense"]
    assert all(abs(r.sparsity - 0.6) <= 0.01 for r in pruned)
    g_rows = [r for r in rg.layers if r.pattern != "dense"]
    total = sum(r.params for r in g_rows)
    zeros = sum(r.params - r.nonzero for r in g_rows)
    assert abs(zeros / total - 0.6) <= 0.01
    assert max(r.sparsity for r in g_rows) <= 0.98 + 1e-9
    assert len({round(r.sparsity, 3) for r in g_rows}) > 1  # global actually differs per layer
    # global keeps at least as much normalized magnitude overall
    assert rg.layer("expand2").sparsity > 0.6


def test_global_cap():
    g = mobilenet_like()
    g.tensors["expand1_w"].data *= 1e-6  # would be erased entirely without the cap
    rep = sparsify(g, 0.9, allocation="global")
    assert rep.layer("expand1").sparsity <= 0.98 + 1e-9


def test_wanda_needs_calibration():
    with pytest.raises(SparsityError, match="calibration"):
        sparsify(mobilenet_like(), 0.5, method="wanda")
    with pytest.raises(SparsityError):
        sparsify(mobilenet_like(), 0.5, method="obs")


@needs_executor
def test_wanda_uses_activation_norms():
    g = mobilenet_like(n=2)
    calib = feeds_for(g, 3)
    rep = sparsify(g, 0.5, method="wanda", calibration=calib)
    assert abs(rep.layer("expand1").sparsity - 0.5) <= 0.01
    # an input channel that is never active loses all its weights under Wanda
    g2 = mobilenet_like(n=2)
    g2.tensors["stem_b"].data[3] = -100.0  # relu(stem) channel 3 is always 0
    sparsify(g2, 0.3, method="wanda", calibration=calib)
    w = g2.value("expand1_w")
    assert np.all(w[:, 3] == 0)


@needs_executor
@pytest.mark.parametrize("make", [mobilenet_like, residual_net])
def test_permutation_preserves_function(make):
    from edge_sdk.sparsity.permute import apply_permutation, plan_permutation

    g = make()
    feeds = feeds_for(g, 2, seed=3)
    ref = [run(g, f) for f in feeds]
    rng = np.random.default_rng(7)
    planned = 0
    for node in list(g.iter_ops("Conv", "FullyConnected")):
        plan = plan_permutation(g, node, set())
        if plan is None:
            continue
        planned += 1
        apply_permutation(g, plan, rng.permutation(plan.channels))
    for f, r in zip(feeds, ref):
        out = run(g, f)
        for k in r:
            np.testing.assert_allclose(out[k], r[k], atol=1e-5, rtol=0)
    if make is mobilenet_like:
        assert planned >= 4  # stem, expand1, expand2, project2 ... chains through dw, GAP, Reshape
    else:
        # c1 feeds a residual Add, c3 is a graph output: only c2 -> Add is blocked too
        assert planned == 0


def test_permutation_refused_for_residual_and_output():
    from edge_sdk.sparsity.permute import plan_permutation

    g = residual_net()
    for name in ("c1", "c2", "c3"):
        assert plan_permutation(g, next(n for n in g.nodes if n.name == name), set()) is None


@needs_executor
def test_block_pruning_with_permutation_keeps_function_and_more_magnitude():
    g = mobilenet_like(n=2, seed=4)
    # give rows very different norms so grouping them pays off
    rng = np.random.default_rng(0)
    for w in ("expand1_w", "expand2_w", "project2_w"):
        g.tensors[w].data *= rng.choice([0.05, 1.0], size=(g.value(w).shape[0], 1, 1, 1)).astype(np.float32)
    dense = copy.deepcopy(g)
    rep = sparsify(g, 0.5, pattern="block:4x1", permute=True)
    assert rep.notes and any(r.permuted for r in rep.layers)
    gains = [r.kept_magnitude - r.kept_magnitude_unpermuted for r in rep.layers if r.pattern.startswith("block")]
    assert min(gains) >= -1e-9 and max(gains) > 0
    # with zero sparsity the permuted graph equals the dense one
    g0 = copy.deepcopy(dense)
    from edge_sdk.sparsity.permute import apply_permutation, choose_permutation, plan_permutation

    for node in list(g0.iter_ops("Conv", "FullyConnected")):
        plan = plan_permutation(g0, node, set())
        if plan:
            perm = choose_permutation(g0, plan, {n.inputs[1]: 0.5 for n in g0.iter_ops("Conv")}, (4, 1))
            if perm is not None:
                apply_permutation(g0, plan, perm)
    for f in feeds_for(dense, 2):
        a, b = run(dense, f), run(g0, f)
        for k in a:
            np.testing.assert_allclose(a[k], b[k], atol=1e-5, rtol=0)


@needs_executor
def test_group_input_channels_keeps_function_and_opens_fewer_1x4_blocks():
    """After unstructured pruning, the channels feeding each sparse 1x1 conv are reordered
    (through the depthwise conv between) so that its nonzeros share 4-channel groups."""
    from edge_sdk.sparsity.permute import group_input_channels, group_order

    def blocks(w):
        nz = w.reshape(w.shape[0], -1) != 0
        return int(nz.reshape(nz.shape[0], -1, 4).any(axis=2).sum())

    g = mobilenet_like(n=2, hw=6, seed=5)
    sparsify(g, 0.9, keep_dense="none", permute=False)
    ref = copy.deepcopy(g)
    before = {n.name: blocks(g.value(n.inputs[1])) for n in g.iter_ops("Conv") if g.value(n.inputs[1]).shape[2:] == (1, 1)}
    done = group_input_channels(g, 4)
    assert done and all(after < b for _, b, after in done)
    after = {n.name: blocks(g.value(n.inputs[1])) for n in g.iter_ops("Conv") if g.value(n.inputs[1]).shape[2:] == (1, 1)}
    assert sum(after.values()) < sum(before.values()) and all(after[k] <= before[k] for k in before)
    for f in feeds_for(ref, 2, seed=1):
        a, b = run(ref, f), run(g, f)
        for k in a:
            np.testing.assert_allclose(a[k], b[k], atol=1e-5, rtol=0)
    # the order is a permutation, and columns that share rows end up in one group
    nz = np.zeros((8, 8), dtype=bool)
    nz[:4, [0, 2, 5, 7]] = True
    nz[4:, [1, 3, 4, 6]] = True
    order = group_order(nz, 4)
    assert sorted(order) == list(range(8))
    assert {frozenset(order[:4]), frozenset(order[4:])} == {frozenset([0, 2, 5, 7]), frozenset([1, 3, 4, 6])}


def test_source_sparse_layers_keep_zeros():
    g = mobilenet_like()
    w = g.value("expand1_w")
    w[:, ::2] = 0.0  # arrived 50% sparse in 1x2 column pairs
    g.metadata["source_sparse"] = ["expand1_w"]
    before = w.copy()
    rep = sparsify(g, 0.8, pattern="block:4x1")
    assert np.array_equal(g.value("expand1_w"), before)
    row = rep.layer("expand1")
    assert row.pattern == "source" and row.sparsity == pytest.approx(0.5)
    node = next(n for n in g.nodes if n.name == "expand1")
    assert node.attrs["sparsity"]["pattern"] == "source"
    assert node.attrs["sparsity"]["density"] == pytest.approx(0.5)


def test_report_to_dict_roundtrip():
    import json

    g = mobilenet_like()
    rep = sparsify(g, 0.5, pattern="kernel-pattern", keep_dense="none")
    d = rep.to_dict()
    json.dumps(d)
    assert {"name", "op", "shape", "pattern", "sparsity", "kept_magnitude"} <= set(d["layers"][0])
    assert "params_before" in d["totals"] and "macs_after" in d["totals"]
    assert "params" in rep.table()
