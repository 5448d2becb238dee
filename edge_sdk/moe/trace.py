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


def belady_hits(keys: list, slots: int, bypass: bool = False) -> int:
    """Uses served without a read under Belady's MIN with `slots` cache slots: on a miss with a
    full cache, evict the expert whose next use is farthest away. Without `bypass` the expert
    just read is always kept (demand caching: it needs a slot of the same memory, as in the
    runtime); with `bypass` it is itself the victim when its next use is the farthest (true MIN:
    a bound for a cache of `slots` plus a staging buffer outside it)."""
    nxt, last = [0] * len(keys), {}
    for i in range(len(keys) - 1, -1, -1):
        nxt[i], last[keys[i]] = last.get(keys[i], 1 << 60), i
    cache, hits = {}, 0
    for i, k in enumerate(keys):
        if k in cache:
            hits += 1
        elif len(cache) >= slots:
            far = max(cache, key=cache.get)
            if bypass and nxt[i] >= cache[far]:
                continue
            del cache[far]
        cache[k] = nxt[i]
    return hits


def _steps(steps, tok_of=None):
    from .policies import Step

    return [Step(tok_of[i] if tok_of else i, 0, list(keys)) for i, keys in enumerate(steps)]


def lru(steps, slots):
    """Reuse under LRU, demand caching; steps: the expert keys of one layer of one token each
    (never evicted for each other). The runtime's rule (edge_sdk/moe/policies.py)."""
    from .policies import LRU, replay

    return replay(_steps(steps), slots, LRU())


def lfu(steps, slots, tok_of, decay, prior=None, protect=0):
    """Reuse under LFU with decay (the runtime's rule: s <- s * decay^(tokens since last use) + 1);
    tok_of[i]: the token of steps[i]; prior: starting scores; protect: never evict the next
    `protect` steps' experts (an oracle of prediction-aware eviction)."""
    from .policies import LFU, Protect, replay

    st = _steps(steps, tok_of)
    p = LFU(decay, prior=prior)
    return replay(st, slots, Protect(p, st, protect) if protect else p)
