"""Offline cache replays (edge_sdk/moe/trace.py, policies.py) against facts that hold for any
trace: no policy beats Belady's MIN, MIN with bypass is at least MIN without, a cache that holds
every expert misses only on first use, both MINs match a brute-force search over all eviction
choices on short traces; and small cases worked by hand for the quota and admission rules."""
import itertools
import random
from functools import lru_cache as memo

import pytest

from edge_sdk.moe.policies import LFU, LRU, Admission, Clairvoyant, Guarded, NextUse, Protect, Quota, Step, replay
from edge_sdk.moe.trace import belady_hits, lfu, lru


def steps_of(rng, tokens, layers, experts, k):
    return [[l * experts + e for e in rng.sample(range(experts), k)] for _ in range(tokens) for l in range(layers)]


def best_hits(keys, slots, bypass=False):
    """maximum hits over every eviction choice (exhaustive; short traces only); with `bypass` a
    read expert may also be left out of the cache"""
    @memo(maxsize=None)
    def go(i, cache):
        if i == len(keys):
            return 0
        k = keys[i]
        if k in cache:
            return 1 + go(i + 1, cache)
        if len(cache) < slots:
            return go(i + 1, cache | {k})
        stay = [go(i + 1, cache)] if bypass else []
        return max(stay + [go(i + 1, (cache - {v}) | {k}) for v in cache])
    return go(0, frozenset())


@pytest.mark.parametrize("seed", range(6))
def test_belady_is_optimal_on_short_traces(seed):
    rng = random.Random(seed)
    keys = [rng.randrange(6) for _ in range(14)]
    for slots in (1, 2, 3, 4):
        assert belady_hits(keys, slots) == best_hits(tuple(keys), slots)


@pytest.mark.parametrize("seed", range(4))
def test_policies_bounded_by_belady_and_exact_when_everything_fits(seed):
    rng = random.Random(seed)
    L, E, K = 3, 7, 2
    steps = steps_of(rng, 30, L, E, K)
    keys = list(itertools.chain.from_iterable(steps))
    tok_of = [i // L for i in range(len(steps))]
    for slots in (K + 1, 5, 9):
        bound = belady_hits(keys, slots) / len(keys)
        assert 0 <= lru(steps, slots) <= bound
        for decay in (0.9, 1.0):
            assert 0 <= lfu(steps, slots, tok_of, decay) <= bound
    compulsory = 1 - len(set(keys)) / len(keys)
    assert lru(steps, L * E) == pytest.approx(compulsory)
    assert lfu(steps, L * E, tok_of, 0.95) == pytest.approx(compulsory)


def test_lru_evicts_the_least_recent():
    # one key per step: 1 2 3 1 4 -> with 3 slots 4 evicts 2, so the final 2 misses and 1 hits
    steps = [[1], [2], [3], [1], [4], [1], [2]]
    assert lru(steps, 3) == pytest.approx(2 / 7)  # hits: the second 1 and the third 1


@pytest.mark.parametrize("seed", range(6))
def test_belady_with_bypass_is_optimal_and_above_demand_min(seed):
    rng = random.Random(seed)
    keys = [rng.randrange(6) for _ in range(14)]
    for slots in (1, 2, 3, 4):
        assert belady_hits(keys, slots, bypass=True) == best_hits(tuple(keys), slots, bypass=True)
        assert belady_hits(keys, slots, bypass=True) >= belady_hits(keys, slots)


def random_trace(rng, tokens, L, E, K):
    """steps with random routing, router distributions and guesses (Dirichlet-like)"""
    out = []
    for t in range(tokens):
        for layer in range(L):
            probs = [rng.random() ** 3 for _ in range(E)]
            z = sum(probs)
            probs = [p / z for p in probs]
            top = sorted(range(E), key=lambda e: -probs[e])[:K]
            guesses = {j: [rng.random() for _ in range(E)] for j in range(layer + 1, L)}
            out.append(Step(t, layer, [layer * E + e for e in top], probs, guesses))
    return out


def every_policy(steps, L, E, K):
    return {"lru": LRU(), "lfu": LFU(0.95), "lfu no decay": LFU(1.0), "soft lfu": LFU(0.95, soft=1.0),
            "soft only": LFU(0.9, soft=1.0, hard=0.0), "admission": Admission(LFU(0.95)),
            "guarded": Guarded(LFU(0.95), K), "quota": Quota(LFU(0.95), E, L),
            "quota lru": Quota(LRU(), E, L), "guarded quota": Guarded(Quota(LFU(0.95), E, L), K),
            "next use": NextUse(L, K), "next use soft": NextUse(L, K, soft=4.0),
            "protect oracle": Protect(LFU(0.95), steps, 3), "constrained MIN": Clairvoyant(steps)}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(3, 7, 2), (4, 5, 1), (2, 9, 3)])
def test_every_policy_bounded_by_belady(seed, shape):
    L, E, K = shape
    rng = random.Random(seed)
    steps = random_trace(rng, 25, L, E, K)
    keys = [k for s in steps for k in s.keys]
    compulsory = 1 - len(set(keys)) / len(keys)
    for slots in (K + 1, L * K + 1, L * E // 2, L * E):
        demand = belady_hits(keys, slots) / len(keys)
        assert demand <= belady_hits(keys, slots, bypass=True) / len(keys)
        for name, p in every_policy(steps, L, E, K).items():
            r = replay(steps, slots, p)
            assert 0 <= r <= demand + 1e-12, (name, slots, r, demand)
            if slots == L * E:  # everything fits: only first uses miss
                assert r == pytest.approx(compulsory), name


def test_quota_evicts_from_the_fullest_layer_then_the_farthest():
    # 2 layers of 4 experts, top-1, 3 slots. At token 1 layer 1 (expert 5) the cache holds 0, 4, 1:
    # layer 0 holds 2, layer 1 holds 1 + its routed expert = 2: a tie, and layer 1 (next used a
    # whole token later) gives its victim, 4; LFU would evict 0 (same score as 4, older), which
    # token 2 needs again.
    E = 4
    steps = [Step(t, l, [l * E + e]) for t, l, e in [(0, 0, 0), (0, 1, 0), (1, 0, 1), (1, 1, 1), (2, 0, 0)]]
    assert replay(steps, 3, Quota(LFU(0.95), E, 2)) == pytest.approx(1 / 5)
    assert replay(steps, 3, LFU(0.95)) == 0.0
    # 4 slots; at token 3 layer 0 (expert 2) layer 0 holds 0 and 1 + its routed expert = 3, layer 1
    # holds 4 and 5: the victim comes from layer 0 (1, the lower score) although 4 has the lowest
    # score overall, which LFU evicts and token 3 layer 1 needs again
    steps = [Step(t, l, [l * E + e]) for t, l, e in [(0, 0, 0), (0, 1, 0), (1, 0, 0), (1, 1, 1), (2, 0, 1),
                                                      (2, 1, 1), (3, 0, 2), (3, 1, 0)]]
    assert replay(steps, 4, Quota(LFU(0.95), E, 2)) == pytest.approx(3 / 8)
    assert replay(steps, 4, LFU(0.95)) == pytest.approx(2 / 8)


def test_admission_makes_a_one_off_expert_the_next_victim():
    # 3 slots, one key per step: 1 and 2 are used often; 9 is new (score 0 < 2's): transient,
    # so 8 replaces 9 rather than 1 or 2 and the final 1 and 2 hit
    steps = [Step(t, 0, [k]) for t, k in enumerate([1, 2, 1, 2, 3, 9, 8, 1, 2])]
    adm, lru_hits = replay(steps, 3, Admission(LFU(0.95))), replay(steps, 3, LRU())
    assert adm == pytest.approx(4 / 9) and lru_hits < adm
