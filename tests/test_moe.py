"""MoE decoder: export, bit-exact streamed-vs-resident decoding, cache policies, faults,
CLI. Tiny randomly initialised models (seconds); @slow trains one on local text."""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_sdk import Generator  # noqa: E402
from edge_sdk.errors import EdgeSdkError  # noqa: E402
from edge_sdk.moe.export import export_dir  # noqa: E402
from edge_sdk.moe.hf import read_safetensors  # noqa: E402
from edge_sdk.moe.policies import LFU, LRU, Quota, Step, replay  # noqa: E402
from edge_sdk.moe.trace import belady_hits, routing_keys  # noqa: E402
from models.moe_lm import build, model_from_config  # noqa: E402

PROMPT = list(b"def main():\n    ")
# expert readers (Generator io=, io_depth=): pread, and io_uring with one and several reads in flight
READERS = [("pread", None), ("io_uring", 1), ("io_uring", 4)]


@pytest.fixture(scope="module")
def tiny(moe_tiny):
    """name -> artifact path, for a few model variants (int8 / int4 / f32, pre-router, shared)."""
    return moe_tiny


@pytest.fixture(scope="module")
def uring(moe_uring):
    return moe_uring


def _reader(uring, io, depth=None) -> dict:
    if io == "io_uring" and uring:
        pytest.skip(uring)
    return {"io": io, "io_depth": depth}


def _run(gen, n=24, **kw):
    res = gen.generate(PROMPT, n, **kw)
    gen.reset()
    logits = np.stack([gen.step(t) for t in PROMPT + res.tokens[:-1]])
    return res, logits


@pytest.mark.parametrize("name", ["plain", "pre", "shared", "q4"])
@pytest.mark.parametrize("policy", ["lru", "lfu", "lfu-quota"])
def test_streamed_matches_resident_bit_exact(tiny, name, policy):
    ref = Generator(tiny[name], mode="resident")
    r_res, r_log = _run(ref)
    mb = 0.3 * ref.total_expert_bytes / 2**20  # a few experts of 16
    with Generator(tiny[name], expert_cache_mb=mb, policy=policy) as g:
        assert g.cache_slots < g.n_layers * g.n_experts
        s_res, s_log = _run(g)
        st = g.stats()
    assert s_res.tokens == r_res.tokens
    assert np.array_equal(s_log.view(np.uint32), r_log.view(np.uint32))  # logits bit for bit
    assert st["reads"] > 0 and st["evictions"] > 0
    assert st["hits"] + st["late"] + st["misses"] == st["expert_uses"] and st["late"] + st["misses"] == st["stalls"]
    assert 0 <= st["reused"] <= st["expert_uses"]
    # sampled decoding is deterministic for a seed and identical too
    a = ref.generate(PROMPT, 16, temperature=0.8, top_k=20, seed=7).tokens
    with Generator(tiny[name], expert_cache_mb=mb, policy=policy, direct=False) as g:
        assert g.generate(PROMPT, 16, temperature=0.8, top_k=20, seed=7).tokens == a


@pytest.mark.parametrize("io,depth", READERS)
@pytest.mark.parametrize("name", ["plain", "pre"])
def test_bit_exact_at_every_cache_size_and_prediction_setting(tiny, uring, name, io, depth):
    """From the smallest legal cache (top_k + 1 experts) to all experts, with each policy,
    lookahead depth and speculation mode, prediction off, and each expert reader: the tokens and
    logits of the all-resident run. With lookahead, queued guesses are cancelled while other
    reads are in flight (io_uring depth 4: several at once); a cancelled slot never turns READY."""
    reader = _reader(uring, io, depth)
    ref = Generator(tiny[name], mode="resident")
    r_res, r_log = _run(ref, n=16)
    per = ref.expert_bytes / 2**20
    total = ref.n_layers * ref.n_experts
    cancelled = 0
    for slots in (ref.top_k + 1, total // 4, total // 2, total):
        for policy, lookahead, speculate, extra, prefetch in [
                ("lfu", 0, "always", 0, True), ("lru", 1, "always", 0, True), ("lfu", 2, "idle", 1, True),
                ("lfu", 3, "always", 2, True), ("lfu-quota", 0, "always", 0, True),
                ("lfu-quota", 2, "always", 1, True), ("lfu-quota", 1, "always", 0, False)]:
            mb = (slots + 0.5) * per + 0.01
            with Generator(tiny[name], expert_cache_mb=mb, policy=policy, lookahead=lookahead, speculate=speculate,
                           prefetch_extra=extra, prefetch=prefetch, **reader) as g:
                assert g.cache_slots == slots
                assert g.io_backend.startswith("pread" if io == "pread" else f"io_uring depth {depth},")
                s_res, s_log = _run(g, n=16)
                st = g.stats()
            key = (slots, policy, lookahead, speculate, prefetch)
            assert s_res.tokens == r_res.tokens, key
            assert np.array_equal(s_log.view(np.uint32), r_log.view(np.uint32)), key
            assert st["hits"] + st["stalls"] == st["expert_uses"], key
            assert st["io_backend"] == g.io_backend
            cancelled += st["prefetch_cancelled"]
            if slots == total:  # everything fits: each expert is read at most once
                assert st["evictions"] == 0 and st["reads"] <= total, key
    assert cancelled > 0  # the cancellation path ran


@pytest.mark.parametrize("prefetch", [True, False])
@pytest.mark.parametrize("policy", ["lru", "lfu", "lfu-quota"])
def test_reuse_accounting_against_belady(tiny, policy, prefetch):
    """Prompt fed token by token (prefill=False). Without guesses (pre-attention router,
    lookahead 0) every read is for an expert the token uses, so reads = uses - reused exactly, reuse cannot beat Belady's clairvoyant MIN over
    the routing trace of the all-resident run, and it is exactly the offline replay of the same
    policy (edge_sdk/moe/policies.py) over that trace."""
    ref = Generator(tiny["pre"], mode="resident")
    toks = ref.generate(PROMPT, 20).tokens
    ref.reset()
    keys = routing_keys(ref, PROMPT + toks[:-1])
    L, E, K = ref.n_layers, ref.n_experts, ref.top_k
    steps = [Step(i // L, i % L, keys[i * K:(i + 1) * K]) for i in range(len(keys) // K)]
    offline = {"lru": LRU, "lfu": lambda: LFU(0.95), "lfu-quota": lambda: Quota(LFU(0.95), E, L)}[policy]
    per = ref.expert_bytes / 2**20
    for slots in (ref.top_k + 1, ref.n_layers * ref.n_experts // 3, ref.n_layers * ref.n_experts // 2):
        with Generator(tiny["pre"], expert_cache_mb=(slots + 0.5) * per, policy=policy, lookahead=0,
                       prefetch=prefetch) as g:
            r = g.generate(PROMPT, 20, prefill=False)  # token by token, as the trace
        st = r.stats
        assert r.tokens == toks and st["expert_uses"] == len(keys)
        assert st["reads"] == st["expert_uses"] - st["reused"], (slots, st)
        assert 0 < st["reused"] <= belady_hits(keys, slots), (slots, st["reused"], belady_hits(keys, slots))
        assert st["reused"] == round(replay(steps, slots, offline()) * len(keys)), (slots, st)


def test_grown_experts_export_from_a_directory(tmp_path):
    """export_dir(d_ff_scale=k), as bench/moe_io.py builds its bundle from a fresh directory: the
    experts grow k times (extra units with zero down columns) and the tokens and logits stay the
    model's own (to float rounding: the grown matvecs sum more, zero, terms)"""
    src = build(tmp_path / "hf", seed=4)
    export_dir(src, tmp_path / "m.esmoe", quantize="f32")
    export_dir(src, tmp_path / "g.esmoe", quantize="f32", d_ff_scale=4)
    a, b = Generator(tmp_path / "m.esmoe", mode="resident"), Generator(tmp_path / "g.esmoe", mode="resident")
    assert b.config.d_ff_expert == 4 * a.config.d_ff_expert and b.expert_bytes > 3 * a.expert_bytes
    assert b.generate(PROMPT, 20, stop=None).tokens == a.generate(PROMPT, 20, stop=None).tokens
    a.reset(), b.reset()
    np.testing.assert_allclose(b.prefill(PROMPT), a.prefill(PROMPT), rtol=1e-5, atol=1e-5)


def test_mmap_and_no_prefetch_match(tiny):
    ref = Generator(tiny["plain"], mode="resident").generate(PROMPT, 20).tokens
    assert Generator(tiny["plain"], mode="mmap").generate(PROMPT, 20).tokens == ref
    with Generator(tiny["plain"], expert_cache_mb=0.1, prefetch=False) as g:
        r = g.generate(PROMPT, 20)
        assert r.tokens == ref and r.stats["precision"] is None
    with Generator(tiny["plain"], expert_cache_mb=0.1, prefetch=True, prefetch_extra=1) as g:
        r = g.generate(PROMPT, 20)
        assert r.tokens == ref and r.stats["precision"] is not None and r.stats["recall"] > 0


@pytest.mark.parametrize("name", ["plain", "q4", "f32"])
def test_scalar_and_simd_kernels_same_bits(tiny, name):
    """The whole model decoded with the scalar expert kernels and with the fastest ones."""
    fast = Generator(tiny[name], mode="resident")
    if fast.kernels == "scalar":
        pytest.skip("this CPU has no SIMD expert kernel")
    f_res, f_log = _run(fast)
    s_res, s_log = _run(Generator(tiny[name], mode="resident", kernels="scalar"))
    assert f_res.tokens == s_res.tokens
    np.testing.assert_array_equal(f_log.view(np.uint32), s_log.view(np.uint32))


def test_pre_router_predicts_next_layer(tiny):
    """A pre-attention-router model reads its own layer's experts before attention and also
    predicts the next layer (its pre-router on the hidden state after attention)."""
    ref = Generator(tiny["pre"], mode="resident").generate(PROMPT, 20).tokens
    mb = 0.3 * Generator(tiny["pre"], mode="mmap").total_expert_bytes / 2**20
    with Generator(tiny["pre"], expert_cache_mb=mb, prefetch_extra=1, lookahead=1) as g:
        r = g.generate(PROMPT, 20)
    assert r.tokens == ref
    assert r.stats["precision"] is not None and 0 < r.stats["recall"] <= 1
    # default for a pre-router model: only the exact reads before attention, no guesses
    with Generator(tiny["pre"], expert_cache_mb=mb) as g:
        r = g.generate(PROMPT, 20)
    assert r.tokens == ref and r.stats["precision"] is None and r.stats["late"] + r.stats["hits"] > 0


def test_matches_torch_reference(tiny):
    gen = Generator(tiny["f32"], mode="resident")
    model = model_from_config(gen.config, seed=3)
    toks = PROMPT + [1, 2, 3]
    with torch.no_grad():
        ref = model(torch.tensor([toks]))[0][0].numpy()
    got = np.stack([gen.step(t) for t in toks])
    np.testing.assert_allclose(got, ref, atol=2e-5, rtol=1e-4)


def test_safetensors_roundtrip(tiny, tmp_path):
    src = build(tmp_path / "hf", seed=1)
    t = read_safetensors(src / "model.safetensors")
    assert t["model.layers.0.mlp.experts.3.up_proj.weight"].shape == (64, 64)


def _corrupt(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


@pytest.mark.parametrize("io,depth", READERS)
def test_corrupted_expert_detected(tiny, uring, tmp_path, io, depth):
    reader = _reader(uring, io, depth)
    art = tmp_path / "m.esmoe"
    shutil.copy(tiny["plain"], art)
    shutil.copy(tiny["plain"].with_suffix(".esmx"), art.with_suffix(".esmx"))
    b = art.with_suffix(".esmx")
    stride = struct.unpack_from("<QQ", b.read_bytes(), 32)
    _corrupt(b, stride[1] + 5 * stride[0] + 100)  # inside expert 5 of layer 0
    for kw in ({"expert_cache_mb": 1.0, **reader}, {"mode": "resident"}):
        with pytest.raises(EdgeSdkError, match="checksum mismatch"):
            Generator(art, **kw).generate(list(range(40, 120)), 40)


@pytest.mark.parametrize("io,depth", READERS)
def test_truncated_bundle_and_artifact(tiny, uring, tmp_path, io, depth):
    reader = _reader(uring, io, depth)
    art = tmp_path / "m.esmoe"
    shutil.copy(tiny["plain"], art)
    data = tiny["plain"].with_suffix(".esmx").read_bytes()
    art.with_suffix(".esmx").write_bytes(data[: len(data) - 5000])
    with pytest.raises(EdgeSdkError, match="truncated"):
        Generator(art, expert_cache_mb=1.0, **reader)
    a = tiny["plain"].read_bytes()
    art.write_bytes(a[: len(a) // 2])
    with pytest.raises(EdgeSdkError, match="truncated|out of bounds"):
        Generator(art, mode="resident")
    art.write_bytes(b"junk" * 100)
    with pytest.raises(EdgeSdkError, match="not an edge-sdk MoE"):
        Generator(art, mode="resident")


@pytest.mark.parametrize("io,depth", READERS)
def test_io_error_mid_generation_ends_with_error(tiny, uring, tmp_path, io, depth):
    reader = _reader(uring, io, depth)
    art = tmp_path / "m.esmoe"
    shutil.copy(tiny["plain"], art)
    b = art.with_suffix(".esmx")
    shutil.copy(tiny["plain"].with_suffix(".esmx"), b)
    ref = Generator(tiny["plain"], mode="resident").generate(PROMPT, 4).tokens
    data = b.read_bytes()
    for direct in (False, True):
        b.write_bytes(data)
        g = Generator(art, expert_cache_mb=0.1, direct=direct, **reader)
        assert g.generate(PROMPT, 4).tokens == ref
        os.truncate(b, 8192)  # the file shrinks under the running generator
        with pytest.raises(EdgeSdkError, match=r"^generation failed: expert bundle: short read \(file truncated\?\) at layer \d+ expert \d+$"):
            g.generate(list(range(30, 200)), 30)
        g.close()
    assert len(data) > 8192


def test_cache_too_small_and_bad_args(tiny):
    with pytest.raises(EdgeSdkError, match="too small"):
        Generator(tiny["plain"], expert_cache_mb=0.01)
    with pytest.raises(EdgeSdkError, match="policy"):
        Generator(tiny["plain"], expert_cache_mb=1, policy="fifo")
    g = Generator(tiny["plain"], mode="resident", max_seq=32)
    with pytest.raises(EdgeSdkError, match="exceeds max_seq"):
        g.generate(PROMPT, 100)
    for kw, msg in [({"io": "aio"}, "io must be one of"), ({"io_depth": 0}, "io_depth must be 1..16"),
                    ({"io_depth": 17}, "io_depth must be 1..16"),
                    ({"io": "io_uring", "io_threads": 2}, "io_uring runs one I/O thread")]:
        with pytest.raises(EdgeSdkError, match=msg):
            Generator(tiny["plain"], expert_cache_mb=1, **kw)


def test_io_backend_reported(tiny, uring):
    """auto is io_uring where io_uring_setup succeeds (else pread, saying why); io_threads > 1
    means pread threads; the backend is in stats() and in `generate --stats`."""
    with Generator(tiny["plain"], expert_cache_mb=1) as g:
        if uring:
            assert g.io_backend.startswith("pread, O_DIRECT (io_uring unavailable: "), g.io_backend
        else:
            assert g.io_backend == "io_uring depth 4, O_DIRECT"
        assert g.generate(PROMPT, 4).stats["io_backend"] == g.io_backend
    with Generator(tiny["plain"], expert_cache_mb=1, io_threads=2, direct=False) as g:
        assert g.io_backend == "pread, 2 threads, buffered"
    assert Generator(tiny["plain"], mode="resident").stats()["io_backend"] is None


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "edge_sdk.cli.main", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT)


def test_cli_export_and_generate(tmp_path):
    src = build(tmp_path / "hf", seed=2)
    r = _cli("export", src, "-o", tmp_path / "m.esmoe", "--quantize", "int8")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m.esmx").is_file()
    r = _cli("generate", tmp_path / "m.esmoe", "--experts", tmp_path / "m.esmx", "--prompt", "hello",
             "--max-tokens", "8", "--expert-cache-mb", "0.1", "--stats")
    assert r.returncode == 0, r.stderr
    for key in ("tokens/s", "hit rate", "reuse", "precision", "recall", "MiB/token", "stalls", "O_DIRECT"):
        assert key in r.stderr
    plain = r.stdout
    r = _cli("generate", tmp_path / "m.esmoe", "--prompt", "hello", "--max-tokens", "8", "--expert-cache-mb", "0.1",
             "--lookahead", "2", "--speculate", "idle", "--kernels", "scalar", "--io", "pread", "--stats")
    assert r.returncode == 0 and r.stdout == plain, r.stderr
    assert "reads, pread, O_DIRECT)" in r.stderr
    for bad in (["--expert-cache-mb", "0.001"], ["--expert-cache-mb", "0.1", "--lookahead", "9"],
                ["--expert-cache-mb", "0.1", "--speculate", "never"], ["--kernels", "sse9"],
                ["--expert-cache-mb", "0.1", "--io", "aio"], ["--expert-cache-mb", "0.1", "--io-depth", "17"]):
        r = _cli("generate", tmp_path / "m.esmoe", "--prompt", "x", *bad)
        assert r.returncode == 1 and r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1, bad


@pytest.mark.slow
def test_trained_model_routing_and_prediction(tmp_path):
    """Train a tiny MoE on local text for a few seconds: routing is skewed relative to
    uniform, and streamed decoding equals resident decoding."""
    sys.path.insert(0, str(ROOT / "bench"))
    import moe_train

    from edge_sdk.moe.format import MoEConfig
    from edge_sdk.moe.hf import write_hf_dir

    torch.set_num_threads(1)
    cfg = MoEConfig(**moe_train.TINY)
    try:
        model, info = moe_train.train(cfg, seconds=20, batch=8, seq=64, log=lambda s: None)
    except (OSError, ValueError) as e:
        pytest.skip(f"no local text to train on: {e}")
    dense, experts = model.export_weights()
    write_hf_dir(tmp_path / "hf", cfg, dense, experts)
    export_dir(tmp_path / "hf", tmp_path / "m.esmoe")
    ref = Generator(tmp_path / "m.esmoe", mode="resident").generate("import os\n", 32).tokens
    with Generator(tmp_path / "m.esmoe", expert_cache_mb=0.15) as g:
        r = g.generate("import os\n", 32)
    assert r.tokens == ref
    assert info["routing"]["entropy_rel_mean"] < 1.0
