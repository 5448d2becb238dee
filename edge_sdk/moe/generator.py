"""edge_sdk.Generator: text generation with a MoE artifact whose experts stream from a
bundle file into a bounded cache (native runtime, edge_sdk_moe.h)."""
from __future__ import annotations

import mmap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ArtifactError, EdgeSdkError, RuntimeFailure
from .format import config_from_dict, read_entry, read_meta
from .detokenize import IncrementalDecoder
from . import chat_template
from .hf_tokenizer import ENTRY, KIND, HFTokenizer
from .streaming import TextStream, TokenSink, token_callback

POLICIES = {"lru": 0, "lfu": 1, "lfu-quota": 2}
KERNELS = {"auto": -1, "scalar": 0, "avx2": 1, "neon": 2}
IO_BACKENDS = {"auto": 0, "pread": 1, "io_uring": 2}  # esdk_moe_io_open flags, bits 16-19
PREFILL_BLOCK = 64  # tokens per prefill block: MOE_PREFILL_BLOCK in native/src/moe/moe_internal.h


def _lib():
    try:
        from ..runtime._esdk import ffi, lib
    except ImportError as e:
        raise EdgeSdkError(f"the native runtime is not built ({e}); reinstall with 'pip install -e .'") from None
    if not hasattr(lib, "esdk_moe_load"):
        raise EdgeSdkError("the native runtime was built without MoE support; reinstall with 'pip install -e .'")
    return ffi, lib


def _aligned(ffi, nbytes: int, alignment: int):
    raw = ffi.new("char[]", nbytes + alignment)
    addr = int(ffi.cast("uintptr_t", raw))
    return raw, ffi.cast("char *", raw) + ((-addr) % alignment)


@dataclass
class GenerationResult:
    tokens: list
    text: str | None
    seconds: float
    stats: dict = field(default_factory=dict)


class Generator:
    """Generator(artifact, experts=None, expert_cache_mb=None, mode="stream").

    mode: "stream" (cache of expert_cache_mb filled by the I/O thread, O_DIRECT unless
    direct=False), "resident" (whole bundle read into RAM), "mmap" (bundle memory-mapped,
    pages faulted in by the kernel: the baseline). policy: "lfu-quota" (LFU with
    decay within equal per-layer shares of the cache), "lfu" (LFU with decay) or "lru".
    kernels: "auto" (fastest on this CPU), "scalar", "avx2" (x86-64) or "neon" (aarch64); all give
    the same bits.
    io: the expert reader, "auto" (io_uring where the kernel allows it, else pread), "io_uring"
    (an error where it is unavailable) or "pread"; io_depth: io_uring reads in flight (1-16,
    default 4); io_threads: pread threads. `io_backend` says what runs (and why auto fell back).
    lookahead: layers whose experts are predicted ahead (0-3; default 0 for a model with a
    pre-attention router, whose own reads start before attention, else 1); speculate: "always"
    or "idle" (predicted reads only when no read is queued or in flight). cache_routing: 0 (exact routing,
    the default) to 1; above 0 the router prefers experts already in the cache (stream mode), which
    trades the model's exact routing for hits: the output then differs from an all-resident run.
    """

    def __init__(self, artifact, experts=None, expert_cache_mb: float | None = None, mode: str = "stream",
                 policy: str = "lfu-quota", prefetch: bool = True, prefetch_extra: int = 0, direct: bool = True,
                 max_seq: int = 1024, io_threads: int = 1, decay: float = 0.95, kernels: str = "auto",
                 lookahead: int | None = None, speculate: str = "always", cache_routing: float = 0.0,
                 io: str = "auto", io_depth: int | None = None):
        ffi, lib = _lib()
        self._ffi, self._lib = ffi, lib
        self.artifact = Path(artifact)
        self.bundle = Path(experts) if experts else self.artifact.with_suffix(".esmx")
        try:
            data = self.artifact.read_bytes()
        except OSError as e:
            raise ArtifactError(f"cannot read artifact {self.artifact}: {e.strerror}") from None
        self._data_raw, self._data = _aligned(ffi, max(len(data), 1), 64)
        ffi.memmove(self._data, data, len(data))
        self._m_raw, m = _aligned(ffi, lib.esdk_moe_size(), 64)
        self._m = ffi.cast("esdk_moe *", m)
        if lib.esdk_moe_load(self._m, self._data, len(data)) != 0:
            raise ArtifactError(f"{self.artifact}: {self._err()}")
        self.meta = read_meta(data)  # the bytes the loader has just checked (every entry's CRC)
        self.config = config_from_dict(self.meta.get("config", {})) if self.meta.get("config") else None
        if kernels not in KERNELS:
            raise EdgeSdkError(f"kernels must be one of {sorted(KERNELS)}, not {kernels!r}")
        self._check(lib.esdk_moe_set_kernels(self._m, KERNELS[kernels]))
        self.kernels = ffi.string(lib.esdk_moe_kernels(self._m)).decode()
        cfg = ffi.new("esdk_moe_config *")
        lib.esdk_moe_get_config(self._m, cfg)
        self.vocab, self.n_layers, self.top_k = cfg.vocab, cfg.n_layers, cfg.top_k
        self.n_experts = cfg.n_experts
        self.max_seq = int(max_seq)
        n = lib.esdk_moe_arena_size(self._m, self.max_seq)
        try:
            self._arena_raw, self._arena = _aligned(ffi, n, 64)
        except MemoryError:
            raise EdgeSdkError(f"cannot allocate the {n}-byte arena for max_seq {self.max_seq}") from None
        self._check(lib.esdk_moe_set_arena(self._m, self._arena, n, self.max_seq))
        # bundle header
        try:
            fsize = self.bundle.stat().st_size
            with open(self.bundle, "rb") as f:
                first = f.read(64)
                hsize = lib.esdk_moe_bundle_header_size(first) if len(first) == 64 else 0
                if hsize == 0:
                    raise ArtifactError(f"{self.bundle} is not an edge-sdk expert bundle")
                if hsize > 256 << 20:
                    raise ArtifactError(f"{self.bundle}: implausible header size")
                f.seek(0)
                header = f.read(hsize)
        except OSError as e:
            raise ArtifactError(f"cannot read expert bundle {self.bundle}: {e.strerror}") from None
        if lib.esdk_moe_set_bundle(self._m, header, len(header), fsize) != 0:
            raise ArtifactError(f"{self.bundle}: {self._err()}")
        self.expert_bytes = int(lib.esdk_moe_expert_bytes(self._m))
        self.total_expert_bytes = self.expert_bytes * self.n_layers * self.n_experts
        self.mode = mode
        self._mmap = None
        self._io = False
        self.io_backend = None
        if cache_routing and mode != "stream":
            raise EdgeSdkError(f"cache_routing needs mode 'stream' (a streamed cache); mode {mode!r} has no cache")
        if mode == "resident":
            self._xraw, self._x = _aligned(ffi, fsize, 4096)
            with open(self.bundle, "rb") as f:
                f.readinto(ffi.buffer(self._x, fsize))
            self._check(lib.esdk_moe_set_expert_memory(self._m, self._x, fsize), ArtifactError)
        elif mode == "mmap":
            self._f = open(self.bundle, "rb")
            # MAP_PRIVATE, PROT_READ, no madvise: the kernel's default readahead (as an engine that
            # maps its weights and lets the page cache do the rest)
            self._mmap = mmap.mmap(self._f.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
            self._x = ffi.from_buffer("char[]", self._mmap)
            self._check(lib.esdk_moe_set_expert_memory(self._m, self._x, fsize), ArtifactError)
        elif mode == "stream":
            if expert_cache_mb is None:
                raise EdgeSdkError("mode 'stream' needs expert_cache_mb")
            if policy not in POLICIES:
                raise EdgeSdkError(f"policy must be one of {sorted(POLICIES)}, not {policy!r}")
            nbytes = int(expert_cache_mb * (1 << 20))
            self._craw, self._c = _aligned(ffi, max(nbytes, 4096), 4096)
            self._check(lib.esdk_moe_cache_init(self._m, self._c, nbytes, POLICIES[policy], float(decay)))
            self._check(lib.esdk_moe_set_prefetch(self._m, int(bool(prefetch)), int(prefetch_extra)))
            self._check(lib.esdk_moe_set_cache_routing(self._m, float(cache_routing)), EdgeSdkError)
            if speculate not in ("always", "idle"):
                raise EdgeSdkError(f"speculate must be 'always' or 'idle', not {speculate!r}")
            if lookahead is None:  # the pre-attention router's exact reads suffice (docs/moe.md)
                lookahead = 0 if cfg.pre_router else 1
            if lib.esdk_moe_set_lookahead(self._m, int(lookahead), int(speculate == "idle")) != 0:
                raise EdgeSdkError(f"lookahead must be 0..3 layers, not {lookahead!r}")
            if io not in IO_BACKENDS:
                raise EdgeSdkError(f"io must be one of {sorted(IO_BACKENDS)}, not {io!r}")
            depth = 0 if io_depth is None else int(io_depth)
            if io_depth is not None and not 1 <= depth <= 16:
                raise EdgeSdkError(f"io_depth must be 1..16, not {io_depth!r}")
            if not 1 <= int(io_threads) <= 8:
                raise EdgeSdkError(f"io_threads must be 1..8, not {io_threads!r}")
            flags = (1 if direct else 0) | (int(io_threads) << 8) | (IO_BACKENDS[io] << 16) | (depth << 24)
            st = lib.esdk_moe_io_open(self._m, str(self.bundle).encode(), flags)
            if st != 0:  # ESDK_ERR_UNSUPPORTED: io_uring asked for where it is unavailable
                raise (EdgeSdkError if st == lib.ESDK_ERR_UNSUPPORTED else ArtifactError)(self._err())
            self._io = True
            self.io_backend = ffi.string(lib.esdk_moe_io_backend(self._m)).decode()
            self.cache_slots = int(lib.esdk_moe_cache_slots(self._m))
        else:
            raise EdgeSdkError(f"mode must be stream, resident or mmap, not {mode!r}")
        extra = self.config.extra if self.config else {}
        self.tokenizer = extra.get("tokenizer") or "hf"
        # what transformers' generate stops at by default (generation_config.json / config.json)
        eos = extra.get("eos_token_id") or []
        if not (isinstance(eos, list) and all(isinstance(t, int) for t in eos)):
            raise ArtifactError(f"{self.artifact}: eos_token_id in the meta entry is not a list of token ids")
        self.eos_token_ids = eos
        self._tok_blob = read_entry(data, ENTRY) if self.tokenizer == KIND else None
        self._tok_options = extra.get("tokenizer_options") or {}
        blob = read_entry(data, chat_template.ENTRY)
        try:
            self.chat_template = blob.decode("utf-8") if blob is not None else None
        except UnicodeDecodeError:
            raise ArtifactError(f"{self.artifact}: the chat_template entry is not UTF-8 text") from None
        self._chat_tokens = extra.get("chat_template_tokens") or {}
        if not (isinstance(self._chat_tokens, dict) and all(isinstance(v, str) for v in self._chat_tokens.values())):
            raise ArtifactError(f"{self.artifact}: chat_template_tokens in the meta entry is not a map of strings")
        self._hf_tok = None
        self._busy = threading.Lock()
        self._detok = None

    # -- helpers
    def _err(self) -> str:
        return self._ffi.string(self._lib.esdk_moe_error(self._m)).decode("utf-8", "replace")

    def _check(self, st: int, exc=RuntimeFailure) -> None:
        if st != 0:
            raise exc(self._err())

    def close(self) -> None:
        if getattr(self, "_io", False):
            self._lib.esdk_moe_io_close(self._m)
            self._io = False
        if getattr(self, "_mmap", None) is not None:
            self._x = None
            self._lib.esdk_moe_set_expert_memory  # keep lib alive
            try:
                self._mmap.close()
            except BufferError:
                pass
            self._f.close()
            self._mmap = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def _hf(self) -> HFTokenizer:
        if self._hf_tok is None:
            if self._tok_blob is None:
                raise ArtifactError(f"{self.artifact}: the tokenizer entry is missing")
            self._hf_tok = HFTokenizer(self._tok_blob, self._tok_options)
        return self._hf_tok

    def encode(self, text: str) -> list[int]:
        """Token ids of text: the model's own tokenizer (byte-level, or the Hugging Face
        tokenizer.json carried in the artifact, with its BOS if it adds one)."""
        if self.tokenizer == "bytes":
            return list(text.encode("utf-8"))
        if self.tokenizer == KIND:
            return self._hf().encode(text)
        raise EdgeSdkError("this model has no tokenizer (its directory had no tokenizer.json when it was "
                           "exported); pass token ids (--prompt-ids)")

    def render_chat(self, messages) -> str:
        """The prompt text of messages ([{"role": ..., "content": ...}, ...]) under the model's chat
        template, with the assistant's turn opened (add_generation_prompt=True), as transformers'
        apply_chat_template(messages, add_generation_prompt=True, tokenize=False)."""
        if self.chat_template is None:
            raise EdgeSdkError("this model has no chat template (its directory had none when it was exported)")
        if self.tokenizer != KIND:
            raise EdgeSdkError("this model has no tokenizer for its chat template (no tokenizer.json at export)")
        return chat_template.render(self.chat_template, messages, self._chat_tokens)

    def encode_chat(self, messages) -> list[int]:
        """Token ids of render_chat(messages), encoded without adding the tokenizer's special
        tokens (the template writes them), as apply_chat_template(..., tokenize=True)."""
        text = self.render_chat(messages)
        return self._hf().encode(text, add_special_tokens=False)

    def chat(self, messages, max_tokens: int = 64, **kw) -> GenerationResult:
        """generate() on the chat-template prompt of messages; the same keyword arguments."""
        return self.generate(self.encode_chat(messages), max_tokens, **kw)

    def decode(self, tokens) -> str | None:
        if self.tokenizer == "bytes":
            return bytes(t for t in tokens if 0 <= t < 256).decode("utf-8", "replace")
        if self.tokenizer == KIND:
            return self._hf().decode(tokens)
        return None

    # -- decoding
    def reset(self) -> None:
        self._check(self._lib.esdk_moe_reset(self._m))

    def step(self, token: int) -> np.ndarray:
        self._check(self._lib.esdk_moe_step(self._m, int(token)))
        return self.logits()

    def prefill(self, tokens) -> np.ndarray:
        """Feed several tokens at once (esdk_moe_prefill: layer by layer over blocks of 64, each
        routed expert read and computed once per block); the same bits as step() on each. Returns
        the logits of the last."""
        ids = [int(t) for t in tokens]
        self._check(self._lib.esdk_moe_prefill(self._m, self._ffi.new("int32_t[]", ids or [0]), len(ids)))
        return self.logits()

    @property
    def position(self) -> int:
        """Tokens in the KV cache (fed since the last reset)."""
        return int(self._lib.esdk_moe_position(self._m))

    def logits(self) -> np.ndarray:
        p = self._lib.esdk_moe_logits(self._m)
        return np.frombuffer(self._ffi.buffer(p, 4 * self.vocab), dtype=np.float32).copy()

    def routing(self) -> np.ndarray:
        p = self._lib.esdk_moe_last_routing(self._m)
        return np.frombuffer(self._ffi.buffer(p, 4 * self.n_layers * self.top_k), dtype=np.int32).reshape(
            self.n_layers, self.top_k).copy()

    def generate(self, prompt, max_tokens: int = 64, temperature: float = 0.0, top_k: int = 0, seed: int = 0,
                 stop="eos", reset: bool = True, top_p: float = 1.0, on_token=None,
                 on_text=None, prefill: bool = True) -> GenerationResult:
        """prompt: text or token ids. temperature > 0 samples (0: greedy) from the top_k most likely
        tokens (0: all), then from the fewest most likely whose probability reaches top_p (1: off),
        as transformers' top-k and top-p warpers. stop: "eos" (the default: the model's end-of-sequence ids,
        as transformers' generate; none for a model without them), a token id, a list of ids, or
        None (run to max_tokens). The stop token is the last of `tokens`; `text` leaves it out.

        on_token(id), called as each new token is generated (the stop token too), returns a true
        value to stop there (the result then holds the tokens so far). on_text(piece) receives the
        text as it becomes final: the pieces joined equal `text` (a character split over several
        tokens comes whole; a model without a tokenizer has no text and never calls it). Both run
        on the calling thread; an exception raised in either (KeyboardInterrupt too) stops
        generation and propagates. The tokens are the same with and without them.

        prefill: the prompt, all but its last token, is fed in blocks (prefill()); False feeds it
        one step() at a time. The bits are the same; blocks read each expert once per block."""
        ids, stops = self._check_args(prompt, max_tokens, top_p), self.stop_ids(stop)
        if not (on_token or on_text):
            return self._generate(ids, max_tokens, temperature, top_k, seed, stops, reset, top_p, None, prefill)
        detok = IncrementalDecoder(self.decode, *self._detok_rules()) if on_text and self.tokenizer_kind() else None

        def each(t: int) -> bool:
            stop_now = bool(on_token(t)) if on_token else False
            if detok is not None and t not in stops:
                piece = detok.push(t)
                if piece:
                    on_text(piece)
            return stop_now

        res = self._generate(ids, max_tokens, temperature, top_k, seed, stops, reset, top_p, each, prefill)
        if detok is not None:
            piece = detok.finish()
            if piece:
                on_text(piece)
        return res

    def stream(self, prompt, max_tokens: int = 64, chat: bool = False, **kw) -> TextStream:
        """An iterator over the text pieces of generate(prompt, max_tokens, **kw) as they are
        generated; its `result` is the GenerationResult once the iterator is exhausted (or closed:
        then the tokens generated so far). chat=True: prompt is a list of messages, as chat().
        The arguments are checked here, before it starts."""
        for k in ("on_token", "on_text"):
            if k in kw:
                raise EdgeSdkError(f"stream() makes its own {k}; use generate(..., {k}=...)")
        if chat:
            prompt = self.encode_chat(prompt)
        self._check_args(prompt, max_tokens, kw.get("top_p", 1.0))
        return TextStream(lambda **cb: self.generate(prompt, max_tokens, **kw, **cb))

    def tokenizer_kind(self) -> str | None:
        """"bytes", "hf-tokenizers", or None for a model exported without a tokenizer."""
        return self.tokenizer if self.tokenizer in ("bytes", KIND) else None

    def _detok_rules(self) -> tuple:
        """IncrementalDecoder's (cleanup, hold_ids) for this model's decode."""
        if self.tokenizer != KIND:
            return False, frozenset()
        if self._detok is None:
            self._detok = (self._hf().cleans_up, self._hf().byte_fallback_ids)
        return self._detok

    def _check_args(self, prompt, max_tokens, top_p):
        try:
            ids = self.encode(prompt) if isinstance(prompt, str) else [int(t) for t in prompt]
        except (TypeError, ValueError):
            raise EdgeSdkError("the prompt must be text or token ids (messages: chat(), or stream(..., chat=True))") from None
        if not ids:
            raise EdgeSdkError("the prompt is empty")
        if max_tokens < 0:
            raise EdgeSdkError("max_tokens must be >= 0")
        if not 0.0 < top_p <= 1.0:
            raise EdgeSdkError(f"top_p must be in (0, 1], not {top_p!r}")
        if len(ids) + max_tokens > self.max_seq:
            raise EdgeSdkError(f"prompt + max_tokens = {len(ids) + max_tokens} exceeds max_seq {self.max_seq}")
        if any(t < 0 or t >= self.vocab for t in ids):
            raise EdgeSdkError(f"token ids must be in [0, {self.vocab})")
        return ids

    def text_of(self, tokens, stop="eos") -> str | None:
        """The text of generated tokens as generate() gives it: a final stop token left out."""
        stops = self.stop_ids(stop)
        return self.decode(tokens[:-1] if tokens and tokens[-1] in stops else tokens)

    def stop_ids(self, stop) -> list[int]:
        """The token ids generate(stop=stop) stops at."""
        return self.eos_token_ids if isinstance(stop, str) and stop == "eos" else (
            [] if stop is None else [int(stop)] if isinstance(stop, (int, np.integer)) else [int(t) for t in stop])

    def _generate(self, ids, max_tokens, temperature, top_k, seed, stops, reset, top_p, each,
                  prefill=True) -> GenerationResult:
        if not self._busy.acquire(blocking=False):
            raise EdgeSdkError("this Generator is already generating (one generation at a time)")
        try:
            return self._generate_locked(ids, max_tokens, temperature, top_k, seed, stops, reset, top_p, each,
                                         prefill)
        finally:
            self._busy.release()

    def _generate_locked(self, ids, max_tokens, temperature, top_k, seed, stops, reset, top_p, each, prefill):
        if reset:
            self.reset()
        self.reset_stats()
        ffi = self._ffi
        p = ffi.new("int32_t[]", ids)
        out = ffi.new("int32_t[]", max(max_tokens, 1))
        n = ffi.new("int32_t *")
        st_ids = ffi.new("int32_t[]", stops or [0])
        sink = TokenSink(each)
        if each is not None:
            handle = ffi.new_handle(sink)
            self._check(self._lib.esdk_moe_set_token_callback(self._m, token_callback(ffi, self._lib), handle))
        # the prompt but its last token is fed here, in blocks of PREFILL_BLOCK (esdk_moe_prefill
        # splits its input the same way) or one step at a time, so that Ctrl-C is seen between
        # blocks and not only at the first generated token; generate then starts from the last
        first, chunk = len(ids) - 1, (PREFILL_BLOCK if prefill else 1)
        t0 = time.perf_counter()
        try:
            with sink:
                st = 0
                for i in range(0, first, chunk):
                    st = self._lib.esdk_moe_prefill(self._m, p + i, min(chunk, first - i))
                    if st != 0:
                        break
                if st == 0:
                    st = self._lib.esdk_moe_generate_until(self._m, p + first, len(ids) - first, int(max_tokens),
                                                           float(temperature), int(top_k), float(top_p),
                                                           int(seed) & 0xFFFFFFFFFFFFFFFF, st_ids, len(stops), out, n)
        finally:
            if each is not None:
                self._lib.esdk_moe_set_token_callback(self._m, ffi.NULL, ffi.NULL)
        dt = time.perf_counter() - t0
        if sink.error is not None:
            raise sink.error
        if st != 0:
            raise RuntimeFailure(f"generation failed: {self._err()}")
        toks = [out[i] for i in range(n[0])]
        return GenerationResult(toks, self.text_of(toks, stops), dt, self.stats(dt))

    def reset_stats(self) -> None:
        """Start counting the statistics (stats()) afresh; generate() does this itself."""
        self._lib.esdk_moe_reset_stats(self._m)

    def stats(self, seconds: float | None = None) -> dict:
        s = self._ffi.new("esdk_moe_stats *")
        self._lib.esdk_moe_get_stats(self._m, s)
        uses = max(s.expert_uses, 1)
        tok = max(s.tokens, 1)
        d = {"tokens": int(s.tokens), "expert_uses": int(s.expert_uses), "hits": int(s.hits), "late": int(s.late),
             "misses": int(s.misses), "stalls": int(s.stalls), "stall_s": float(s.stall_s), "reads": int(s.reads),
             "bytes_read": int(s.bytes_read), "io_s": float(s.io_s), "evictions": int(s.evictions),
             "prefetch_dropped": int(s.prefetch_dropped), "prefetch_cancelled": int(s.prefetch_cancelled),
             "reused": int(s.reused), "reuse_rate": s.reused / uses, "rerouted": int(s.rerouted),
             "hit_rate": s.hits / uses,
             "precision": (s.predicted_used / s.predicted) if s.predicted else None,
             "recall": (s.predicted_used / s.predict_needed) if s.predict_needed else None,
             "mib_per_token": s.bytes_read / tok / (1 << 20), "io_backend": self.io_backend}
        # the prompt blocks (esdk_moe_prefill) and decoding apart: "prefill" and "decode"
        pre = {"tokens": int(s.prefill_tokens), "seconds": float(s.prefill_s), "expert_uses": int(s.prefill_uses),
               "hits": int(s.prefill_hits), "reused": int(s.prefill_reused), "reads": int(s.prefill_reads),
               "bytes_read": int(s.prefill_bytes)}
        dec = {"tokens": int(s.tokens - s.prefill_tokens), "expert_uses": int(s.expert_uses - s.prefill_uses),
               "hits": int(s.hits - s.prefill_hits), "reused": int(s.reused - s.prefill_reused),
               "reads": int(s.reads - s.prefill_reads),
               "bytes_read": int(s.bytes_read - s.prefill_bytes)}
        if seconds:
            d["seconds"] = seconds
            d["tokens_per_s"] = s.tokens / seconds
            dec["seconds"] = max(seconds - s.prefill_s, 0.0)
        for part in (pre, dec):
            part["hit_rate"] = part["hits"] / part["expert_uses"] if part["expert_uses"] else None
            part["reuse_rate"] = part["reused"] / part["expert_uses"] if part["expert_uses"] else None
            part["mib_per_token"] = part["bytes_read"] / max(part["tokens"], 1) / (1 << 20)
            if part.get("seconds"):
                part["tokens_per_s"] = part["tokens"] / part["seconds"]
        d["prefill"], d["decode"] = pre, dec
        return d
