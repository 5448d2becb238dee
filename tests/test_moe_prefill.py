"""Prompt prefill (esdk_moe_prefill, Generator.prefill, generate(prefill=True)): a prompt fed
layer by layer in blocks gives the bits of feeding it token by token (the oracle: esdk_moe_step,
itself checked against the torch reference in test_moe.py, and the torch reference directly here),
in every expert mode, cache size, policy, reader and model variant, while it reads each expert a
layer uses at most once per block. Tiny randomly initialised moe_tiny (seconds)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_sdk import Generator  # noqa: E402
from edge_sdk.errors import EdgeSdkError  # noqa: E402
from edge_sdk.moe.generator import PREFILL_BLOCK  # noqa: E402
from edge_sdk.moe.trace import routing_keys  # noqa: E402
from models.moe_lm import model_from_config  # noqa: E402

VARIANTS = ["plain", "pre", "shared", "q4", "f32"]  # conftest.moe_tiny: int8 / int4 / f32, pre-router, shared
# prompt lengths: 2 (one block of one token + the last), a block less one, a block, a block and
# one, and several blocks with a partial last one
LENGTHS = [2, PREFILL_BLOCK - 1, PREFILL_BLOCK, PREFILL_BLOCK + 1, 2 * PREFILL_BLOCK + 37]


def _prompt(n: int, seed: int = 0) -> list:
    return [int(t) for t in np.random.default_rng(seed).integers(0, 256, n)]


def _stepped(g: Generator, ids: list, then: list) -> np.ndarray:
    """logits of the last prompt token and of each token of `then`, fed token by token"""
    g.reset()
    for t in ids:
        last = g.step(t)
    return np.stack([last] + [g.step(t) for t in then])


def _prefilled(g: Generator, ids: list, then: list) -> np.ndarray:
    g.reset()
    last = g.prefill(ids)
    assert g.position == len(ids)
    return np.stack([last] + [g.step(t) for t in then])


@pytest.mark.parametrize("name", VARIANTS)
def test_prefill_equals_steps_resident_and_mmap(moe_tiny, name):
    """Logits of the last prompt token, the routing it leaves, and the logits of tokens fed
    after it (so the KV cache too) are the step path's, bit for bit."""
    then = [7, 100, 3, 250]
    for mode in ("resident", "mmap"):
        with Generator(moe_tiny[name], mode=mode) as g:
            for n in LENGTHS:
                ids = _prompt(n, n)
                ref = _stepped(g, ids, [])
                ref_route = g.routing()
                g.reset()
                g.prefill(ids)
                assert np.array_equal(g.routing(), ref_route), (mode, n)
                assert np.array_equal(_prefilled(g, ids, then), _stepped(g, ids, then)), (mode, n)
                assert np.array_equal(_prefilled(g, ids, [])[0], ref[0]), (mode, n)


@pytest.mark.parametrize("name", ["plain", "pre", "shared", "q4"])
@pytest.mark.parametrize("policy", ["lru", "lfu", "lfu-quota"])
def test_prefill_equals_steps_streamed(moe_tiny, name, policy):
    """Streamed at caches from top_k + 1 slots (fewer than a block's experts of one layer, so
    experts are asked for as slots free up) to all experts, prediction on and off."""
    then = [1, 2, 3]
    ref = Generator(moe_tiny[name], mode="resident")
    per = ref.expert_bytes / 2**20
    total = ref.n_layers * ref.n_experts
    expect = {n: _stepped(ref, _prompt(n, n), then) for n in LENGTHS}
    for slots in (ref.top_k + 1, total // 3, total):
        for prefetch in (True, False):
            with Generator(moe_tiny[name], expert_cache_mb=(slots + 0.5) * per, policy=policy,
                           prefetch=prefetch) as g:
                assert g.cache_slots == slots
                for n in LENGTHS:
                    got = _prefilled(g, _prompt(n, n), then)
                    assert np.array_equal(got, expect[n]), (slots, prefetch, n)


@pytest.mark.parametrize("io,depth", [("pread", None), ("io_uring", 1), ("io_uring", 4)])
def test_prefill_readers_and_generate(moe_tiny, moe_uring, io, depth):
    """generate() feeds its prompt by prefill: the same tokens as prefill=False (token by token)
    and as the resident run, greedy and sampled; each reader."""
    if io == "io_uring" and moe_uring:
        pytest.skip(moe_uring)
    ids = _prompt(150, 1)
    ref = Generator(moe_tiny["pre"], mode="resident")
    per = ref.expert_bytes / 2**20
    for kw in ({}, {"temperature": 0.9, "top_k": 20, "seed": 11}):
        want = ref.generate(ids, 30, stop=None, **kw).tokens
        assert ref.generate(ids, 30, stop=None, prefill=False, **kw).tokens == want
        with Generator(moe_tiny["pre"], expert_cache_mb=5.5 * per, io=io, io_depth=depth) as g:
            assert g.generate(ids, 30, stop=None, **kw).tokens == want
            assert g.generate(ids, 30, stop=None, prefill=False, **kw).tokens == want


def test_prefill_matches_torch_reference(moe_tiny):
    """The independent oracle: the float model in torch, last prompt token's logits."""
    gen = Generator(moe_tiny["f32"], mode="resident")
    model = model_from_config(gen.config, seed=3)
    for n in (PREFILL_BLOCK + 9, 2 * PREFILL_BLOCK + 37):
        ids = _prompt(n, 3)
        with torch.no_grad():
            ref = model(torch.tensor([ids]))[0][0, -1].numpy()
        np.testing.assert_allclose(gen.prefill(ids), ref, atol=2e-5, rtol=1e-4)
        gen.reset()


def test_prefill_reads_each_expert_once_per_block(moe_tiny):
    """With a cache that holds every expert, a prefill reads exactly the distinct experts the
    prompt uses (each once); with a small cache, at most one read per expert a layer uses in a
    block, far fewer than token by token."""
    ids = _prompt(2 * PREFILL_BLOCK + 37, 4)
    ref = Generator(moe_tiny["pre"], mode="resident")
    keys = routing_keys(ref, ids)
    L, E, K = ref.n_layers, ref.n_experts, ref.top_k
    per = ref.expert_bytes / 2**20
    with Generator(moe_tiny["pre"], expert_cache_mb=(L * E + 0.5) * per) as g:
        g.reset_stats()
        g.prefill(ids)
        s = g.stats()
        assert s["reads"] == len(set(keys)) and s["expert_uses"] == len(keys) == len(ids) * L * K
        assert s["prefill"]["reads"] == s["reads"] and s["prefill"]["tokens"] == len(ids)
        assert s["hits"] == s["expert_uses"] - s["misses"] - s["late"]
    bound = 0  # experts per layer per block
    for b in range(0, len(ids), PREFILL_BLOCK):
        blk = keys[b * L * K:(b + PREFILL_BLOCK) * L * K]
        bound += len(set(blk))
    with Generator(moe_tiny["pre"], expert_cache_mb=(K + 1.5) * per) as g:
        g.reset_stats()
        g.prefill(ids)
        blocked = g.stats()["reads"]
        g.reset()
        g.reset_stats()
        for t in ids:
            g.step(t)
        stepped = g.stats()["reads"]
    assert 0 < blocked <= bound < stepped / 4, (blocked, bound, stepped)


def test_generate_stats_split_prefill_and_decode(moe_tiny):
    ids = _prompt(100, 6)
    per = Generator(moe_tiny["pre"], mode="resident").expert_bytes / 2**20
    with Generator(moe_tiny["pre"], expert_cache_mb=6.5 * per) as g:
        r = g.generate(ids, 12, stop=None)
    s = r.stats
    pre, dec = s["prefill"], s["decode"]
    # the prompt is prefill (its last token by itself); each generated token but the last is fed back
    assert pre["tokens"] == len(ids) and dec["tokens"] == len(r.tokens) - 1
    assert pre["tokens"] + dec["tokens"] == s["tokens"]
    assert pre["reads"] + dec["reads"] == s["reads"] and pre["bytes_read"] + dec["bytes_read"] == s["bytes_read"]
    assert pre["expert_uses"] + dec["expert_uses"] == s["expert_uses"] and pre["reused"] + dec["reused"] == s["reused"]
    assert dec["reads"] == dec["expert_uses"] - dec["reused"]  # no guesses: every decode read is a use without reuse
    assert 0 < pre["seconds"] < s["seconds"] and dec["seconds"] > 0
    assert dec["tokens_per_s"] == pytest.approx(dec["tokens"] / dec["seconds"])
    assert 0.0 <= dec["hit_rate"] <= 1.0 and pre["mib_per_token"] < dec["mib_per_token"]


def test_prefill_cache_routing_is_token_by_token(moe_tiny):
    """With cache routing the routing depends on the cache, so prefill steps token by token:
    the same tokens as prefill=False."""
    ids = _prompt(90, 7)
    per = Generator(moe_tiny["pre"], mode="resident").expert_bytes / 2**20
    outs = []
    for prefill in (True, False):
        with Generator(moe_tiny["pre"], expert_cache_mb=4.5 * per, cache_routing=0.3) as g:
            outs.append(g.generate(ids, 20, stop=None, prefill=prefill).tokens)
    assert outs[0] == outs[1]


def test_prefill_bad_input(moe_tiny):
    with Generator(moe_tiny["plain"], mode="resident", max_seq=80) as g:
        with pytest.raises(EdgeSdkError, match="context full"):
            g.prefill(_prompt(81))
        assert g.position == 0
        with pytest.raises(EdgeSdkError, match="token id out of range"):
            g.prefill([1, 2, 256])
        g.prefill(_prompt(70))
        with pytest.raises(EdgeSdkError, match="context full"):
            g.prefill(_prompt(11))
        assert g.position == 70
        g.prefill([])  # nothing to feed
        assert g.position == 70
