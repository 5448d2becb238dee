"""On-device fine-tuning: the native engine against the numpy reference (bit for bit),
plans, budgets, saving. A hand-built IR graph keeps these fast (no torch, no zoo)."""
import numpy as np
import pytest

from edge_sdk.finetune import FinetuneError, Trainer, plan
from edge_sdk.finetune.reference import step as ref_step
from edge_sdk.ir.graph import Graph, Node, Tensor


def tiny_graph(seed=0) -> Graph:
    """conv3x3+relu -> conv3x3/2+relu -> 1x1 conv + residual add -> GAP -> FC(5)."""
    r = np.random.default_rng(seed)
    g = Graph(name="tiny")
    g.add_tensor(Tensor("input", (1, 2, 8, 8)))
    g.inputs = ["input"]

    def conv(name, x, cin, cout, k, stride, pad, act, out_shape):
        w = g.const(f"{name}_w", (r.standard_normal((cout, cin, k, k)) * (1.5 / np.sqrt(cin * k * k))).astype(np.float32))
        b = g.const(f"{name}_b", (r.standard_normal(cout) * 0.1).astype(np.float32))
        g.add_tensor(Tensor(name, out_shape))
        g.nodes.append(Node("Conv", name, [x, w, b], [name], dict(strides=(stride, stride), pads=(pad,) * 4,
                                                                   dilations=(1, 1), group=1, act=act,
                                                                   act_min=float("-inf"), act_max=float("inf"))))
        return name

    a = conv("c1", "input", 2, 4, 3, 1, 1, "relu", (1, 4, 8, 8))
    b = conv("c2", a, 4, 8, 3, 2, 1, "relu", (1, 8, 4, 4))
    c = conv("c3", b, 8, 8, 1, 1, 0, "none", (1, 8, 4, 4))
    g.add_tensor(Tensor("sum", (1, 8, 4, 4)))
    g.nodes.append(Node("Add", "add", [b, c], ["sum"], dict(act="none", act_min=float("-inf"), act_max=float("inf"))))
    g.add_tensor(Tensor("gap", (1, 8, 1, 1)))
    g.nodes.append(Node("GlobalAveragePool", "gap", ["sum"], ["gap"], {}))
    g.add_tensor(Tensor("flat", (1, 8)))
    g.nodes.append(Node("Reshape", "flat", ["gap"], ["flat"], {"shape": (1, 8)}))
    w = g.const("fc_w", (r.standard_normal((5, 8)) * 0.5).astype(np.float32))
    bb = g.const("fc_b", np.zeros(5, np.float32))
    g.add_tensor(Tensor("output", (1, 5)))
    g.nodes.append(Node("FullyConnected", "fc", ["flat", w, bb], ["output"], dict(act="none", act_min=float("-inf"),
                                                                                 act_max=float("inf"))))
    g.outputs = ["output"]
    return g


@pytest.fixture(scope="module")
def data():
    r = np.random.default_rng(1)
    xs = r.standard_normal((24, 1, 2, 8, 8)).astype(np.float32)
    ys = r.integers(0, 5, 24)
    return xs, ys


def make(update, data, **kw):
    from edge_sdk.export import export

    xs, ys = data
    art = export(tiny_graph(), quantize="int8", calibration=[{"input": x} for x in xs[:12]], validate=False)
    return plan(art, budget_kb=kw.pop("budget_kb", 256), target="host", update=update, lr=kw.pop("lr", 0.05),
                calibration=(xs[:8], ys[:8]), **kw)


def steps_match_reference(p, tr, xs, ys, n):
    """n training steps of Trainer `tr` on plan `p`, each checked bit for bit against the numpy
    reference step run on a copy of the same arena: the loss and every updated parameter."""
    off, size = p.arena.params_off, p.arena.params_bytes
    for i in range(n):
        tr.forward(xs[i])
        arena = tr.arena().copy()
        loss_ref = ref_step(p, arena, int(ys[i]), tr.steps_done)
        assert np.float32(tr.step(xs[i], ys[i])) == np.float32(loss_ref)
        assert tr.params() == arena[off:off + size].tobytes(), f"step {i}: parameters differ from the reference"


@pytest.mark.parametrize("update,rounding,backward", [
    ("full", "stochastic", "fp32"), ("full", "nearest", "fp32"), ("last:2", "stochastic", "fp32"),
    ("bias", "nearest", "fp32"), ("sparse", "stochastic", "fp32"),
    # int8 backward: tiny_graph's c3 accumulates dL/dx into the residual branch's gradient (the
    # gather path), c2 and the FC write theirs fresh (the int32 scatter path)
    ("full", "stochastic", "int8"), ("full", "nearest", "int8-stochastic"), ("last:2", "stochastic", "int8"),
    ("bias", "nearest", "int8"), ("sparse", "stochastic", "int8")])
def test_native_step_bit_exact_with_reference(update, rounding, backward, data):
    p = make(update, data, rounding=rounding, lr=0.2, backward=backward)
    tr = Trainer(p)
    start = tr.params()
    steps_match_reference(p, tr, *data, 6)
    assert tr.params() != start  # something was learned


@pytest.mark.parametrize("backward", ["int8", "int8-stochastic"])
def test_int8_gradient_quantization_definition(backward):
    """q = round(g * s_W / s_h) with s_h = max|g * s_W| / 127: checked against float64 arithmetic."""
    from types import SimpleNamespace

    from edge_sdk.finetune.reference_i8 import quantize_grad

    r = np.random.default_rng(3)
    g = (r.standard_normal((6, 20)) * 1e-3).astype(np.float32)
    g[2] = 0.0
    sw = r.uniform(0.005, 0.05, 6).astype(np.float32)
    q, s_h = quantize_grad(SimpleNamespace(backward_code=1 if backward == "int8" else 2, seed=7), g, sw, 0, 0)
    h = g.astype(np.float64) * sw.astype(np.float64)[:, None]
    assert np.isclose(s_h, np.abs(h).max() / 127, rtol=1e-6) and np.abs(q).max() == 127
    assert not q[2].any()
    v = h / s_h
    if backward == "int8":
        assert np.all(np.abs(q - v) <= 0.5 + 1e-4)
    else:  # one of the two neighbours, and unbiased on average
        assert np.all((q == np.floor(v)) | (q == np.floor(v) + 1) | np.isclose(q, v))
        assert abs(float((q - v).mean())) < 0.1


def test_saved_artifact_runs_in_session(data, tmp_path):
    from edge_sdk import Session

    p = make("full", data, lr=0.3)
    tr = Trainer(p)
    xs, ys = data
    for i in range(8):
        tr.step(xs[i], ys[i])
    path = tr.save(tmp_path / "tuned.esm")
    sess = Session(path)
    for x in xs[8:12]:
        out = sess.run({"input": x})["output"].reshape(-1)
        assert np.array_equal(out, tr.forward(x))
    # the saved model is an inference artifact again: the compiler's arena size, no plan
    import struct

    from edge_sdk.export import export
    from edge_sdk.finetune.encode import sections

    arena = lambda d: struct.unpack_from("<Q", d, 24)[0]  # noqa: E731
    base = export(tiny_graph(), quantize="int8", calibration=[{"input": x} for x in xs[:12]], validate=False).data
    saved = path.read_bytes()
    assert "TRNP" not in sections(saved)
    assert arena(saved) == arena(base) < arena(p.data)
    again = Trainer(tr.save(tmp_path / "tuned_plan.esm", keep_plan=True))  # keep_plan: training can resume
    assert again.params() == tr.params()


def test_plan_memory_report_and_refusal(data):
    p = make("full", data)
    m = p.report["memory"]
    assert m["optimizer_state"] == 0 and m["updated_params"] > 0 and m["gradients"] > 0
    assert m["peak_total"] == m["arena"] + m["runtime_contexts"] + m["target_overhead"]
    with pytest.raises(FinetuneError, match=r"does not fit: peak .* KB > budget 4 KB \(activations"):
        make("full", data, budget_kb=4)


def test_sparse_respects_budget_and_reports_analysis(data):
    p = make("sparse", data, budget_kb=13)
    assert p.report["memory"]["peak_total"] <= 13 * 1024
    assert "Taylor" in p.report["analysis"]["method"]
    assert any(l["bias"] for l in p.report["layers"])


@pytest.mark.parametrize("kw,msg", [({"update": "most"}, "update must be"), ({"update": "last:x"}, "integer K"),
                                    ({"update": "full", "loss": "hinge"}, "loss must be"),
                                    ({"update": "full", "optimizer": "adam"}, "optimizer must be"),
                                    ({"update": "full", "lr": -1.0}, "lr must be"),
                                    ({"update": "full", "backward": "int4"}, "backward must be")])
def test_bad_options_are_one_line_errors(kw, msg, data):
    with pytest.raises(FinetuneError, match=msg):
        make(kw.pop("update"), data, **kw)


def test_trainer_refuses_plain_artifact(data):
    from edge_sdk.export import export

    xs, _ = data
    art = export(tiny_graph(), quantize="int8", calibration=[{"input": x} for x in xs[:12]], validate=False)
    with pytest.raises(FinetuneError, match="no training plan"):
        Trainer(art.data)


def test_cli_plan_backward_option(data, tmp_path):
    import struct

    from edge_sdk.export import export
    from edge_sdk.finetune.encode import sections
    from tests.test_cli import cli, one_line_error

    xs, _ = data
    m = tmp_path / "m.esm"
    m.write_bytes(export(tiny_graph(), quantize="int8", calibration=[{"input": x} for x in xs[:12]], validate=False).data)
    cli("finetune", "plan", m, "--update", "full", "--target", "host", "--backward", "int8", "-o", tmp_path / "p.esm",
        check_rc=0)
    d = (tmp_path / "p.esm").read_bytes()
    off, _ = sections(d)["TRNP"]
    assert struct.unpack_from("<I", d, off + 4 * 16)[0] == 1  # header word H_BACKWARD: int8
    assert "backward must be" in one_line_error(cli("finetune", "plan", m, "--backward", "int4", "-o", tmp_path / "q.esm"))


def fanout_fc_graph(seed=0) -> Graph:
    """conv -> GAP -> flat; flat feeds both fc_a and the residual add (flat + fc_a(flat)) -> fc_out."""
    r = np.random.default_rng(seed)
    g = Graph(name="fanout_fc")
    g.add_tensor(Tensor("input", (1, 2, 8, 8)))
    g.inputs = ["input"]
    w = g.const("c_w", (r.standard_normal((8, 2, 3, 3)) * 0.5).astype(np.float32))
    b = g.const("c_b", (r.standard_normal(8) * 0.1).astype(np.float32))
    g.add_tensor(Tensor("c", (1, 8, 8, 8)))
    g.nodes.append(Node("Conv", "c", ["input", w, b], ["c"], dict(strides=(1, 1), pads=(1,) * 4, dilations=(1, 1),
                                                                  group=1, act="relu", act_min=float("-inf"),
                                                                  act_max=float("inf"))))
    g.add_tensor(Tensor("gap", (1, 8, 1, 1)))
    g.nodes.append(Node("GlobalAveragePool", "gap", ["c"], ["gap"], {}))
    g.add_tensor(Tensor("flat", (1, 8)))
    g.nodes.append(Node("Reshape", "flat", ["gap"], ["flat"], {"shape": (1, 8)}))
    noact = dict(act="none", act_min=float("-inf"), act_max=float("inf"))
    for name, x, n_out in (("fc_a", "flat", 8), ("fc_out", "sum", 5)):
        if name == "fc_out":
            g.add_tensor(Tensor("sum", (1, 8)))
            g.nodes.append(Node("Add", "add", ["flat", "fc_a"], ["sum"], dict(noact)))
        wt = g.const(f"{name}_w", (r.standard_normal((n_out, 8)) * 0.4).astype(np.float32))
        bt = g.const(f"{name}_b", np.zeros(n_out, np.float32))
        out = "output" if name == "fc_out" else name
        g.add_tensor(Tensor(out, (1, n_out)))
        g.nodes.append(Node("FullyConnected", name, [x, wt, bt], [out], dict(noact)))
    g.outputs = ["output"]
    return g


@pytest.mark.parametrize("backward", ["int8", "fp32"])
def test_fc_gradient_fan_out_bit_exact(backward, data):
    """fc_a's dL/dx adds into the residual branch's gradient: the int8 FC gather path."""
    from edge_sdk.export import export

    xs, ys = data
    art = export(fanout_fc_graph(), quantize="int8", calibration=[{"input": x} for x in xs[:12]], validate=False)
    p = plan(art, target="host", update="full", lr=0.2, calibration=(xs[:8], ys[:8]), backward=backward)
    assert any(s.kind == "FC" and s.acc and s.acc[0] for s in p.prog.steps)
    tr = Trainer(p)
    start = tr.params()
    steps_match_reference(p, tr, xs, ys, 6)
    assert tr.params() != start
