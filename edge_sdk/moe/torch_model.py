"""Torch definition of the MoE decoder, for training and as a float reference only (the
runtime never uses torch). Semantics match native/src/moe/moe.c: RMSNorm, GQA attention
with rotate-half RoPE, softmax router with top-k (renormalised when norm_topk), SwiGLU
experts, optional shared expert, optional pre-attention router. A config whose extra holds
expert_act "relu" gives the routed experts ReGLU instead (training studies only: the runtime
computes SiLU)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .format import MoEConfig


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w


def rope(x, pos, theta):  # x [B, T, H, hd]
    hd = x.shape[-1]
    inv = theta ** (-torch.arange(0, hd, 2, dtype=torch.float32, device=x.device) / hd)
    a = pos[:, None].float() * inv[None]
    c, s = a.cos()[None, :, None, :], a.sin()[None, :, None, :]
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], -1)


def expert_act(c: MoEConfig):
    """the routed experts' gate activation: F.silu (SwiGLU, the runtime's) unless the config's
    extra names "relu" (ReGLU: a unit whose gate is <= 0 contributes exactly nothing)"""
    name = c.extra.get("expert_act", "silu")
    if name not in ("silu", "relu"):
        raise ValueError(f"unknown expert activation {name!r}")
    return F.relu if name == "relu" else F.silu


class Layer(nn.Module):
    def __init__(self, c: MoEConfig):
        super().__init__()
        self.c = c
        D, hd = c.d_model, c.head_dim
        self.attn_norm, self.ffn_norm = RMSNorm(D, c.rms_eps), RMSNorm(D, c.rms_eps)
        self.wq = nn.Linear(D, c.n_heads * hd, bias=False)
        self.wk = nn.Linear(D, c.n_kv_heads * hd, bias=False)
        self.wv = nn.Linear(D, c.n_kv_heads * hd, bias=False)
        self.wo = nn.Linear(c.n_heads * hd, D, bias=False)
        self.router = nn.Linear(D, c.n_experts, bias=False)
        E, Fd = c.n_experts, c.d_ff_expert
        self.act = expert_act(c)
        self.gate = nn.Parameter(torch.randn(E, Fd, D) * D ** -0.5)
        self.up = nn.Parameter(torch.randn(E, Fd, D) * D ** -0.5)
        self.down = nn.Parameter(torch.randn(E, D, Fd) * Fd ** -0.5)
        if c.d_ff_shared:
            S = c.d_ff_shared
            self.sh_gate, self.sh_up = nn.Linear(D, S, bias=False), nn.Linear(D, S, bias=False)
            self.sh_down = nn.Linear(S, D, bias=False)
            if c.shared_gate:
                self.sh_g = nn.Linear(D, 1, bias=False)

    def forward(self, x, pos, dense=False, force=None):
        """force: top-k expert ids [B, T, k] to use instead of the router's own (their weights
        stay the router's probabilities), as the runtime's cache routing chooses them"""
        c = self.c
        B, T, D = x.shape
        xn = self.attn_norm(x)
        pre_probs = F.softmax(self.router(xn), -1) if c.pre_router else None
        q = rope(self.wq(xn).view(B, T, c.n_heads, c.head_dim), pos, c.rope_theta)
        k = rope(self.wk(xn).view(B, T, c.n_kv_heads, c.head_dim), pos, c.rope_theta)
        v = self.wv(xn).view(B, T, c.n_kv_heads, c.head_dim)
        rep = c.n_heads // c.n_kv_heads
        k, v = k.repeat_interleave(rep, 2), v.repeat_interleave(rep, 2)
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        x = x + self.wo(o.transpose(1, 2).reshape(B, T, -1))
        hn = self.ffn_norm(x)
        probs = pre_probs if c.pre_router else F.softmax(self.router(hn), -1)
        w, idx = probs.topk(c.top_k, -1)
        if force is not None:
            idx = force
            w = probs.gather(-1, idx)
        if c.norm_topk:
            w = w / w.sum(-1, keepdim=True)
        flat, fi, fw = hn.reshape(-1, D), idx.reshape(-1, c.top_k), w.reshape(-1, c.top_k)
        out = self.experts_dense(flat, fi, fw) if dense else self.experts_sparse(flat, fi, fw)
        if c.d_ff_shared:
            s = self.sh_down(F.silu(self.sh_gate(flat)) * self.sh_up(flat))
            if c.shared_gate:
                s = s * torch.sigmoid(self.sh_g(flat))
            out = out + s
        return x + out.view(B, T, D), idx, probs

    def experts_sparse(self, flat, fi, fw):
        out = torch.zeros_like(flat)
        for e in range(self.c.n_experts):
            rows, slot = (fi == e).nonzero(as_tuple=True)
            if rows.numel() == 0:
                continue
            h = flat[rows]
            y = (self.act(h @ self.gate[e].T) * (h @ self.up[e].T)) @ self.down[e].T
            out.index_add_(0, rows, y * fw[rows, slot, None])
        return out

    def experts_dense(self, flat, fi, fw):
        """Every expert on every token, weighted by the router (zero off the top-k): the same
        function and gradients as experts_sparse, without its per-expert host syncs (GPU training)."""
        wgt = torch.zeros(flat.shape[0], self.c.n_experts, device=flat.device, dtype=flat.dtype).scatter(1, fi, fw)
        h = self.act(torch.einsum("nd,efd->nef", flat, self.gate)) * torch.einsum("nd,efd->nef", flat, self.up)
        return torch.einsum("nef,edf->nd", h * wgt[:, :, None], self.down)


class MoELM(nn.Module):
    def __init__(self, c: MoEConfig):
        super().__init__()
        self.c = c
        self.emb = nn.Embedding(c.vocab, c.d_model)
        nn.init.normal_(self.emb.weight, std=0.02 * 10)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.n_layers))
        self.norm = RMSNorm(c.d_model, c.rms_eps)
        self.lm_head = nn.Linear(c.d_model, c.vocab, bias=False)

    def forward(self, tokens, dense=False, force=None):
        """(logits, per-layer top-k expert ids [B, T, k], per-layer router probabilities [B, T, E]);
        force: per-layer expert ids [B, T, k] to route to instead (see Layer.forward)"""
        x = self.emb(tokens)
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        routes, probs = [], []
        for i, layer in enumerate(self.layers):
            x, idx, p = layer(x, pos, dense, None if force is None else force[i])
            routes.append(idx)
            probs.append(p)
        return self.lm_head(self.norm(x)), routes, probs

    def export_weights(self):
        """(dense dict, experts(layer, e) -> (gate, up, down)) as float32 numpy."""
        c = self.c
        sd = {k: v.detach().float().numpy().copy() for k, v in self.state_dict().items()}
        w = {"tok_emb": sd["emb.weight"], "norm": sd["norm.w"], "lm_head": sd["lm_head.weight"]}
        for i in range(c.n_layers):
            p = f"layers.{i}."
            w[f"L{i}.attn_norm"], w[f"L{i}.ffn_norm"] = sd[p + "attn_norm.w"], sd[p + "ffn_norm.w"]
            for s in ("wq", "wk", "wv", "wo", "router"):
                w[f"L{i}.{s}"] = sd[p + s + ".weight"]
            if c.d_ff_shared:
                for s in ("sh_gate", "sh_up", "sh_down"):
                    w[f"L{i}.{s}"] = sd[p + s + ".weight"]
                if c.shared_gate:
                    w[f"L{i}.sh_g"] = sd[p + "sh_g.weight"].reshape(-1)

        def experts(l, e):
            p = f"layers.{l}."
            return sd[p + "gate"][e], sd[p + "up"][e], sd[p + "down"][e]
        return w, experts
