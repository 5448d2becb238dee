"""Zoo builder for the MoE decoder: writes a Hugging Face-style directory (config.json +
model.safetensors, Qwen2-MoE tensor naming, model_type edge_sdk_moe) that
`edge-sdk export DIR -o model.esmoe` converts into an artifact + expert bundle.

Seeded random weights (tests), or the weights of a checkpoint trained by
bench/moe_train.py (--checkpoint).

CLI::

    python -m models.moe_lm build -o DIR [--layers 2 --d-model 64 --experts 8 --top-k 2 ...]
    python -m models.moe_lm build -o DIR --checkpoint ~/.cache/edge-sdk/moe/moe_lm.pt
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_sdk.moe.format import MoEConfig, config_from_dict
from edge_sdk.moe.hf import write_hf_dir

TINY = dict(n_layers=2, d_model=64, n_heads=4, n_kv_heads=2, head_dim=16, vocab=256, n_experts=8, top_k=2,
            d_ff_expert=64, d_ff_shared=0, max_seq=256, rope_theta=10000.0, rms_eps=1e-5)


def model_from_config(cfg: MoEConfig, seed: int = 0):
    import torch

    from edge_sdk.moe.torch_model import MoELM

    torch.manual_seed(seed)
    return MoELM(cfg)


def build(out_dir, seed: int = 0, checkpoint=None, **overrides) -> Path:
    """Write the model directory; returns its path."""
    import torch

    if checkpoint:
        ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
        cfg = config_from_dict(ck["config"])
        model = model_from_config(cfg, seed)
        model.load_state_dict(ck["state_dict"])
    else:
        cfg = MoEConfig(**{**TINY, **overrides})
        model = model_from_config(cfg, seed)
    dense, experts = model.export_weights()
    act = cfg.extra.get("expert_act", "silu")  # a ReGLU study checkpoint: export refuses it (SwiGLU only)
    return write_hf_dir(out_dir, cfg, dense, experts, {"hidden_act": act} if act != "silu" else None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.moe_lm")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("-o", "--out", required=True)
    b.add_argument("--checkpoint")
    b.add_argument("--seed", type=int, default=0)
    for k, v in TINY.items():
        b.add_argument("--" + k.replace("_", "-").replace("n-", "", 1) if k.startswith("n_") else "--" + k.replace("_", "-"),
                       dest=k, type=type(v), default=v)
    b.add_argument("--pre-router", action="store_true")
    b.add_argument("--shared", dest="d_ff_shared_flag", type=int, default=0)
    a = ap.parse_args(argv)
    over = {k: getattr(a, k) for k in TINY}
    over["pre_router"] = a.pre_router
    if a.d_ff_shared_flag:
        over["d_ff_shared"], over["shared_gate"] = a.d_ff_shared_flag, True
    print(build(a.out, seed=a.seed, checkpoint=a.checkpoint, **over))
    return 0


if __name__ == "__main__":
    sys.exit(main())
