"""Routing traces and the clairvoyant bound on expert-cache reuse, for the MoE benchmark and the
tests that check the runtime's cache accounting against it."""
from __future__ import annotations


def routing_keys(gen, token_ids) -> list[int]:
    """Step `gen` (a Generator, reset by the caller) through `token_ids`; the routed experts of
    every token in use order, as keys layer * n_experts + expert."""
    keys = []
    for t in token_ids:
        gen.step(t)
        keys += [layer * gen.n_experts + int(e) for layer, row in enumerate(gen.routing()) for e in row]
    return keys


def belady_hits(keys: list, slots: int) -> int:
    """Uses served without a read under Belady's MIN with `slots` cache slots: on a miss with a
    full cache, evict the expert whose next use is farthest away."""
    nxt, last = [0] * len(keys), {}
    for i in range(len(keys) - 1, -1, -1):
        nxt[i], last[keys[i]] = last.get(keys[i], 1 << 60), i
    cache, hits = {}, 0
    for i, k in enumerate(keys):
        if k in cache:
            hits += 1
        elif len(cache) >= slots:
            del cache[max(cache, key=cache.get)]
        cache[k] = nxt[i]
    return hits
