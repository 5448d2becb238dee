"""The `TRNP` section: the training plan as 32-bit words for native/src/train (layout in
native/src/train/trnp.h, prose in docs/finetune.md), and the artifact rewrite that adds it.

The inference loader skips unknown sections after checking their CRC, so a plan file is
still a valid .esm that edge_sdk.Session runs. The rewrite moves every arena tensor to its
offset in the training arena plan and sets the header's arena size to that arena.
"""
from __future__ import annotations

import struct

import numpy as np

from ..artifact import layout as L
from ..artifact.opcodes import ABSENT
from .kgraph import KGraph
from .memory import ArenaPlan
from .program import STEP_KINDS, Program

MAGIC = 0x504E5254  # "TRNP"
VERSION = 1
HEADER_WORDS = 32
STEP_WORDS = 8
LAYER_WORDS = 16
LOSSES = {"cross_entropy": 0, "mse": 1}
ROUNDING = {"nearest": 0, "stochastic": 1}
# conv / fc backward arithmetic: float32, or int8 gradients (rounded to nearest / stochastically)
BACKWARD = {"fp32": 0, "int8": 1, "int8-stochastic": 2}


def encode(kg: KGraph, prog: Program, ap: ArenaPlan, loss: str, lr: float, rounding: str, seed: int,
           scales: dict[int, np.ndarray], backward: str = "fp32") -> bytes:
    words: list[int] = [0] * HEADER_WORDS
    tables: list[int] = []  # appended after steps and layers; offsets fixed up below
    steps_off = HEADER_WORDS
    layers_off = steps_off + STEP_WORDS * len(prog.steps)
    tab_base = layers_off + LAYER_WORDS * len(prog.layers)

    def table(vals: list[int]) -> int:
        off = tab_base + len(tables)
        tables.extend(vals)
        return off

    def f32(a) -> list[int]:
        return list(np.asarray(a, np.float32).view(np.uint32).astype(np.int64))

    def goff(name):
        return ap.offsets[name] if name is not None else ABSENT

    body = []
    for st in prog.steps:
        flags = 0
        for k, (g, a) in enumerate(zip(st.g_in, st.acc)):
            if g is not None:
                flags |= (1 << (2 + k)) | ((1 << k) if a else 0)
        g_in = list(st.g_in) + [None] * (2 - len(st.g_in))
        body += [STEP_KINDS[st.kind], st.op if st.op >= 0 else ABSENT, goff(st.g_out), goff(g_in[0]), goff(g_in[1]),
                 flags, st.layer if st.layer >= 0 else ABSENT, 0]
    for li, u in enumerate(prog.layers):
        op = kg.ops[u.op]
        w = kg.tensors[op.inputs[1]]
        M, K = w.shape[0], w.nbytes // w.shape[0]
        sw = np.asarray(scales[u.op], np.float32)
        sx = np.float32(kg.tensors[op.inputs[0]].scale)
        rowmap = [ABSENT] * M
        for r, c in enumerate(u.channels):
            rowmap[c] = r
        # QAS: the int8 weight's gradient s_W*g, scaled by s_W^-2, times lr == lr/s_W * g (g: real-domain
        # gradient); the int32 bias's s_W*s_x*g scaled by (s_W s_x)^-2 == lr/(s_W s_x) * g
        lrw = (np.float64(lr) / sw.astype(np.float64)).astype(np.float32)
        lrb = (np.float64(lr) / (sw.astype(np.float64) * np.float64(sx))).astype(np.float32)
        slot = ap.slots[li]
        body += [u.op, op.inputs[1], op.inputs[2] if op.inputs[2] is not None else ABSENT, M, K, len(u.channels),
                 table(list(u.channels)), table(rowmap),
                 slot.weight_off if slot.weight_off is not None else ABSENT,
                 slot.bias_off if slot.bias_off is not None else ABSENT,
                 table(f32(sw)), table(f32(lrw)), table(f32(lrb)), 1 if u.bias else 0, 0, 0]
    logits_n = int(np.prod(kg.tensors[prog.logits].shape))
    hdr = [MAGIC, VERSION, len(prog.steps), len(prog.layers), steps_off, layers_off, LOSSES[loss], prog.logits,
           logits_n, ap.offsets[prog.steps[0].g_out], ap.params_off, ap.params_bytes, ROUNDING[rounding],
           seed & 0xFFFFFFFF, ap.arena_bytes, len(kg.ops), BACKWARD[backward]]
    words[:len(hdr)] = hdr
    allw = words + body + tables
    return struct.pack(f"<{len(allw)}I", *[w & 0xFFFFFFFF for w in allw])


def rewrite(data: bytes, kg: KGraph, ap: ArenaPlan, trnp: bytes, cnst: bytes | None = None) -> bytes:
    """Same artifact with arena offsets from `ap`, the training arena size, `trnp` as a TRNP
    section (replacing one already there) and, when given, new CNST bytes."""
    secs = []
    n = struct.unpack_from("<I", data, 12)[0]
    for i in range(n):
        kind, _f, off, size, _crc, _r = L.SECTION.unpack_from(data, L.HEADER.size + i * L.SECTION.size)
        if kind == b"TRNP":
            continue
        body = bytearray(data[off:off + size])
        if kind == b"TENS":
            for t in kg.tensors:
                if not t.is_const:
                    struct.pack_into("<Q", body, t.index * L.TENSOR.size + 32, ap.offsets[f"t{t.index}"])
        if kind == b"CNST" and cnst is not None:
            body = bytearray(cnst)
        secs.append((kind, bytes(body)))
    secs.append((b"TRNP", trnp))
    return pack(secs, ap.arena_bytes)


def pack(secs: list[tuple[bytes, bytes]], arena: int) -> bytes:
    table_off = L.HEADER.size
    pos = L.align(table_off + L.SECTION.size * len(secs))
    table, body = [], []
    for kind, blob in secs:
        pos = L.align(pos)
        table.append(L.SECTION.pack(kind, 0, pos, len(blob), L.crc32(blob), 0))
        body.append((pos, blob))
        pos += len(blob)
    out = bytearray(pos)
    out[table_off:table_off + L.SECTION.size * len(secs)] = b"".join(table)
    for off, blob in body:
        out[off:off + len(blob)] = blob
    hdr = bytearray(L.HEADER.pack(L.MAGIC, *L.VERSION, L.HEADER.size, len(secs), pos, L.align(arena), table_off, 0, 0))
    struct.pack_into("<I", hdr, L.HEADER_CRC_OFFSET, L.crc32(bytes(hdr)))
    out[:L.HEADER.size] = hdr
    return bytes(out)


def sections(data: bytes) -> dict[str, tuple[int, int]]:
    n = struct.unpack_from("<I", data, 12)[0]
    out = {}
    for i in range(n):
        kind, _f, off, size, _crc, _r = L.SECTION.unpack_from(data, L.HEADER.size + i * L.SECTION.size)
        out[kind.decode()] = (off, size)
    return out
