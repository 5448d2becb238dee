"""The routing losses of bench/moe_train.py and the dense expert path of the torch model, against
direct numpy computations of their definitions."""
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import moe_train  # noqa: E402

from edge_sdk.moe.format import MoEConfig  # noqa: E402
from edge_sdk.moe.torch_model import MoELM  # noqa: E402


def routing(seed, B=3, T=9, E=6, k=2):
    g = torch.Generator().manual_seed(seed)
    p = torch.softmax(torch.randn(B, T, E, generator=g), -1)
    return p.topk(k, -1).indices, p


def switch_np(idx, p, E):
    f = np.bincount(idx.reshape(-1), minlength=E) / idx.size
    return E * float((f * p.reshape(-1, E).mean(0)).sum())


@pytest.mark.parametrize("seed", range(3))
def test_balance_loss_batch_and_global(seed):
    E = 6
    mb = [routing(seed * 10 + i, E=E) for i in range(4)]
    for idx, p in mb:  # batch: the Switch loss of this micro-batch alone
        got = float(moe_train.balance_loss([idx], [p], "batch", [[]], 1))
        assert got == pytest.approx(switch_np(idx.numpy(), p.numpy(), E), rel=1e-6)
    hist = [[]]
    for i, (idx, p) in enumerate(mb):  # global: frequencies of the last 2 micro-batches, P of this one
        got = float(moe_train.balance_loss([idx], [p], "global", hist, 2))
        ids = np.concatenate([m[0].numpy().reshape(-1) for m in mb[max(0, i - 1):i + 1]])
        f = np.bincount(ids, minlength=E) / ids.size
        assert got == pytest.approx(E * float((f * p.numpy().reshape(-1, E).mean(0)).sum()), rel=1e-6)


def test_stay_and_window_losses():
    idx, p = routing(7, B=2, T=70, E=5, k=2)
    i, q = idx.numpy(), p.numpy()
    stay = np.mean([q[b, t, i[b, t - 1]].sum() for b in range(2) for t in range(1, 70)])
    assert float(moe_train.stay_loss([idx], [p])) == pytest.approx(1 - stay, rel=1e-5)
    m = q[:, :64].reshape(2, 2, 32, 5).mean(2)
    ent = -(m * np.log(m)).sum(-1).mean() / np.log(5)
    assert float(moe_train.window_loss([p])) == pytest.approx(ent, rel=1e-5)
    same = torch.full((1, 64, 4), 0.25)  # uniform routing: the largest window entropy, 1
    assert float(moe_train.window_loss([same])) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("pre_router", [False, True])
def test_dense_experts_match_sparse(pre_router):
    torch.manual_seed(0)
    cfg = MoEConfig(**moe_train.TINY)
    cfg.pre_router = pre_router
    m = MoELM(cfg)
    x = torch.randint(0, 256, (2, 33))
    a, ra, pa = m(x)
    b, rb, pb = m(x, dense=True)
    assert all(torch.equal(u, v) for u, v in zip(ra, rb))
    assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)


def test_expert_shape_options():
    """--n-experts / --top-k / --d-ff-expert / --d-ff-shared: the model has those shapes, and its
    dense (GPU training) and sparse expert paths agree with the shared expert in."""
    cfg = moe_train.model_config("tiny", True, n_experts=16, top_k=5, d_ff_expert=24, d_ff_shared=40)
    assert (cfg.n_experts, cfg.top_k, cfg.d_ff_expert, cfg.d_ff_shared, cfg.shared_gate) == (16, 5, 24, 40, True)
    assert moe_train.model_config("small") == moe_train.model_config("small", True, 32, 4, 128, 0)  # the defaults
    torch.manual_seed(1)
    m = MoELM(cfg)
    assert tuple(m.layers[0].gate.shape) == (16, 24, cfg.d_model) and tuple(m.layers[0].sh_up.weight.shape) == (40, cfg.d_model)
    x = torch.randint(0, 256, (2, 21))
    a, ra, _ = m(x)
    b, rb, _ = m(x, dense=True)
    assert ra[0].shape == (2, 21, 5) and all(torch.equal(u, v) for u, v in zip(ra, rb))
    assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)
    for bad in (dict(top_k=17, n_experts=16), dict(top_k=0), dict(d_ff_expert=0)):
        with pytest.raises(ValueError):
            moe_train.model_config("tiny", **bad)


def test_corpus_usage_counts():
    """usage entropy and the experts over 1% and over 0.32 of a uniform share, against numpy on the
    model's own routing of the same windows"""
    torch.manual_seed(2)
    cfg = moe_train.model_config("tiny", True, n_experts=48, top_k=3)
    m = MoELM(cfg).eval()
    data = np.random.default_rng(0).integers(0, 256, 5000).astype(np.uint8)
    got = moe_train.corpus_usage(m, data, windows=16, window=64)
    starts = np.linspace(0, len(data) - 65, 16).astype(np.int64)
    with torch.no_grad():
        _, routes, _ = m(torch.from_numpy(np.stack([data[j:j + 64] for j in starts]).astype(np.int64)))
    for l, r in enumerate(routes):
        q = np.bincount(r.numpy().reshape(-1), minlength=48) / r.numel()
        assert got["experts_over_1pct"][l] == int((q >= 0.01).sum())
        assert got["experts_over_scaled"][l] == int((q >= 0.32 / 48).sum())
        nz = q[q > 0]
        assert got["entropy_rel"][l] == pytest.approx(-(nz * np.log2(nz)).sum() / np.log2(48), rel=1e-9)


def test_expert_act_option():
    """--expert-act silu leaves the config (and so checkpoints) and the expert function as they were;
    relu gives ReGLU; both against numpy on the same weights"""
    assert moe_train.model_config("small", expert_act="silu").to_dict() == moe_train.model_config("small").to_dict()
    assert "expert_act" not in moe_train.model_config("small").extra
    with pytest.raises(ValueError):
        moe_train.model_config("tiny", expert_act="gelu")
    out = {}
    for act in ("silu", "relu"):
        torch.manual_seed(3)
        m = MoELM(moe_train.model_config("tiny", expert_act=act))
        layer = m.layers[0]
        x = torch.randn(11, m.c.d_model)
        fi = torch.stack([torch.randperm(m.c.n_experts)[:m.c.top_k] for _ in range(11)])
        fw = torch.rand(11, m.c.top_k)
        with torch.no_grad():
            out[act] = layer.experts_sparse(x, fi, fw).numpy()
        g, u, d = (w.detach().numpy().astype(np.float64) for w in (layer.gate, layer.up, layer.down))
        xn, want = x.numpy().astype(np.float64), np.zeros((11, m.c.d_model))
        for t in range(11):
            for j, e in enumerate(fi[t].tolist()):
                a = xn[t] @ g[e].T
                a = a / (1 + np.exp(-a)) if act == "silu" else np.maximum(a, 0)
                want[t] += float(fw[t, j]) * (d[e] @ (a * (xn[t] @ u[e].T)))
        assert np.allclose(out[act], want, atol=1e-5, rtol=1e-4), act
    assert not np.allclose(out["silu"], out["relu"], atol=1e-3)


def test_expert_activity_and_act_l1():
    """the zero units of each routed use and the L1 penalty, against numpy (float64) on the experts'
    input captured at ffn_norm"""
    torch.manual_seed(4)
    m = MoELM(moe_train.model_config("tiny", expert_act="relu")).eval()
    seq = list(np.random.default_rng(2).integers(0, 256, 40))
    hn = {}
    hooks = [l.ffn_norm.register_forward_hook(lambda mod, i, o, k=k: hn.__setitem__(k, o)) for k, l in enumerate(m.layers)]
    with torch.no_grad():
        _, routes, _ = m(torch.tensor([seq]))
        l1 = float(moe_train.act_l1_loss(m, hn, routes))
    for h in hooks:
        h.remove()
    r, act, mag = moe_train.expert_activity(m, seq)
    want_l1, mags = 0.0, []
    for l, layer in enumerate(m.layers):
        assert np.array_equal(r[l], routes[l][0].numpy())
        x = hn[l][0].numpy().astype(np.float64)
        gate = layer.gate.detach().numpy().astype(np.float64)
        g = np.stack([np.stack([gate[e] @ x[t] for e in r[l][t]]) for t in range(len(seq))])  # [T, k, F]
        clear = np.abs(g) > 1e-5  # float32 rounding decides only the sign of values this close to 0
        assert np.array_equal(act[l][clear], (g > 0)[clear])
        assert 0.2 < act[l].mean() < 0.8  # random gates: about half the units are active
        want_l1 += np.maximum(g, 0).mean()
        mags.append(np.abs(g))
    assert l1 == pytest.approx(want_l1, rel=1e-4)
    assert mag == pytest.approx(np.concatenate([a.ravel() for a in mags]).mean(), rel=1e-4)


def test_relu_checkpoint_refused_by_export(tmp_path):
    """the runtime computes SwiGLU: a ReGLU checkpoint's directory names its activation, and the
    importer refuses it with its one-line error"""
    from edge_sdk.errors import EdgeSdkError
    from edge_sdk.moe.hf import HFModel
    from models.moe_lm import build

    torch.manual_seed(5)
    cfg = moe_train.model_config("tiny", expert_act="relu")
    torch.save({"config": cfg.to_dict(), "state_dict": MoELM(cfg).state_dict()}, tmp_path / "r.pt")
    d = build(tmp_path / "hf", checkpoint=tmp_path / "r.pt")
    with pytest.raises(EdgeSdkError, match="relu"):
        HFModel(d)
