"""Hugging Face tokenizers for imported MoE models.

Export side (no optional package needed): `read_tokenizer(dir, vocab)` takes the directory's
tokenizer.json (carried into the artifact verbatim as the `tokenizer` entry), the options
transformers reads from tokenizer_config.json, and the end-of-sequence ids that transformers'
`generate` stops at by default: generation_config.json's when that file exists, else config.json's
(`GenerationMixin` builds its generation config from config.json only when there is no
generation_config.json); tokenizer_config.json's `eos_token` does not stop `generate`, so it is not
used for stopping here either.

Runtime side: `HFTokenizer(blob, options)` encodes and decodes with the `tokenizers` package
(Hugging Face's own; `pip install 'edge-sdk[hf]'`), the library transformers' fast tokenizers wrap.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import EdgeSdkError, first_line
from .hf import read_json_object

KIND = "hf-tokenizers"  # MoEConfig.extra["tokenizer"] when the artifact carries tokenizer.json
ENTRY = "tokenizer"     # its tensor-table entry
INSTALL = "pip install 'edge-sdk[hf]'"


def _tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise EdgeSdkError("this model's tokenizer needs the 'tokenizers' package: "
                           f"{INSTALL} (or pip install tokenizers)") from None
    return tokenizers


def _ids(value, what: str, vocab: int) -> list[int]:
    """An id or a list of ids (None: none), each in [0, vocab)."""
    vals = [] if value is None else value if isinstance(value, list) else [value]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        raise EdgeSdkError(f"{what} must be an integer or a list of integers, not {value!r}")
    bad = [v for v in vals if not 0 <= v < vocab]
    if bad:
        raise EdgeSdkError(f"{what} {bad[0]} is outside the model's vocabulary ({vocab})")
    return vals


def special_ids(model_dir: str | Path, vocab: int) -> dict:
    """{"eos_token_id": [...], "bos_token_id": int | None} as transformers' generate would use."""
    d = Path(model_dir)
    src = d / "generation_config.json"
    cfg = read_json_object(src, required=False)
    if cfg is None:
        src = d / "config.json"
        cfg = read_json_object(src, required=False) or {}
    eos = _ids(cfg.get("eos_token_id"), f"{src.name}: eos_token_id", vocab)
    bos = _ids(cfg.get("bos_token_id"), f"{src.name}: bos_token_id", vocab)
    return {"eos_token_id": eos, "bos_token_id": bos[0] if bos else None}


def read_tokenizer(model_dir: str | Path, vocab: int) -> tuple[bytes | None, dict]:
    """(tokenizer.json bytes or None, options). A corrupt tokenizer.json is an error here, at
    export, before anything is written."""
    d = Path(model_dir)
    path = d / "tokenizer.json"
    if not path.is_file():
        return None, {}
    try:
        blob = path.read_bytes()
        doc = json.loads(blob.decode("utf-8"))
    except (OSError, ValueError) as e:
        raise EdgeSdkError(f"cannot read {path}: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), dict):
        raise EdgeSdkError(f"{path}: not a Hugging Face tokenizer (no \"model\" object)")
    try:
        import tokenizers
    except ImportError:  # checked structurally above; fully when the runtime loads it
        tokenizers = None
    if tokenizers is not None:
        try:
            size = tokenizers.Tokenizer.from_str(blob.decode("utf-8")).get_vocab_size(with_added_tokens=True)
        except Exception as e:  # the Rust parser's errors carry no common type
            raise EdgeSdkError(f"{path}: not a valid tokenizer ({first_line(e)})") from None
        if size > vocab:
            raise EdgeSdkError(f"{path} has {size} tokens, more than the model's vocabulary ({vocab})")
    # tokenizer_config.json's add_bos_token / add_eos_token are not read: for a tokenizer.json
    # tokenizer transformers 5.23 keeps the file's post-processor (tests/test_moe_tokenizer.py)
    tc = read_json_object(d / "tokenizer_config.json", required=False) or {}
    opts = {k: tc[k] for k in ("clean_up_tokenization_spaces", _BPE_CLEANUP) if isinstance(tc.get(k), bool)}
    return blob, opts


# transformers' clean_up_tokenization (tokenization_utils_base.py), applied on decode when
# tokenizer_config.json asks for it (ignored for BPE models unless the second flag says otherwise)
_BPE_CLEANUP = "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output"
_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


class HFTokenizer:
    """encode(text) -> ids with the tokenizer's post-processor (its BOS, if it adds one), as
    transformers' tokenizer(text) does; decode(ids) -> text, special tokens included, as its
    decode(ids) does."""

    def __init__(self, blob: bytes, options: dict | None = None):
        tk = _tokenizers()
        self.options = dict(options or {})
        try:
            self.tok = tk.Tokenizer.from_str(blob.decode("utf-8"))
        except Exception as e:
            raise EdgeSdkError(f"the artifact's tokenizer cannot be loaded ({first_line(e)})") from None

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return list(self.tok.encode(text, add_special_tokens=add_special_tokens).ids)

    @property
    def byte_fallback_ids(self) -> frozenset:
        """The <0x00>..<0xFF> tokens of a byte-fallback model (Llama, Mistral), else none."""
        if not getattr(self.tok.model, "byte_fallback", False):
            return frozenset()
        ids = (self.tok.token_to_id(f"<0x{b:02X}>") for b in range(256))
        return frozenset(i for i in ids if i is not None)

    @property
    def cleans_up(self) -> bool:
        """Whether decode applies transformers' clean_up_tokenization."""
        o = self.options
        return bool(o.get("clean_up_tokenization_spaces")
                    and (type(self.tok.model).__name__ != "BPE" or o.get(_BPE_CLEANUP)))

    def decode(self, ids) -> str:
        text = self.tok.decode([int(t) for t in ids], skip_special_tokens=False)
        if self.cleans_up:
            for a, b in _CLEANUP:
                text = text.replace(a, b)
        return text
