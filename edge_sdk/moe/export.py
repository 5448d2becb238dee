"""`edge-sdk export MODEL_DIR -o OUT.esmoe`: a Hugging Face-style MoE directory to a dense
artifact (OUT.esmoe) and an expert bundle (OUT.esmx)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..errors import EdgeSdkError
from .format import QUANT, write_artifact, write_bundle


def is_moe_dir(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / "config.json").is_file()


def bundle_path(artifact: str | Path) -> Path:
    return Path(artifact).with_suffix(".esmx")


def pad_experts(experts, d_ff_new: int, seed: int = 0):
    """Grow each expert to d_ff_new hidden units without changing its function: the extra
    gate/up rows are random, the matching down columns are zero (I/O benchmarks)."""
    def get(l, e):
        g, u, d = experts(l, e)
        F, D = g.shape
        if d_ff_new < F:
            raise EdgeSdkError("d_ff_new must be >= the expert's d_ff")
        extra = d_ff_new - F
        r = np.random.default_rng([seed, l, e])
        g2 = np.concatenate([g, r.standard_normal((extra, D), dtype=np.float32) * 0.05], 0)
        u2 = np.concatenate([u, r.standard_normal((extra, D), dtype=np.float32) * 0.05], 0)
        d2 = np.concatenate([d, np.zeros((D, extra), np.float32)], 1)
        return g2, u2, d2
    return get


def export_moe(cfg, dense, experts, out: str | Path, bundle: str | Path | None = None,
               blobs: dict | None = None) -> dict:
    out = Path(out)
    bundle = Path(bundle) if bundle else bundle_path(out)
    if out.resolve() == bundle.resolve():
        raise EdgeSdkError("the artifact and the expert bundle must be different files")
    na = write_artifact(out, cfg, dense, blobs)
    nb = write_bundle(bundle, cfg, experts)
    return {"artifact": str(out), "artifact_bytes": na, "bundle": str(bundle), "bundle_bytes": nb,
            "experts": cfg.n_layers * cfg.n_experts, "quant": cfg.expert_quant}


def export_dir(model_dir: str | Path, out: str | Path, quantize: str = "int8", bundle: str | Path | None = None,
               d_ff_scale: int = 1) -> dict:
    from .hf import HFModel
    from . import chat_template
    from .hf_tokenizer import ENTRY, KIND, read_tokenizer, special_ids

    q = {"none": "int8", "int8": "int8", "int4": "int4", "f32": "f32"}.get(quantize)
    if q is None:
        raise EdgeSdkError(f"MoE export: --quantize must be int8, int4 or f32, not {quantize!r}")
    m = HFModel(model_dir, QUANT[q])
    cfg, experts, dense = m.cfg, m.expert, m.dense()
    m.check_complete()
    if cfg.expert_quant == 2 and (cfg.d_model % 2 or cfg.d_ff_expert % 2):
        raise EdgeSdkError("int4 experts need even d_model and d_ff")
    if d_ff_scale > 1:  # a grown copy of the config: the directory's experts are still read at their own size
        experts = pad_experts(experts, cfg.d_ff_expert * d_ff_scale)
        cfg = dataclasses.replace(cfg, d_ff_expert=cfg.d_ff_expert * d_ff_scale, extra=dict(cfg.extra))
    # the tokenizer and the ids generation stops at: read (and a corrupt file refused) before
    # anything is written
    cfg.extra.update(special_ids(model_dir, cfg.vocab))
    tok, tok_options = (None, {}) if cfg.extra.get("tokenizer") == "bytes" else read_tokenizer(model_dir, cfg.vocab)
    if tok is not None:
        cfg.extra["tokenizer"] = KIND
        cfg.extra["tokenizer_options"] = tok_options
    blobs = {ENTRY: tok} if tok is not None else {}
    template, template_tokens = chat_template.read_chat_template(model_dir)
    if template is not None:
        cfg.extra["chat_template_tokens"] = template_tokens
        blobs[chat_template.ENTRY] = template.encode("utf-8")
    cfg.extra.setdefault("source", str(model_dir))
    return export_moe(cfg, dense, experts, out, bundle, blobs or None)


def cli_export(model_dir, out, quantize: str, report=None) -> None:
    """The `edge-sdk export DIR -o OUT` path for MoE directories (--quantize none means int8)."""
    import json

    import typer

    r = export_dir(model_dir, out, quantize=quantize)
    if report:
        Path(report).write_text(json.dumps(r, indent=2))
    typer.echo(f"wrote {r['artifact']} ({r['artifact_bytes'] / 1e6:.2f} MB dense) and {r['bundle']} "
               f"({r['experts']} experts, {r['bundle_bytes'] / 1e6:.2f} MB, {['f32', 'int8', 'int4'][r['quant']]})")
