"""Routing traces and the clairvoyant bound on expert-cache reuse, for the MoE benchmark and the
tests that check the runtime's cache accounting against it."""
from __future__ import annotations

from collections import OrderedDict


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


def lru(steps, slots):
    """Reuse under LRU, demand caching; steps: the expert keys of one layer of one token each
    (never evicted for each other)."""
    c, hits, n = OrderedDict(), 0, 0
    for cur in steps:
        for k in cur:
            n += 1
            if k in c:
                hits += 1
                c.move_to_end(k)
                continue
            if len(c) >= slots:
                victim = next(x for x in c if x not in cur)
                del c[victim]
            c[k] = 1
    return hits / n


def lfu(steps, slots, tok_of, decay, prior=None, protect=0):
    """Reuse under LFU with decay (the runtime's rule: s <- s * decay^(tokens since last use) + 1);
    tok_of[i]: the token of steps[i]; prior: starting scores; protect: never evict the next
    `protect` steps' experts (an oracle of prediction-aware eviction)."""
    freq = dict(prior or {})
    when, cache, hits, n = {}, set(), 0, 0
    for si, cur in enumerate(steps):
        t = tok_of[si]
        keep = set(cur)
        for d in range(1, protect + 1):
            if si + d < len(steps):
                keep |= set(steps[si + d])

        def score(x):
            return freq.get(x, 0.0) * decay ** (t - when.get(x, t))
        for k in cur:
            n += 1
            freq[k], when[k] = score(k) + 1.0, t
            if k in cache:
                hits += 1
                continue
            if len(cache) >= slots:
                cand = [x for x in cache if x not in keep] or [x for x in cache if x not in cur]
                cache.remove(min(cand, key=score))
            cache.add(k)
    return hits / n
