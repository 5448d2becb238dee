"""Real Mixtral and Qwen vocabularies for the tokenizer tests, read from two PyPI wheels that
scripts/setup.sh downloads with --no-deps into ~/.cache/edge-sdk/vocab (EDGE_SDK_VOCAB_DIR):

- mistral-common ships mistral_common/data/tokenizer.model.v1, the SentencePiece model of
  Mistral-7B v0.1 / Mixtral-8x7B (32000 pieces, byte fallback, <unk> 0, <s> 1, </s> 2);
- qwen-agent ships qwen_agent/utils/qwen.tiktoken, Qwen's byte-level BPE ranks (151643 tokens),
  and qwen_agent/utils/tokenization_qwen.py, which numbers the special tokens from 151643.

The files are identified by SHA-256, not by wheel version. tokenizer.json files are built from
them with transformers' own conversions; the oracles are Google's sentencepiece and OpenAI's
tiktoken on the same files."""
from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
import zipfile
from pathlib import Path

import pytest

VOCAB_DIR = Path(os.environ.get("EDGE_SDK_VOCAB_DIR") or Path.home() / ".cache" / "edge-sdk" / "vocab")
GET = ("bash scripts/setup.sh, or: python -m pip download --no-deps mistral-common==1.13.1 "
       f"qwen-agent==0.0.34 -d {VOCAB_DIR}")
MISTRAL = ("mistral_common-*.whl", "mistral_common/data/tokenizer.model.v1",
           "dadfd56d766715c61d2ef780a525ab43b8e6da4de6865bda3d95fdef5e134055")
QWEN = ("qwen_agent-*.whl", "qwen_agent/utils/qwen.tiktoken",
        "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186")
QWEN_CODE = "qwen_agent/utils/tokenization_qwen.py"
QWEN_SPECIAL = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}


def _member(pattern: str, name: str, sha256: str | None) -> bytes | None:
    for wheel in sorted(VOCAB_DIR.glob(pattern), reverse=True):
        try:
            with zipfile.ZipFile(wheel) as z:
                data = z.read(name)
        except (OSError, KeyError, zipfile.BadZipFile):
            continue
        if sha256 is None or hashlib.sha256(data).hexdigest() == sha256:
            return data
    return None


def vocab_file(which: tuple, tmp: Path) -> Path:
    """The file, extracted under tmp; skips (or fails where EDGE_SDK_REQUIRE_VOCAB is set, as in
    scripts/test.sh) when the wheel is not in the cache."""
    pattern, name, sha = which
    data = _member(pattern, name, sha)
    if data is None:
        msg = f"{name} (SHA-256 {sha[:12]}...) not found in {VOCAB_DIR}/{pattern}; get it with: {GET}"
        if os.environ.get("EDGE_SDK_REQUIRE_VOCAB"):
            pytest.fail(msg)
        pytest.skip(msg)
    path = tmp / Path(name).name
    path.write_bytes(data)
    return path


def qwen_code() -> str:
    return (_member(QWEN[0], QWEN_CODE, None) or b"").decode("utf-8")


def mixtral_tokenizer(spm_model: Path, d: Path) -> None:
    """tokenizer.json + tokenizer_config.json as transformers writes them for a Mistral / Mixtral
    tokenizer.model: AutoTokenizer converts it (LlamaTokenizer: Metaspace, byte fallback, a
    post-processor adding <s>), save_pretrained writes it."""
    import transformers

    src = d.parent / "mixtral-spm"
    src.mkdir(parents=True, exist_ok=True)
    (src / "tokenizer.model").write_bytes(spm_model.read_bytes())
    (src / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "add_bos_token": True, "add_eos_token": False, "legacy": True, "clean_up_tokenization_spaces": False}))
    transformers.AutoTokenizer.from_pretrained(src).save_pretrained(d)


def qwen_tokenizer(ranks: Path, d: Path) -> None:
    """tokenizer.json of a Qwen2 / Qwen3 directory from the tiktoken ranks: transformers'
    TikTokenConverter with Qwen2's pre-tokenizer regex and the special tokens after the ranks,
    plus the NFC normalizer that transformers' Qwen2Tokenizer (and Qwen's tokenizer.json) has."""
    from tokenizers import normalizers
    from transformers.convert_slow_tokenizer import TikTokenConverter
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = TikTokenConverter(vocab_file=str(ranks), pattern=PRETOKENIZE_REGEX,
                            extra_special_tokens=list(QWEN_SPECIAL)).converted()
    tok.normalizer = normalizers.NFC()
    d.mkdir(parents=True, exist_ok=True)
    tok.save(str(d / "tokenizer.json"))
    (d / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "Qwen2Tokenizer", "bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
        "unk_token": None, "clean_up_tokenization_spaces": False}))


class SentencePieceOracle:
    """Google's sentencepiece on tokenizer.model.v1, with <s> first as the tokenizer.json adds it."""
    bos = True

    def __init__(self, path: Path):
        import sentencepiece

        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(path))
        self.size = self.sp.vocab_size()

    def encode(self, text: str) -> list[int]:
        return [self.sp.bos_id()] + self.sp.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.sp.decode(ids)


class TiktokenOracle:
    """OpenAI's tiktoken on qwen.tiktoken, with Qwen's pattern (read from qwen-agent's
    tokenization_qwen.py) and special tokens; special-token text in the input is encoded as the
    special token, as tokenizer.json's added tokens are. tiktoken does not normalize: the text
    is NFC-normalized first, as Qwen's tokenizer.json does."""
    bos = False

    def __init__(self, path: Path, pattern: str):
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe

        self.enc = tiktoken.Encoding("qwen", pat_str=pattern, mergeable_ranks=load_tiktoken_bpe(str(path)),
                                     special_tokens=QWEN_SPECIAL)
        self.size = self.enc.n_vocab

    def encode(self, text: str) -> list[int]:
        return self.enc.encode(unicodedata.normalize("NFC", text), allowed_special="all")

    def decode(self, ids: list[int]) -> str:
        # ids past the tokenizer (the model's padded vocabulary) have no text, in transformers too
        return self.enc.decode([t for t in ids if t < self.size])


def qwen_pattern(code: str) -> str | None:
    m = re.search(r'^PAT_STR = r"""(.*?)"""$', code, re.M)
    return m.group(1) if m else None
