"""Seed corpus for fuzz_moe (tiny MoE models written by edge_sdk.moe: artifact + expert bundle in
one framed input, see fuzz_moe.c) and, with --mutations N, N mutations aimed at the headers,
counts, dims, offsets, sizes, quantization kinds and config fields, with the artifact's and the
bundle's CRCs rewritten afterwards (most of the time), so they reach the checks behind the CRCs.

Framing: u8 flags, u32 artifact length, artifact bytes, bundle bytes; the flags also choose
greedy or sampled decoding, the context and resident or streamed experts. Seeds set flags bits 0-1
(the target fixes the CRCs of libFuzzer's own mutations); the mutations written here clear them
(their CRCs are already what this script chose), so each file replays exactly as stored, and
`--split FILE DIR` turns one back into DIR/m.esmoe + DIR/m.esmx for `edge-sdk generate`.
"""
from __future__ import annotations

import argparse
import math
import struct
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from edge_sdk.moe.export import export_moe  # noqa: E402
from edge_sdk.moe.format import ART_TABLE, MoEConfig  # noqa: E402
CFG_WORDS = ["n_layers", "d_model", "n_heads", "n_kv_heads", "head_dim", "vocab", "n_experts", "top_k",
             "d_ff_expert", "d_ff_shared", "pre_router", "norm_topk", "shared_gate", "tie_embeddings", "max_seq",
             "expert_quant", "rope_theta", "rms_eps"]

# (config, optional dense tensors to add, blobs)
SEEDS = [
    (dict(n_layers=2, d_model=16, n_heads=2, n_kv_heads=1, head_dim=8, vocab=48, n_experts=4, top_k=2,
          d_ff_expert=16, max_seq=64, expert_quant=1), (), {}),
    (dict(n_layers=2, d_model=16, n_heads=4, n_kv_heads=2, head_dim=4, vocab=40, n_experts=3, top_k=2,
          d_ff_expert=8, max_seq=32, expert_quant=2, pre_router=True, tie_embeddings=True),
     ("bq", "bk", "bv", "q_norm_head", "k_norm_head"), {"tokenizer": b'{"model": {"type": "BPE"}}'}),
    (dict(n_layers=1, d_model=8, n_heads=2, n_kv_heads=2, head_dim=4, vocab=20, n_experts=2, top_k=1,
          d_ff_expert=8, d_ff_shared=8, shared_gate=True, norm_topk=False, max_seq=16, expert_quant=0),
     ("q_norm_whole", "k_norm_whole"), {}),
]


def tiny_model(cfg: MoEConfig, extras, seed: int):
    """Random dense weights (names as edge_sdk/moe/format.py) and experts for cfg."""
    rng = np.random.default_rng(seed)
    D, H, KV, hd, V, S = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.vocab, cfg.d_ff_shared

    def w(*shape):
        return (rng.standard_normal(shape) * 0.3).astype(np.float32)

    dense = {"tok_emb": w(V, D), "norm": 1 + w(D)}
    if not cfg.tie_embeddings:
        dense["lm_head"] = w(V, D)
    for i in range(cfg.n_layers):
        p = f"L{i}."
        dense.update({p + "attn_norm": 1 + w(D), p + "wq": w(H * hd, D), p + "wk": w(KV * hd, D),
                      p + "wv": w(KV * hd, D), p + "wo": w(D, H * hd), p + "ffn_norm": 1 + w(D),
                      p + "router": w(cfg.n_experts, D)})
        sizes = {"bq": H * hd, "bk": KV * hd, "bv": KV * hd, "q_norm_head": hd, "k_norm_head": hd,
                 "q_norm_whole": H * hd, "k_norm_whole": KV * hd}
        for x in extras:
            dense[p + x.split("_head")[0].split("_whole")[0]] = w(sizes[x])
        if S:
            dense.update({p + "sh_gate": w(S, D), p + "sh_up": w(S, D), p + "sh_down": w(D, S)})
            if cfg.shared_gate:
                dense[p + "sh_g"] = w(D)
    experts = {(l, e): (w(cfg.d_ff_expert, D), w(cfg.d_ff_expert, D), w(D, cfg.d_ff_expert))
               for l in range(cfg.n_layers) for e in range(cfg.n_experts)}
    return dense, lambda l, e: experts[(l, e)]


def frame(art: bytes, bundle: bytes, flags: int) -> bytes:
    return bytes([flags & 0xFF]) + struct.pack("<I", len(art)) + art + bundle


def unframe(data: bytes) -> tuple[int, bytes, bytes]:
    na = min(struct.unpack_from("<I", data, 1)[0], len(data) - 5)
    return data[0], data[5:5 + na], data[5 + na:]


def seeds() -> list[bytes]:
    out = []
    with tempfile.TemporaryDirectory() as d:
        for i, (kw, extras, blobs) in enumerate(SEEDS):
            cfg = MoEConfig(**kw)
            dense, experts = tiny_model(cfg, extras, i)
            art, bun = Path(d) / f"s{i}.esmoe", Path(d) / f"s{i}.esmx"
            export_moe(cfg, dense, experts, art, bun, blobs)
            a, b = art.read_bytes(), bun.read_bytes()
            out.append(frame(a, b, 3 | (i % 2) << 2 | (i % 4) << 3))  # resident
            out.append(frame(a, b, 3 | 32 | (i % 2) << 6 | (i == 0) << 7 | (i + 1) % 4 << 3))  # streamed
    return out


# ---------------------------------------------------------------- CRCs (docs/moe.md)
def fix_artifact(a: bytearray) -> None:
    if len(a) < ART_TABLE:
        return
    n = struct.unpack_from("<I", a, 12)[0]
    end = ART_TABLE + 48 * n
    if end > len(a):
        return
    for i in range(n):
        e = ART_TABLE + 48 * i
        off, nb = struct.unpack_from("<QI", a, e + 32)
        if off <= len(a) and nb <= len(a) - off:
            struct.pack_into("<I", a, e + 44, zlib.crc32(a[off:off + nb]))
    struct.pack_into("<I", a, 20, zlib.crc32(a[24:end]))


def fix_bundle(b: bytearray) -> None:
    if len(b) < 64:
        return
    L, E = struct.unpack_from("<II", b, 12)
    stride = struct.unpack_from("<Q", b, 32)[0]
    if L * E > (len(b) - 64) // 16:
        return
    for i in range(L * E):
        off = struct.unpack_from("<Q", b, 64 + 16 * i)[0]
        if off <= len(b) and stride <= len(b) - off:
            struct.pack_into("<I", b, 64 + 16 * i + 8, zlib.crc32(b[off:off + stride]))
    struct.pack_into("<I", b, 56, zlib.crc32(b[:56]) ^ zlib.crc32(b[64:64 + 16 * L * E]))


# ---------------------------------------------------------------- mutations
INTS = [0, 1, 2, 3, 7, 8, 64, 4096, 65536, 1 << 20, 1 << 22, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE]
FLOATS = [0.0, -1.0, math.nan, math.inf, -math.inf, 1e-45, 3e38, 1e-30]
U64S = [0, 4096, 8192, 1 << 32, 1 << 63, 2**64 - 4096, 2**64 - 1]


def _u32(rng, old: int) -> int:
    c = [*INTS, old + 1, old - 1, old * 2, old // 2, old ^ (1 << int(rng.integers(32)))]
    return int(rng.choice(c)) & 0xFFFFFFFF


def _entries(a: bytes) -> int:
    return min(struct.unpack_from("<I", a, 12)[0], max(0, (len(a) - ART_TABLE) // 48)) if len(a) >= ART_TABLE else 0


def mut_config(rng, a: bytearray, b: bytearray) -> None:
    """One config word; for the word the bundle repeats (n_layers), sometimes both files."""
    i = int(rng.integers(len(CFG_WORDS) + 2))
    pos = 24 + 4 * i
    if i in (16, 17):
        struct.pack_into("<f", a, pos, float(rng.choice(FLOATS)))
        return
    v = _u32(rng, struct.unpack_from("<I", a, pos)[0])
    struct.pack_into("<I", a, pos, v)
    bundle_word = {0: 12, 6: 16, 1: 20, 8: 24, 15: 28}.get(i)
    if bundle_word and len(b) >= 64 and rng.random() < 0.5:
        struct.pack_into("<I", b, bundle_word, v)


def mut_heads(rng, a: bytearray, b: bytearray) -> None:
    """n_heads / n_kv_heads / head_dim changed with the q and kv widths kept, so the tensor
    sizes still match and decoding runs with another head split."""
    H, KV, hd = struct.unpack_from("<3I", a, 24 + 8)
    q, kv = H * hd, KV * hd
    if not 0 < kv <= 1 << 16:  # an earlier mutation made it absurd: nothing to keep
        return
    cands = [d for d in range(1, kv + 1) if q % d == 0 and kv % d == 0]
    if not cands:
        return
    nhd = int(rng.choice(cands))
    struct.pack_into("<3I", a, 24 + 8, (q // nhd) & 0xFFFFFFFF, kv // nhd, nhd)


def mut_entry(rng, a: bytearray, b: bytearray) -> None:
    n = _entries(a)
    if not n:
        return
    e = ART_TABLE + 48 * int(rng.integers(n))
    k = int(rng.integers(4))
    if k == 0:  # offset
        off = struct.unpack_from("<Q", a, e + 32)[0]
        other = struct.unpack_from("<Q", a, ART_TABLE + 48 * int(rng.integers(n)) + 32)[0]
        struct.pack_into("<Q", a, e + 32, int(rng.choice([*U64S, off + 16, off - 16, off + 64, other, len(a)]))
                         % 2**64)
    elif k == 1:  # byte count
        struct.pack_into("<I", a, e + 40, _u32(rng, struct.unpack_from("<I", a, e + 40)[0]))
    elif k == 2:  # name: another entry's, or another layer's
        o = ART_TABLE + 48 * int(rng.integers(n))
        a[e:e + 32] = a[o:o + 32] if rng.random() < 0.5 else a[e:e + 32].replace(b"L0.", b"L9.").replace(b"L1.", b"L0.")
    else:
        a[e + int(rng.integers(32))] ^= 1 << int(rng.integers(8))


def mut_tensor_data(rng, a: bytearray, b: bytearray) -> None:
    """Non-finite or huge values inside the float tensors (or the expert records' scales)."""
    buf = a if rng.random() < 0.6 else b
    if len(buf) < 8:
        return
    for _ in range(int(rng.integers(1, 16))):
        pos = int(rng.integers(0, len(buf) - 4)) & ~3
        struct.pack_into("<f", buf, pos, float(rng.choice(FLOATS)))


def mut_art_header(rng, a: bytearray, b: bytearray) -> None:
    pos = int(rng.choice([8, 12, 16]))
    struct.pack_into("<I", a, pos, _u32(rng, struct.unpack_from("<I", a, pos)[0]))


def mut_bundle_header(rng, a: bytearray, b: bytearray) -> None:
    if len(b) < 64:
        return
    pos = int(rng.choice([8, 12, 16, 20, 24, 28, 32, 40, 48]))
    if pos >= 32:
        old = struct.unpack_from("<Q", b, pos)[0]
        struct.pack_into("<Q", b, pos, int(rng.choice([*U64S, old + 4096, old - 4096, old * 2, old // 2, len(b)]))
                         % 2**64)
    else:
        struct.pack_into("<I", b, pos, _u32(rng, struct.unpack_from("<I", b, pos)[0]))


def mut_bundle_table(rng, a: bytearray, b: bytearray) -> None:
    if len(b) < 64:
        return
    L, E = struct.unpack_from("<II", b, 12)
    n = min(L * E, (len(b) - 64) // 16)
    if not n:
        return
    e = 64 + 16 * int(rng.integers(n))
    off = struct.unpack_from("<Q", b, e)[0]
    other = struct.unpack_from("<Q", b, 64 + 16 * int(rng.integers(n)))[0]
    struct.pack_into("<Q", b, e, int(rng.choice([*U64S, off + 4096, off - 4096, other, len(b), len(b) - 4096]))
                     % 2**64)


def mut_truncate(rng, a: bytearray, b: bytearray) -> None:
    buf = a if rng.random() < 0.5 else b
    if buf:
        del buf[int(rng.integers(len(buf))):]


def mut_bits(rng, a: bytearray, b: bytearray) -> None:
    buf = a if rng.random() < 0.7 else b
    for _ in range(int(rng.integers(1, 4))):
        if buf:
            buf[int(rng.integers(len(buf)))] ^= 1 << int(rng.integers(8))


MUTATORS = [mut_config, mut_config, mut_config, mut_heads, mut_entry, mut_entry, mut_tensor_data, mut_art_header,
            mut_bundle_header, mut_bundle_header, mut_bundle_table, mut_truncate, mut_bits]


def mutate(rng, seed: bytes) -> bytes:
    flags, a, b = unframe(seed)
    a, b = bytearray(a), bytearray(b)
    for _ in range(int(rng.integers(1, 4))):
        try:
            MUTATORS[int(rng.integers(len(MUTATORS)))](rng, a, b)
        except struct.error:  # a field past the end of a file an earlier mutation truncated
            pass
    if rng.random() < 0.9:
        fix_artifact(a)
    if rng.random() < 0.9:
        fix_bundle(b)
    return frame(bytes(a), bytes(b), int(rng.integers(64)) << 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--mutations", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", type=Path, help="write this framed input as OUT/m.esmoe + OUT/m.esmx instead")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.split:
        flags, a, b = unframe(args.split.read_bytes())
        a, b = bytearray(a), bytearray(b)
        if flags & 1:
            fix_artifact(a)
        if flags & 2:
            fix_bundle(b)
        (args.out / "m.esmoe").write_bytes(a)
        (args.out / "m.esmx").write_bytes(b)
        return
    base = seeds()
    for i, s in enumerate(base):
        (args.out / f"seed_{i}.moe").write_bytes(s)
    rng = np.random.default_rng(args.seed)
    for i in range(args.mutations):
        (args.out / f"mut_{i}.moe").write_bytes(mutate(rng, base[i % len(base)]))


if __name__ == "__main__":
    main()
