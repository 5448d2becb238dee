"""Imported MoE models with their Hugging Face tokenizer, checked against transformers itself.

The tiny random models of test_moe_hf.py get a real tokenizer: a byte-level BPE trained here
with the `tokenizers` trainer on a Python stdlib module (textwrap.py), its vocabulary the model's,
with a post-processor that adds BOS, saved as tokenizer.json + tokenizer_config.json. The oracle
is transformers: AutoTokenizer.from_pretrained(dir) for encode / decode, and the model's own
greedy `generate` (loaded from the same directory, so with the end-of-sequence ids transformers
takes from generation_config.json or config.json) for the tokens and where they stop."""
from __future__ import annotations

import json
import shutil
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_moe_hf import ARCHS, _refused, cli, export, hf_model, save  # noqa: E402

from edge_sdk import Generator  # noqa: E402
from edge_sdk.cli.main import main  # noqa: E402
from edge_sdk.errors import ArtifactError, EdgeSdkError  # noqa: E402
from edge_sdk.moe.format import entry_span  # noqa: E402

VOCAB = 300  # the trained tokenizer's size, and so the models'
N_NEW = 12
PROMPT = "def wrap(text, width=70, **kwargs):\n    w = TextWrapper("
TEXTS = ["def main(x):\n    return x + 1", "naïve café — 東京 🙂 ünïcödé", "a   b\t\t\n\n  c  \n", " ", "x", "",
         "</s> and <s> in the text", "    \n\t"]


def train_tokenizer(directory: Path, tokenizer_config: dict | None = None,
                    extra_special: tuple = ()) -> tokenizers.Tokenizer:
    """A byte-level BPE of exactly VOCAB tokens (<s>, </s>, extra_special, the 256 bytes, merges)
    trained on textwrap.py; its post-processor adds <s>."""
    from tokenizers import decoders, models, pre_tokenizers, processors, trainers

    text = Path(sysconfig.get_paths()["stdlib"], "textwrap.py").read_text(encoding="utf-8")
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([text], trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=["<s>", "</s>", *extra_special],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    assert tok.get_vocab_size() == VOCAB
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    directory.mkdir(parents=True, exist_ok=True)
    tok.save(str(directory / "tokenizer.json"))
    tc = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>"}
    (directory / "tokenizer_config.json").write_text(json.dumps({**tc, **(tokenizer_config or {})}))
    return tok


def hf_generate(src: Path, ids: list[int], max_new: int = N_NEW) -> list[int]:
    """transformers' own greedy generate, the model and its generation config loaded from src."""
    arch = json.loads((src / "config.json").read_text())["model_type"]
    model = getattr(transformers, ARCHS[arch][1]).from_pretrained(src, dtype=torch.float32,
                                                                   experts_implementation="eager").eval()
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             max_new_tokens=max_new, do_sample=False)
    return out[0, len(ids):].tolist()


def set_json(path: Path, **changes) -> None:
    d = json.loads(path.read_text()) if path.is_file() else {}
    d.update(changes)
    path.write_text(json.dumps(d))


@pytest.fixture(scope="module", params=["qwen3_moe", "mixtral"])
def model_dir(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(request.param) / "hf"
    save(hf_model(request.param, vocab_size=VOCAB), d)
    train_tokenizer(d)
    return d


@pytest.fixture(scope="module")
def artifact(model_dir):
    return export(model_dir, model_dir.parent / "m.esmoe")


def test_encode_decode_match_autotokenizer(model_dir, artifact):
    at = transformers.AutoTokenizer.from_pretrained(model_dir)
    g = Generator(artifact, mode="resident")
    assert g.tokenizer == "hf-tokenizers"
    rng = np.random.default_rng(0)
    for text in TEXTS:
        ids = g.encode(text)
        assert ids == at(text)["input_ids"], text
        assert ids[0] == at.convert_tokens_to_ids("<s>")  # the post-processor's BOS
        assert g.decode(ids) == at.decode(ids)
    for n in (1, 5, 40):  # any ids, special tokens and partial UTF-8 sequences included
        ids = rng.integers(0, VOCAB, n).tolist()
        assert g.decode(ids) == at.decode(ids)
    assert g.decode([]) == at.decode([]) == ""


def test_generate_text_matches_transformers(model_dir, artifact):
    """No end-of-sequence id in the model's configs: both run the full budget."""
    at = transformers.AutoTokenizer.from_pretrained(model_dir)
    ids = at(PROMPT)["input_ids"]
    ref = hf_generate(model_dir, ids)
    assert len(ref) == N_NEW and len(set(ref)) > 2
    r = cli("generate", artifact, "--prompt", PROMPT, "--max-tokens", N_NEW, "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["tokens"] == ref
    assert got["text"] == at.decode(ref)
    r = cli("generate", artifact, "--prompt", PROMPT, "--max-tokens", N_NEW)
    assert r.returncode == 0, r.stderr
    assert r.stdout == at.decode(ref) + "\n"
    with Generator(artifact, mode="resident") as g:  # the API: text in, text out
        res = g.generate(PROMPT, N_NEW)
    assert res.tokens == ref and res.text == at.decode(ref)


def _first_new(toks: list[int], start: int) -> int:
    """Index >= start of a token that does not occur earlier in toks."""
    return next(i for i in range(start, len(toks)) if toks[i] not in toks[:i])


@pytest.mark.parametrize("source", ["generation_config", "config"])
def test_eos_stops_where_transformers_stops(model_dir, tmp_path, source):
    """generation_config.json's eos ids (a list of two here) win over config.json's, as in
    transformers; without generation_config.json, config.json's eos_token_id applies. Generation
    stops at the first eos (which ends the tokens, not the text); --ignore-eos runs on."""
    at = transformers.AutoTokenizer.from_pretrained(model_dir)
    ids = at(PROMPT)["input_ids"]
    free = hf_generate(model_dir, ids)
    stop_at = _first_new(free, 3)
    src = tmp_path / "hf"
    shutil.copytree(model_dir, src)
    unused = next(t for t in range(VOCAB) if t not in free)
    if source == "generation_config":  # config.json's eos would stop earlier: it must not be used
        set_json(src / "config.json", eos_token_id=free[0])
        set_json(src / "generation_config.json", eos_token_id=[unused, free[stop_at]])
    else:
        (src / "generation_config.json").unlink(missing_ok=True)
        set_json(src / "config.json", eos_token_id=free[stop_at])
    ref = hf_generate(src, ids)
    assert ref == free[:stop_at + 1]  # transformers stopped at that token
    art = export(src, tmp_path / "m.esmoe")
    r = cli("generate", art, "--prompt", PROMPT, "--max-tokens", N_NEW, "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["tokens"] == ref
    assert got["text"] == at.decode(ref[:-1])
    r = cli("generate", art, "--prompt", PROMPT, "--max-tokens", N_NEW, "--ignore-eos", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["tokens"] == free
    with Generator(art, mode="resident") as g:
        assert g.generate(PROMPT, N_NEW).tokens == ref
        assert g.generate(PROMPT, N_NEW, stop=None).tokens == free
        assert g.generate(at(PROMPT)["input_ids"], N_NEW, stop=[free[1]]).tokens == free[:2]


@pytest.mark.parametrize("flags", [
    {"add_bos_token": False}, {"add_bos_token": True, "add_eos_token": True}, {"add_eos_token": True},
    {"clean_up_tokenization_spaces": True},
    {"clean_up_tokenization_spaces": True,
     "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output": True}])
def test_tokenizer_config_options(model_dir, tmp_path, flags):
    """What tokenizer_config.json can say that changes ids or text: for a tokenizer.json
    tokenizer, transformers 5.23 keeps the file's post-processor whatever add_bos_token /
    add_eos_token say (so BOS stays), and cleans up decoded spaces only when told to even for BPE."""
    src = tmp_path / "hf"
    shutil.copytree(model_dir, src)
    set_json(src / "tokenizer_config.json", **flags)
    at = transformers.AutoTokenizer.from_pretrained(src)
    art = export(src, tmp_path / "m.esmoe")
    with Generator(art, mode="resident") as g:
        for text in TEXTS + ["it 's a test , isn 't it ? yes . we 're done !"]:
            ids = g.encode(text)
            assert ids == at(text)["input_ids"], (flags, text)
            assert ids[0] == at.convert_tokens_to_ids("<s>")
            assert g.decode(ids) == at.decode(ids), (flags, text)


def refused(src: Path, out: Path, match: str):
    """A one-line error, exit 1, and neither the artifact nor the bundle written."""
    _refused(src, out, match)
    assert not out.with_suffix(".esmx").exists()


@pytest.mark.parametrize("damage, match", [
    (lambda d: (d / "tokenizer.json").write_bytes((d / "tokenizer.json").read_bytes()[:500]), "cannot read"),
    (lambda d: (d / "tokenizer.json").write_bytes(b"\xff\xfe not text"), "cannot read"),
    (lambda d: (d / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "BPE", "vocab": 7}}'),
     "not a valid tokenizer"),
    (lambda d: (d / "tokenizer.json").write_text('["not", "a", "tokenizer"]'), "not a Hugging Face tokenizer"),
    (lambda d: set_json(d / "generation_config.json", eos_token_id=VOCAB + 5), "outside the model's vocabulary"),
    (lambda d: set_json(d / "generation_config.json", eos_token_id="</s>"), "eos_token_id must be an integer"),
])
def test_corrupt_tokenizer_refused_at_export(model_dir, tmp_path, damage, match):
    src = tmp_path / "hf"
    shutil.copytree(model_dir, src)
    damage(src)
    refused(src, tmp_path / "m.esmoe", match)


def test_tokenizer_larger_than_vocab_refused(tmp_path):
    src = save(hf_model("olmoe", vocab_size=VOCAB - 20), tmp_path / "hf")
    train_tokenizer(src)
    refused(src, tmp_path / "m.esmoe", f"has {VOCAB} tokens, more than the model's vocabulary ({VOCAB - 20})")


def test_missing_tokenizers_package(artifact, monkeypatch, capsys):
    """Simulated in-process: sys.modules["tokenizers"] = None makes `import tokenizers` fail."""
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with Generator(artifact, mode="resident") as g:
        with pytest.raises(EdgeSdkError, match=r"pip install 'edge-sdk\[hf\]'") as e:
            g.encode("x")
        assert "\n" not in str(e.value)
        # ids in, but the output's text needs the package too
        with pytest.raises(EdgeSdkError, match="tokenizers"):
            g.generate([1, 2, 3], 2)
    assert main(["generate", str(artifact), "--prompt", "x", "--max-tokens", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "edge-sdk[hf]" in err[0], err


def test_export_without_tokenizers_package(model_dir, tmp_path, monkeypatch):
    """Export needs no optional package: tokenizer.json is checked as JSON and carried; a
    corrupt one is still refused."""
    from edge_sdk.moe.export import export_dir

    monkeypatch.setitem(sys.modules, "tokenizers", None)
    r = export_dir(model_dir, tmp_path / "m.esmoe", "f32")
    monkeypatch.delitem(sys.modules, "tokenizers")
    with Generator(r["artifact"], mode="resident") as g:
        assert g.encode(PROMPT) == transformers.AutoTokenizer.from_pretrained(model_dir)(PROMPT)["input_ids"]
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    src = tmp_path / "bad"
    shutil.copytree(model_dir, src)
    (src / "tokenizer.json").write_text("{")
    with pytest.raises(EdgeSdkError, match="cannot read"):
        export_dir(src, tmp_path / "bad.esmoe", "f32")
    assert not (tmp_path / "bad.esmoe").exists()


def _entry(data: bytes, name: str) -> tuple[int, int]:
    span = entry_span(data, name)
    if span is None:
        raise KeyError(name)
    return span


def test_tampered_tokenizer_refused_by_loader(model_dir, artifact, tmp_path):
    data = bytearray(artifact.read_bytes())
    off, nb = _entry(bytes(data), "tokenizer")
    assert bytes(data[off:off + nb]) == (model_dir / "tokenizer.json").read_bytes()  # carried verbatim
    i = off + data[off:off + nb].index(b'"model"') + 2
    data[i] ^= 0x20  # "model" -> "Model": still JSON, no longer the tokenizer that was checked
    bad = tmp_path / "bad.esmoe"
    bad.write_bytes(bytes(data))
    shutil.copy(artifact.with_suffix(".esmx"), bad.with_suffix(".esmx"))
    with pytest.raises(ArtifactError, match="checksum mismatch in tensor tokenizer"):
        Generator(bad, mode="resident")
    r = cli("generate", bad, "--prompt", "x", "--max-tokens", "2")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "checksum mismatch in tensor tokenizer" in lines[0], r.stderr


def test_no_tokenizer_json_asks_for_ids(tmp_path):
    src = save(hf_model("qwen2_moe"), tmp_path / "hf")
    art = export(src, tmp_path / "m.esmoe")
    data = art.read_bytes()
    with pytest.raises(KeyError):
        _entry(data, "tokenizer")
    r = cli("generate", art, "--prompt", "hello", "--max-tokens", "2")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "pass token ids (--prompt-ids)" in lines[0], r.stderr
    r = cli("generate", art, "--prompt-ids", "1,2,3", "--max-tokens", "3")
    assert r.returncode == 0 and len(r.stdout.split()) == 3, r.stderr
