"""Hugging Face-style model directories (config.json + *.safetensors) for MoE models:
Mixtral, Qwen2-MoE / Qwen-MoE, OLMoE and edge-sdk's own (Qwen2-MoE naming plus
"pre_router"). safetensors is parsed here with numpy (8-byte header length, JSON header,
raw little-endian data); the `safetensors` package is not needed."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from ..errors import EdgeSdkError
from .format import MoEConfig

_DT = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I8": np.int8, "I32": np.int32, "I64": np.int64,
       "U8": np.uint8}


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """name -> array (memory-mapped, float tensors as stored; BF16 converted to float32)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise EdgeSdkError(f"{path}: not a safetensors file (too short)")
            (n,) = struct.unpack("<Q", raw)
            if n > min(size - 8, 100 << 20):
                raise EdgeSdkError(f"{path}: not a safetensors file (bad header length)")
            header = json.loads(f.read(n))
    except (OSError, ValueError) as e:
        raise EdgeSdkError(f"cannot read {path}: {e}") from None
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b0, b1 = info["data_offsets"]
        if 8 + n + b1 > size or b0 > b1:
            raise EdgeSdkError(f"{path}: tensor {name} lies outside the file (truncated?)")
        raw = mm[8 + n + b0:8 + n + b1]
        shape = tuple(info["shape"])
        if info["dtype"] == "BF16":
            arr = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(shape)
        elif info["dtype"] in _DT:
            arr = raw.view(_DT[info["dtype"]]).reshape(shape)
        else:
            raise EdgeSdkError(f"{path}: unsupported dtype {info['dtype']} for {name}")
        out[name] = arr
    return out


def write_safetensors(path: str | Path, tensors: dict[str, np.ndarray], metadata: dict | None = None) -> None:
    header, off, blobs = {}, 0, []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype=np.float32)
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def _arch(cfg: dict) -> str:
    mt = str(cfg.get("model_type", "")).lower()
    if "mixtral" in mt:
        return "mixtral"
    if "olmoe" in mt:
        return "olmoe"
    if "qwen" in mt or "edge_sdk_moe" in mt:
        return "qwen_moe"
    raise EdgeSdkError(f"unsupported MoE model_type {cfg.get('model_type')!r} (Mixtral, Qwen-MoE, OLMoE, edge_sdk_moe)")


def config_from_hf(cfg: dict, quant: int = 1) -> MoEConfig:
    arch = _arch(cfg)
    try:
        d = int(cfg["hidden_size"])
        h = int(cfg["num_attention_heads"])
        if arch == "mixtral":
            E, F, S = int(cfg["num_local_experts"]), int(cfg["intermediate_size"]), 0
        elif arch == "olmoe":
            E, F, S = int(cfg["num_experts"]), int(cfg["intermediate_size"]), 0
        else:
            E, F = int(cfg["num_experts"]), int(cfg.get("moe_intermediate_size", cfg.get("intermediate_size")))
            S = int(cfg.get("shared_expert_intermediate_size", 0) or 0)
        if cfg.get("mlp_only_layers") or int(cfg.get("decoder_sparse_step", 1)) != 1:
            raise EdgeSdkError("models with dense (non-MoE) MLP layers are not supported")
        return MoEConfig(
            n_layers=int(cfg["num_hidden_layers"]), d_model=d, n_heads=h,
            n_kv_heads=int(cfg.get("num_key_value_heads", h)), head_dim=int(cfg.get("head_dim", d // h)),
            vocab=int(cfg["vocab_size"]), n_experts=E, top_k=int(cfg["num_experts_per_tok"]), d_ff_expert=F,
            d_ff_shared=S, pre_router=bool(cfg.get("pre_router", False)),
            norm_topk=True if arch == "mixtral" else bool(cfg.get("norm_topk_prob", False)),
            shared_gate=bool(S) and arch == "qwen_moe" and not cfg.get("no_shared_expert_gate", False),
            tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            max_seq=int(cfg.get("max_position_embeddings", 2048)), expert_quant=quant,
            rope_theta=float(cfg.get("rope_theta", 10000.0)), rms_eps=float(cfg.get("rms_norm_eps", 1e-6)),
            extra={"arch": arch, "tokenizer": cfg.get("edge_sdk_tokenizer", "hf")})
    except KeyError as e:
        raise EdgeSdkError(f"config.json lacks {e.args[0]!r}") from None


class HFModel:
    """Tensors of a model directory, mapped to canonical names (edge_sdk/moe/format.py)."""

    def __init__(self, directory: str | Path, quant: int = 1):
        self.dir = Path(directory)
        try:
            self.hf = json.loads((self.dir / "config.json").read_text())
        except (OSError, ValueError) as e:
            raise EdgeSdkError(f"cannot read {self.dir / 'config.json'}: {e}") from None
        self.cfg = config_from_hf(self.hf, quant)
        self.arch = self.cfg.extra["arch"]
        files = sorted(self.dir.glob("*.safetensors"))
        if not files:
            raise EdgeSdkError(f"no *.safetensors in {self.dir}")
        self.t: dict[str, np.ndarray] = {}
        for f in files:
            self.t.update(read_safetensors(f))

    def _get(self, name: str, required: bool = True):
        if name in self.t:
            return np.asarray(self.t[name], dtype=np.float32)
        if required:
            raise EdgeSdkError(f"tensor {name} not found in {self.dir}")
        return None

    def dense(self) -> dict[str, np.ndarray]:
        c, g = self.cfg, self._get
        w = {"tok_emb": g("model.embed_tokens.weight"), "norm": g("model.norm.weight")}
        if not c.tie_embeddings:
            w["lm_head"] = g("lm_head.weight")
        for i in range(c.n_layers):
            p = f"model.layers.{i}."
            w[f"L{i}.attn_norm"] = g(p + "input_layernorm.weight")
            w[f"L{i}.ffn_norm"] = g(p + "post_attention_layernorm.weight")
            for s, hf in (("wq", "q_proj"), ("wk", "k_proj"), ("wv", "v_proj"), ("wo", "o_proj")):
                w[f"L{i}.{s}"] = g(p + f"self_attn.{hf}.weight")
            for s, hf in (("bq", "q_proj"), ("bk", "k_proj"), ("bv", "v_proj")):
                b = g(p + f"self_attn.{hf}.bias", False)
                if b is not None:
                    w[f"L{i}.{s}"] = b
            for s in ("q_norm", "k_norm"):
                b = g(p + f"self_attn.{s}.weight", False)
                if b is not None:
                    w[f"L{i}.{s}"] = b
            moe = p + ("block_sparse_moe." if self.arch == "mixtral" else "mlp.")
            w[f"L{i}.router"] = g(moe + "gate.weight")
            if c.d_ff_shared:
                for s, hf in (("sh_gate", "gate_proj"), ("sh_up", "up_proj"), ("sh_down", "down_proj")):
                    w[f"L{i}.{s}"] = g(moe + f"shared_expert.{hf}.weight")
                if c.shared_gate:
                    w[f"L{i}.sh_g"] = g(moe + "shared_expert_gate.weight").reshape(-1)
        return w

    def expert(self, layer: int, e: int):
        g = self._get
        if self.arch == "mixtral":
            p = f"model.layers.{layer}.block_sparse_moe.experts.{e}."
            return g(p + "w1.weight"), g(p + "w3.weight"), g(p + "w2.weight")
        p = f"model.layers.{layer}.mlp.experts.{e}."
        return g(p + "gate_proj.weight"), g(p + "up_proj.weight"), g(p + "down_proj.weight")


def write_hf_dir(directory: str | Path, cfg: MoEConfig, dense: dict, experts, extra_config: dict | None = None) -> Path:
    """Write a model in Qwen2-MoE naming (model_type edge_sdk_moe; 'pre_router' extension)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    hf = {"model_type": "edge_sdk_moe", "architectures": ["EdgeSdkMoeForCausalLM"],
          "hidden_size": cfg.d_model, "num_attention_heads": cfg.n_heads, "num_key_value_heads": cfg.n_kv_heads,
          "head_dim": cfg.head_dim, "num_hidden_layers": cfg.n_layers, "vocab_size": cfg.vocab,
          "num_experts": cfg.n_experts, "num_experts_per_tok": cfg.top_k, "moe_intermediate_size": cfg.d_ff_expert,
          "shared_expert_intermediate_size": cfg.d_ff_shared, "norm_topk_prob": cfg.norm_topk,
          "no_shared_expert_gate": not cfg.shared_gate, "pre_router": cfg.pre_router,
          "tie_word_embeddings": cfg.tie_embeddings, "max_position_embeddings": cfg.max_seq,
          "rope_theta": cfg.rope_theta, "rms_norm_eps": cfg.rms_eps, "edge_sdk_tokenizer": "bytes"}
    hf.update(extra_config or {})
    (d / "config.json").write_text(json.dumps(hf, indent=2))
    t = {"model.embed_tokens.weight": dense["tok_emb"], "model.norm.weight": dense["norm"]}
    if not cfg.tie_embeddings:
        t["lm_head.weight"] = dense["lm_head"]
    for i in range(cfg.n_layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = dense[f"L{i}.attn_norm"]
        t[p + "post_attention_layernorm.weight"] = dense[f"L{i}.ffn_norm"]
        for s, h in (("wq", "q_proj"), ("wk", "k_proj"), ("wv", "v_proj"), ("wo", "o_proj")):
            t[p + f"self_attn.{h}.weight"] = dense[f"L{i}.{s}"]
        t[p + "mlp.gate.weight"] = dense[f"L{i}.router"]
        if cfg.d_ff_shared:
            for s, h in (("sh_gate", "gate_proj"), ("sh_up", "up_proj"), ("sh_down", "down_proj")):
                t[p + f"mlp.shared_expert.{h}.weight"] = dense[f"L{i}.{s}"]
            if cfg.shared_gate:
                t[p + "mlp.shared_expert_gate.weight"] = dense[f"L{i}.sh_g"].reshape(1, -1)
        for e in range(cfg.n_experts):
            gw, uw, dw = experts(i, e)
            q = p + f"mlp.experts.{e}."
            t[q + "gate_proj.weight"], t[q + "up_proj.weight"], t[q + "down_proj.weight"] = gw, uw, dw
    write_safetensors(d / "model.safetensors", t, {"format": "pt"})
    return d
