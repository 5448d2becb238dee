"""Expert-cache policies replayed offline over a routing trace, each seeing only what the runtime
has when it chooses a victim (docs/moe.md, "Cache policies").

A trace is a list of `Step`s, one per layer of one token, in execution order. At a step the
runtime (pre-attention router) knows, before it issues the layer's reads: the layer's routed
experts, its full router distribution, and - from the layer's input - every later layer's router
applied to that input (a guess of the later layers of this token). A policy is told the step
(`see`), then asked for victims among the cached experts that the layer does not use (the layer's
own experts are read together and are never evicted for each other). Demand caching: every expert
read is held in a slot; a policy that "bypasses" the cache does so by making the expert it just
read the next victim (`transient`), because the read needs a slot of the same memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence


@dataclass
class Step:
    token: int
    layer: int
    keys: list  # routed experts, as layer * n_experts + e, in router order
    probs: Sequence[float] | None = None  # this layer's router distribution over its experts
    guesses: dict = field(default_factory=dict)  # later layer j -> layer j's router on this layer's input


def replay(steps: list, slots: int, policy, log: list | None = None) -> float:
    """Fraction of routed-expert uses served from the cache (no read) under `policy` with
    `slots` cache slots. `log`, if given, gets one (key, hit, evicted key or None) per use."""
    cache, hits, n = set(), 0, 0
    for s in steps:
        policy.see(s)
        cur = set(s.keys)
        for k in s.keys:
            n += 1
            if k in cache:
                hits += 1
                if log is not None:
                    log.append((k, True, None))
                continue
            v = None
            if len(cache) >= slots:
                v = policy.victim([x for x in cache if x not in cur], s, k)
                cache.remove(v)
            cache.add(k)
            policy.admitted(k, s)
            if log is not None:
                log.append((k, False, v))
    return hits / n if n else 0.0


class LRU:
    """Least recently used (ties cannot occur: one clock tick per use)."""

    def __init__(self):
        self.last, self.clock = {}, 0

    def see(self, s: Step):
        for k in reversed(s.keys):  # the runtime pins a layer's experts last to first
            self.clock += 1
            self.last[k] = self.clock

    def score(self, k, s):  # higher = keep
        return self.last.get(k, 0)

    def victim(self, cands, s, new):
        return min(cands, key=lambda x: (self.score(x, s), self.last.get(x, 0)))

    def admitted(self, k, s):
        pass


class LFU(LRU):
    """LFU with decay, the runtime's rule: s <- s * decay^(tokens since last update) + w per use;
    ties broken by LRU. `soft` > 0 adds soft * p_e for every expert e of the layer at each step,
    p the router distribution (an expert that narrowly missed the top-k gains too); `hard` is the
    weight of a use (1 in the runtime). `prior`: starting scores."""

    def __init__(self, decay=0.95, soft=0.0, hard=1.0, prior=None, n_experts=None):
        super().__init__()
        self.decay, self.soft, self.hard = decay, soft, hard
        self.f, self.t = dict(prior or {}), {}
        self.E = n_experts

    def val(self, k, tok):
        return self.f.get(k, 0.0) * self.decay ** (tok - self.t.get(k, tok))

    def add(self, k, tok, w):
        self.f[k], self.t[k] = self.val(k, tok) + w, tok

    def see(self, s: Step):
        super().see(s)
        if self.soft and s.probs is not None:
            base = s.layer * len(s.probs)
            for e, p in enumerate(s.probs):
                self.add(base + e, s.token, self.soft * float(p))
        for k in s.keys:
            self.add(k, s.token, self.hard)

    def score(self, k, s):
        return self.val(k, s.token)


class Guarded:
    """Wraps a policy: cached experts that a later layer of this token is guessed to use (in the
    top `top` of layer j's router on the current layer's input) are evicted only when nothing
    else can be; among the unguarded the inner policy chooses."""

    def __init__(self, inner, top: int):
        self.inner, self.top = inner, top
        self.guard = set()

    def see(self, s: Step):
        self.inner.see(s)
        self.guard = set()
        for j, g in s.guesses.items():
            order = sorted(range(len(g)), key=lambda e: -g[e])[:self.top]
            self.guard |= {j * len(g) + e for e in order}

    def victim(self, cands, s, new):
        free = [x for x in cands if x not in self.guard]
        return self.inner.victim(free or cands, s, new)

    def admitted(self, k, s):
        self.inner.admitted(k, s)


class Protect(Guarded):
    """An oracle of prediction-aware eviction: the experts of the next `d` steps of the trace
    (the real ones, not guesses) are evicted only when nothing else can be."""

    def __init__(self, inner, steps: list, d: int):
        super().__init__(inner, 0)
        self.steps, self.d, self.i = steps, d, -1

    def see(self, s: Step):
        self.inner.see(s)
        self.i += 1
        self.guard = {k for t in self.steps[self.i + 1:self.i + 1 + self.d] for k in t.keys}


class Admission:
    """TinyLFU-style admission on top of a scored policy (LFU keeps a score for every expert,
    cached or not, like TinyLFU's sketch): an expert read on a miss is admitted only if its
    score before this use beats the score of the expert it displaces; otherwise it is transient,
    and transient experts are the first victims (the oldest first)."""

    def __init__(self, inner):
        self.inner = inner
        self.transient = []
        self.before = {}
        self.decided = {}

    def see(self, s: Step):
        self.before = {k: self.inner.score(k, s) for k in s.keys}
        self.inner.see(s)

    def score(self, k, s):
        return self.inner.score(k, s)

    def victim(self, cands, s, new):
        for x in self.transient:
            if x in cands:
                self.transient.remove(x)
                return x
        v = self.inner.victim(cands, s, new)
        self.decided[new] = self.before.get(new, 0.0) > self.inner.score(v, s)
        return v

    def admitted(self, k, s):
        self.inner.admitted(k, s)
        if not self.decided.pop(k, True):
            self.transient.append(k)


class NextUse:
    """Evict the expert whose next use is expected farthest away. For an expert of layer j at
    step (token t, layer l): its first chance is layer j of this token if j > l (j - l layer-steps
    away), else of the next token (n_layers - l + j). Per-token use rate q from decayed counts
    (decay, as LFU) plus soft * router probabilities; the first chance of a later layer of this
    token is taken from the guess (p_first if in the guessed top-k, else q * p_miss).
    Expected distance = d1 + (1 - p1) * n_layers / q."""

    def __init__(self, n_layers, k, decay=0.95, soft=0.0, p_first=0.7, p_miss=0.3):
        self.L, self.K = n_layers, k
        self.lfu = LFU(decay, soft=soft)
        self.decay, self.p_first, self.p_miss = decay, p_first, p_miss
        self.tokens = 0.0
        self.last_tok = None
        self.guess_top = {}

    def see(self, s: Step):
        if s.token != self.last_tok:
            self.tokens = self.tokens * self.decay + 1.0
            self.last_tok = s.token
        self.lfu.see(s)
        self.guess_top = {}
        for j, g in s.guesses.items():
            E = len(g)
            self.guess_top[j] = {j * E + e for e in sorted(range(E), key=lambda e: -g[e])[:self.K]}

    def distance(self, k, s, E):
        j = k // E
        q = min(1.0, max(self.lfu.val(k, s.token) / (self.tokens * (1.0 + self.lfu.soft / self.K)), 1e-3))
        if j > s.layer:
            d1 = j - s.layer
            p1 = (self.p_first if k in self.guess_top.get(j, ()) else q * self.p_miss) if j in self.guess_top else q
        else:
            d1, p1 = self.L - s.layer + j, q
        return d1 + (1.0 - p1) * self.L / q

    def victim(self, cands, s, new):
        E = len(s.probs) if s.probs is not None else self.lfu.E
        return max(cands, key=lambda x: (self.distance(x, s, E), -self.lfu.last.get(x, 0)))

    def admitted(self, k, s):
        pass


class Quota:
    """Per-layer quotas (the runtime's "lfu-quota"): every layer uses top_k experts per token, so
    each gets an equal share of the cache. The victim comes from the layer holding the most
    cached experts (the layer being read counts all of its routed experts, read or not); on a
    tie, from the layer whose next use is farthest ahead (the layer being read, then the layers
    just computed: layer j is (j - l) mod n_layers layer-steps away, 0 counting as n_layers);
    within that layer, the inner policy chooses."""

    def __init__(self, inner, n_experts: int, n_layers: int):
        self.inner, self.E, self.L = inner, n_experts, n_layers

    def see(self, s: Step):
        self.inner.see(s)

    def victim(self, cands, s, new):
        count = {}
        for x in cands:
            count[x // self.E] = count.get(x // self.E, 0) + 1
        count[s.layer] = count.get(s.layer, 0) + len(s.keys)
        rank = {j: (c, (j - s.layer) % self.L or self.L) for j, c in count.items()}
        best = max(rank[x // self.E] for x in cands)
        return self.inner.victim([x for x in cands if rank[x // self.E] == best], s, new)

    def admitted(self, k, s):
        self.inner.admitted(k, s)


class Clairvoyant:
    """Belady's MIN under the runtime's constraints (the victim is never one of the layer's own
    experts; every expert read takes a slot): evict the cached expert used farthest ahead.
    Knows the whole trace: a bound, not a policy."""

    def __init__(self, steps: list):
        self.next, last = [None] * len(steps), {}
        for i in range(len(steps) - 1, -1, -1):
            self.next[i] = dict(last)
            for k in steps[i].keys:
                last[k] = i
        self.i = -1

    def see(self, s: Step):
        self.i += 1

    def victim(self, cands, s, new):
        nxt = self.next[self.i]
        return max(cands, key=lambda x: nxt.get(x, 1 << 60))

    def admitted(self, k, s):
        pass
