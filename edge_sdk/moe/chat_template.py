"""Chat templates of imported Hugging Face MoE models.

Export side: `read_chat_template(dir)` takes the directory's Jinja chat template, as transformers
5.23 loads it: `chat_template.jinja` when that file exists, else `chat_template` in
tokenizer_config.json (a string, or a list of {name, template} from which "default" is taken),
plus the named special tokens the template can refer to (bos_token, eos_token, ... from
tokenizer_config.json, what transformers passes as `special_tokens_map`). A template that does not
compile is refused there (when jinja2 is installed at export). The template travels as the
CRC-checked artifact entry `chat_template`.

Runtime side: `render(template, messages, tokens)` renders it as transformers'
apply_chat_template(messages, add_generation_prompt=True, tokenize=False): jinja2's
ImmutableSandboxedEnvironment with trim_blocks / lstrip_blocks, the loopcontrols extension, and
transformers' `raise_exception`, `tojson`, `strftime_now`, `dict` and `namespace`
(transformers/utils/chat_template_utils.py). The rendered text is encoded without the
tokenizer's special tokens (no second BOS), as apply_chat_template(tokenize=True) does.
"""
from __future__ import annotations

import functools
import json
from datetime import datetime
from pathlib import Path

from ..errors import EdgeSdkError, first_line
from .hf import read_json_object
from .hf_tokenizer import INSTALL

ENTRY = "chat_template"  # its tensor-table entry
FILE = "chat_template.jinja"
# transformers' SPECIAL_TOKENS_ATTRIBUTES: the names apply_chat_template passes to the template
TOKEN_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def _jinja():
    try:
        import jinja2
        import jinja2.ext
        import jinja2.sandbox
    except ImportError:
        raise EdgeSdkError(f"chat templates need the 'jinja2' package: {INSTALL} (or pip install jinja2)") from None
    return jinja2


def _environment():
    jinja2 = _jinja()

    class Generation(jinja2.ext.Extension):
        """{% generation %}...{% endgeneration %}: transformers marks assistant tokens with it;
        rendering keeps the body as it is (no mask is computed here)."""
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller):
            return caller()

    class Namespace(jinja2.utils.Namespace):
        """namespace() without underscore-prefixed attributes, as transformers' TemplateNamespace."""

        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                Namespace._check(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            Namespace._check(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(f"chat templates cannot store {name!r} on a namespace")

    class Dict:
        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                       extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.globals["dict"] = Dict()
    env.globals["namespace"] = Namespace
    return env


@functools.lru_cache(maxsize=8)  # a Generator renders its one template at every chat() (transformers caches too)
def _compiled(text: str):
    return _environment().from_string(text)


def compile_template(text: str, where: str = "the chat template"):
    jinja2 = _jinja()  # checked at every call: a cached template must not hide a missing package
    try:
        return _compiled(text)
    except jinja2.exceptions.TemplateSyntaxError as e:
        raise EdgeSdkError(f"{where} does not compile (line {e.lineno}: {first_line(e)})") from None


def _token_string(value, where: str) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or an AddedToken dict (what
    transformers accepts; it refuses any other dict)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("__type") == "AddedToken" and isinstance(value.get("content"), str):
        return value["content"]
    raise EdgeSdkError(f"{where} must be a string or an AddedToken, not {value!r}")


def read_chat_template(model_dir: str | Path) -> tuple[str | None, dict]:
    """(template text or None, {special token name: string}). A template that is not text or
    does not compile is an error here, at export, before anything is written."""
    d = Path(model_dir)
    tc_path = d / "tokenizer_config.json"
    tc = read_json_object(tc_path, required=False) or {}
    path = d / FILE
    if path.is_file():
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise EdgeSdkError(f"cannot read {path}: {e}") from None
        where = str(path)
    else:
        text, where = tc.get("chat_template"), f"{tc_path}: chat_template"
        if isinstance(text, list):
            named = {t.get("name"): t.get("template") for t in text if isinstance(t, dict)}
            if "default" not in named:
                raise EdgeSdkError(f"{where} is a list of templates without one named \"default\"")
            text = named["default"]
        if text is None:
            return None, {}
        if not isinstance(text, str):
            raise EdgeSdkError(f"{where} must be a string or a list of {{name, template}}, not {type(text).__name__}")
    try:
        _jinja()
    except EdgeSdkError:  # export needs no optional package: the template is compiled when it is used
        pass
    else:
        compile_template(text, where)
    tokens = {k: s for k in TOKEN_NAMES if (s := _token_string(tc.get(k), f"{tc_path}: {k}")) is not None}
    return text, tokens


def _plain(value):
    """The messages as plain JSON types (as transformers hands the template only such data)."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    raise EdgeSdkError(f"chat messages hold only text, numbers, lists and dicts, not {type(value).__name__}")


def check_messages(messages) -> list[dict]:
    if not isinstance(messages, (list, tuple)) or not messages:
        raise EdgeSdkError("messages must be a non-empty list of {\"role\": ..., \"content\": ...} dicts")
    for m in messages:
        if not (isinstance(m, dict) and "role" in m and "content" in m):
            raise EdgeSdkError(f"each message must be a dict with 'role' and 'content', not {m!r}")
    # apply_chat_template drops keys whose value is None
    return [{k: v for k, v in _plain(m).items() if v is not None} for m in messages]


def render(template: str, messages, tokens: dict | None = None, add_generation_prompt: bool = True) -> str:
    """The prompt text of messages; an error the template raises (raise_exception on a bad role
    order, for instance) is an EdgeSdkError of one line."""
    msgs = check_messages(messages)
    compiled = compile_template(template, "the artifact's chat template")
    try:
        return compiled.render(messages=msgs, tools=None, documents=None,
                               add_generation_prompt=add_generation_prompt, **(tokens or {}))
    except Exception as e:  # raise_exception's TemplateError, or the template failing on these messages
        raise EdgeSdkError(f"the chat template refused the messages: {first_line(e)}") from None
