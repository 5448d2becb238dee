"""Train a small MoE language model on text found on this machine (Python's stdlib sources
and /usr/share/doc), byte-level, deterministic seed, torch on CPU or CUDA; save the checkpoint
outside the repository and report quality (held-out bits/byte) and routing statistics
(expert-usage entropy, temporal locality, and the expert-cache reuse of a benchmark-like
greedy generation under Belady's MIN and the runtime's LFU policy). The runtime never uses
torch: export with models/moe_lm.py + edge-sdk export.

Load balancing (--balance): `batch` is the Switch loss with expert frequencies from each
micro-batch; `global` takes the frequencies over the last --balance-window micro-batches
(global-batch balancing, as Qwen2.5-MoE / Qwen3 train), which balances experts over many
documents without forcing every batch to use them all alike.

The defaults train the benchmark model (docs/moe.md): pre-attention router, global balancing
over 512 micro-batches of 32 x 256 bytes (weight 0.1), temporal-locality loss 0.03 (--stay-coef),
1500 steps with cosine decay. --n-experts / --top-k / --d-ff-expert / --d-ff-shared change the
expert granularity (e.g. 64 experts of d_ff 64, top-8: the same active and total expert parameters).
--expert-act relu (ReGLU routed experts) and --act-l1 are the activation-sparse experts study
(docs/moe.md): `evaluate` then also records which hidden units of each routed use are exactly zero
and the bytes an exact partial reader would read (bench/moe_partial_reads.py makes the tables).
On a CUDA machine, with this machine's corpus:

    python bench/moe_train.py --dump-corpus moe_corpus.bin          # here (+ moe_corpus.texts.json)
    python bench/moe_train.py --device cuda --corpus-file moe_corpus.bin --eval-texts moe_corpus.texts.json
    python bench/moe_train.py --eval-only CHECKPOINT   # the same statistics for a saved model
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from edge_sdk.moe.format import MoEConfig  # noqa: E402
from edge_sdk.moe.torch_model import MoELM  # noqa: E402

DEFAULT_OUT = Path.home() / ".cache" / "edge-sdk" / "moe" / "moe_lm.pt"
SMALL = dict(n_layers=4, d_model=256, n_heads=4, n_kv_heads=2, head_dim=64, vocab=256, n_experts=32, top_k=4,
             d_ff_expert=128, d_ff_shared=0, max_seq=1024)
TINY = dict(n_layers=2, d_model=64, n_heads=4, n_kv_heads=2, head_dim=16, vocab=256, n_experts=8, top_k=2,
            d_ff_expert=64, d_ff_shared=0, max_seq=256)


def model_config(size: str = "small", pre_router: bool = True, n_experts: int | None = None, top_k: int | None = None,
                 d_ff_expert: int | None = None, d_ff_shared: int = 0, expert_act: str = "silu") -> MoEConfig:
    """The model size's config with the expert shape (granularity, docs/moe.md) changed where given;
    d_ff_shared adds a gated shared expert (Qwen2-MoE); expert_act "relu" makes the routed experts
    ReGLU (kept in the config's extra; "silu", the runtime's, leaves the config as it was)."""
    cfg = MoEConfig(**(SMALL if size == "small" else TINY))
    if expert_act not in ("silu", "relu"):
        raise ValueError(f"unknown expert activation {expert_act!r}")
    if expert_act != "silu":
        cfg.extra = {**cfg.extra, "expert_act": expert_act}
    cfg.pre_router = pre_router
    for name, v in (("n_experts", n_experts), ("top_k", top_k), ("d_ff_expert", d_ff_expert)):
        if v is not None:
            setattr(cfg, name, v)
    if not 1 <= cfg.top_k <= cfg.n_experts or cfg.d_ff_expert < 1 or d_ff_shared < 0:
        raise ValueError(f"bad expert shape: top-k {cfg.top_k} of {cfg.n_experts} experts, d_ff {cfg.d_ff_expert}, "
                         f"shared {d_ff_shared}")
    if d_ff_shared:
        cfg.d_ff_shared, cfg.shared_gate = d_ff_shared, True
    return cfg


def corpus(max_bytes: int = 8 << 20) -> tuple[bytes, list[str]]:
    """Real text on this machine: the Python stdlib sources, then /usr/share/doc text files."""
    stdlib = sysconfig.get_paths()["stdlib"]
    files = sorted(glob.glob(os.path.join(stdlib, "*.py")))
    files += sorted(p for p in glob.glob("/usr/share/doc/**/*", recursive=True)
                    if os.path.isfile(p) and not p.endswith((".gz", ".png", ".jpg", ".svg")) and os.path.getsize(p) < 1 << 20)
    out, used, n = [], [], 0
    for f in files:
        try:
            b = Path(f).read_bytes()
        except OSError:
            continue
        if b"\0" in b[:4096]:
            continue
        out.append(b)
        used.append(f)
        n += len(b)
        if n >= max_bytes:
            break
    return b"\n".join(out), used


def eval_texts() -> dict:
    """Prompts for benchmark-like generations and text to route: the benchmark's prompt (from
    shutil.py, part of the training corpus) and held-out Python (stdlib subpackages, not in the
    corpus, which takes only the top-level *.py)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    held = ["json/decoder.py", "email/message.py", "asyncio/tasks.py", "http/client.py"]
    read = lambda f, a, b: (stdlib / f).read_bytes()[a:b].decode("utf-8", "replace")  # noqa: E731
    prompts = {"bench shutil.py": read("shutil.py", 2000, 2120)}
    prompts.update({f"held-out {f}": read(f, 2000, 2120) for f in held})
    python, n = [], 0  # held-out Python for bits/byte: stdlib subpackage modules, up to 200 KB
    for f in sorted(stdlib.glob("*/*.py")):
        if f.parent.name in ("test", "tests", "site-packages", "idlelib", "lib2to3") or n >= 200_000:
            continue
        python.append(f.read_bytes().decode("utf-8", "replace"))
        n += len(python[-1])
    return {"prompts": prompts, "texts": {f"held-out {f}": read(f, 4000, 5024) for f in held},
            "python": "\n".join(python)}


@torch.no_grad()
def expert_activity(model: MoELM, seq: list) -> tuple[list, list, float]:
    """One forward of `seq` (float32, CPU, as the runtime routes): per layer the routed experts
    [T, k] and, per routed use, which hidden units are non-zero, act(gate x) != 0 [T, k, d_ff],
    computed from the experts' input (ffn_norm's output) as experts_sparse computes it; and the
    mean |gate x| over routed uses (the scale an L1 penalty can shrink without adding zeros)."""
    hn = {}
    hooks = [layer.ffn_norm.register_forward_hook(lambda m, i, o, l=l: hn.__setitem__(l, o))
             for l, layer in enumerate(model.layers)]
    try:
        _, routes, _ = model(torch.tensor([seq]))
    finally:
        for h in hooks:
            h.remove()
    active, mag, n = [], 0.0, 0
    for l, layer in enumerate(model.layers):
        x, idx = hn[l].reshape(-1, hn[l].shape[-1]), routes[l].reshape(-1, model.c.top_k)
        a = torch.zeros(idx.shape + (model.c.d_ff_expert,), dtype=torch.bool)
        for e in idx.unique().tolist():
            rows, slot = (idx == e).nonzero(as_tuple=True)
            g = x[rows] @ layer.gate[e].T
            a[rows, slot] = layer.act(g) != 0
            mag, n = mag + float(g.abs().sum()), n + g.numel()
        active.append(a.numpy())
    return [r.reshape(-1, model.c.top_k).numpy() for r in routes], active, mag / max(n, 1)


def act_l1_loss(model: MoELM, hn: dict, routes: list) -> torch.Tensor:
    """L1 penalty on the routed experts' gate activations: mean over routed uses and hidden units
    of act(gate x), summed over layers; hn: layer -> its experts' input (ffn_norm's output)."""
    loss = 0.0
    for l, (layer, idx) in enumerate(zip(model.layers, routes)):
        x = hn[l].reshape(-1, hn[l].shape[-1])
        g = torch.einsum("nd,efd->nef", x, layer.gate)
        g = g.gather(1, idx.reshape(x.shape[0], -1, 1).expand(-1, -1, g.shape[2]))
        loss = loss + layer.act(g).float().mean()
    return loss


def partial_read_stats(runs: list, c: MoEConfig, fracs=(0.10, 0.25, 0.50)) -> dict:
    """For traces [(routes, active, tokens)], the zero fraction of the routed uses and, per cache
    size, the bytes per token of today's whole-expert reads and of an exact partial reader
    (edge_sdk/moe/partial_reads.py) at the benchmark's grown width (d_ff 8192: each measured unit
    stands for 8192 / d_ff), with the runtime's lfu-quota and with MIN under the runtime's
    constraints; means over the traces."""
    from edge_sdk.moe.partial_reads import Bundles, read_bytes, trace_steps, use_masks, zero_stats
    from edge_sdk.moe.policies import LFU, Clairvoyant, Quota

    L, E = c.n_layers, c.n_experts
    b = Bundles(c.d_model, c.d_ff_expert, max(1, 8192 // c.d_ff_expert))
    uses = np.concatenate([np.concatenate([a.reshape(-1, a.shape[-1]) for a in act]) for _, act, _ in runs])
    out = {"zero": zero_stats(uses), "bytes": {"whole_expert": b.whole, "gate_block": b.gate, "unit": b.unit,
                                               "units_per_page": b.per_page, "scale": b.scale}}
    for f in fracs:
        slots = cache_slots(f, L * E)
        if slots <= c.top_k:
            continue
        row = {"slots": slots}
        for name, mk in (("lfu-quota", lambda st: Quota(LFU(0.95, n_experts=E), E, L)), ("min", Clairvoyant)):
            rs = []
            for routes, act, tokens in runs:
                st = trace_steps(routes, E)
                rs.append(read_bytes(st, use_masks(act), slots, mk(st), b, tokens))
            row[name] = {k: float(np.mean([r[k] for r in rs])) for k in rs[0]}
        out[f"{int(100 * f)}%"] = row
    return out


def cache_slots(frac: float, n: int) -> int:
    """cache slots of a cache of frac of all n experts, as bench/moe_io.py's sizes give them"""
    return math.ceil(frac * n) - 1


def trace_reuse(routes: list[np.ndarray], n_experts: int, fracs=(0.10, 0.25, 0.50)) -> dict:
    """routes: per layer [T, k] expert ids. Fraction of routed-expert uses served without a read
    under Belady's MIN and the runtime's demand LFU (decay 0.95) and LRU, per cache size."""
    from edge_sdk.moe.partial_reads import trace_steps
    from edge_sdk.moe.trace import belady_hits, lfu, lru

    L = len(routes)
    steps = [s.keys for s in trace_steps(routes, n_experts)]
    keys = [k for st in steps for k in st]
    tok_of = [i // L for i in range(len(steps))]
    out = {}
    for f in fracs:
        slots = cache_slots(f, L * n_experts)
        if slots <= routes[0].shape[1]:  # the runtime's cache holds at least top_k + 1
            continue
        out[f"{int(100 * f)}%"] = {"slots": slots, "belady": belady_hits(keys, slots) / len(keys),
                                   "lfu": lfu(steps, slots, tok_of, 0.95), "lru": lru(steps, slots)}
    return out


@torch.no_grad()
def locality(model: MoELM, texts: dict, tokens: int = 48) -> dict:
    """For each prompt, a greedy generation of `tokens` bytes (as bench/moe_io.py runs) and
    the routing of prompt + generation; for each text, its routing (teacher-forced)."""
    from edge_sdk.moe.partial_reads import hexmask

    E, res, traces = model.c.n_experts, {}, {}
    for kind, items in (("generated", texts["prompts"]), ("read", texts["texts"])):
        for name, text in items.items():
            ids = list(text.encode("utf-8"))
            n_gen = tokens if kind == "generated" else 0
            for _ in range(n_gen):
                logits, _, _ = model(torch.tensor([ids]))
                ids.append(int(logits[0, -1].argmax()))
            seq = ids[:-1] if n_gen else ids
            r, act, mag = expert_activity(model, seq)
            st = routing_stats(r, E)
            res[f"{kind}: {name}"] = {"reuse_prev_token": st["reuse_prev_token_mean"], "entropy_rel": st["entropy_rel_mean"],
                                      "cache": trace_reuse(r, E), "bytes": len(seq),
                                      "sample": bytes(ids[len(text.encode()):]).decode("utf-8", "replace") if n_gen else "",
                                      "gate_abs_mean": mag, "routes": [x.tolist() for x in r]}
            if model.c.extra.get("expert_act", "silu") != "silu":  # SiLU: every unit active, nothing to keep
                res[f"{kind}: {name}"]["active"] = [[[hexmask(u) for u in row] for row in a] for a in act]
            traces[f"{kind}: {name}"] = (r, act, len(seq))
    summary = {}
    for kind in ("generated: bench", "generated: held-out", "read: held-out"):
        rows = [v for k, v in res.items() if k.startswith(kind)]
        summary[kind] = {f: {m: float(np.mean([r["cache"][f][m] for r in rows])) for m in ("belady", "lfu", "lru")}
                         for f in rows[0]["cache"]}  # noqa: B023
        summary[kind]["reuse_prev_token"] = float(np.mean([r["reuse_prev_token"] for r in rows]))
    partial = {kind: partial_read_stats([v for k, v in traces.items() if k.startswith(kind)], model.c)
               for kind in ("generated: bench", "generated: held-out", "read: held-out")}
    return {"runs": res, "mean": summary, "partial_reads": partial}


@torch.no_grad()
def val_bits_per_byte(model: MoELM, val: np.ndarray, window: int = 1024, max_windows: int | None = None,
                      device: str = "cpu") -> float:
    """mean next-byte loss in bits over the held-out split, cut into independent windows"""
    n = (len(val) - 1) // window
    n = min(n, max_windows) if max_windows else n
    tot, cnt = 0.0, 0
    for i in range(0, n, 16):
        b = np.stack([val[j * window:(j + 1) * window + 1] for j in range(i, min(n, i + 16))]).astype(np.int64)
        x = torch.from_numpy(b).to(device)
        logits, _, _ = model(x[:, :-1], dense=device != "cpu")
        tot += float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), x[:, 1:].reshape(-1),
                                                       reduction="sum"))
        cnt += x[:, 1:].numel()
    return tot / cnt / math.log(2)


@torch.no_grad()
def corpus_usage(model: MoELM, data: np.ndarray, device: str = "cpu", windows: int = 64, window: int = 1024) -> dict:
    """Expert usage over `windows` windows spread evenly over the whole corpus (every domain in it):
    entropy relative to uniform and the experts that take >= 1% of the routed slots, per layer.
    Low entropy here is collapse (the same few experts for every text), not locality."""
    starts = np.linspace(0, len(data) - window - 1, windows).astype(np.int64)
    hist = np.zeros((model.c.n_layers, model.c.n_experts))
    for i in range(0, windows, 16):
        x = torch.from_numpy(np.stack([data[j:j + window] for j in starts[i:i + 16]]).astype(np.int64)).to(device)
        _, routes, _ = model(x, dense=device != "cpu")
        for l, r in enumerate(routes):
            hist[l] += np.bincount(r.reshape(-1).cpu().numpy(), minlength=model.c.n_experts)
    p = hist / hist.sum(1, keepdims=True)
    ent = [float(-(q[q > 0] * np.log2(q[q > 0])).sum() / math.log2(model.c.n_experts)) for q in p]
    # 1% of the slots is 0.32 of a uniform share at 32 experts; with more experts the same fraction of
    # a uniform share is the comparable threshold (1% would exceed the uniform share at 128 experts)
    scaled = 0.32 / model.c.n_experts
    return {"entropy_rel": ent, "entropy_rel_mean": float(np.mean(ent)), "experts_over_1pct": [int((q >= 0.01).sum()) for q in p],
            "experts_over_scaled": [int((q >= scaled).sum()) for q in p], "scaled_threshold": scaled}


def balance_loss(routes: list, probs: list, mode: str, history: list, window: int) -> torch.Tensor:
    """Switch load-balancing loss summed over layers, E * sum_e f_e * P_e, with P_e the mean
    router probability of expert e in this micro-batch and f_e its share of routed slots: in
    this micro-batch (`batch`) or over the last `window` micro-batches (`global`)."""
    loss = 0.0
    for l, (idx, p) in enumerate(zip(routes, probs)):
        E = p.shape[-1]
        counts = torch.zeros(E, device=p.device).index_add_(0, idx.reshape(-1), torch.ones(idx.numel(), device=p.device))
        if mode == "global":
            history[l] = (history[l] + [counts])[-window:]
            counts = torch.stack(history[l]).sum(0)
        loss = loss + E * (counts / counts.sum() * p.reshape(-1, E).float().mean(0)).sum()
    return loss


def stay_loss(routes: list, probs: list) -> torch.Tensor:
    """Temporal-locality loss summed over layers: 1 - the router probability a token gives to the
    experts that the previous token was routed to."""
    return sum(1 - p[:, 1:].float().gather(2, idx[:, :-1]).sum(-1).mean() for idx, p in zip(routes, probs))


def window_loss(probs: list, chunk: int = 32) -> torch.Tensor:
    """Locality over a window loss summed over layers: the entropy (relative to uniform) of the mean
    router distribution over each `chunk` consecutive tokens of a sequence. Low when a stretch of
    text keeps to few experts; the balancing loss keeps usage even over the corpus."""
    loss = 0.0
    for p in probs:
        B, T, E = p.shape
        q = p[:, :T // chunk * chunk].float().reshape(B, T // chunk, chunk, E).mean(2)
        loss = loss + (-(q * torch.log(q + 1e-9)).sum(-1)).mean() / math.log(E)
    return loss


def split(text: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out): the held-out split is the last 5% of the corpus, at most 200 KB"""
    data = np.frombuffer(text, dtype=np.uint8)
    n_val = min(len(data) // 20, 200_000)
    return data[:-n_val], data[-n_val:]


def routing_stats(routes: list[np.ndarray], n_experts: int) -> dict:
    """routes: per layer [T, k] expert ids along one text. Entropy of the usage histogram
    (bits, and relative to uniform) and the fraction of a token's experts that the
    previous token also used (same layer)."""
    per = []
    for l, r in enumerate(routes):
        h = np.bincount(r.reshape(-1), minlength=n_experts).astype(np.float64)
        p = h / h.sum()
        ent = float(-(p[p > 0] * np.log2(p[p > 0])).sum())
        reuse = np.mean([len(set(r[t]) & set(r[t - 1])) / r.shape[1] for t in range(1, len(r))])
        per.append({"layer": l, "entropy_bits": ent, "entropy_rel": ent / math.log2(n_experts),
                    "reuse_prev_token": float(reuse), "histogram": h.astype(int).tolist()})
    return {"layers": per, "entropy_rel_mean": float(np.mean([p["entropy_rel"] for p in per])),
            "reuse_prev_token_mean": float(np.mean([p["reuse_prev_token"] for p in per]))}


def train(cfg: MoEConfig, seconds: float, seed: int = 0, batch: int = 16, seq: int = 128, lr: float = 2e-3,
          aux_coef: float = 0.01, log=print, max_steps: int | None = None, device: str = "cpu",
          corpus_file: Path | None = None, balance: str = "batch", balance_window: int = 64,
          schedule: str = "const", eval_every: int = 0, texts: dict | None = None,
          stay_coef: float = 0.0, window_coef: float = 0.0, act_l1: float = 0.0) -> tuple[MoELM, dict]:
    """Train for `seconds` or `max_steps` steps, whichever ends first. schedule `cos`: cosine
    decay to 10% of lr over max_steps. On CUDA the experts run dense under bf16 autocast."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if corpus_file:
        text, files = Path(corpus_file).read_bytes(), [str(corpus_file)]
    else:
        text, files = corpus()
    data = np.frombuffer(text, dtype=np.uint8)
    train_d, val_d = split(text)
    py_d = np.frombuffer(texts["python"].encode(), np.uint8) if texts and texts.get("python") else None
    model = MoELM(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    cuda = device.startswith("cuda")
    if schedule == "cos" and not max_steps:
        raise ValueError("--schedule cos needs --steps")
    t0, step, losses, history, curve = time.time(), 0, [], [[] for _ in range(cfg.n_layers)], []
    hn = {}  # --act-l1: the experts' input of each layer, captured at ffn_norm
    hooks = [layer.ffn_norm.register_forward_hook(lambda m, i, o, l=l: hn.__setitem__(l, o))
             for l, layer in enumerate(model.layers)] if act_l1 else []
    while time.time() - t0 < seconds and (max_steps is None or step < max_steps):
        ix = rng.integers(0, len(train_d) - seq - 1, batch)
        x = torch.from_numpy(np.stack([train_d[i:i + seq] for i in ix]).astype(np.int64))
        y = torch.from_numpy(np.stack([train_d[i + 1:i + seq + 1] for i in ix]).astype(np.int64))
        x, y = x.to(device), y.to(device)
        warm = min(1.0, (step + 1) / 50)
        decay = 0.1 + 0.45 * (1 + math.cos(math.pi * step / max_steps)) if schedule == "cos" else 1.0
        for g in opt.param_groups:
            g["lr"] = lr * warm * decay
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            logits, routes, probs = model(x, dense=cuda)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab).float(), y.reshape(-1))
            aux = balance_loss(routes, probs, balance, history, balance_window) if aux_coef else 0.0
            stay = stay_loss(routes, probs) if stay_coef else 0.0
            win = window_loss(probs) if window_coef else 0.0
            sparse = act_l1_loss(model, hn, routes) if act_l1 else 0.0
        opt.zero_grad()
        (loss + aux_coef * aux + stay_coef * stay + window_coef * win + act_l1 * sparse).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if eval_every and step % eval_every == 0:
            model.eval()
            curve.append((step, val_bits_per_byte(model, val_d, max_windows=48, device=device),
                          val_bits_per_byte(model, py_d, max_windows=48, device=device) if py_d is not None else None))
            model.train()
            log(f"step {step:5d}  {time.time() - t0:6.1f}s  loss {np.mean(losses[-50:]):.3f}  held-out "
                f"{curve[-1][1]:.3f}, Python {curve[-1][2] or float('nan'):.3f} bits/byte (48 windows)")
        elif step % 200 == 0:
            log(f"step {step:5d}  {time.time() - t0:6.1f}s  loss {np.mean(losses[-50:]):.3f}")
    seconds_trained = time.time() - t0
    for h in hooks:
        h.remove()
    hn.clear()
    info = evaluate(model, val_d, texts, device, data)
    model = model.cpu()
    info.update({"steps": step, "seconds": seconds_trained, "train_loss_last50": float(np.mean(losses[-50:])),
                 "val_curve_48_windows": curve, "corpus_bytes": int(len(data)), "corpus_files": len(files),
                 "corpus_first": files[:3], "seed": seed, "batch": batch, "seq": seq, "lr": lr, "schedule": schedule,
                 "balance": balance, "balance_window": balance_window if balance == "global" else None,
                 "stay_coef": stay_coef, "window_coef": window_coef, "act_l1": act_l1,
                 "expert_act": cfg.extra.get("expert_act", "silu")})
    return model, info


def evaluate(model: MoELM, val_d: np.ndarray, texts: dict | None, device: str = "cpu",
             data: np.ndarray | None = None) -> dict:
    """Quality and routing statistics of a trained model: held-out bits/byte over the whole held-out
    split in 1024-byte windows (and on its first 1023 bytes alone, the figure earlier checkpoints
    reported) and on held-out Python (`texts`), on `device`; then on CPU, in float32 as the runtime
    routes, the routing of those first bytes and `locality` on `texts`."""
    model = model.eval()
    val_full = val_bits_per_byte(model, val_d, device=device)
    py = texts.get("python") if texts else None
    py_bpb = val_bits_per_byte(model, np.frombuffer(py.encode(), np.uint8), device=device) if py else None
    usage = corpus_usage(model, data, device) if data is not None else None
    model = model.cpu()
    with torch.no_grad():
        vx = torch.from_numpy(val_d[:1024].astype(np.int64))[None]
        vl, routes, _ = model(vx[:, :-1])
        first = float(torch.nn.functional.cross_entropy(vl[0], vx[0, 1:])) / math.log(2)
    info = {"val_bits_per_byte": val_full, "val_bits_per_byte_first_1k": first, "val_bytes": int(len(val_d)),
            "routing": routing_stats([r[0].numpy() for r in routes], model.c.n_experts)}
    if py_bpb is not None:
        info["held_out_python_bits_per_byte"] = py_bpb
    if usage:
        info["corpus_usage"] = usage
    if texts:
        info["locality"] = locality(model, texts)
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=float("inf"), help="stop after this long (and at --steps)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--size", choices=["small", "tiny"], default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu | cuda (training only; same seed, same script)")
    ap.add_argument("--corpus-file", type=Path, help="train on this file instead of scanning the machine")
    ap.add_argument("--dump-corpus", type=Path, help="write the machine's corpus to this file and exit")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--aux-coef", type=float, default=0.1, help="Switch load-balancing loss weight")
    ap.add_argument("--pre-router", action=argparse.BooleanOptionalAction, default=True,
                    help="router reads the layer input (attention norm) before attention, as in SmallThinker")
    ap.add_argument("--n-experts", type=int, help="routed experts per layer (default: the model size's, 32)")
    ap.add_argument("--top-k", type=int, help="routed experts per token and layer (default: the model size's, 4)")
    ap.add_argument("--d-ff-expert", type=int, help="hidden width of each routed expert (default: the model size's, 128)")
    ap.add_argument("--d-ff-shared", type=int, default=0,
                    help="add a gated shared expert of this width (always resident: it lives in the dense artifact)")
    ap.add_argument("--steps", type=int, default=1500, help="stop after this many steps (and at --seconds)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--schedule", choices=["const", "cos"], default="cos", help="cos: decay to 10%% over --steps")
    ap.add_argument("--balance", choices=["batch", "global"], default="global",
                    help="expert frequencies of the balancing loss: per micro-batch, or over --balance-window of them")
    ap.add_argument("--balance-window", type=int, default=512, help="micro-batches that --balance global counts over")
    ap.add_argument("--stay-coef", type=float, default=0.03,
                    help="weight of the temporal-locality loss (router probability on the previous token's experts)")
    ap.add_argument("--window-coef", type=float, default=0.0,
                    help="weight of the window-locality loss (entropy of the mean routing over 32-byte stretches)")
    ap.add_argument("--expert-act", choices=["silu", "relu"], default="silu",
                    help="routed experts' gate activation: silu (SwiGLU, the runtime's) or relu (ReGLU; a study: the "
                         "runtime cannot run it)")
    ap.add_argument("--act-l1", type=float, default=0.0,
                    help="weight of an L1 penalty on the routed experts' relu(gate) outputs (with --expert-act relu)")
    ap.add_argument("--eval-every", type=int, default=250, help="log held-out bits/byte every N steps")
    ap.add_argument("--eval-texts", type=Path, help="JSON of prompts and texts for the locality statistics "
                    "(default: from this machine's stdlib; --dump-corpus writes it beside the corpus)")
    ap.add_argument("--eval-only", type=Path, help="statistics of this checkpoint, written beside it as .eval.json")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.dump_corpus:
        text, files = corpus()
        a.dump_corpus.write_bytes(text)
        a.dump_corpus.with_suffix(".texts.json").write_text(json.dumps(eval_texts(), indent=1))
        print(f"{len(text)} bytes from {len(files)} files ({files[0]} ...)")
        return 0
    texts = json.loads(a.eval_texts.read_text()) if a.eval_texts else eval_texts()
    if a.eval_only:
        from edge_sdk.moe.format import config_from_dict

        ck = torch.load(a.eval_only, map_location="cpu", weights_only=False)
        model = MoELM(config_from_dict(ck["config"]))
        model.load_state_dict(ck["state_dict"])
        text = Path(a.corpus_file).read_bytes() if a.corpus_file else corpus()[0]
        info = evaluate(model, split(text)[1], texts, data=np.frombuffer(text, dtype=np.uint8))
        a.eval_only.with_suffix(".eval.json").write_text(json.dumps(info, indent=2))
        print(summary_line(a.eval_only, info, model.c))
        return 0
    if a.act_l1 and a.expert_act != "relu":
        ap.error("--act-l1 needs --expert-act relu")
    try:
        cfg = model_config(a.size, a.pre_router, a.n_experts, a.top_k, a.d_ff_expert, a.d_ff_shared, a.expert_act)
    except ValueError as e:
        ap.error(str(e))
    model, info = train(cfg, a.seconds, a.seed, batch=a.batch, seq=a.seq, lr=a.lr, aux_coef=a.aux_coef, device=a.device,
                        corpus_file=a.corpus_file, max_steps=a.steps, balance=a.balance, balance_window=a.balance_window,
                        schedule=a.schedule, eval_every=a.eval_every, texts=texts, stay_coef=a.stay_coef,
                        window_coef=a.window_coef, act_l1=a.act_l1)
    info.update(device=a.device, aux_coef=a.aux_coef, pre_router=a.pre_router, d_ff_shared=a.d_ff_shared,
                n_experts=cfg.n_experts, top_k=cfg.top_k, d_ff_expert=cfg.d_ff_expert,
                argv=sys.argv[1:] if argv is None else list(argv))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": cfg.to_dict(), "state_dict": model.state_dict(), "info": info}, a.out)
    a.out.with_suffix(".json").write_text(json.dumps(info, indent=2))
    print(f"saved {a.out}: {info['steps']} steps; " + summary_line(a.out, info, cfg))
    return 0


def summary_line(path, info: dict, cfg: MoEConfig) -> str:
    r = info["routing"]
    line = (f"{path}: held-out {info['val_bits_per_byte']:.3f} bits/byte ({info['val_bits_per_byte_first_1k']:.3f} on "
            f"its first 1 KB), held-out Python {info.get('held_out_python_bits_per_byte', float('nan')):.3f}; routing entropy {r['entropy_rel_mean']:.3f} of uniform, next token reuses "
            f"{100 * r['reuse_prev_token_mean']:.1f}% of the previous token's experts (uniform random would be "
            f"{100 * cfg.top_k / cfg.n_experts:.1f}%)")
    if "corpus_usage" in info:
        u = info["corpus_usage"]
        line += (f"; over the whole corpus: usage entropy {u['entropy_rel_mean']:.3f} of uniform, experts with >= 1% "
                 f"of the slots per layer {u['experts_over_1pct']}")
        if "experts_over_scaled" in u:
            line += f" (>= {100 * u['scaled_threshold']:.2f}%, 0.32 of a uniform share: {u['experts_over_scaled']})"
    for kind, m in info.get("locality", {}).get("mean", {}).items():
        line += f"; {kind} reuse prev {100 * m['reuse_prev_token']:.1f}%, " + ", ".join(
            f"{f}: MIN {100 * v['belady']:.1f}% LFU {100 * v['lfu']:.1f}%" for f, v in m.items() if f != "reuse_prev_token")
    for kind, p in info.get("locality", {}).get("partial_reads", {}).items():
        z, q = p["zero"], p.get("25%", {}).get("lfu-quota")
        line += f"; {kind} zero units {100 * z.get('mean', float('nan')):.1f}% (p10/50/90 " + "/".join(
            f"{100 * z.get(k, float('nan')):.0f}" for k in ("p10", "p50", "p90")) + ")"
        if q:
            line += (f", 25% lfu-quota whole {q['whole'] / 2 ** 20:.1f} MiB/token, partial {q['unit'] / 2 ** 20:.1f} "
                     f"(4 KiB pages {q['page'] / 2 ** 20:.1f})")
    return line


if __name__ == "__main__":
    sys.exit(main())
