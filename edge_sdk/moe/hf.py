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


# model_type -> tensor naming; anything else is refused (a substring match would take e.g.
# qwen3_next or a dense qwen2 for an MoE model it is not)
_ARCH = {"mixtral": "mixtral", "qwen2_moe": "qwen_moe", "qwen3_moe": "qwen_moe", "olmoe": "olmoe",
         "edge_sdk_moe": "qwen_moe"}
# transformers' defaults where config.json leaves a value out: (rope_theta, rms_norm_eps)
_DEFAULTS = {"mixtral": (1e6, 1e-5), "olmoe": (1e4, 1e-5), "qwen_moe": (1e4, 1e-6)}


def read_json_object(path: Path, required: bool = True) -> dict | None:
    """A JSON file holding an object (config.json, generation_config.json, ...); None if it is
    absent and not required. Unreadable or malformed: a one-line error."""
    if not required and not path.is_file():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EdgeSdkError(f"cannot read {path}: {e}") from None
    if not isinstance(d, dict):
        raise EdgeSdkError(f"{path}: not a JSON object")
    return d


def _arch(cfg: dict) -> str:
    mt = str(cfg.get("model_type", "")).lower()
    if mt not in _ARCH:
        raise EdgeSdkError(f"unsupported MoE model_type {cfg.get('model_type')!r} "
                           f"(supported: {', '.join(sorted(_ARCH))})")
    return _ARCH[mt]


def _rope_theta(cfg: dict, default: float) -> float:
    """RoPE base from `rope_parameters` (transformers 5) or `rope_theta` + `rope_scaling` (4.x);
    anything but plain RoPE on the whole head is refused."""
    rp = cfg.get("rope_parameters") or {}
    if rp and "rope_theta" not in rp and "rope_type" not in rp:  # per layer type
        if set(rp) != {"full_attention"}:
            raise EdgeSdkError(f"per-layer-type RoPE parameters ({', '.join(sorted(rp))}) are not supported")
        rp = rp["full_attention"] or {}
    scaling = cfg.get("rope_scaling") or {}
    for d in (rp, scaling):
        kind = d.get("rope_type", d.get("type", "default"))
        if kind not in (None, "default"):
            raise EdgeSdkError(f"rope scaling ({kind!r}) is not supported")
    prf = rp.get("partial_rotary_factor", cfg.get("partial_rotary_factor", 1.0))
    if prf is not None and float(prf) != 1.0:
        raise EdgeSdkError(f"partial rotary embeddings (partial_rotary_factor {prf}) are not supported")
    return float(rp.get("rope_theta", cfg.get("rope_theta", default)))


def _refuse_unsupported(cfg: dict, arch: str, n_experts: int) -> None:
    """What a real checkpoint can ask for and the runtime does not do: a one-line refusal
    rather than a model that silently computes something else."""
    if cfg.get("mlp_only_layers") or int(cfg.get("decoder_sparse_step", 1) or 1) != 1 or n_experts < 1:
        raise EdgeSdkError("models with dense (non-MoE) MLP layers are not supported "
                           "(mlp_only_layers / decoder_sparse_step)")
    if arch == "qwen_moe":  # Qwen2/3-MoE: the window applies only with use_sliding_window
        sliding = bool(cfg.get("use_sliding_window")) or "sliding_attention" in (cfg.get("layer_types") or [])
    else:  # Mixtral / OLMoE: any window given is used
        sliding = cfg.get("sliding_window") is not None
    if sliding:
        raise EdgeSdkError(f"sliding window attention (sliding_window {cfg.get('sliding_window')}) is not supported")
    if cfg.get("clip_qkv") is not None:
        raise EdgeSdkError(f"clip_qkv ({cfg['clip_qkv']}) is not supported")
    act = cfg.get("hidden_act", "silu")
    if act not in ("silu", "swish"):
        raise EdgeSdkError(f"expert activation {act!r} is not supported (SwiGLU with silu only)")


def _first(cfg: dict, *keys):
    for k in keys:
        if cfg.get(k) is not None:
            return cfg[k]
    raise KeyError(keys[0])


def config_from_hf(cfg: dict, quant: int = 1) -> MoEConfig:
    arch = _arch(cfg)
    try:
        d = int(cfg["hidden_size"])
        h = int(cfg["num_attention_heads"])
        if arch == "mixtral":
            E, F, S = int(_first(cfg, "num_local_experts", "num_experts")), int(cfg["intermediate_size"]), 0
        elif arch == "olmoe":
            E, F, S = int(_first(cfg, "num_experts", "num_local_experts")), int(cfg["intermediate_size"]), 0
        else:
            E = int(_first(cfg, "num_experts", "num_local_experts"))
            F = int(_first(cfg, "moe_intermediate_size", "intermediate_size"))
            S = int(cfg.get("shared_expert_intermediate_size", 0) or 0)
        _refuse_unsupported(cfg, arch, E)
        return MoEConfig(
            n_layers=int(cfg["num_hidden_layers"]), d_model=d, n_heads=h,
            n_kv_heads=int(cfg.get("num_key_value_heads") or h), head_dim=int(cfg.get("head_dim") or d // h),
            vocab=int(cfg["vocab_size"]), n_experts=E, top_k=int(cfg["num_experts_per_tok"]), d_ff_expert=F,
            d_ff_shared=S, pre_router=bool(cfg.get("pre_router", False)),
            norm_topk=True if arch == "mixtral" else bool(cfg.get("norm_topk_prob", False)),
            shared_gate=bool(S) and arch == "qwen_moe" and not cfg.get("no_shared_expert_gate", False),
            tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            max_seq=int(cfg.get("max_position_embeddings", 2048)), expert_quant=quant,
            rope_theta=_rope_theta(cfg, _DEFAULTS[arch][0]), rms_eps=float(cfg.get("rms_norm_eps", _DEFAULTS[arch][1])),
            extra={"arch": arch, "tokenizer": cfg.get("edge_sdk_tokenizer", "hf")})
    except KeyError as e:
        raise EdgeSdkError(f"config.json lacks {e.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise EdgeSdkError(f"config.json: bad value ({e})") from None


def _shard_files(directory: Path) -> list[Path]:
    """The safetensors files of a directory: those its index names (each must exist), or else
    every *.safetensors in it."""
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        try:
            wm = json.loads(index.read_text())["weight_map"]
            names = sorted(set(wm.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise EdgeSdkError(f"cannot read {index}: bad safetensors index ({e})") from None
        files = []
        for n in names:
            f = directory / n
            if Path(n).name != n or not f.is_file():
                raise EdgeSdkError(f"{index.name} names shard {n!r}, which is not in {directory}")
            files.append(f)
        return files
    return sorted(directory.glob("*.safetensors"))


class HFModel:
    """Tensors of a model directory, mapped to canonical names (edge_sdk/moe/format.py)."""

    # tensors a checkpoint may carry that the runtime has no use for
    IGNORED = ("rotary_emb.inv_freq",)

    def __init__(self, directory: str | Path, quant: int = 1):
        self.dir = Path(directory)
        self.hf = read_json_object(self.dir / "config.json")
        self.cfg = config_from_hf(self.hf, quant)
        self.arch = self.cfg.extra["arch"]
        files = _shard_files(self.dir)
        if not files:
            raise EdgeSdkError(f"no *.safetensors in {self.dir}")
        self.t: dict[str, np.ndarray] = {}
        for f in files:
            self.t.update(read_safetensors(f))
        self.used: set[str] = set()

    def _get(self, name: str, required: bool = True, shape: tuple | None = None):
        if name in self.t:
            a = self.t[name]
            self.used.add(name)
            if shape is not None and tuple(d for d in a.shape if d != 1) != tuple(d for d in shape if d != 1):
                raise EdgeSdkError(f"tensor {name} has shape {tuple(a.shape)}, expected {tuple(shape)} from config.json")
            return np.asarray(a, dtype=np.float32).reshape(shape if shape is not None else a.shape)
        if required:
            raise EdgeSdkError(f"tensor {name} not found in {self.dir}")
        return None

    def dense(self) -> dict[str, np.ndarray]:
        c, g = self.cfg, self._get
        D, V, hd, S = c.d_model, c.vocab, c.head_dim, c.d_ff_shared
        QD, KD = c.n_heads * hd, c.n_kv_heads * hd
        w = {"tok_emb": g("model.embed_tokens.weight", shape=(V, D)), "norm": g("model.norm.weight", shape=(D,))}
        if not c.tie_embeddings:
            w["lm_head"] = g("lm_head.weight", shape=(V, D))
        elif "lm_head.weight" in self.t:  # a tied checkpoint may store the copy: the embedding is used
            self.used.add("lm_head.weight")
        for i in range(c.n_layers):
            p = f"model.layers.{i}."
            w[f"L{i}.attn_norm"] = g(p + "input_layernorm.weight", shape=(D,))
            w[f"L{i}.ffn_norm"] = g(p + "post_attention_layernorm.weight", shape=(D,))
            for s, hf, rows, cols in (("wq", "q_proj", QD, D), ("wk", "k_proj", KD, D), ("wv", "v_proj", KD, D),
                                      ("wo", "o_proj", D, QD)):
                w[f"L{i}.{s}"] = g(p + f"self_attn.{hf}.weight", shape=(rows, cols))
            for s, hf, n in (("bq", "q_proj", QD), ("bk", "k_proj", KD), ("bv", "v_proj", KD)):
                b = g(p + f"self_attn.{hf}.bias", False, shape=(n,))
                if b is not None:
                    w[f"L{i}.{s}"] = b
            # q/k RMSNorm: over the whole projection (OLMoE) or over each head (Qwen3-MoE); the
            # runtime tells them apart by size
            for s, n in (("q_norm", QD), ("k_norm", KD)):
                name = p + f"self_attn.{s}.weight"
                per_head = name in self.t and self.t[name].size == hd
                b = g(name, False, shape=(hd,) if per_head else (n,))
                if b is not None:
                    w[f"L{i}.{s}"] = b
            moe = p + ("block_sparse_moe." if self.arch == "mixtral" else "mlp.")
            w[f"L{i}.router"] = g(moe + "gate.weight", shape=(c.n_experts, D))
            if S:
                for s, hf, shp in (("sh_gate", "gate_proj", (S, D)), ("sh_up", "up_proj", (S, D)),
                                   ("sh_down", "down_proj", (D, S))):
                    w[f"L{i}.{s}"] = g(moe + f"shared_expert.{hf}.weight", shape=shp)
                if c.shared_gate:
                    w[f"L{i}.sh_g"] = g(moe + "shared_expert_gate.weight", shape=(D,))
        return w

    def _expert_names(self, layer: int, e: int) -> tuple[str, str, str]:
        """(gate, up, down) tensor names of one expert."""
        if self.arch == "mixtral":
            p = f"model.layers.{layer}.block_sparse_moe.experts.{e}."
            return p + "w1.weight", p + "w3.weight", p + "w2.weight"
        p = f"model.layers.{layer}.mlp.experts.{e}."
        return p + "gate_proj.weight", p + "up_proj.weight", p + "down_proj.weight"

    def expert(self, layer: int, e: int):
        F, D = self.cfg.d_ff_expert, self.cfg.d_model
        return tuple(self._get(n, shape=s) for n, s in zip(self._expert_names(layer, e), ((F, D), (F, D), (D, F))))

    def check_complete(self) -> None:
        """Before anything is written: every expert tensor is there, and no tensor is left over
        that the runtime would silently ignore (an o_proj bias, a dense MLP, ...). Call after dense()."""
        used, F, D = set(self.used), self.cfg.d_ff_expert, self.cfg.d_model
        for layer in range(self.cfg.n_layers):
            for e in range(self.cfg.n_experts):
                for n, shape in zip(self._expert_names(layer, e), ((F, D), (F, D), (D, F))):
                    if n not in self.t:
                        raise EdgeSdkError(f"tensor {n} not found in {self.dir}")
                    if tuple(self.t[n].shape) != shape:
                        raise EdgeSdkError(f"tensor {n} has shape {tuple(self.t[n].shape)}, "
                                           f"expected {shape} from config.json")
                    used.add(n)
        left = sorted(n for n in self.t if n not in used and not n.endswith(self.IGNORED))
        if left:
            more = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
            raise EdgeSdkError(f"tensor {left[0]}{more} is not supported by the MoE runtime")


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
