"""Offline cache replays (edge_sdk/moe/trace.py) against facts that hold for any trace: no policy
beats Belady's MIN, a cache that holds every expert misses only on first use, and Belady's MIN
matches a brute-force search over all eviction choices on short traces."""
import itertools
import random
from functools import lru_cache as memo

import pytest

from edge_sdk.moe.trace import belady_hits, lfu, lru


def steps_of(rng, tokens, layers, experts, k):
    return [[l * experts + e for e in rng.sample(range(experts), k)] for _ in range(tokens) for l in range(layers)]


def best_hits(keys, slots):
    """maximum hits over every eviction choice (exhaustive; short traces only)"""
    @memo(maxsize=None)
    def go(i, cache):
        if i == len(keys):
            return 0
        k = keys[i]
        if k in cache:
            return 1 + go(i + 1, cache)
        if len(cache) < slots:
            return go(i + 1, cache | {k})
        return max(go(i + 1, (cache - {v}) | {k}) for v in cache)
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
