"""Train a small MoE language model on text found on this machine (Python's stdlib sources
and /usr/share/doc), byte-level, deterministic seed, torch on CPU; save the checkpoint
outside the repository and report routing statistics (expert-usage entropy, temporal
locality). The runtime never uses torch: export with models/moe_lm.py + edge-sdk export.

    python bench/moe_train.py [--seconds 240] [--out ~/.cache/edge-sdk/moe/moe_lm.pt]
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
          corpus_file: Path | None = None) -> tuple[MoELM, dict]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if corpus_file:
        text, files = Path(corpus_file).read_bytes(), [str(corpus_file)]
    else:
        text, files = corpus()
    data = np.frombuffer(text, dtype=np.uint8)
    n_val = min(len(data) // 20, 200_000)
    train_d, val_d = data[:-n_val], data[-n_val:]
    model = MoELM(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    t0, step, losses = time.time(), 0, []
    while time.time() - t0 < seconds and (max_steps is None or step < max_steps):
        ix = rng.integers(0, len(train_d) - seq - 1, batch)
        x = torch.from_numpy(np.stack([train_d[i:i + seq] for i in ix]).astype(np.int64))
        y = torch.from_numpy(np.stack([train_d[i + 1:i + seq + 1] for i in ix]).astype(np.int64))
        x, y = x.to(device), y.to(device)
        warm = min(1.0, (step + 1) / 50)
        for g in opt.param_groups:
            g["lr"] = lr * warm
        logits, _, aux = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab), y.reshape(-1))
        opt.zero_grad()
        (loss + aux_coef * aux).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        if step % 200 == 0:
            log(f"step {step:5d}  {time.time() - t0:6.1f}s  loss {np.mean(losses[-50:]):.3f}")
        step += 1
    model = model.cpu().eval()
    with torch.no_grad():
        vx = torch.from_numpy(val_d[:1024].astype(np.int64))[None]
        vl, routes, _ = model(vx[:, :-1])
        val_loss = float(torch.nn.functional.cross_entropy(vl[0], vx[0, 1:]))
    stats = routing_stats([r[0].numpy() for r in routes], cfg.n_experts)
    info = {"steps": step, "seconds": time.time() - t0, "train_loss_last50": float(np.mean(losses[-50:])),
            "val_loss_nats_per_byte": val_loss, "val_bits_per_byte": val_loss / math.log(2),
            "corpus_bytes": int(len(data)), "corpus_files": len(files), "corpus_first": files[:3], "routing": stats,
            "seed": seed, "batch": batch, "seq": seq}
    return model, info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=240)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--size", choices=["small", "tiny"], default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu | cuda (training only; same seed, same script)")
    ap.add_argument("--corpus-file", type=Path, help="train on this file instead of scanning the machine")
    ap.add_argument("--dump-corpus", type=Path, help="write the machine's corpus to this file and exit")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--aux-coef", type=float, default=0.01, help="Switch load-balancing loss weight")
    ap.add_argument("--pre-router", action="store_true",
                    help="router reads the layer input (attention norm) before attention, as in SmallThinker")
    ap.add_argument("--d-ff-shared", type=int, default=0, help="add a gated shared expert of this width")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.dump_corpus:
        text, files = corpus()
        a.dump_corpus.write_bytes(text)
        print(f"{len(text)} bytes from {len(files)} files ({files[0]} ...)")
        return 0
    cfg = MoEConfig(**(SMALL if a.size == "small" else TINY))
    cfg.pre_router = a.pre_router
    if a.d_ff_shared:
        cfg.d_ff_shared, cfg.shared_gate = a.d_ff_shared, True
    model, info = train(cfg, a.seconds, a.seed, batch=a.batch, seq=a.seq, aux_coef=a.aux_coef, device=a.device,
                        corpus_file=a.corpus_file)
    info.update(device=a.device, aux_coef=a.aux_coef, pre_router=a.pre_router, d_ff_shared=a.d_ff_shared,
                argv=sys.argv[1:] if argv is None else list(argv))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": cfg.to_dict(), "state_dict": model.state_dict(), "info": info}, a.out)
    a.out.with_suffix(".json").write_text(json.dumps(info, indent=2))
    r = info["routing"]
    print(f"saved {a.out}: {info['steps']} steps, val {info['val_bits_per_byte']:.3f} bits/byte; routing entropy "
          f"{r['entropy_rel_mean']:.3f} of uniform, next token reuses {100 * r['reuse_prev_token_mean']:.1f}% of the "
          f"previous token's experts (uniform random would be {100 * cfg.top_k / cfg.n_experts:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
