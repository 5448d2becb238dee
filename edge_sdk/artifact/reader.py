"""Reads and validates .esm bytes (docs/format.md). The second reader beside native/."""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ArtifactError
from . import layout as L
from .opcodes import ABSENT, BY_CODE, DTYPE_NAMES, DTYPE_SIZES, MAX_RANK


@dataclass
class TensorRecord:
    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    storage: int
    flags: int
    offset: int
    nbytes: int
    scale: float
    zero_point: int

    @property
    def is_const(self) -> bool:
        return self.storage == L.STORAGE_CONST

    @property
    def quantized(self) -> bool:
        return bool(self.flags & L.FLAG_QUANT)


@dataclass
class OpRecord:
    index: int
    name: str
    inputs: list[int | None]
    outputs: list[int]
    params: list[int]  # raw words


@dataclass
class Artifact:
    data: bytes
    version: tuple[int, int]
    arena_size: int
    sections: dict[str, tuple[int, int]]
    tensors: list[TensorRecord]
    ops: list[OpRecord]
    inputs: list[int]
    outputs: list[int]
    meta: dict[str, Any] = field(default_factory=dict)

    def constant(self, t: TensorRecord) -> np.ndarray:
        off = self.sections["CNST"][0] + t.offset
        return np.frombuffer(self.data, dtype=np.dtype(t.dtype).newbyteorder("<"),
                             count=t.nbytes // DTYPE_SIZES[_DT[t.dtype]], offset=off).reshape(t.shape)

    def param_float(self, word: int) -> float:
        return struct.unpack("<f", struct.pack("<i", word))[0]


_DT = {v: k for k, v in DTYPE_NAMES.items()}


def _fail(msg: str) -> ArtifactError:
    return ArtifactError(f"invalid artifact: {msg}")


def read_artifact(data: bytes, check_crc: bool = True) -> Artifact:
    data = bytes(data)
    n = len(data)
    if n < L.HEADER.size:
        raise _fail(f"{n} bytes is shorter than the 64-byte header")
    magic, major, minor, hsize, nsec, fsize, arena, table, _flags, hcrc = L.HEADER.unpack_from(data, 0)
    if magic != L.MAGIC:
        raise _fail("bad magic (not an .esm file)")
    if major != L.VERSION[0]:
        raise ArtifactError(f"artifact format version {major}.{minor} is not supported (this reader: {L.VERSION[0]}.x)")
    if hsize != L.HEADER.size:
        raise _fail(f"header size {hsize}")
    if check_crc:
        hdr = bytearray(data[:L.HEADER.size])
        struct.pack_into("<I", hdr, L.HEADER_CRC_OFFSET, 0)
        if L.crc32(bytes(hdr)) != hcrc:
            raise _fail("header checksum mismatch")
    if fsize != n:
        raise _fail(f"file is {n} bytes but the header says {fsize} (truncated?)")
    if not 1 <= nsec <= 64 or table != L.HEADER.size or table + nsec * L.SECTION.size > n:
        raise _fail("section table out of range")
    sections: dict[str, tuple[int, int]] = {}
    spans = []
    for i in range(nsec):
        kind, _f, off, size, crc, _r = L.SECTION.unpack_from(data, table + i * L.SECTION.size)
        name = kind.decode("ascii", "replace")
        if off % L.ALIGN or off + size > n or off < table + nsec * L.SECTION.size:
            raise _fail(f"section {name!r} [{off}, {off + size}) outside the file or misaligned")
        if name in sections:
            raise _fail(f"section {name!r} appears twice")
        if check_crc and L.crc32(data[off:off + size]) != crc:
            raise _fail(f"section {name!r} checksum mismatch")
        sections[name] = (off, size)
        spans.append((off, off + size))
    spans.sort()
    for (a0, a1), (b0, _b1) in zip(spans, spans[1:]):
        if b0 < a1:
            raise _fail("sections overlap")
    for req in L.REQUIRED_SECTIONS:
        if req.decode() not in sections:
            raise _fail(f"required section {req.decode()!r} missing")

    def sec(name: str) -> bytes:
        off, size = sections[name]
        return data[off:off + size]

    strs = sec("STRS")

    def string(off: int) -> str:
        end = strs.find(b"\0", off)
        if off >= len(strs) or end < 0:
            raise _fail(f"string offset {off} outside STRS")
        return strs[off:end].decode("utf-8", "replace")

    tens = sec("TENS")
    if len(tens) % L.TENSOR.size:
        raise _fail("TENS size is not a multiple of 64")
    cnst_size = sections["CNST"][1]
    tensors = []
    for i in range(len(tens) // L.TENSOR.size):
        name_off, dt, rank, storage, flags, *rest = L.TENSOR.unpack_from(tens, i * L.TENSOR.size)
        dims, (off, nbytes, scale, zp) = rest[:MAX_RANK], rest[MAX_RANK:]
        if dt not in DTYPE_NAMES or rank > MAX_RANK or storage not in (0, 1):
            raise _fail(f"tensor {i}: bad dtype/rank/storage ({dt}/{rank}/{storage})")
        shape = tuple(dims[:rank])
        if any(d < 1 for d in shape):
            raise _fail(f"tensor {i}: dimension < 1 in {shape}")
        expect = int(np.prod(shape, dtype=object)) * DTYPE_SIZES[dt]
        if expect != nbytes:
            raise _fail(f"tensor {i}: {nbytes} bytes for shape {shape}")
        limit = cnst_size if storage == L.STORAGE_CONST else arena
        if off + nbytes > limit or (storage == L.STORAGE_CONST and off % L.ALIGN):
            raise _fail(f"tensor {i}: data [{off}, {off + nbytes}) outside its region ({limit} bytes)")
        tensors.append(TensorRecord(i, string(name_off), DTYPE_NAMES[dt], shape, storage, flags, off, nbytes, scale, zp))

    ioix_raw = sec("IOIX")
    ioix = struct.unpack(f"<{len(ioix_raw) // 4}I", ioix_raw[: len(ioix_raw) // 4 * 4])
    parm_raw = sec("PARM")
    parm = struct.unpack(f"<{len(parm_raw) // 4}i", parm_raw[: len(parm_raw) // 4 * 4])
    ops_raw = sec("OPS_")
    if len(ops_raw) % L.OP.size:
        raise _fail("OPS_ size is not a multiple of 16")
    ops = []
    for i in range(len(ops_raw) // L.OP.size):
        code, nin, nout, io0, p0, np_ = L.OP.unpack_from(ops_raw, i * L.OP.size)
        if code not in BY_CODE:
            raise _fail(f"op {i}: unknown opcode {code}")
        if io0 + nin + nout > len(ioix) or p0 + np_ > len(parm):
            raise _fail(f"op {i}: input/output or parameter range out of bounds")
        idx = ioix[io0:io0 + nin + nout]
        for t in idx:
            if t != ABSENT and t >= len(tensors):
                raise _fail(f"op {i}: tensor index {t} out of range")
        outs = list(idx[nin:])
        if any(t == ABSENT or tensors[t].is_const for t in outs):
            raise _fail(f"op {i}: output is absent or a constant")
        ops.append(OpRecord(i, BY_CODE[code].name, [None if t == ABSENT else t for t in idx[:nin]], outs,
                            list(parm[p0:p0 + np_])))

    grph = sec("GRPH")
    if len(grph) < 8:
        raise _fail("GRPH too short")
    gin, gout = struct.unpack_from("<II", grph, 0)
    if 8 + 4 * (gin + gout) > len(grph):
        raise _fail("GRPH counts exceed the section")
    gidx = struct.unpack_from(f"<{gin + gout}I", grph, 8)
    if any(t >= len(tensors) or tensors[t].is_const for t in gidx):
        raise _fail("graph input/output index invalid")
    meta = {}
    if "META" in sections:
        try:
            meta = json.loads(sec("META").decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise _fail(f"META is not JSON ({e.__class__.__name__})") from None
    return Artifact(data, (major, minor), arena, sections, tensors, ops, list(gidx[:gin]), list(gidx[gin:]), meta)
