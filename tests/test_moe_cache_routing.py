"""Cache routing (Generator(cache_routing=b), --cache-routing): the runtime's expert choice and
logits against the torch reference model forced to the same experts, and the choice rule checked
against the reference router's own probabilities."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_sdk import Generator  # noqa: E402
from edge_sdk.errors import EdgeSdkError  # noqa: E402
from edge_sdk.moe.export import export_dir  # noqa: E402
from models.moe_lm import build, model_from_config  # noqa: E402

PROMPT = list(b"def main():\n    return 0\n")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("moe_cr")
    out = {}
    for name, kw in [("post", {}), ("pre", {"pre_router": True}), ("norm", {"norm_topk": True})]:
        src = build(d / f"{name}_hf", seed=5, **kw)
        export_dir(src, d / f"{name}.esmoe", quantize="f32")
        out[name] = d / f"{name}.esmoe"
    return out


def _steps(g, toks):
    g.reset()
    logits, routes = [], []
    for t in toks:
        logits.append(g.step(t))
        routes.append(g.routing())
    return np.stack(logits), np.stack(routes)  # [T, V], [T, L, k]


@pytest.mark.parametrize("name", ["post", "pre", "norm"])
@pytest.mark.parametrize("bias", [0.15, 0.5, 1.0])
def test_choice_and_logits_match_reference(models, name, bias):
    toks = PROMPT + list(b"x = 1\n" * 4)
    with Generator(models[name], mode="resident") as ref:
        cfg = ref.config
        total = ref.total_expert_bytes
        exact_logits, exact_routes = _steps(ref, toks)
    mb = 0.3 * total / 2**20  # a few experts of the model's 16
    with Generator(models[name], expert_cache_mb=mb, cache_routing=bias) as g:
        assert g.cache_slots < g.n_layers * g.n_experts
        logits, routes = _steps(g, toks)
        rerouted = g.stats()["rerouted"]
    model = model_from_config(cfg, seed=5)
    force = [torch.tensor(routes[None, :, layer, :], dtype=torch.long) for layer in range(cfg.n_layers)]
    with torch.no_grad():
        ref_logits, _, probs = model(torch.tensor([toks]), force=force)
    # the runtime computed with the experts it reports, weighted by the router's own probabilities
    np.testing.assert_allclose(logits, ref_logits[0].numpy(), atol=3e-5, rtol=1e-4)
    # the choice rule: a chosen expert's logit is within bias * (logit range) of the k-th best
    # (it beat a router top-k expert by at most the bias); counted as rerouted iff not in the top-k
    k, n_re = cfg.top_k, 0
    for layer in range(cfg.n_layers):
        lp = torch.log(probs[layer][0]).numpy().astype(np.float64)  # log-probabilities = logits - const
        for t in range(len(toks)):
            z = lp[t]
            order = np.argsort(-z, kind="stable")
            kth, rng = z[order[k - 1]], z.max() - z.min()
            chosen = routes[t, layer]
            assert len(set(chosen.tolist())) == k
            assert np.all(z[chosen] >= kth - bias * rng - 1e-5)
            n_re += int(np.sum(~np.isin(chosen, order[:k])))
    assert rerouted == n_re > 0
    assert not np.array_equal(routes, exact_routes)


@pytest.mark.parametrize("name", ["post", "pre"])
def test_bias_zero_is_exact_routing(models, name):
    with Generator(models[name], mode="resident") as ref:
        r = ref.generate(PROMPT, 16)
        mb = 0.3 * ref.total_expert_bytes / 2**20
    with Generator(models[name], expert_cache_mb=mb, cache_routing=0.0) as g:
        s = g.generate(PROMPT, 16)
    assert s.tokens == r.tokens and s.stats["rerouted"] == 0


def test_more_bias_reads_fewer_experts(models):
    """on the same text, reads per token fall as the bias rises; with bias 1 a layer reads only
    when fewer than top_k of its experts are cached"""
    toks = PROMPT + list(b"for i in range(10):\n    print(i)\n")
    with Generator(models["pre"], mode="resident") as ref:
        mb = 0.4 * ref.total_expert_bytes / 2**20
    reads = []
    for bias in (0.0, 0.3, 1.0):
        with Generator(models["pre"], expert_cache_mb=mb, cache_routing=bias) as g:
            _steps(g, toks)
            reads.append(g.stats()["reads"])
    assert reads[0] > reads[1] > reads[2]


def test_bad_bias_and_cli(models):
    with pytest.raises(EdgeSdkError):
        Generator(models["post"], expert_cache_mb=1.0, cache_routing=1.5)
    for mode in ("resident", "mmap"):  # no cache to prefer: refused, not ignored
        with pytest.raises(EdgeSdkError, match="needs mode 'stream'"):
            Generator(models["post"], mode=mode, cache_routing=0.2)
    cli = [sys.executable, "-m", "edge_sdk.cli.main", "generate", str(models["post"]), "--prompt-ids", "1,2,3",
           "--max-tokens", "2"]
    for extra in (["--cache-routing", "2"], ["--cache-routing", "0.2"]):  # out of range; no streamed cache
        p = subprocess.run(cli + extra, capture_output=True, text=True, cwd=ROOT)
        assert p.returncode != 0 and "Traceback" not in p.stderr
        assert len([ln for ln in p.stderr.splitlines() if ln.strip()]) == 1, p.stderr
    p = subprocess.run(cli + ["--expert-cache-mb", "1", "--cache-routing", "0.2", "--stats"], capture_output=True,
                       text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert "cache routing 0.2:" in p.stderr
