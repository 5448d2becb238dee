"""Sampled decoding of the MoE runtime (temperature, top-k, top-p) against a numpy model of
transformers' warpers: the tokens drawn from one step's logits over many seeds must lie in the
oracle's support and follow its distribution (chi-square goodness of fit)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_sdk import Generator  # noqa: E402
from edge_sdk.errors import EdgeSdkError  # noqa: E402
from edge_sdk.moe.export import export_dir  # noqa: E402
from models.moe_lm import build  # noqa: E402

PROMPT = list(b"def ")
DRAWS = 3000


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    d = tmp_path_factory.mktemp("moe_sampling")
    export_dir(build(d / "hf", seed=5), d / "m.esmoe", quantize="f32")
    with Generator(d / "m.esmoe", mode="resident") as g:
        yield g


def oracle(logits: np.ndarray, temperature: float, top_k: int, top_p: float) -> np.ndarray:
    """softmax(logits / T), then top-k (ties with the k-th kept), then top-p: the fewest most
    likely tokens whose probability reaches top_p (ties with the last kept), renormalised."""
    lg = logits.astype(np.float64)
    keep = np.ones(lg.size, bool)
    if 0 < top_k < lg.size:
        keep &= lg >= np.sort(lg)[::-1][top_k - 1]
    q = np.where(keep, np.exp((lg - lg.max()) / temperature), 0.0)
    q /= q.sum()
    if top_p < 1.0:
        order = np.argsort(-lg, kind="stable")
        n = int(np.searchsorted(np.cumsum(q[order]), top_p, side="left")) + 1
        q = np.where(lg >= lg[order[n - 1]], q, 0.0)
        q /= q.sum()
    return q


def draws(g, temperature, top_k, top_p, n=DRAWS) -> np.ndarray:
    return np.array([g.generate(PROMPT, 1, temperature=temperature, top_k=top_k, top_p=top_p, seed=s + 1,
                                stop=None).tokens[0] for s in range(n)])


def chi2_fits(counts: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    """(statistic, critical value at p = 0.001); bins expecting < 5 draws are pooled"""
    n = counts.sum()
    exp = q * n
    big = exp >= 5
    obs_b, exp_b = list(counts[big]), list(exp[big])
    if (~big & (q > 0)).any():
        obs_b.append(counts[~big].sum())
        exp_b.append(exp[~big].sum())
    obs_b, exp_b = np.array(obs_b, float), np.array(exp_b)
    stat = float(((obs_b - exp_b) ** 2 / exp_b).sum())
    df = len(exp_b) - 1
    z = 3.09  # one-sided normal quantile of 0.999; Wilson-Hilferty for the chi-square quantile
    crit = df * (1 - 2 / (9 * df) + z * np.sqrt(2 / (9 * df))) ** 3
    return stat, crit


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 0, 1.0), (0.7, 20, 1.0), (1.0, 0, 0.6),
                                                     (1.5, 40, 0.9), (0.5, 0, 0.3)])
def test_sampling_follows_the_warped_distribution(gen, temperature, top_k, top_p):
    gen.reset()
    for t in PROMPT:
        logits = gen.step(t)
    q = oracle(logits, temperature, top_k, top_p)
    support = np.flatnonzero(q)
    assert 1 < support.size < logits.size or (top_k == 0 and top_p == 1.0)  # the case tests a cut (or none)
    got = draws(gen, temperature, top_k, top_p)
    assert np.isin(got, support).all(), f"drew {sorted(set(got) - set(support))} outside the oracle's support"
    counts = np.bincount(got, minlength=logits.size)
    stat, crit = chi2_fits(counts, q)
    assert stat < crit, (stat, crit)
    if support.size <= 40:  # small supports: every token of it is drawn
        assert set(np.flatnonzero(counts)) == set(support)


def test_tiny_top_p_is_greedy_and_bad_top_p_refused(gen, tmp_path):
    gen.reset()
    for t in PROMPT:
        logits = gen.step(t)
    assert set(draws(gen, 1.0, 0, 1e-6, n=50)) == {int(np.argmax(logits))}
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(EdgeSdkError, match="top_p"):
            gen.generate(PROMPT, 2, temperature=1.0, top_p=bad)
    p = subprocess.run([sys.executable, "-m", "edge_sdk.cli.main", "generate", str(gen.artifact), "--prompt-ids",
                        "1,2", "--max-tokens", "2", "--temperature", "1", "--top-p", "0"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert len([ln for ln in p.stderr.splitlines() if ln.strip()]) == 1, p.stderr
