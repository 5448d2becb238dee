"""MoE import checked against Hugging Face transformers itself: tiny random Mixtral, Qwen2-MoE,
OLMoE and Qwen3-MoE models are built from transformers configs, saved with save_pretrained (one
file, sharded with an index, bfloat16), exported with the real CLI and decoded by the runtime;
every step's logits and the greedy tokens are compared with the transformers model's forward
(its "eager" experts: the per-expert loop; the grouped-GEMM default needs 16-byte strides,
which odd sizes do not have).

Tolerance: float32 logits agree with transformers to 1e-4 of the step's largest |logit| (the two
sum in different orders - SIMD-style partial sums here, BLAS and SDPA there - which alone leaves
~1e-6 relative on these models; an importer or runtime mistake such as the wrong RoPE base, norm
grouping or routing weights is off by 1e-2 or more). Quantized bundles (int8, int4) are compared
with the same tolerance against transformers running the same model with its expert matrices
replaced by quantize-dequantized copies, quantized here in torch (per-row absmax, round half to
even), independently of edge_sdk's quantizer."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_sdk import Generator  # noqa: E402

RTOL = 1e-4  # of the step's largest |logit|
PROMPT = [5, 17, 3, 42, 8, 29, 11]
N_NEW = 12

# GQA everywhere (n_kv < n_heads); head_dim != hidden/heads where the architecture allows it
# (OLMoE's q_norm spans hidden_size, so its head_dim is hidden/heads); odd sizes where allowed.
ARCHS = {
    "mixtral": ("MixtralConfig", "MixtralForCausalLM",
                dict(hidden_size=45, num_attention_heads=4, num_key_value_heads=2, head_dim=10, intermediate_size=37,
                     num_local_experts=5, num_experts_per_tok=2, vocab_size=101)),
    "qwen2_moe": ("Qwen2MoeConfig", "Qwen2MoeForCausalLM",
                  dict(hidden_size=44, num_attention_heads=4, num_key_value_heads=2, head_dim=14,
                       moe_intermediate_size=27, shared_expert_intermediate_size=33, num_experts=7,
                       num_experts_per_tok=3, norm_topk_prob=False, qkv_bias=True, vocab_size=103)),
    "olmoe": ("OlmoeConfig", "OlmoeForCausalLM",
              dict(hidden_size=50, num_attention_heads=5, num_key_value_heads=1, intermediate_size=31, num_experts=6,
                   num_experts_per_tok=2, norm_topk_prob=False, vocab_size=97)),
    "qwen3_moe": ("Qwen3MoeConfig", "Qwen3MoeForCausalLM",
                  dict(hidden_size=40, num_attention_heads=4, num_key_value_heads=2, head_dim=12,
                       moe_intermediate_size=29, num_experts=8, num_experts_per_tok=2, norm_topk_prob=True,
                       vocab_size=99)),
}
EVEN = {"mixtral": dict(hidden_size=48, intermediate_size=38), "qwen2_moe": dict(moe_intermediate_size=28),
        "olmoe": dict(intermediate_size=32), "qwen3_moe": dict(moe_intermediate_size=30)}  # int4: even D and F


def hf_model(arch: str, seed: int = 0, **over):
    """A seeded random transformers model in float32. Weights are redrawn at a scale where
    attention, routing and norms matter (the default 0.02 init gives near-uniform softmaxes),
    norm weights and biases are random too (a norm applied over the wrong group shows)."""
    cname, mname, kw = ARCHS[arch]
    cfg = getattr(transformers, cname)(num_hidden_layers=3, max_position_embeddings=256, rms_norm_eps=1e-5,
                                       bos_token_id=None, eos_token_id=None, pad_token_id=None,
                                       experts_implementation="eager", **{**kw, **over})
    torch.manual_seed(seed)
    model = getattr(transformers, mname)(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if p.ndim == 1:
                p.copy_(r * 0.5 if name.endswith("bias") else 1.0 + 0.3 * r)
            elif "embed_tokens" in name:
                p.copy_(r)
            else:
                p.copy_(r * p.shape[-1] ** -0.5)
    return model


def save(model, d: Path, **kw) -> Path:
    model.save_pretrained(d, safe_serialization=True, **kw)
    return d


def cli(*args):
    return subprocess.run([sys.executable, "-m", "edge_sdk.cli.main", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT)


def export(src: Path, out: Path, quantize: str = "f32") -> Path:
    r = cli("export", src, "-o", out, "--quantize", quantize)
    assert r.returncode == 0, r.stderr
    return out


def decode(art: Path):
    """Greedy tokens and the logits of every step (prompt and decoded tokens), all-resident."""
    g = Generator(art, mode="resident")
    toks = g.generate(PROMPT, N_NEW).tokens
    g.reset()
    logits = np.stack([g.step(t) for t in PROMPT + toks[:-1]])
    return toks, logits


def hf_reference(model, toks):
    """transformers' logits over the same sequence (one forward) and its own greedy decoding
    (generate, with its KV cache)."""
    with torch.no_grad():
        logits = model(torch.tensor([PROMPT + toks[:-1]])).logits[0].float().numpy()
        out = model.generate(torch.tensor([PROMPT]), max_new_tokens=N_NEW, do_sample=False, min_new_tokens=N_NEW)
    return logits, out[0, len(PROMPT):].tolist()


def assert_close(got, ref, what):
    err = np.abs(got - ref).max(axis=1) / np.abs(ref).max(axis=1)
    assert err.max() <= RTOL, f"{what}: step {int(err.argmax())} is off by {err.max():.2e} of its largest logit"


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("layout", ["single", "sharded", "bf16", "tied"])
def test_f32_export_matches_transformers(arch, layout, tmp_path):
    model = hf_model(arch, **({"tie_word_embeddings": True} if layout == "tied" else {}))
    if layout in ("single", "tied"):
        src = save(model, tmp_path / "hf")
        assert json.loads((src / "config.json").read_text())["tie_word_embeddings"] == (layout == "tied")
    elif layout == "sharded":
        src = save(model, tmp_path / "hf", max_shard_size="20KB")
        assert (src / "model.safetensors.index.json").is_file() and len(list(src.glob("*.safetensors"))) > 3
    else:  # stored in bfloat16; the reference computes in float32 from the same bf16 weights
        src = save(model.to(torch.bfloat16), tmp_path / "hf")
        assert json.loads((src / "config.json").read_text())["dtype"] == "bfloat16"
        model = getattr(transformers, ARCHS[arch][1]).from_pretrained(src, dtype=torch.float32,
                                                                       experts_implementation="eager").eval()
    toks, logits = decode(export(src, tmp_path / "m.esmoe"))
    ref_logits, ref_toks = hf_reference(model, toks)
    assert_close(logits, ref_logits, f"{arch}/{layout}")
    assert toks == ref_toks
    if layout != "tied":  # (a tied random model repeats its last token: its own embedding scores highest)
        assert len(set(toks)) > 2  # a real continuation, not one repeated token


def _quantized_reference(model, bits: int):
    """The model with every expert matrix (stored per row, rows along the last axis) replaced by
    its per-row absmax quantization: q = round(w / s), s = max|w| / qmax, clamped to the code
    range, dequantized. Written here in torch, not edge_sdk's numpy quantizer."""
    qmax = 127.0 if bits == 8 else 7.0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".experts." not in name or p.ndim < 2:
                continue
            s = p.abs().amax(-1, keepdim=True) / qmax
            s = torch.where(s > 0, s, torch.ones_like(s))
            p.copy_(torch.clamp(torch.round(p / s), -qmax - (bits == 4), qmax) * s)
    return model


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("quantize", ["int8", "int4"])
def test_quantized_export_matches_transformers_with_quantized_experts(arch, quantize, tmp_path):
    model = hf_model(arch, seed=1, **EVEN[arch])
    src = save(model, tmp_path / "hf")
    float_logits = hf_reference(model, PROMPT[:1])[0]
    toks, logits = decode(export(src, tmp_path / "m.esmoe", quantize))
    ref = _quantized_reference(model, 8 if quantize == "int8" else 4)
    ref_logits, ref_toks = hf_reference(ref, toks)
    assert_close(logits, ref_logits, f"{arch}/{quantize}")
    assert toks == ref_toks
    # the quantized reference really differs from the float model (the test can tell them apart)
    d = np.abs(hf_reference(ref, PROMPT[:1])[0] - float_logits).max() / np.abs(float_logits).max()
    assert d > 10 * RTOL, d


@pytest.mark.parametrize("arch", ["olmoe", "qwen3_moe"])
def test_streamed_matches_resident_bit_exact(arch, tmp_path):
    """q/k norms (whole projection / per head) and the rest of an imported model: streaming the
    experts through a small cache gives the all-resident logits bit for bit, and the CLI's
    tokens for --prompt-ids are the same."""
    art = export(save(hf_model(arch), tmp_path / "hf"), tmp_path / "m.esmoe", "int8")
    toks, ref = decode(art)
    mb = (4.5 * Generator(art, mode="mmap").expert_bytes) / 2**20
    r = cli("generate", art, "--prompt-ids", ",".join(map(str, PROMPT)), "--max-tokens", N_NEW, "--expert-cache-mb", mb)
    assert r.returncode == 0, r.stderr
    assert [int(t) for t in r.stdout.split()] == toks
    with Generator(art, expert_cache_mb=mb) as g:
        assert g.cache_slots < g.n_layers * g.n_experts
        assert g.generate(PROMPT, N_NEW).tokens == toks
        g.reset()
        got = np.stack([g.step(t) for t in PROMPT + toks[:-1]])
    assert np.array_equal(got.view(np.uint32), ref.view(np.uint32))


def _edit_config(src: Path, dst: Path, **changes) -> Path:
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    cfg.update(changes)
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


def _refused(src: Path, out: Path, match: str):
    r = cli("export", src, "-o", out, "--quantize", "f32")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert match in lines[0], lines[0]
    assert not out.exists()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("hf")
    return {a: save(hf_model(a), d / a) for a in ARCHS}


@pytest.mark.parametrize("arch, changes, match", [
    ("qwen2_moe", {"decoder_sparse_step": 2}, "dense (non-MoE) MLP layers"),
    ("qwen3_moe", {"mlp_only_layers": [1]}, "dense (non-MoE) MLP layers"),
    ("mixtral", {"sliding_window": 4096}, "sliding window"),
    ("qwen2_moe", {"use_sliding_window": True, "sliding_window": 16, "max_window_layers": 3,
                   "layer_types": ["sliding_attention"] * 3}, "sliding window"),
    ("qwen3_moe", {"use_sliding_window": True, "sliding_window": 16}, "sliding window"),
    ("qwen3_moe", {"rope_parameters": {"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e6,
                                       "original_max_position_embeddings": 64}}, "rope scaling"),
    ("mixtral", {"rope_parameters": None, "rope_theta": 1e6, "rope_scaling": {"type": "linear", "factor": 2.0}},
     "rope scaling"),
    ("olmoe", {"clip_qkv": 8.0}, "clip_qkv"),
    ("mixtral", {"model_type": "deepseek_v3"}, "unsupported MoE model_type"),
    ("qwen3_moe", {"model_type": "qwen3_next"}, "unsupported MoE model_type"),
    ("qwen2_moe", {"hidden_act": "gelu"}, "activation"),
])
def test_refused_config(saved, tmp_path, arch, changes, match):
    _refused(_edit_config(saved[arch], tmp_path / "hf", **changes), tmp_path / "m.esmoe", match)


def test_refused_tensors(tmp_path):
    from safetensors.torch import load_file, save_file

    # a tensor the runtime would ignore: the o_proj bias that attention_bias adds
    src = save(hf_model("qwen3_moe", attention_bias=True), tmp_path / "bias")
    _refused(src, tmp_path / "a.esmoe", "o_proj.bias")
    # a missing tensor
    src = save(hf_model("mixtral"), tmp_path / "missing")
    t = load_file(src / "model.safetensors")
    del t["model.layers.2.block_sparse_moe.experts.4.w3.weight"]
    save_file(t, src / "model.safetensors", metadata={"format": "pt"})
    _refused(src, tmp_path / "b.esmoe", "experts.4.w3.weight not found")
    # a sharded checkpoint whose index names a shard that is not there
    src = save(hf_model("olmoe"), tmp_path / "shards", max_shard_size="20KB")
    shard = sorted(set(json.loads((src / "model.safetensors.index.json").read_text())["weight_map"].values()))[1]
    (src / shard).unlink()
    _refused(src, tmp_path / "c.esmoe", f"names shard '{shard}'")
