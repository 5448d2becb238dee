"""Chat templates of imported MoE models, checked against transformers' apply_chat_template.

A tiny random Mixtral directory (tests/test_moe_hf.py) gets the trained byte-level BPE of
tests/test_moe_tokenizer.py with <|im_start|> / <|im_end|> as extra special tokens, and a chat
template in tokenizer_config.json or chat_template.jinja. The oracle is
AutoTokenizer.from_pretrained(dir).apply_chat_template(messages, add_generation_prompt=True) on the
same directory (the text, and the ids of tokenize=True), and the model's own greedy `generate` on
those ids for the generated tokens. test_real_vocabularies does the same for the text and ids
with the real Mixtral and Qwen tokenizers of tests/real_vocab.py.

The templates below are written here from the published prompt formats (ChatML as Qwen's
instruct models use it; [INST] ... [/INST] with BOS as Mistral / Mixtral-Instruct use it, with its
raise_exception on roles that do not alternate); they are not the hub's files."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
jinja2 = pytest.importorskip("jinja2")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_moe_hf import cli, export, hf_model, save  # noqa: E402
from test_moe_tokenizer import VOCAB, _entry, hf_generate, refused, set_json, train_tokenizer  # noqa: E402

from edge_sdk import Generator  # noqa: E402
from edge_sdk.errors import ArtifactError, EdgeSdkError  # noqa: E402

N_NEW = 10

# ChatML (Qwen): block tags on their own lines, so trim_blocks / lstrip_blocks decide the text
CHATML = """{% for message in messages %}
    {% if loop.first and message['role'] != 'system' %}
<|im_start|>system
You are a helpful assistant.<|im_end|>
    {% endif %}
<|im_start|>{{ message['role'] }}
{{ message['content'] }}<|im_end|>
{% endfor %}
{% if add_generation_prompt %}
<|im_start|>assistant
{% endif %}
"""

# Mistral-instruct: BOS, an optional system message folded into the first user turn, EOS after
# each assistant turn, raise_exception when the roles do not alternate
MISTRAL = """{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token }}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
"""

# transformers' helpers: namespace, tojson (not HTML-escaping, ensure_ascii off), loop controls,
# {% generation %}, dict(), and the special tokens the tokenizer names
HELPERS = """{% set ns = namespace(turns=0) %}
{% for message in messages %}
{% set ns.turns = ns.turns + 1 %}
{% if message['role'] == 'stop' %}{% break %}{% endif %}
<|im_start|>{{ message['role'] }} {{ message | tojson }} {{ dict(a=1) | tojson(indent=2) }}
{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] }}{% endgeneration %}{% endif %}
<|im_end|>{{ eos_token }}
{% endfor %}
turns={{ ns.turns }} bos={{ bos_token }}{% if unk_token is defined %} unk={{ unk_token }}{% endif %}
{% if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""

TEMPLATES = {"chatml": (CHATML, {"bos_token": None, "eos_token": "<|im_end|>"}),
             "mistral": (MISTRAL, {"bos_token": "<s>", "eos_token": "</s>"})}

SYSTEM_USER = [{"role": "system", "content": "You answer in one line & <quote> \"it\"."},
               {"role": "user", "content": "def wrap(text, width=70):\n  return [text]  # naïve 東京 🙂"}]
MULTI_TURN = [{"role": "user", "content": "first question?"},
              {"role": "assistant", "content": "first answer </s> with a token inside"},
              {"role": "user", "content": "  and a second one \n"}]
MESSAGES = {"system+user": SYSTEM_USER, "multi-turn": MULTI_TURN, "system+multi-turn": SYSTEM_USER[:1] + MULTI_TURN}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("chat") / "hf"
    save(hf_model("mixtral", vocab_size=VOCAB), d)
    train_tokenizer(d, extra_special=("<|im_start|>", "<|im_end|>"))
    return d


def with_template(base: Path, dst: Path, template, tokens: dict | None = None, jinja_file: str | None = None) -> Path:
    shutil.copytree(base, dst)
    set_json(dst / "tokenizer_config.json", **(tokens or {}), **({} if template is None else {"chat_template": template}))
    if jinja_file is not None:
        (dst / "chat_template.jinja").write_text(jinja_file, encoding="utf-8")
    return dst


@pytest.fixture(scope="module", params=sorted(TEMPLATES))
def styled(request, base):
    template, tokens = TEMPLATES[request.param]
    d = with_template(base, base.parent / request.param, template, tokens)
    art = export(d, d.parent / f"{request.param}.esmoe")
    return {"style": request.param, "dir": d, "art": art, "at": transformers.AutoTokenizer.from_pretrained(d)}


def oracle(at, messages) -> tuple[str, list[int]]:
    text = at.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = at.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
    return text, list(ids)


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_render_and_ids_match_apply_chat_template(styled, name):
    at, messages = styled["at"], MESSAGES[name]
    text, ids = oracle(at, messages)
    with Generator(styled["art"], mode="resident") as g:
        assert g.render_chat(messages) == text
        assert g.encode_chat(messages) == ids
    bos = at.convert_tokens_to_ids("<s>")
    if styled["style"] == "mistral":  # the template's BOS, once: not added again when encoding
        assert ids[0] == bos and bos not in ids[1:]
        assert ids[-1] != at.convert_tokens_to_ids("</s>")
    else:  # ChatML has no BOS, although the tokenizer's post-processor adds one to plain text
        assert bos not in ids and at(text)["input_ids"][0] == bos
        assert ids.count(at.convert_tokens_to_ids("<|im_start|>")) == len(messages) + 1 + (name == "multi-turn")
        assert text.endswith("<|im_start|>assistant\n")


def test_cli_chat_matches_transformers_generate(styled):
    at = styled["at"]
    messages = SYSTEM_USER if styled["style"] == "chatml" else MULTI_TURN[:1]
    _, ids = oracle(at, messages)
    ref = hf_generate(styled["dir"], ids, N_NEW)
    args = ["generate", styled["art"], "--chat", "--prompt", messages[-1]["content"], "--max-tokens", N_NEW]
    if len(messages) > 1:
        args += ["--system", messages[0]["content"]]
    r = cli(*args, "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["prompt_tokens"] == ids
    assert got["tokens"] == ref
    assert got["text"] == at.decode(ref)
    r = cli(*args)  # streamed text
    assert r.returncode == 0, r.stderr
    assert r.stdout == at.decode(ref) + "\n"
    with Generator(styled["art"], mode="resident") as g:
        res = g.chat(messages, max_tokens=N_NEW)
        assert res.tokens == ref and res.text == at.decode(ref)
        s = g.stream(messages, N_NEW, chat=True)
        assert "".join(s) == at.decode(ref) and s.result.tokens == ref
        sampled = g.chat(messages, max_tokens=N_NEW, temperature=0.8, top_k=20, seed=3)
        assert sampled.tokens == g.generate(ids, N_NEW, temperature=0.8, top_k=20, seed=3).tokens


def test_template_raising_is_one_line_error(styled):
    """The Mistral template raises on roles that do not alternate (as in transformers); ChatML
    renders any order."""
    bad = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    if styled["style"] == "chatml":
        with Generator(styled["art"], mode="resident") as g:
            assert g.encode_chat(bad) == oracle(styled["at"], bad)[1]
        return
    with pytest.raises(jinja2.exceptions.TemplateError, match="must alternate"):  # the oracle refuses too
        styled["at"].apply_chat_template(bad, add_generation_prompt=True, tokenize=False)
    with Generator(styled["art"], mode="resident") as g:
        with pytest.raises(EdgeSdkError, match="roles must alternate") as e:
            g.chat(bad, max_tokens=2)
        assert "\n" not in str(e.value)
        with pytest.raises(EdgeSdkError, match="Only user and assistant roles"):
            g.encode_chat([{"role": "user", "content": "x"}, {"role": "tool", "content": "y"}])
        with pytest.raises(EdgeSdkError, match="non-empty list"):
            g.encode_chat([])
        with pytest.raises(EdgeSdkError, match="'role' and 'content'"):
            g.encode_chat([{"content": "x"}])
        with pytest.raises(EdgeSdkError, match=r"stream\(\.\.\., chat=True\)"):
            g.stream(MULTI_TURN, 2)  # messages without chat=True


def test_cli_template_error_is_one_line(base, tmp_path):
    d = with_template(base, tmp_path / "hf", "{% if messages[0]['role'] == 'system' %}"
                      "{{ raise_exception('System role not supported') }}{% endif %}x", {})
    art = export(d, tmp_path / "m.esmoe")
    r = cli("generate", art, "--chat", "--system", "be brief", "--prompt", "hi", "--max-tokens", "2")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert "System role not supported" in lines[0]
    assert cli("generate", art, "--chat", "--prompt", "hi", "--max-tokens", "2").returncode == 0


def test_jinja_file_wins_over_tokenizer_config(base, tmp_path):
    """chat_template.jinja over tokenizer_config.json's chat_template, as transformers 5.23 loads it;
    the helpers transformers gives templates behave the same."""
    unk = {"__type": "AddedToken", "content": "</s>", "special": True}
    d = with_template(base, tmp_path / "hf", MISTRAL, {"unk_token": unk}, jinja_file=HELPERS)
    at = transformers.AutoTokenizer.from_pretrained(d)
    art = export(d, tmp_path / "m.esmoe")
    messages = SYSTEM_USER + [{"role": "assistant", "content": "ok <b>&</b>"}, {"role": "stop", "content": ""},
                              {"role": "user", "content": "never rendered"}]
    text, ids = oracle(at, messages)
    assert "turns=4" in text and "never rendered" not in text and "東京" in text  # the helpers ran
    with Generator(art, mode="resident") as g:
        assert g.chat_template == HELPERS
        assert g.render_chat(messages) == text
        assert g.encode_chat(messages) == ids


def test_named_template_list_takes_default(base, tmp_path):
    d = with_template(base, tmp_path / "hf", [{"name": "tool_use", "template": "TOOLS {{ messages | length }}"},
                                              {"name": "default", "template": CHATML}], {"eos_token": "<|im_end|>"})
    at = transformers.AutoTokenizer.from_pretrained(d)
    art = export(d, tmp_path / "m.esmoe")
    text, ids = oracle(at, MULTI_TURN)
    with Generator(art, mode="resident") as g:
        assert g.render_chat(MULTI_TURN) == text and g.encode_chat(MULTI_TURN) == ids


@pytest.mark.parametrize("where", ["tokenizer_config", "jinja_file"])
def test_broken_template_refused_at_export(base, tmp_path, where):
    broken = "{% for message in messages %}{{ message['content'] }"
    with pytest.raises(jinja2.exceptions.TemplateSyntaxError):
        jinja2.Environment().from_string(broken)
    if where == "jinja_file":
        d = with_template(base, tmp_path / "hf", CHATML, {}, jinja_file=broken)
    else:
        d = with_template(base, tmp_path / "hf", broken, {})
    refused(d, tmp_path / "m.esmoe", "does not compile")


def test_not_a_template_refused_at_export(base, tmp_path):
    refused(with_template(base, tmp_path / "a", 42, {}), tmp_path / "a.esmoe", "must be a string")
    refused(with_template(base, tmp_path / "b", [{"name": "tool_use", "template": "x"}], {}), tmp_path / "b.esmoe",
            "without one named \"default\"")
    refused(with_template(base, tmp_path / "c", CHATML, {"eos_token": {"content": "</s>"}}), tmp_path / "c.esmoe",
            "eos_token must be a string or an AddedToken")


def test_tampered_template_refused_by_loader(styled, tmp_path):
    data = bytearray(styled["art"].read_bytes())
    assert int.from_bytes(data[8:12], "little") == 1  # the format version is unchanged
    off, nb = _entry(bytes(data), "chat_template")
    assert bytes(data[off:off + nb]).decode() == TEMPLATES[styled["style"]][0]  # carried verbatim
    i = off + data[off:off + nb].index(b"message")
    data[i] ^= 0x20
    bad = tmp_path / "bad.esmoe"
    bad.write_bytes(bytes(data))
    shutil.copy(styled["art"].with_suffix(".esmx"), bad.with_suffix(".esmx"))
    with pytest.raises(ArtifactError, match="checksum mismatch in tensor chat_template"):
        Generator(bad, mode="resident")
    r = cli("generate", bad, "--chat", "--prompt", "x", "--max-tokens", "2")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "checksum mismatch in tensor chat_template" in lines[0], r.stderr


def one_line_error(r, match: str) -> None:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert match in lines[0], lines[0]


def test_chat_refused_without_template_or_tokenizer(base, tmp_path, styled):
    art = export(base, tmp_path / "plain.esmoe")  # a tokenizer, no template
    with pytest.raises(KeyError):
        _entry(art.read_bytes(), "chat_template")
    one_line_error(cli("generate", art, "--chat", "--prompt", "hi"), "has no chat template")
    with Generator(art, mode="resident") as g:
        with pytest.raises(EdgeSdkError, match="has no chat template"):
            g.chat(MULTI_TURN)
    notok = with_template(base, tmp_path / "notok", CHATML, {})
    (notok / "tokenizer.json").unlink()
    art = export(notok, tmp_path / "notok.esmoe")  # a template, no tokenizer
    one_line_error(cli("generate", art, "--chat", "--prompt", "hi"), "has no tokenizer")
    one_line_error(cli("generate", styled["art"], "--chat", "--prompt-ids", "1,2"), "--chat needs --prompt")
    one_line_error(cli("generate", styled["art"], "--prompt", "hi", "--system", "x"), "--system needs --chat")


def test_export_and_chat_without_jinja2(base, tmp_path, monkeypatch, capsys):
    """Simulated in-process: sys.modules["jinja2"] = None makes `import jinja2` fail. Export
    carries the template without compiling it; chat is then a one-line error naming the package."""
    from edge_sdk.cli.main import main
    from edge_sdk.moe.export import export_dir

    d = with_template(base, tmp_path / "hf", CHATML, {"eos_token": "<|im_end|>"})
    monkeypatch.setitem(sys.modules, "jinja2", None)
    art = export_dir(d, tmp_path / "m.esmoe", "f32")["artifact"]
    with Generator(art, mode="resident") as g:
        with pytest.raises(EdgeSdkError, match=r"'jinja2' package: pip install 'edge-sdk\[hf\]'"):
            g.chat(MULTI_TURN, max_tokens=2)
    assert main(["generate", str(art), "--chat", "--prompt", "hi", "--max-tokens", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "jinja2" in err[0], err
    monkeypatch.undo()  # the jinja2 module imported before, submodules included
    with Generator(art, mode="resident") as g:
        assert g.encode_chat(MULTI_TURN) == oracle(transformers.AutoTokenizer.from_pretrained(d), MULTI_TURN)[1]


@pytest.mark.parametrize("which", ["mixtral", "qwen"])
def test_real_vocabularies(which, tmp_path):
    """The real Mixtral and Qwen tokenizers (tests/real_vocab.py) with the template of their
    format: the export-side readers and the two steps of Generator.encode_chat (render, then
    encode without special tokens) give apply_chat_template's text and ids (no model needed)."""
    import real_vocab as rv

    from edge_sdk.moe.chat_template import read_chat_template, render
    from edge_sdk.moe.hf_tokenizer import HFTokenizer, read_tokenizer

    d = tmp_path / "hf"
    if which == "mixtral":
        pytest.importorskip("sentencepiece", reason="test extra: pip install 'edge-sdk[test]'")
        rv.mixtral_tokenizer(rv.vocab_file(rv.MISTRAL, tmp_path), d)
        template, vocab, start = MISTRAL, 32000, "<s>"
    else:
        rv.qwen_tokenizer(rv.vocab_file(rv.QWEN, tmp_path), d)
        template, vocab, start = CHATML, 151936, "<|im_start|>"
    set_json(d / "tokenizer_config.json", chat_template=template)
    at = transformers.AutoTokenizer.from_pretrained(d)
    text_template, tokens = read_chat_template(d)
    tok = HFTokenizer(*read_tokenizer(d, vocab))
    for messages in MESSAGES.values():
        text, ids = oracle(at, messages)
        assert render(text_template, messages, tokens) == text
        assert tok.encode(text, add_special_tokens=False) == ids
        assert ids[0] == at.convert_tokens_to_ids(start)  # the template's special token, as one id
        if which == "mixtral":
            assert ids.count(ids[0]) == 1  # one BOS
