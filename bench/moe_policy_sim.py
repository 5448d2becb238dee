"""Cache policies replayed offline on the benchmark's routing trace (bench/moe_io.py's model,
prompt and greedy run): the fraction of routed-expert uses served without a read (reuse), for
LRU, LFU with decay (the runtime's rule), LFU seeded with the training-time usage histogram
(moe_lm.json), the frequency oracle (the most-used experts of this very run, pinned), LFU that
never evicts the next d layer-steps' actual experts (an oracle of prediction-aware eviction),
and Belady's MIN. Demand caching: every used expert enters the cache; the layer's own experts
are never evicted for each other.

    python bench/moe_policy_sim.py [--scale 64] [--tokens 48]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import moe_io  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edge_sdk.moe.trace import lfu, lru  # noqa: E402


def pinned(keys, slots):
    from collections import Counter

    top = {k for k, _ in Counter(keys).most_common(slots)}
    return sum(k in top for k in keys) / len(keys)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=48)
    a = ap.parse_args(argv)
    art = moe_io.prepare(a.scale)
    keys, per = moe_io.routing_trace(art, moe_io.bench_prompt(), a.tokens)
    from edge_sdk import Generator

    g = Generator(art, mode="mmap")
    E, K, L, total = g.n_experts, g.top_k, g.n_layers, g.total_expert_bytes
    g.close()
    steps = [keys[i:i + K] for i in range(0, len(keys), K)]  # one layer of one token each
    tok_of = [i // L for i in range(len(steps))]
    prior = None
    meta = moe_io.CACHE / "moe_lm.json"
    if meta.is_file():
        hist = [h for layer in json.loads(meta.read_text())["routing"]["layers"] for h in layer["histogram"]]
        norm = sum(hist) / L
        prior = {k: 10.0 * h / norm for k, h in enumerate(hist)}  # about 10 tokens' worth of evidence
    print(f"{len(steps) // L} tokens, {len(keys)} routed-expert uses, {E * L} experts")
    for frac in (0.10, 0.25, 0.50):
        slots = (int(frac * total) - 256) // per
        row = {"LRU": lru(steps, slots)}
        for d in (0.95, 0.98, 1.0):
            row[f"LFU decay {d}"] = lfu(steps, slots, tok_of, d)
        if prior:
            row["LFU 0.98 + training histogram"] = lfu(steps, slots, tok_of, 0.98, prior)
        for p in (1, 3):
            row[f"LFU 0.95, next {p} layer-steps protected (oracle)"] = lfu(steps, slots, tok_of, 0.95, protect=p)
        row["most-used pinned (oracle)"] = pinned(keys, slots)
        row["Belady MIN"] = moe_io.belady(keys, slots)
        print(f"{int(frac * 100)}% ({slots} slots): " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
