"""Expert-cache policies replayed offline (edge_sdk/moe/policies.py): the fraction of routed-expert
uses served without a read (reuse) at caches of 10 / 25 / 50% of the experts, on

- the benchmark's trace: bench/moe_io.py's prompt and greedy run of the int8 benchmark model in
  the runtime; the router distributions and guesses come from the torch model with the same
  int8-rounded expert weights, fed the runtime's tokens (its routing is checked against the
  runtime's, use by use, and the count of differences printed);
- the held-out generations of bench/moe_train.py's `evaluate` (the four held-out stdlib prompts,
  48 greedy bytes each from the float checkpoint, as `locality` builds them); their mean.

What each policy sees at a layer, before the layer's reads (pre-attention router): the layer's
routed experts and its full router distribution; every later layer's router applied to this
layer's input (a guess of this token's later layers); the past. Bounds: Belady's MIN on the flat
sequence of uses (demand: the read expert is always kept), true MIN (it may be bypassed), and MIN
under the runtime's constraint (a layer's experts are not evicted for each other).

    python bench/moe_policy_sim.py [--scale 64] [--tokens 48] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import moe_io  # noqa: E402
import moe_train  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edge_sdk.moe.format import QUANT, config_from_dict, dequantize_rows, quantize_rows  # noqa: E402
from edge_sdk.moe.policies import (LFU, LRU, Admission, Clairvoyant, Guarded, NextUse, Protect, Quota,  # noqa: E402
                                   Step, replay)
from edge_sdk.moe.torch_model import MoELM  # noqa: E402
from edge_sdk.moe.trace import belady_hits, routing_keys  # noqa: E402


def load_model(quant: str | None) -> MoELM:
    ck = torch.load(moe_io.CACHE / "moe_lm.pt", map_location="cpu", weights_only=False)
    model = MoELM(config_from_dict(ck["config"]))
    model.load_state_dict(ck["state_dict"])
    if quant:  # the expert weights as the bundle stores them (per-row scales)
        q = QUANT[quant]
        with torch.no_grad():
            for layer in model.layers:
                for w in (layer.gate, layer.up, layer.down):
                    for e in range(w.shape[0]):
                        s, p = quantize_rows(w[e].numpy(), q)
                        w[e] = torch.from_numpy(dequantize_rows(s, p, q, w.shape[2]))
    return model.eval()


@torch.no_grad()
def observe(model: MoELM, seq: list) -> list:
    """Steps of the trace: per token and layer, the routed experts, the router distribution and,
    from the layer's input, every later layer's router distribution (the guesses)."""
    c = model.c
    x = model.emb(torch.tensor([seq]))
    pos = torch.arange(len(seq))
    xs, routes, probs = [], [], []
    for layer in model.layers:
        xs.append(x)
        x, idx, p = layer(x, pos)
        routes.append(idx[0].numpy())
        probs.append(p[0].numpy())
    guess = {(l, j): torch.softmax(model.layers[j].router(model.layers[j].attn_norm(xs[l])), -1)[0].numpy()
             for l in range(c.n_layers) for j in range(l + 1, c.n_layers)}
    E = c.n_experts
    return [Step(t, l, [l * E + int(e) for e in routes[l][t]], probs[l][t],
                 {j: guess[l, j][t] for j in range(l + 1, c.n_layers)})
            for t in range(len(seq)) for l in range(c.n_layers)]


@torch.no_grad()
def greedy(model: MoELM, text: str, tokens: int) -> list:
    """prompt + generation minus the last byte, as moe_train.locality routes it"""
    ids = list(text.encode("utf-8"))
    for _ in range(tokens):
        logits, _, _ = model(torch.tensor([ids]))
        ids.append(int(logits[0, -1].argmax()))
    return ids[:-1]


def bench_trace(scale: int, tokens: int, model: MoELM):
    """(steps, mismatched uses): the runtime's tokens and routing on the benchmark model"""
    from edge_sdk import Generator

    art = moe_io.prepare(scale)
    g = Generator(art, mode="mmap")
    ids = g.encode(moe_io.bench_prompt())
    toks = g.generate(ids, tokens).tokens
    g.reset()
    seq = ids + toks[:-1]
    keys = routing_keys(g, seq)
    g.close()
    steps = observe(model, seq)
    mine = [k for s in steps for k in s.keys]
    steps_rt, K = [], len(steps[0].keys)
    for i, s in enumerate(steps):  # replay the runtime's routing; the torch model gives the rest
        steps_rt.append(Step(s.token, s.layer, keys[i * K:(i + 1) * K], s.probs, s.guesses))
    return steps_rt, sum(a != b for a, b in zip(mine, keys))


def training_prior(L: int) -> dict | None:
    """starting LFU scores from the training-time usage histogram (moe_lm.json), about 10 tokens'
    worth of evidence"""
    meta = moe_io.CACHE / "moe_lm.json"
    if not meta.is_file():
        return None
    hist = [h for layer in json.loads(meta.read_text())["routing"]["layers"] for h in layer["histogram"]]
    norm = sum(hist) / L
    return {k: 10.0 * h / norm for k, h in enumerate(hist)}


def pinned(keys: list, slots: int) -> float:
    """the `slots` most-used experts of this very trace pinned (an oracle of static placement)"""
    from collections import Counter

    top = {k for k, _ in Counter(keys).most_common(slots)}
    return sum(k in top for k in keys) / len(keys)


def policies(L: int, E: int, K: int, steps: list) -> dict:
    """every policy compared, by name -> a fresh policy object"""
    lfu = lambda **kw: LFU(0.95, n_experts=E, **kw)  # noqa: E731
    prior = training_prior(L)
    return {
        "LRU": LRU(),
        "LFU decay 0.95 (runtime: lfu)": lfu(),
        "LFU decay 0.9": LFU(0.9, n_experts=E),
        "LFU decay 0.98": LFU(0.98, n_experts=E),
        "LFU decay 1 (no decay)": LFU(1.0, n_experts=E),
        **({"LFU 0.98 seeded with the training-time histogram": LFU(0.98, prior=prior)} if prior else {}),
        "TinyLFU admission (LFU 0.95)": Admission(lfu()),
        "soft LFU: router probabilities only": lfu(soft=1.0, hard=0.0),
        "soft LFU: use + 1 x probabilities": lfu(soft=1.0),
        "soft LFU: use + 4 x probabilities": lfu(soft=4.0),
        "LFU, guessed later-layer experts kept (top-k)": Guarded(lfu(), K),
        "LFU, guessed later-layer experts kept (top-2k)": Guarded(lfu(), 2 * K),
        "expected next use (counts, guesses)": NextUse(L, K),
        "expected next use (counts + probabilities, guesses)": NextUse(L, K, soft=4.0),
        "LRU within per-layer quotas": Quota(LRU(), E, L),
        "LFU 0.95 within per-layer quotas (runtime: lfu-quota)": Quota(lfu(), E, L),
        "lfu-quota, soft (use + 1 x probabilities)": Quota(lfu(soft=1.0), E, L),
        "lfu-quota, guessed later-layer experts kept (top-k)": Guarded(Quota(lfu(), E, L), K),
        "LFU, next layer-step's actual experts kept (oracle)": Protect(lfu(), steps, 1),
        "LFU, next 3 layer-steps' actual experts kept (oracle)": Protect(lfu(), steps, 3),
        "MIN under the runtime's constraints (oracle)": Clairvoyant(steps),
    }


def evaluate(steps: list, L: int, E: int, K: int, slots: int) -> dict:
    keys = [k for s in steps for k in s.keys]
    row = {name: replay(steps, slots, p) for name, p in policies(L, E, K, steps).items()}
    row["the most-used experts of this trace pinned (oracle)"] = pinned(keys, slots)
    row["Belady MIN, demand (trace.belady_hits)"] = belady_hits(keys, slots) / len(keys)
    row["Belady MIN with bypass (true MIN)"] = belady_hits(keys, slots, bypass=True) / len(keys)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    qmodel, fmodel = load_model("int8"), load_model(None)
    c = fmodel.c
    L, E, K = c.n_layers, c.n_experts, c.top_k
    bench, diff = bench_trace(a.scale, a.tokens, qmodel)
    print(f"benchmark trace: {len(bench) // L} tokens, {len(bench) * K} uses; torch int8 routing differs from "
          f"the runtime's in {diff} uses")
    texts = moe_train.eval_texts()["prompts"]
    held = {n: observe(fmodel, greedy(fmodel, t, a.tokens)) for n, t in texts.items() if n.startswith("held-out")}
    out = {}
    for frac in (0.10, 0.25, 0.50):
        slots = moe_train.cache_slots(frac, L * E)
        rows = {"bench": evaluate(bench, L, E, K, slots)}
        rows.update({n: evaluate(st, L, E, K, slots) for n, st in held.items()})
        out[f"{int(100 * frac)}%"] = {"slots": slots, "rows": rows}
        print(f"\n{int(100 * frac)}% ({slots} slots)   bench | held-out mean | " + " | ".join(held))
        for name in rows["bench"]:
            hm = np.mean([rows[n][name] for n in held])
            print(f"  {name:55s} {100 * rows['bench'][name]:5.1f}% | {100 * hm:5.1f}% | "
                  + " | ".join(f"{100 * rows[n][name]:5.1f}" for n in held))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
