"""`edge-sdk generate ART --experts BUNDLE --prompt "..." --max-tokens N --expert-cache-mb M [--stats]`."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from ..errors import EdgeSdkError


def register(app: typer.Typer) -> None:
    @app.command()
    def generate(
        artifact: Path = typer.Argument(..., help="MoE artifact (.esmoe, from edge-sdk export MODEL_DIR)"),
        experts: Optional[Path] = typer.Option(None, "--experts", help="expert bundle (.esmx; default: beside the artifact)"),
        prompt: Optional[str] = typer.Option(None, "--prompt", help="prompt text (the model's byte-level tokenizer or "
                                               "the tokenizer.json exported with it)"),
        prompt_ids: Optional[str] = typer.Option(None, "--prompt-ids", help="prompt as token ids: 1,2,3"),
        chat: bool = typer.Option(False, "--chat", help="--prompt is a user message, put in the model's chat "
                                  "template (exported from its tokenizer_config.json / chat_template.jinja)"),
        system: Optional[str] = typer.Option(None, "--system", help="with --chat: a system message before the user's"),
        max_tokens: int = typer.Option(64, "--max-tokens", help="token budget"),
        ignore_eos: bool = typer.Option(False, "--ignore-eos", help="do not stop at the model's end-of-sequence token(s) "
                                        "(generation_config.json / config.json, as transformers' generate)"),
        expert_cache_mb: Optional[float] = typer.Option(None, "--expert-cache-mb", help="RAM for the expert cache (default: all experts resident)"),
        policy: str = typer.Option("lfu-quota", help="cache policy: lfu-quota (LFU with decay within per-layer shares) | lfu (LFU with decay) | lru"),
        no_prefetch: bool = typer.Option(False, "--no-prefetch", help="demand reads only"),
        lookahead: Optional[int] = typer.Option(None, "--lookahead", help="layers predicted ahead, 0-3 (default: 0 with a pre-attention router, else 1)"),
        speculate: str = typer.Option("always", "--speculate", help="predicted reads: always | idle (only when no read is queued)"),
        cache_routing: float = typer.Option(0.0, "--cache-routing", help="0-1: prefer experts already in the cache (changes the output; 0 = exact routing)"),
        kernels: str = typer.Option("auto", "--kernels", help="expert kernels: auto | scalar | avx2 | neon (same bits)"),
        buffered: bool = typer.Option(False, "--buffered", help="read through the page cache (no O_DIRECT)"),
        io: str = typer.Option("auto", "--io", help="expert reader: auto (io_uring where the kernel allows, else pread) | io_uring | pread"),
        io_depth: Optional[int] = typer.Option(None, "--io-depth", help="io_uring reads in flight, 1-16 (default 4)"),
        mmap_baseline: bool = typer.Option(False, "--mmap", help="memory-map the bundle instead (baseline)"),
        temperature: float = typer.Option(0.0, help="0 = greedy"),
        top_k: int = typer.Option(0, "--top-k", help="sample from the k best tokens (0 = all)"),
        top_p: float = typer.Option(1.0, "--top-p", help="sample from the fewest best tokens holding this probability (1 = all)"),
        seed: int = typer.Option(0, help="sampling seed"),
        stats: bool = typer.Option(False, "--stats", help="print tokens/s, hit rate, prediction, MiB/token, stalls"),
        as_json: bool = typer.Option(False, "--json", help="machine-readable output (one object at the end)"),
        no_stream: bool = typer.Option(False, "--no-stream", help="print the text once generation ends instead of "
                                       "as it is generated"),
    ):
        """Generate text with a mixture-of-experts model, streaming experts from flash."""
        from ..moe.generator import Generator

        if max_tokens < 0:
            raise EdgeSdkError("--max-tokens must be >= 0")
        if (prompt is None) == (prompt_ids is None):
            raise EdgeSdkError("give exactly one of --prompt and --prompt-ids")
        if chat and prompt is None:
            raise EdgeSdkError("--chat needs --prompt (the user message), not --prompt-ids")
        if system is not None and not chat:
            raise EdgeSdkError("--system needs --chat")
        if expert_cache_mb is not None and expert_cache_mb <= 0:
            raise EdgeSdkError("--expert-cache-mb must be > 0")
        if cache_routing and expert_cache_mb is None:
            raise EdgeSdkError("--cache-routing needs --expert-cache-mb (a streamed cache)")
        mode = "mmap" if mmap_baseline else ("resident" if expert_cache_mb is None else "stream")
        if prompt_ids is not None:
            try:
                ids = [int(t) for t in prompt_ids.replace(" ", "").split(",") if t]
            except ValueError:
                raise EdgeSdkError("--prompt-ids must be comma-separated integers") from None
        with Generator(artifact, experts, expert_cache_mb=expert_cache_mb, mode=mode, policy=policy,
                       prefetch=not no_prefetch, direct=not buffered, lookahead=lookahead, speculate=speculate,
                       kernels=kernels, cache_routing=cache_routing, io=io, io_depth=io_depth) as gen:
            if chat:
                ids = gen.encode_chat(([{"role": "system", "content": system}] if system is not None else [])
                                      + [{"role": "user", "content": prompt}])
            elif prompt is not None:
                ids = gen.encode(prompt)
            n_prompt = len(ids)
            if n_prompt + max_tokens > gen.max_seq:
                raise EdgeSdkError(f"prompt + max tokens exceed the context ({gen.max_seq})")
            stream = not (as_json or no_stream)
            res, interrupted = _run(gen, ids, stream, dict(max_tokens=max_tokens, temperature=temperature, top_k=top_k,
                                                           top_p=top_p, seed=seed, stop=None if ignore_eos else "eos"))
            if as_json:
                typer.echo(json.dumps({"prompt_tokens": ids, "tokens": res.tokens, "text": res.text, "stats": res.stats,
                                       **({"interrupted": True} if interrupted else {})}, indent=2))
            else:
                if not stream:
                    sys.stdout.write(res.text if res.text is not None else " ".join(map(str, res.tokens)))
                sys.stdout.write("\n")
                sys.stdout.flush()
                if stats:
                    _print_stats(gen, res, n_prompt, mode, expert_cache_mb, policy, cache_routing)
            if interrupted:
                typer.echo("interrupted", err=True)
                raise SystemExit(130)


def _run(gen, ids, stream: bool, kw: dict):
    """(gen.generate's result, False), the text written to stdout piece by piece when stream; on
    Ctrl-C, (the tokens generated so far, True), the streamed text completed to their decoding."""
    toks: list[int] = []
    printed: list[str] = []
    has_text = gen.tokenizer_kind() is not None

    def on_text(piece: str) -> None:
        printed.append(piece)
        sys.stdout.write(piece)
        sys.stdout.flush()

    def on_token(t: int) -> None:
        if stream and not has_text:  # no tokenizer: the ids, as printed without streaming
            on_text(("" if not toks else " ") + str(t))
        toks.append(t)

    t0 = time.perf_counter()
    try:
        return gen.generate(ids, on_token=on_token, on_text=on_text if stream else None, **kw), False
    except KeyboardInterrupt:
        from ..moe.generator import GenerationResult

        dt = time.perf_counter() - t0
        text = gen.text_of(toks, kw["stop"])
        done = "".join(printed)
        if stream and text is not None and text.startswith(done):  # a character still incomplete, held back
            on_text(text[len(done):])
        return GenerationResult(toks, text, dt, gen.stats(dt)), True


def _print_stats(gen, res, n_prompt: int, mode: str, expert_cache_mb, policy: str, cache_routing: float) -> None:
    s = res.stats
    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    typer.echo(f"--- {n_prompt} prompt + {len(res.tokens)} new tokens: {s['tokens']} positions computed (the last "
               f"token is not fed back) in {res.seconds:.2f} s, {s.get('tokens_per_s', 0.0):.2f} tokens/s, mode {mode}"
               + (f", cache {expert_cache_mb:g} MiB ({gen.cache_slots} experts of "
                  f"{gen.expert_bytes / 1024:.0f} KiB), policy {policy}" if mode == 'stream' else ""), err=True)
    typer.echo(f"hit rate {pct(s['hit_rate'])} (ready when needed: {s['hits']} hits, {s['late']} late, "
               f"{s['misses']} misses of {s['expert_uses']}); reuse {pct(s['reuse_rate'])} (no read this token); "
               f"prediction precision {pct(s['precision'])}, recall {pct(s['recall'])}", err=True)
    typer.echo(f"read {s['mib_per_token']:.2f} MiB/token ({s['reads']} reads"
               + (f", {s['io_backend']}" if s.get("io_backend") else "") + f"); stalls {s['stalls']} "
               f"totalling {s['stall_s'] * 1000:.1f} ms", err=True)
    for name, part in (("prompt (prefill)", s["prefill"]), ("generation (decode)", s["decode"])):
        tps = part.get("tokens_per_s")
        typer.echo(f"{name}: {part['tokens']} tokens in {part.get('seconds', 0.0):.2f} s"
                   + (f", {tps:.2f} tokens/s" if tps else "") + f", hit rate {pct(part['hit_rate'])}, "
                   f"read {part['mib_per_token']:.2f} MiB/token ({part['reads']} reads)", err=True)
    if cache_routing:
        typer.echo(f"cache routing {cache_routing:g}: {s['rerouted']} of {s['expert_uses']} routed experts "
                   f"chosen for being cached instead of the router's own top-k", err=True)
