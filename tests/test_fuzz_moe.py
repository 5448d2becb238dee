"""The MoE loaders under the fuzzer: a bounded run of native/fuzz/fuzz_moe.c (artifact + expert
bundle, load, arena, bundle header, resident or streamed experts, a few decode steps; libFuzzer +
ASan/UBSan when clang has it), and the inputs it (and the Python-side replay of its mutations)
found, each through `edge-sdk generate`: a one-line error and exit status 1, no traceback.

Seeds: tiny models written by edge_sdk.moe (native/fuzz/make_corpus_moe.py)."""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "native" / "fuzz"))

import make_corpus_moe as corpus  # noqa: E402

from edge_sdk.moe.format import entry_span  # noqa: E402

FUZZ_SECONDS = int(os.environ.get("EDGE_SDK_FUZZ_SECONDS", "60"))


@pytest.mark.slow
def test_fuzz_moe_bounded(tmp_path):
    if not (shutil.which("clang") or shutil.which("gcc")):
        pytest.skip("no C compiler to build the fuzz target")
    p = subprocess.run(["bash", str(ROOT / "native/fuzz/run_fuzz.sh"), str(FUZZ_SECONDS), "moe"], cwd=ROOT,
                       env=dict(os.environ, FUZZ_WORK=str(tmp_path)), capture_output=True, text=True,
                       timeout=FUZZ_SECONDS + 600)
    tail = (p.stdout + p.stderr)[-3000:]
    assert p.returncode == 0, tail
    assert "ERROR" not in p.stderr and "runtime error" not in p.stderr, tail


@pytest.fixture(scope="module")
def model():
    """(artifact bytes, bundle bytes) of the first seed: int8 experts, 2 layers of 4 experts."""
    _, art, bundle = corpus.unframe(corpus.seeds()[0])
    return art, bundle


def _generate(tmp_path, art: bytes, bundle: bytes, *extra):
    (tmp_path / "m.esmoe").write_bytes(art)
    (tmp_path / "m.esmx").write_bytes(bundle)
    return subprocess.run([sys.executable, "-m", "edge_sdk.cli.main", "generate", str(tmp_path / "m.esmoe"),
                           "--prompt-ids", "1,2,3", "--max-tokens", "4", *extra], capture_output=True, text=True,
                          cwd=ROOT)


def _expert_offsets_wrap(art: bytearray, bundle: bytearray) -> None:
    """Every layer-0 expert at offset 2^64 - 4096: page aligned, past the data offset, and
    offset + stride wraps to below the file size (the check used to add them)."""
    n_experts = struct.unpack_from("<I", bundle, 16)[0]
    for e in range(n_experts):
        struct.pack_into("<Q", bundle, 64 + 16 * e, 2**64 - 4096)


def _head_sizes_wrap(art: bytearray, bundle: bytearray) -> None:
    """n_heads, n_kv_heads, head_dim whose products with d_model (16) wrap to the sizes of the
    stored q/k/v/o projections modulo 2^64 (the size check passed; the arena could not be made)."""
    a, b = 3 * 48912491, 11 * 11 * 683 * 2971  # a * b = 2^55 + 1: H*hd*D*4 = 2^65 + 1024
    struct.pack_into("<3I", art, 24 + 8, 2 * b, b, 8 * a)


def _meta(art: bytearray, edit) -> None:
    """Replace the meta entry's JSON in place by edit(its text) (at most as long, space padded)."""
    span = entry_span(art, "meta")
    assert span is not None, "no meta entry"
    off, nb = span
    text = edit(bytes(art[off:off + nb]))
    assert len(text) <= nb
    art[off:off + nb] = text.ljust(nb)


def _meta_not_json(art: bytearray, bundle: bytearray) -> None:
    _meta(art, lambda t: t[:40] + b"\xc0")


def _meta_config_incomplete(art: bytearray, bundle: bytearray) -> None:
    _meta(art, lambda t: b'{"config": {"vocab": 48}}')


def _eos_not_ids(art: bytearray, bundle: bytearray) -> None:
    def edit(t):
        d = json.loads(t)
        d["config"]["extra"]["eos_token_id"] = "2"
        return json.dumps(d, separators=(",", ":")).encode()
    _meta(art, edit)


@pytest.mark.parametrize("corrupt,message", [
    (_expert_offsets_wrap, "expert bundle: expert offset out of bounds"),
    (_head_sizes_wrap, "artifact: invalid model configuration"),
    (_meta_not_json, "the meta entry is not valid JSON"),
    (_meta_config_incomplete, "incomplete MoE config"),
    (_eos_not_ids, "eos_token_id in the meta entry is not a list of token ids"),
])
@pytest.mark.parametrize("mode", [[], ["--expert-cache-mb", "1"]], ids=["resident", "streamed"])
def test_corrupt_input_is_one_line_error(model, tmp_path, corrupt, message, mode):
    art, bundle = bytearray(model[0]), bytearray(model[1])
    ok = _generate(tmp_path, bytes(art), bytes(bundle), *mode)
    assert ok.returncode == 0 and ok.stdout.strip(), ok.stderr  # the model itself decodes
    corrupt(art, bundle)
    corpus.fix_artifact(art)  # checksums that match, so the loader's later checks are what refuse it
    corpus.fix_bundle(bundle)
    r = _generate(tmp_path, bytes(art), bytes(bundle), *mode)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_python_side_on_mutations(tmp_path, seed):
    """The Python half of the path (Generator: meta JSON, config, tokenizer kind, stop ids) on
    150 of make_corpus_moe.py's mutations each: every input decodes or fails with EdgeSdkError."""
    import numpy as np

    from edge_sdk import Generator
    from edge_sdk.errors import EdgeSdkError

    base, rng, failed = corpus.seeds(), np.random.default_rng(seed), 0
    for i in range(150):
        flags, art, bundle = corpus.unframe(corpus.mutate(rng, base[i % len(base)]))
        (tmp_path / "m.esmoe").write_bytes(art)
        (tmp_path / "m.esmx").write_bytes(bundle)
        streamed = {"expert_cache_mb": 1.0} if flags & 32 else {"mode": "resident"}
        try:
            with Generator(tmp_path / "m.esmoe", max_seq=64, **streamed) as g:
                g.generate([1, 2, 3], 3)
        except EdgeSdkError:
            failed += 1
    assert 0 < failed < 150  # many mutations are refused, some still decode
