"""Streamed generation: tokens handed out by the C generate loop as they are produced
(esdk_moe_set_token_callback), text pieces from the incremental detokenizer, Generator.stream()
and the CLI writing text as it comes.

Oracles: the same generation without a callback (tokens), Python's UTF-8 decoder (the bundled
byte-level model) and transformers' AutoTokenizer.decode of the whole id list (real Mixtral and
Qwen vocabularies, tests/real_vocab.py; the byte-level BPE of tests/test_moe_tokenizer.py)."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from edge_sdk import Generator  # noqa: E402
from edge_sdk.moe.generator import PREFILL_BLOCK  # noqa: E402
from edge_sdk.errors import EdgeSdkError  # noqa: E402
from edge_sdk.moe.detokenize import IncrementalDecoder  # noqa: E402
from edge_sdk.moe.export import export_dir  # noqa: E402
from models.moe_lm import build  # noqa: E402

PROMPT = "def main():\n    "
SAMPLING = [dict(), dict(temperature=0.9, seed=1), dict(temperature=1.3, top_k=40, seed=7),
            dict(temperature=0.8, top_p=0.9, seed=123)]


@pytest.fixture(scope="module")
def byte_model(tmp_path_factory):
    """The bundled architecture (byte-level vocabulary), int8 experts streamed from the bundle."""
    d = tmp_path_factory.mktemp("moe_stream")
    art = d / "m.esmoe"
    export_dir(build(d / "hf", seed=3), art, quantize="int8")
    return art


def _utf8(tokens) -> str:
    """The byte-level model's text, decoded independently of edge_sdk."""
    return bytes(tokens).decode("utf-8", "replace")


def _pieces(decode, ids, cleanup=False, hold=frozenset()) -> list[str]:
    d = IncrementalDecoder(decode, cleanup, hold)
    out = [d.push(t) for t in ids]
    out.append(d.finish())
    return [p for p in out if p]


@pytest.mark.parametrize("kw", SAMPLING, ids=["greedy", "t0.9", "top_k", "top_p"])
def test_streamed_tokens_and_text_equal_plain(byte_model, kw):
    with Generator(byte_model, expert_cache_mb=1.0) as g:
        plain = g.generate(PROMPT, 80, stop=None, **kw)
        toks, pieces = [], []
        res = g.generate(PROMPT, 80, stop=None, on_token=toks.append, on_text=pieces.append, **kw)
        assert res.tokens == plain.tokens == toks and len(toks) == 80
        assert "".join(pieces) == res.text == plain.text == _utf8(toks)
        s = g.stream(PROMPT, 80, stop=None, **kw)
        streamed = list(s)
        assert "".join(streamed) == plain.text and s.result.tokens == plain.tokens
        assert s.result.stats["tokens"] == plain.stats["tokens"]


def test_stop_token_left_out_of_the_text(byte_model):
    with Generator(byte_model, mode="resident") as g:
        free = g.generate(PROMPT, 40, stop=None).tokens
        stop = free[5]
        first = free.index(stop)
        toks, pieces = [], []
        res = g.generate(PROMPT, 40, stop=[stop], on_token=toks.append, on_text=pieces.append)
        assert res.tokens == toks == free[:first + 1]  # the stop token is passed to on_token ...
        assert "".join(pieces) == res.text == _utf8(free[:first])  # ... and is not text


def test_character_split_over_byte_tokens_waits():
    """Nothing is handed out until a character is complete: each piece is whole characters."""
    text = "a東京 🙂x\u00e9"
    ids = list(text.encode("utf-8"))
    assert len(ids) > len(text)
    got = _pieces(lambda t: _utf8(t), ids)
    assert got == list(text)
    bad = list(b"ab\xe6\x9d") + list(b"\xff") + list("ok".encode())  # invalid UTF-8 stays as decode has it
    got = _pieces(lambda t: _utf8(t), bad)
    assert "".join(got) == _utf8(bad)
    assert got == ["a", "b", "\ufffd\ufffdo", "k"]  # held while the text ends in U+FFFD


def test_early_stop_from_callback(byte_model):
    with Generator(byte_model, expert_cache_mb=1.0) as g:
        plain = g.generate(PROMPT, 60, temperature=0.9, seed=5, stop=None)
        seen = []

        def enough(t):
            seen.append(t)
            return len(seen) == 7

        res = g.generate(PROMPT, 60, temperature=0.9, seed=5, stop=None, on_token=enough)
        assert res.tokens == seen == plain.tokens[:7]
        assert res.stats["tokens"] == len(PROMPT) + 6  # the last token is not fed back, as at a stop token
        assert g.generate(PROMPT, 60, temperature=0.9, seed=5, stop=None).tokens == plain.tokens


class Boom(Exception):
    pass


@pytest.mark.parametrize("where,sigint", [("on_token", False), ("on_text", False), ("on_token", True)],
                         ids=["on_token", "on_text", "sigint"])
def test_exception_in_callback_propagates_and_generator_stays_usable(byte_model, where, sigint):
    """An exception from a callback, or a real SIGINT while the C loop runs (Python's handler
    raises KeyboardInterrupt in the next callback): the loop stops at once, the exception comes
    out of generate, and the Generator still works."""
    with Generator(byte_model, expert_cache_mb=1.0) as g:
        plain = g.generate(PROMPT, 60, stop=None)
        calls = []

        def cb(x):
            calls.append(x)
            if len(calls) == 3:
                if sigint:
                    os.kill(os.getpid(), signal.SIGINT)
                else:
                    raise Boom("from the callback")

        with pytest.raises(KeyboardInterrupt if sigint else Boom):
            g.generate(PROMPT, 60, stop=None, **{where: cb})
        assert len(calls) == 3 or (sigint and 3 <= len(calls) < 60)
        if where == "on_token":
            assert calls == plain.tokens[:len(calls)]
        assert g.generate(PROMPT, 60, stop=None).tokens == plain.tokens
        pieces = []
        assert g.generate(PROMPT, 60, stop=None, on_text=pieces.append).text == "".join(pieces) == plain.text


@pytest.mark.parametrize("prefill", [True, False])
def test_sigint_while_the_prompt_is_fed(byte_model, prefill):
    """With callbacks, the prompt is fed from Python in blocks (esdk_moe_prefill, PREFILL_BLOCK
    tokens; prefill=False: one token per call), so a SIGINT that arrives during a long prompt
    stops there (before any token is generated) instead of at the first generated token. The
    signal is sent from inside the 3rd call (a wrapper around the library's esdk_moe_prefill), so
    nothing depends on timing."""
    chunk = PREFILL_BLOCK if prefill else 1
    with Generator(byte_model, expert_cache_mb=1.0) as g:
        prompt = g.encode(PROMPT * 40)[:4 * PREFILL_BLOCK]
        plain = g.generate(prompt, 20, stop=None)
        lib, calls = g._lib, []

        class Lib:  # the real library, its prompt calls counted
            def __getattr__(self, name):
                return getattr(lib, name)

            def esdk_moe_prefill(self, m, p, n):
                calls.append([p[i] for i in range(n)])
                if len(calls) == 3:
                    os.kill(os.getpid(), signal.SIGINT)
                return lib.esdk_moe_prefill(m, p, n)

        g._lib, tokens = Lib(), []
        try:
            with pytest.raises(KeyboardInterrupt):
                g.generate(prompt, 20, stop=None, on_token=tokens.append, prefill=prefill)
        finally:
            g._lib = lib
        assert sum(calls, []) == prompt[:3 * chunk] and tokens == []  # stopped inside the prompt
        # the 3rd call ran or not, as Python checks signals
        assert lib.esdk_moe_position(g._m) in (2 * chunk, 3 * chunk)
        assert g.generate(prompt, 20, stop=None, on_token=tokens.append, prefill=prefill).tokens == plain.tokens == tokens


def test_stream_closed_early_and_errors(byte_model):
    with Generator(byte_model, expert_cache_mb=1.0) as g:
        plain = g.generate(PROMPT, 200, stop=None)
        with g.stream(PROMPT, 200, stop=None) as s:
            first = next(s)
        assert plain.text.startswith(first)
        assert s.result.tokens == plain.tokens[:len(s.result.tokens)]  # the tokens up to where it stopped
        assert list(s) == []
        assert g.generate(PROMPT, 200, stop=None).tokens == plain.tokens
        with pytest.raises(EdgeSdkError, match="max_tokens"):
            g.stream(PROMPT, -1)  # checked before anything runs
        with pytest.raises(EdgeSdkError, match="on_text"):
            g.stream(PROMPT, 4, on_text=print)
        with pytest.raises(EdgeSdkError, match="exceeds max_seq"):
            g.stream(PROMPT, g.max_seq)


# -- Hugging Face tokenizers: real Mixtral (Metaspace, byte fallback) and Qwen (byte-level BPE)

STREAM_TEXTS = ["東京は日本の首都です。", "emoji 🙂👍🏽 👨\u200d👩\u200d👧 🇯🇵 ☕", "\x00\x01 ctrl \x7f 𝔘𝔫𝔦 \U0001f9ec",
                "def main(x):\n\treturn {'a': x + 1}\n", "  leading spaces and trailing  ",
                "<s> and </s> <|im_start|>user\nhi<|im_end|>\n<|endoftext|>", "naïve café"]


@pytest.fixture(scope="module", params=["mixtral", "qwen"])
def real_tok(request, tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    import real_vocab as rv

    from edge_sdk.moe.hf_tokenizer import HFTokenizer

    d = tmp_path_factory.mktemp(request.param)
    if request.param == "mixtral":
        rv.mixtral_tokenizer(rv.vocab_file(rv.MISTRAL, d), d / "tok")
    else:
        rv.qwen_tokenizer(rv.vocab_file(rv.QWEN, d), d / "tok")
    hf = HFTokenizer((d / "tok" / "tokenizer.json").read_bytes())
    return request.param, hf, transformers.AutoTokenizer.from_pretrained(d / "tok")


def test_real_vocab_pieces_equal_decode(real_tok):
    arch, hf, at = real_tok
    split = 0
    for text in STREAM_TEXTS:
        ids = at(text)["input_ids"]
        pieces = _pieces(hf.decode, ids, hold=hf.byte_fallback_ids)
        assert "".join(pieces) == at.decode(ids), (arch, text)
        assert not any("\ufffd" in p for p in pieces), (arch, text)  # never half a character
        split += any(t.startswith("<0x") for t in at.convert_ids_to_tokens(ids))
    if arch == "mixtral":  # the case in question is really exercised: byte-fallback tokens
        ids = at("🧬 ok")["input_ids"]  # <s> ▁ <0xF0> <0x9F> <0xA7> <0xAC> ▁ok
        assert at.convert_ids_to_tokens(ids)[2:6] == ["<0xF0>", "<0x9F>", "<0xA7>", "<0xAC>"]
        d = IncrementalDecoder(hf.decode, False, hf.byte_fallback_ids)
        for t in ids[:2]:
            d.push(t)
        # a run of byte tokens is final when it ends (a later invalid byte would turn it all into U+FFFD)
        assert [d.push(t) for t in ids[2:]] == ["", "", "", "", "🧬 ok"] and d.finish() == ""
        assert hf.decode(ids[:2] + [3 + 0xE1, 3 + 0x9E, 3 + 0x91, 3 + 0x30]).endswith("\u1791" + "0")
        assert hf.decode(ids[:2] + [3 + 0xE1, 3 + 0x9E, 3 + 0x91, 3 + 0x30, 3 + 0xE0]).endswith("\ufffd" * 5)
        assert split >= 3


def test_real_vocab_random_ids(real_tok):
    """Any ids: specials, byte tokens (incomplete and invalid sequences), ordinary pieces."""
    arch, hf, at = real_tok
    rng = np.random.default_rng(0)
    n = len(at)
    low = 3 + 256 if arch == "mixtral" else 256  # Mixtral's bytes are 3..258; Qwen's first 256 are single bytes
    for trial in range(40):
        size = int(rng.integers(1, 60))
        ids = np.where(rng.random(size) < 0.5, rng.integers(0, low, size), rng.integers(0, n, size)).tolist()
        assert "".join(_pieces(hf.decode, ids, hold=hf.byte_fallback_ids)) == at.decode(ids), (arch, ids)


def test_cleanup_of_tokenization_spaces(tmp_path):
    """transformers' clean_up_tokenization rewrites " ." into "." after the fact: the pieces
    still join to the cleaned text."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    from test_moe_tokenizer import train_tokenizer

    from edge_sdk.moe.hf_tokenizer import HFTokenizer

    flags = {"clean_up_tokenization_spaces": True,
             "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output": True}
    train_tokenizer(tmp_path, flags)
    at = transformers.AutoTokenizer.from_pretrained(tmp_path)
    hf = HFTokenizer((tmp_path / "tokenizer.json").read_bytes(), flags)
    assert hf.cleans_up
    text = "it 's a test , isn 't it ? yes . we 're done ! x ' y do n't"
    ids = at(text)["input_ids"]
    assert at.decode(ids) != at.decode(ids, clean_up_tokenization_spaces=False)  # cleanup does change it
    assert "".join(_pieces(hf.decode, ids, cleanup=True)) == at.decode(ids)
    rng = np.random.default_rng(1)
    for _ in range(30):
        ids = rng.integers(0, len(at), int(rng.integers(1, 40))).tolist()
        assert "".join(_pieces(hf.decode, ids, cleanup=True)) == at.decode(ids), ids


@pytest.fixture(scope="module")
def hf_artifact(tmp_path_factory):
    """A tiny Qwen3-MoE with the byte-level BPE of tests/test_moe_tokenizer.py (300 tokens: most
    of what a random model samples are single bytes, so characters split over tokens)."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    from test_moe_hf import export, hf_model, save
    from test_moe_tokenizer import VOCAB, train_tokenizer

    d = tmp_path_factory.mktemp("hf_stream") / "hf"
    save(hf_model("qwen3_moe", vocab_size=VOCAB), d)
    train_tokenizer(d)
    return export(d, d.parent / "m.esmoe"), transformers.AutoTokenizer.from_pretrained(d)


@pytest.mark.parametrize("kw", SAMPLING, ids=["greedy", "t0.9", "top_k", "top_p"])
def test_hf_model_streamed_text_equals_transformers_decode(hf_artifact, kw):
    art, at = hf_artifact
    with Generator(art, mode="resident") as g:
        plain = g.generate("def wrap(text):", 100, stop=None, **kw)
        pieces, toks = [], []
        res = g.generate("def wrap(text):", 100, stop=None, on_text=pieces.append, on_token=toks.append, **kw)
    assert res.tokens == plain.tokens == toks
    assert "".join(pieces) == res.text == at.decode(toks)


@pytest.fixture(scope="module")
def mixtral_artifact(tmp_path_factory):
    """A tiny random Mixtral with the real Mixtral tokenizer whose lm_head favours the 256
    byte-fallback tokens (<0x00>..<0xFF>, ids 3..258), so generations hold runs of them."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    import real_vocab as rv
    from test_moe_hf import export, hf_model, save

    d = tmp_path_factory.mktemp("mixtral_stream")
    rv.mixtral_tokenizer(rv.vocab_file(rv.MISTRAL, d), d / "hf")
    model = hf_model("mixtral", vocab_size=32000)
    with torch.no_grad():
        model.lm_head.weight[3:259] *= 4.0
    save(model, d / "hf")
    return export(d / "hf", d / "m.esmoe"), transformers.AutoTokenizer.from_pretrained(d / "hf")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mixtral_generation_with_byte_runs(mixtral_artifact, seed):
    art, at = mixtral_artifact
    with Generator(art, mode="resident") as g:
        plain = g.generate("Hello", 120, temperature=1.0, seed=seed, stop=None)
        pieces = []
        res = g.generate("Hello", 120, temperature=1.0, seed=seed, stop=None, on_text=pieces.append)
    runs = sum(1 for a, b in zip(res.tokens, res.tokens[1:]) if 3 <= a < 259 and 3 <= b < 259)
    assert runs >= 5  # byte tokens next to each other: the case the hold is for
    assert res.tokens == plain.tokens
    assert "".join(pieces) == res.text == at.decode(res.tokens)


# -- the CLI

def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "edge_sdk.cli.main", *map(str, args)], capture_output=True,
                          cwd=ROOT, **kw)


def test_cli_stream_equals_no_stream_and_json(byte_model, hf_artifact, tmp_path):
    import json

    from test_moe_hf import export, hf_model, save

    no_tok = export(save(hf_model("qwen2_moe"), tmp_path / "hf"), tmp_path / "ids.esmoe")  # no tokenizer.json
    for art, prompt in ((byte_model, "--prompt=def f("), (hf_artifact[0], "--prompt=def f("),
                        (no_tok, "--prompt-ids=1,2,3")):
        base = ["generate", art, prompt, "--max-tokens", "64", "--ignore-eos", "--temperature", "0.9", "--seed", "3"]
        streamed = _cli(*base, "--stats")
        plain = _cli(*base, "--no-stream")
        js = _cli(*base, "--json")
        assert streamed.returncode == plain.returncode == js.returncode == 0, streamed.stderr
        got = json.loads(js.stdout)
        text = got["text"] if got["text"] is not None else " ".join(map(str, got["tokens"]))
        assert streamed.stdout == plain.stdout == (text + "\n").encode("utf-8")
        assert b"tokens/s" in streamed.stderr and b"hit rate" in streamed.stderr and not plain.stderr


# The CLI in a subprocess, held inside its own generate loop right after it has written its first
# piece (with --json, after the first token; "held" on stderr says when): the piece must reach the
# reader while the process is still generating. The hold is a read from stdin, so the test decides
# when the process goes on (or interrupts it): nothing is timed.
HOLD = r"""
import sys
from edge_sdk.cli.main import main
from edge_sdk.moe.generator import Generator

real = Generator.generate

def generate(self, prompt, *a, on_token=None, on_text=None, **kw):
    written = []
    def text(piece):
        written.append(piece)
        on_text(piece)
    def token(t):
        stop = on_token(t) if on_token else None
        if (written or not on_text) and not getattr(generate, "held", False):
            generate.held = True
            sys.stderr.write("held\n")
            sys.stderr.flush()
            sys.stdin.readline()
        return stop
    return real(self, prompt, *a, on_token=token, on_text=text if on_text else None, **kw)

Generator.generate = generate
sys.exit(main(sys.argv[1:]))
"""


def _held(art, *extra):
    return subprocess.Popen([sys.executable, "-c", HOLD, "generate", str(art), "--prompt", "def f(", "--max-tokens",
                             "300", "--ignore-eos", *extra], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _first_bytes(p) -> bytes:
    # a generous bound against a hang (a CLI that does not flush), not a speed check
    ready, _, _ = select.select([p.stdout], [], [], 300)
    if not ready:
        p.kill()
        pytest.fail("no output while generation is held: the CLI does not stream")
    return os.read(p.stdout.fileno(), 1 << 16)


def test_cli_first_piece_arrives_while_generating(byte_model):
    full = _cli("generate", byte_model, "--prompt", "def f(", "--max-tokens", "300", "--ignore-eos", "--no-stream")
    assert full.returncode == 0
    p = _held(byte_model)
    try:
        first = _first_bytes(p)
        assert p.poll() is None  # still inside generate, held after its first piece
        assert first and full.stdout.startswith(first) and len(first) < len(full.stdout)
        out, err = p.communicate(b"\n", timeout=300)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert first + out == full.stdout


def test_cli_ctrl_c_prints_what_it_has(byte_model):
    full = _cli("generate", byte_model, "--prompt", "def f(", "--max-tokens", "300", "--ignore-eos", "--no-stream")
    p = _held(byte_model, "--stats")
    try:
        first = _first_bytes(p)
        assert p.stderr.readline() == b"held\n"  # inside generate, after its first piece
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=300)
    finally:
        p.kill()
    assert p.returncode == 130, err
    got = first + out
    # what it has: the text of the tokens so far (the last character possibly incomplete)
    assert got.endswith(b"\n") and len(got) < len(full.stdout)
    assert full.stdout.decode().startswith(got[:-1].decode().rstrip("\ufffd"))
    err = err.decode()
    assert "Traceback" not in err and "interrupted" in err
    assert "tokens/s" in err and "hit rate" in err  # the statistics of what was generated


def test_cli_ctrl_c_with_json(byte_model):
    import json

    p = _held(byte_model, "--json")
    try:
        assert p.stderr.readline() == b"held\n"
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=300)
    finally:
        p.kill()
    assert p.returncode == 130, err
    got = json.loads(out)
    assert got["interrupted"] is True and 1 <= len(got["tokens"]) < 300
    assert got["text"] == bytes(got["tokens"]).decode("utf-8", "replace")
    assert b"Traceback" not in err
