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
