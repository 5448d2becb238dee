"""Writers (and a small reader) for the MoE artifact (.esmoe) and expert bundle (.esmx).

Layouts are specified in docs/moe.md; the C loader is native/src/moe/moe.c.
Canonical weight names (float32 numpy arrays, [out, in] like torch Linear):
  tok_emb [V,D], norm [D], lm_head [V,D] (absent when tied),
  L{i}.attn_norm, L{i}.wq/wk/wv/wo, optional L{i}.bq/bk/bv, L{i}.q_norm/k_norm ([H*hd] / [KV*hd]
  normalised as a whole, or [hd] per head),
  L{i}.ffn_norm, L{i}.router [E,D], optional L{i}.sh_gate/sh_up [S,D], sh_down [D,S], sh_g [D],
  experts: L{i}.E{e}.gate [F,D], L{i}.E{e}.up [F,D], L{i}.E{e}.down [D,F].
"""
from __future__ import annotations

import json
import struct
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EdgeSdkError

PAGE = 4096
ART_MAGIC = b"ESDKMOE\0"
BUNDLE_MAGIC = b"ESDKMOEX"
ART_TABLE = 24 + 128  # the artifact's first tensor-table entry (48 bytes each), after header and config
QUANT = {"f32": 0, "none": 0, "int8": 1, "int4": 2}
QUANT_NAME = {0: "f32", 1: "int8", 2: "int4"}


@dataclass
class MoEConfig:
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab: int
    n_experts: int
    top_k: int
    d_ff_expert: int
    d_ff_shared: int = 0
    pre_router: bool = False
    norm_topk: bool = True
    shared_gate: bool = False
    tie_embeddings: bool = False
    max_seq: int = 2048
    expert_quant: int = 1
    rope_theta: float = 10000.0
    rms_eps: float = 1e-5
    extra: dict = field(default_factory=dict)  # tokenizer etc. (stored as JSON metadata)

    def words(self) -> bytes:
        ints = [self.n_layers, self.d_model, self.n_heads, self.n_kv_heads, self.head_dim, self.vocab,
                self.n_experts, self.top_k, self.d_ff_expert, self.d_ff_shared, int(self.pre_router),
                int(self.norm_topk), int(self.shared_gate), int(self.tie_embeddings), self.max_seq, self.expert_quant]
        b = struct.pack("<16I", *ints) + struct.pack("<2f", self.rope_theta, self.rms_eps)
        return b + b"\0" * (128 - len(b))

    def to_dict(self) -> dict:
        return asdict(self)


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def expert_layout(cfg: MoEConfig) -> tuple[list[tuple[int, int, int, int, int]], int]:
    """[(matrix offset, data offset inside matrix, rows, cols, row bytes)] and the record stride."""
    mats, off = [], 0
    for rows, cols in ((cfg.d_ff_expert, cfg.d_model), (cfg.d_ff_expert, cfg.d_model), (cfg.d_model, cfg.d_ff_expert)):
        rb = cols * 4 if cfg.expert_quant == 0 else cols if cfg.expert_quant == 1 else cols // 2
        data = _align(rows * 4, 64)
        mats.append((off, data, rows, cols, rb))
        off += _align(data + rb * rows, PAGE)
    return mats, off


def quantize_rows(w: np.ndarray, quant: int) -> tuple[np.ndarray, np.ndarray]:
    """(per-row scales float32, packed rows uint8 [rows, row_bytes])."""
    w = np.asarray(w, dtype=np.float32)
    if quant == 0:
        return np.ones(w.shape[0], np.float32), w.view(np.uint8).reshape(w.shape[0], -1)
    qmax = 127.0 if quant == 1 else 7.0
    amax = np.abs(w).max(axis=1)
    scale = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale[:, None]), -qmax - (quant == 2), qmax).astype(np.int8)
    if quant == 1:
        return scale, q.view(np.uint8)
    u = (q.astype(np.int16) + 8).astype(np.uint8)
    return scale, (u[:, 0::2] | (u[:, 1::2] << 4)).astype(np.uint8)


def dequantize_rows(scale: np.ndarray, packed: np.ndarray, quant: int, cols: int) -> np.ndarray:
    if quant == 0:
        return packed.view(np.float32).reshape(len(scale), cols)
    if quant == 1:
        return packed.view(np.int8).astype(np.float32) * scale[:, None]
    lo = (packed & 15).astype(np.int16) - 8
    hi = (packed >> 4).astype(np.int16) - 8
    q = np.empty((packed.shape[0], cols), np.float32)
    q[:, 0::2], q[:, 1::2] = lo, hi
    return q * scale[:, None]


def expert_record(cfg: MoEConfig, gate: np.ndarray, up: np.ndarray, down: np.ndarray) -> bytes:
    mats, stride = expert_layout(cfg)
    buf = bytearray(stride)
    for (off, data, rows, cols, rb), w in zip(mats, (gate, up, down)):
        if w.shape != (rows, cols):
            raise EdgeSdkError(f"expert matrix has shape {w.shape}, expected {(rows, cols)}")
        s, q = quantize_rows(w, cfg.expert_quant)
        buf[off:off + rows * 4] = s.tobytes()
        buf[off + data:off + data + rows * rb] = np.ascontiguousarray(q).tobytes()
    return bytes(buf)


def dense_names(cfg: MoEConfig, weights: dict) -> list[str]:
    names = ["tok_emb", "norm"] + ([] if cfg.tie_embeddings else ["lm_head"])
    for i in range(cfg.n_layers):
        for s in ("attn_norm", "wq", "wk", "wv", "wo", "bq", "bk", "bv", "q_norm", "k_norm", "ffn_norm", "router",
                  "sh_gate", "sh_up", "sh_down", "sh_g"):
            if f"L{i}.{s}" in weights:
                names.append(f"L{i}.{s}")
    return names


def write_artifact(path: str | Path, cfg: MoEConfig, weights: dict, blobs: dict | None = None) -> int:
    """Dense weights (float32) + config + JSON metadata, and named byte blobs (e.g. the
    tokenizer: {"tokenizer": bytes}) as further CRC-checked entries. Returns bytes written."""
    names = dense_names(cfg, weights)
    meta = json.dumps({"format": "edge-sdk-moe", "config": cfg.to_dict()}).encode()
    extra = dict(blobs or {})
    clash = sorted(set(extra) & set(names + ["meta"]))
    if clash:
        raise EdgeSdkError(f"blob name clashes with a tensor: {clash[0]}")
    blobs = [np.ascontiguousarray(weights[n], dtype=np.float32).tobytes() for n in names] + [meta, *extra.values()]
    names = names + ["meta", *extra]
    n = len(names)
    table_end = ART_TABLE + 48 * n
    off = _align(table_end, 64)
    entries, offsets = [], []
    for nm, b in zip(names, blobs):
        if len(nm.encode()) > 32:
            raise EdgeSdkError(f"tensor name too long: {nm}")
        offsets.append(off)
        entries.append(nm.encode().ljust(32, b"\0") + struct.pack("<QII", off, len(b), zlib.crc32(b)))
        off = _align(off + len(b), 64)
    body = cfg.words() + b"".join(entries)
    head = ART_MAGIC + struct.pack("<III", 1, n, 32) + struct.pack("<I", zlib.crc32(body))
    out = bytearray(off)
    out[:24] = head
    out[24:table_end] = body
    for o, b in zip(offsets, blobs):
        out[o:o + len(b)] = b
    Path(path).write_bytes(bytes(out))
    return len(out)


def write_bundle(path: str | Path, cfg: MoEConfig, experts) -> int:
    """experts(layer, e) -> (gate [F,D], up [F,D], down [D,F]) float32. Streams to disk."""
    _, stride = expert_layout(cfg)
    L, E = cfg.n_layers, cfg.n_experts
    data_off = _align(64 + 16 * L * E, PAGE)
    total = data_off + stride * L * E
    crcs = []
    with open(path, "wb") as f:
        f.seek(data_off)
        for l in range(L):
            for e in range(E):
                rec = expert_record(cfg, *experts(l, e))
                crcs.append(zlib.crc32(rec))
                f.write(rec)
        table = b"".join(struct.pack("<QII", data_off + i * stride, c, 0) for i, c in enumerate(crcs))
        h = BUNDLE_MAGIC + struct.pack("<6I", 1, L, E, cfg.d_model, cfg.d_ff_expert, cfg.expert_quant)
        h += struct.pack("<QQQ", stride, data_off, total)
        crc = zlib.crc32(h) ^ zlib.crc32(table)
        f.seek(0)
        f.write(h + struct.pack("<II", crc, 0) + table)
    return total


def entry_span(data: bytes, name: str) -> tuple[int, int] | None:
    """(offset, size) of the named entry in an artifact's contents, None if it has none."""
    n = struct.unpack_from("<I", data, 12)[0]
    for i in range(n):
        e = ART_TABLE + 48 * i
        if data[e:e + 32].rstrip(b"\0").decode(errors="replace") == name:
            return struct.unpack_from("<QI", data, e + 32)
    return None


def read_entry(data: bytes, name: str) -> bytes | None:
    """One entry's bytes from an artifact's contents, None if it has none of that name (Python
    side: Generator reads entries only after the C loader has checked all their bounds and CRCs)."""
    span = entry_span(data, name)
    return None if span is None else bytes(data[span[0]:span[0] + span[1]])


def read_meta(path: str | Path | bytes) -> dict:
    """Config + metadata from an artifact (its path or its contents)."""
    is_data = isinstance(path, (bytes, bytearray))
    data = path if is_data else Path(path).read_bytes()
    where = "artifact" if is_data else str(path)
    if data[:8] != ART_MAGIC:
        raise EdgeSdkError(f"{where} is not an edge-sdk MoE artifact")
    meta = read_entry(data, "meta")
    try:
        d = json.loads(meta) if meta is not None else {}
    except ValueError as e:  # the CRC matches, the contents do not parse (not UTF-8, not JSON)
        raise EdgeSdkError(f"{where}: the meta entry is not valid JSON ({e})") from None
    cfg = d.get("config") if isinstance(d, dict) else None
    if not isinstance(d, dict) or (cfg is not None and not (isinstance(cfg, dict) and isinstance(cfg.get("extra", {}), dict))):
        raise EdgeSdkError(f"{where}: the meta entry is not a JSON object with a config object")
    return d


def config_from_dict(d: dict) -> MoEConfig:
    try:
        return MoEConfig(**{k: v for k, v in d.items() if k in MoEConfig.__dataclass_fields__})
    except TypeError as e:  # a field missing
        raise EdgeSdkError(f"incomplete MoE config ({e})") from None
