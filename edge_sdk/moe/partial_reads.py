"""Bytes an exact partial reader of ReLU-gated experts would read, replayed over a routing trace
with the activity of every routed use (docs/moe.md, "Activation-sparse experts (study)").

With ReGLU experts, y = down(relu(gate x) * up x), a hidden unit whose gate output is <= 0
contributes exactly nothing. A reader that keeps each unit's up row and down column together
(row-column bundling, "LLM in a flash") can read an expert's gate block in full, compute the
gate, then read only the bundles of the active units. Layout assumed (int8 rows, per-row scales):
the gate block = gate scales and rows, up's per-row scales and down's per-row scales, rounded up to
4 KiB; then one bundle per unit, its up row and down column (2 * d_model bytes), 4096 / (2 * d_model)
units to a 4 KiB page. A whole expert is the bundle record of today's layout (docs/moe.md).

The cache is the runtime's: the same slots, the same policy and victims (`policies.replay`). A slot
holds what was read into it: a miss reads the gate block and the active units; a hit reads the
active units that the slot does not hold yet (exactness needs them); an eviction drops them all.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .format import MoEConfig, PAGE, expert_layout
from .policies import Step, replay


def _align(n: int, a: int = PAGE) -> int:
    return (n + a - 1) // a * a


@dataclass(frozen=True)
class Bundles:
    """Byte counts of one int8 expert of d_model x d_ff, measured units standing for `scale` units
    each (the trained width projected to the benchmark's grown width: d_ff * scale units)."""
    d_model: int
    d_ff: int
    scale: int = 1

    @property
    def width(self) -> int:
        return self.d_ff * self.scale

    @property
    def whole(self) -> int:  # today's record: gate, up and down matrices, each 4 KiB aligned
        cfg = MoEConfig(1, self.d_model, 1, 1, 1, 1, 1, 1, self.width, expert_quant=1)
        return expert_layout(cfg)[1]

    @property
    def gate(self) -> int:
        F, D = self.width, self.d_model
        return _align(F * 4 + F * D + F * 4 + D * 4)

    @property
    def unit(self) -> int:
        return 2 * self.d_model

    @property
    def per_page(self) -> int:
        return max(1, PAGE // self.unit)

    def units(self, active: np.ndarray) -> int:
        """bytes of the bundles of the active measured units, each standing for `scale` units"""
        return int(np.count_nonzero(active)) * self.scale * self.unit

def zero_stats(active: np.ndarray) -> dict:
    """active: [uses, d_ff] bool. Fraction of a use's hidden units that are exactly zero: mean,
    p10 / p50 / p90 over uses."""
    z = 1.0 - active.mean(1) if len(active) else np.zeros(0)
    if not len(z):
        return {"uses": 0}
    p10, p50, p90 = np.percentile(z, [10, 50, 90])
    return {"uses": int(len(z)), "mean": float(z.mean()), "p10": float(p10), "p50": float(p50), "p90": float(p90)}


def trace_steps(routes: list, n_experts: int) -> list:
    """routes: per layer [T, k] expert ids -> policies.Step list in execution order"""
    L, T = len(routes), len(routes[0])
    return [Step(t, l, [l * n_experts + int(e) for e in routes[l][t]]) for t in range(T) for l in range(L)]


def use_masks(active: list) -> list:
    """active: per layer [T, k, d_ff] bool -> the masks in the steps' use order"""
    L, T = len(active), len(active[0])
    return [active[l][t][j] for t in range(T) for l in range(L) for j in range(len(active[l][t]))]


def read_bytes(steps: list, masks: list, slots: int, policy, b: Bundles, tokens: int) -> dict:
    """Replay `policy` with `slots` whole-expert slots; per token: whole-expert bytes (today's
    reader), and the partial reader's bytes at unit and at 4 KiB-page granularity (misses, plus
    the units a hit finds missing from its slot: `fill_*`)."""
    log = []
    reuse = replay(steps, slots, policy, log)
    have = {}  # slot key -> (units read, pages read)
    whole = unit = page = fill_unit = fill_page = 0
    for (k, hit, victim), m in zip(log, masks):
        if victim is not None:
            del have[victim]
        pm = _page_mask(m, b.per_page)
        if hit:
            u, p = have[k]
            fill_unit += b.units(m & ~u)
            fill_page += int((pm & ~p).sum()) * b.scale * PAGE
            have[k] = (u | m, p | pm)
        else:
            whole += b.whole
            unit += b.gate + b.units(m)
            page += b.gate + int(pm.sum()) * b.scale * PAGE
            have[k] = (m.copy(), pm)
    n = max(tokens, 1)
    return {"reuse": reuse, "whole": whole / n, "unit": (unit + fill_unit) / n, "page": (page + fill_page) / n,
            "fill_unit": fill_unit / n, "fill_page": fill_page / n}


def _page_mask(active: np.ndarray, per_page: int) -> np.ndarray:
    n = -(-len(active) // per_page)
    t = np.zeros(n * per_page, bool)
    t[:len(active)] = active
    return t.reshape(n, per_page).any(1)


def hexmask(active: np.ndarray) -> str:
    return np.packbits(active.astype(bool), bitorder="little").tobytes().hex()


def unhexmask(s: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(s), np.uint8), bitorder="little")[:n].astype(bool)


def frequency_order(uses: list) -> dict:
    """uses: [(key, mask)] of a calibration trace -> key -> its units, most often active first
    (stable). Permuting an expert's hidden units (gate and up rows, down columns together) leaves
    its function unchanged; this order packs the often-active units into the same pages."""
    count = {}
    for k, m in uses:
        count[k] = count.get(k, 0) + m.astype(np.int64)
    return {k: np.argsort(-c, kind="stable") for k, c in count.items()}


def permute(masks: list, keys: list, order: dict) -> list:
    """the masks with each key's units in `order` (keys without an order keep theirs)"""
    return [m[order[k]] if k in order else m for m, k in zip(masks, keys)]


def item_cache_bytes(steps: list, masks: list, budget: int, b: Bundles, tokens: int, pages: bool) -> dict:
    """A cache of partial experts, LLM-in-a-flash windowing by recency: items are gate blocks
    and unit bundles (or 4 KiB pages of them), kept least-recently-used out within `budget`
    bytes; a use needs its expert's gate block and its active units' items, reads those
    missing, then evicts the oldest items until the cache fits (the current layer-step's items
    are the newest). Bytes read per token, and the fraction of gate blocks served from the cache."""
    from collections import OrderedDict

    cache, size, read, gate_hits, n = OrderedDict(), 0, 0, 0, 0
    item = b.scale * (PAGE if pages else b.unit)
    i = 0
    for s in steps:
        for k in s.keys:
            m = _page_mask(masks[i], b.per_page) if pages else masks[i]
            i += 1
            n += 1
            need = [((k, -1), b.gate)] + [((k, int(j)), item) for j in np.flatnonzero(m)]
            for key, sz in need:
                if key in cache:
                    cache.move_to_end(key)
                    gate_hits += key[1] == -1
                else:
                    cache[key] = sz
                    size += sz
                    read += sz
        while size > budget:
            size -= cache.popitem(last=False)[1]
    return {"bytes": read / max(tokens, 1), "gate_reuse": gate_hits / max(n, 1)}
