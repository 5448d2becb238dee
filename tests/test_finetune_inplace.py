"""In-place execution for training plans: the planner aliases an op's output onto its dying
input only for kernels proven in-place safe (QUANTIZE, depthwise and pointwise int8 conv),
and the runtime's in-place kernels give the same bits as the normal ones."""
import itertools

import numpy as np
import pytest

from edge_sdk.compile import memplan
from edge_sdk.compile.lower import KOp
from edge_sdk.ir.graph import Graph, Node, Tensor


def mobile_graph(seed=0) -> Graph:
    """conv3x3/2 -> pw expand -> dw3x3 -> dw3x3/2 -> pw project -> GAP -> FC(5), float I/O."""
    r = np.random.default_rng(seed)
    g = Graph(name="mobile")
    g.add_tensor(Tensor("input", (1, 3, 16, 16)))
    g.inputs = ["input"]

    def conv(name, x, cin, cout, k, stride, pad, group, act, out_shape):
        w = g.const(f"{name}_w", (r.standard_normal((cout, cin // group, k, k)) *
                                  (1.5 / np.sqrt(cin // group * k * k))).astype(np.float32))
        b = g.const(f"{name}_b", (r.standard_normal(cout) * 0.1).astype(np.float32))
        g.add_tensor(Tensor(name, out_shape))
        g.nodes.append(Node("Conv", name, [x, w, b], [name], dict(strides=(stride, stride), pads=(pad,) * 4,
                                                                   dilations=(1, 1), group=group, act=act,
                                                                   act_min=float("-inf"), act_max=float("inf"))))
        return name

    a = conv("c1", "input", 3, 8, 3, 2, 1, 1, "relu", (1, 8, 8, 8))
    e = conv("expand", a, 8, 24, 1, 1, 0, 1, "relu", (1, 24, 8, 8))
    d1 = conv("dw1", e, 24, 24, 3, 1, 1, 24, "relu", (1, 24, 8, 8))
    d2 = conv("dw2", d1, 24, 24, 3, 2, 1, 24, "relu", (1, 24, 4, 4))
    p = conv("project", d2, 24, 8, 1, 1, 0, 1, "none", (1, 8, 4, 4))
    g.add_tensor(Tensor("gap", (1, 8, 1, 1)))
    g.nodes.append(Node("GlobalAveragePool", "gap", [p], ["gap"], {}))
    g.add_tensor(Tensor("flat", (1, 8)))
    g.nodes.append(Node("Reshape", "flat", ["gap"], ["flat"], {"shape": (1, 8)}))
    w = g.const("fc_w", (r.standard_normal((5, 8)) * 0.5).astype(np.float32))
    bb = g.const("fc_b", np.zeros(5, np.float32))
    g.add_tensor(Tensor("output", (1, 5)))
    g.nodes.append(Node("FullyConnected", "fc", ["flat", w, bb], ["output"], dict(act="none", act_min=float("-inf"),
                                                                                 act_max=float("inf"))))
    g.outputs = ["output"]
    return g


def test_inplace_plan_is_bit_exact_with_inference():
    from edge_sdk import Session
    from edge_sdk.export import export
    from edge_sdk.finetune import Trainer, plan

    r = np.random.default_rng(3)
    xs = r.standard_normal((6, 1, 3, 16, 16)).astype(np.float32)
    ys = r.integers(0, 5, 6)
    art = export(mobile_graph(), quantize="int8", calibration=[{"input": x} for x in xs], validate=False)
    p = plan(art, budget_kb=256, target="host", update="last:1", lr=0.05, calibration=(xs, ys))
    kg = p.kg
    aliased = {op.opcode + (":dw" if op.p.get("group", 1) > 1 else "") for op in kg.ops
               if op.outputs and op.inputs and op.inputs[0] is not None and not kg.tensors[op.inputs[0]].is_const
               and kg.tensors[op.inputs[0]].offset == kg.tensors[op.outputs[0]].offset}
    assert aliased, "the planner aliased nothing in place"
    assert aliased <= {"QUANTIZE", "CONV2D", "CONV2D:dw", "RESHAPE"}
    base, tuned = Session(art.data), Session(p.data)
    for x in xs:
        np.testing.assert_array_equal(base.run({"input": x})["output"], tuned.run({"input": x})["output"])
    tr = Trainer(p)
    for x in xs:
        np.testing.assert_array_equal(tr.forward(x).reshape(-1), base.run({"input": x})["output"].reshape(-1))


@pytest.mark.parametrize("seed", range(20))
def test_memplan_inplace_overlaps_only_the_aliased_pair(seed):
    rng = np.random.default_rng(seed)
    n = 20
    kops, sizes = [], {"t0": int(rng.integers(1, 5000))}
    for k in range(1, n + 1):
        srcs = [f"t{rng.integers(max(0, k - 3), k)}" for _ in range(int(rng.integers(1, 3)))]
        kops.append(KOp("BINARY", srcs, [f"t{k}"]))
        sizes[f"t{k}"] = int(rng.integers(1, 5000))
    cand = [k for k in range(n) if rng.random() < 0.6]
    inputs, outputs = ["t0"], [f"t{n}"]
    offsets, arena = memplan.plan(kops, sizes, inputs, outputs, inplace=cand, keep_inputs=False)
    first, last = {"t0": -1}, {}
    for k, op in enumerate(kops):
        for i in op.inputs:
            last[i] = k
        for o in op.outputs:
            first[o] = k
            last.setdefault(o, k)
    last[f"t{n}"] = n
    pairs = {(op.inputs[0], op.outputs[0], k) for k, op in enumerate(kops) if k in cand}
    for a, b in itertools.combinations(sizes, 2):
        fa, la, fb, lb = first[a], last.get(a, first[a]), first[b], last.get(b, first[b])
        if fa <= lb and fb <= la:
            ov = offsets[a] < offsets[b] + sizes[b] and offsets[b] < offsets[a] + sizes[a]
            if ov:  # only an in-place op's first input and output, at that op, at the same offset
                ok = any({a, b} == {s, d} and last[s] == k and first[d] == k and offsets[a] == offsets[b]
                         for s, d, k in pairs)
                assert ok, (a, b)
        assert offsets[a] + sizes[a] <= arena


def test_memplan_without_inplace_is_unchanged():
    kops = [KOp("BINARY", [f"t{k}"], [f"t{k + 1}"]) for k in range(6)]
    sizes = {f"t{k}": 1024 for k in range(7)}
    assert memplan.plan(kops, sizes, ["t0"], ["t6"])[1] == 3072
    # in place, the chain needs one buffer (the output lives to the end; the input dies at op 0)
    assert memplan.plan(kops, sizes, ["t0"], ["t6"], inplace=range(6), keep_inputs=False)[1] <= 2048
