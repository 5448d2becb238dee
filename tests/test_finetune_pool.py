"""Backward through int8 AVGPOOL / MAXPOOL: layers before a pool can be trained. The native
step is checked bit for bit against the numpy reference, and the reference's pool gradient
against PyTorch's autograd."""
import numpy as np
import pytest

from edge_sdk.finetune import Trainer, plan
from edge_sdk.finetune.reference import F, pool_grad
from edge_sdk.ir.graph import Graph, Node, Tensor
from tests.test_finetune import steps_match_reference

NOACT = dict(act="none", act_min=float("-inf"), act_max=float("inf"))


def pool_graph(seed=0) -> Graph:
    """conv3x3+relu -> maxpool 2x2/2 -> conv3x3+relu -> avgpool 3x3/1 pad 1 -> GAP -> FC(5)."""
    r = np.random.default_rng(seed)
    g = Graph(name="pools")
    g.add_tensor(Tensor("input", (1, 2, 8, 8)))
    g.inputs = ["input"]

    def conv(name, x, cin, cout, hw):
        w = g.const(f"{name}_w", (r.standard_normal((cout, cin, 3, 3)) * (1.5 / np.sqrt(cin * 9))).astype(np.float32))
        b = g.const(f"{name}_b", (r.standard_normal(cout) * 0.1).astype(np.float32))
        g.add_tensor(Tensor(name, (1, cout, hw, hw)))
        g.nodes.append(Node("Conv", name, [x, w, b], [name], dict(strides=(1, 1), pads=(1,) * 4, dilations=(1, 1),
                                                                   group=1, act="relu", act_min=float("-inf"),
                                                                   act_max=float("inf"))))
        return name

    a = conv("c1", "input", 2, 4, 8)
    g.add_tensor(Tensor("mp", (1, 4, 4, 4)))
    g.nodes.append(Node("MaxPool", "mp", [a], ["mp"], {"kernel": (2, 2), "strides": (2, 2), "pads": (0, 0, 0, 0)}))
    b = conv("c2", "mp", 4, 6, 4)
    g.add_tensor(Tensor("ap", (1, 6, 4, 4)))
    g.nodes.append(Node("AveragePool", "ap", [b], ["ap"], {"kernel": (3, 3), "strides": (1, 1), "pads": (1, 1, 1, 1),
                                                            "count_include_pad": 0}))
    g.add_tensor(Tensor("gap", (1, 6, 1, 1)))
    g.nodes.append(Node("GlobalAveragePool", "gap", ["ap"], ["gap"], {}))
    g.add_tensor(Tensor("flat", (1, 6)))
    g.nodes.append(Node("Reshape", "flat", ["gap"], ["flat"], {"shape": (1, 6)}))
    w = g.const("fc_w", (r.standard_normal((5, 6)) * 0.5).astype(np.float32))
    bb = g.const("fc_b", np.zeros(5, np.float32))
    g.add_tensor(Tensor("output", (1, 5)))
    g.nodes.append(Node("FullyConnected", "fc", ["flat", w, bb], ["output"], NOACT))
    g.outputs = ["output"]
    return g


@pytest.fixture(scope="module")
def data():
    r = np.random.default_rng(2)
    return r.standard_normal((16, 1, 2, 8, 8)).astype(np.float32), r.integers(0, 5, 16)


@pytest.mark.parametrize("backward", ["fp32", "int8"])
def test_training_through_pools_bit_exact_with_reference(backward, data):
    from edge_sdk.export import export

    xs, ys = data
    art = export(pool_graph(), quantize="int8", calibration=[{"input": x} for x in xs[:8]], validate=False)
    p = plan(art, target="host", update="full", lr=0.2, calibration=(xs[:8], ys[:8]), backward=backward)
    kinds = [s.kind for s in p.prog.steps]
    assert "MAXPOOL" in kinds and "AVGPOOL" in kinds
    assert {l["name"] for l in p.report["layers"]} >= {"c1", "c2"}  # the layers before each pool are trained
    tr = Trainer(p)
    off = p.arena.params_off
    start = tr.params()
    rows_c1 = next(p.arena.slots[li] for li, u in enumerate(p.prog.layers)
                   if p.kg.tensors[p.kg.ops[u.op].outputs[0]].name == "c1")
    steps_match_reference(p, tr, xs, ys, 6)
    now = np.frombuffer(tr.params(), np.uint8)
    first = rows_c1.weight_off - off
    assert not np.array_equal(now[first:first + rows_c1.weight_bytes],
                              np.frombuffer(start, np.uint8)[first:first + rows_c1.weight_bytes])  # c1 learned


@pytest.mark.parametrize("kind,k,s,pad,incl", [("max", 2, 2, 0, 0), ("max", 3, 2, 1, 0), ("max", 3, 1, 1, 0),
                                               ("avg", 3, 1, 1, 0), ("avg", 3, 2, 1, 1), ("avg", 2, 2, 0, 0)])
def test_pool_gradient_matches_pytorch(kind, k, s, pad, incl):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(5)
    x = r.integers(-4, 4, (3, 7, 7)).astype(np.int8)  # a narrow range: many tied maxima
    scale, zp = 0.05, -2
    xt = torch.tensor(scale * (x.astype(np.float32) - zp))[None].requires_grad_(True)
    if kind == "max":
        y = torch.nn.functional.max_pool2d(xt, k, s, pad)
    else:
        y = torch.nn.functional.avg_pool2d(xt, k, s, pad, count_include_pad=bool(incl))
    g = r.standard_normal(y.shape[1:]).astype(np.float32)
    y.backward(torch.tensor(g)[None])
    d = np.zeros(x.shape, F)
    pool_grad(x, g, d, {"kh": k, "kw": k, "stride_h": s, "stride_w": s, "pad_t": pad, "pad_l": pad,
                        "count_include_pad": incl}, kind == "max")
    np.testing.assert_allclose(d, xt.grad[0].numpy(), rtol=1e-6, atol=1e-6)
