"""Serialises a lowered model into .esm bytes (docs/format.md)."""
from __future__ import annotations

import json
import struct
from typing import Any, Sequence

import numpy as np

from ..errors import ArtifactError
from . import layout as L
from .opcodes import ABSENT, DTYPE_CODES, DTYPE_SIZES, MAX_RANK, OPCODES, VARIADIC_PARAMS

GRAPH_INPUT, GRAPH_OUTPUT = L.FLAG_INPUT, L.FLAG_OUTPUT

_PARAM_DEFAULTS = {"act_min": float("-inf"), "act_max": float("inf"), "qmin": -128, "qmax": 127}


class ArtifactBuilder:
    """Collects tensors and ops, then lays them out. Tensor handles are table indices."""

    def __init__(self) -> None:
        self.strings = bytearray(b"\0")
        self._string_index: dict[str, int] = {"": 0}
        self.tensors: list[bytes] = []
        self.tensor_names: list[str] = []
        self.const_blobs: list[tuple[int, bytes]] = []  # (tensor index, bytes)
        self.cnst_size = 0
        self.ops: list[bytes] = []
        self.ioix: list[int] = []
        self.parm = bytearray()
        self.graph_inputs: list[int] = []
        self.graph_outputs: list[int] = []
        self.arena_size: int | None = None
        self.meta: dict[str, Any] | None = None
        self._arena_end = 0

    # ---- tensors ------------------------------------------------------------------
    def _string(self, s: str) -> int:
        if s not in self._string_index:
            self._string_index[s] = len(self.strings)
            self.strings += s.encode("utf-8") + b"\0"
        return self._string_index[s]

    def _tensor(self, name, dtype, shape, storage, offset, nbytes, flags, scale, zero_point) -> int:
        if len(shape) > MAX_RANK:
            raise ArtifactError(f"tensor '{name}' has rank {len(shape)} > {MAX_RANK}")
        dims = list(int(d) for d in shape) + [1] * (MAX_RANK - len(shape))
        if scale is not None:
            flags |= L.FLAG_QUANT
        rec = L.TENSOR.pack(
            self._string(name), DTYPE_CODES[dtype], len(shape), storage, flags, *dims,
            offset, nbytes, float(scale if scale is not None else 0.0), int(zero_point),
        )
        self.tensors.append(rec)
        self.tensor_names.append(name)
        return len(self.tensors) - 1

    def activation(self, name: str, dtype: str, shape: Sequence[int], offset: int, flags: int = 0,
                   scale: float | None = None, zero_point: int = 0) -> int:
        nbytes = int(np.prod(shape, dtype=np.int64)) * DTYPE_SIZES[DTYPE_CODES[dtype]]
        self._arena_end = max(self._arena_end, offset + nbytes)
        return self._tensor(name, dtype, tuple(shape), L.STORAGE_ARENA, offset, nbytes, flags, scale, zero_point)

    def constant(self, name: str, data: np.ndarray, scale: float | None = None, zero_point: int = 0) -> int:
        data = np.ascontiguousarray(data)
        dtype = str(data.dtype)
        if dtype not in DTYPE_CODES:
            raise ArtifactError(f"constant '{name}' has dtype {dtype}, which artifacts cannot hold")
        raw = data.astype(data.dtype.newbyteorder("<"), copy=False).tobytes()
        offset = L.align(self.cnst_size)
        idx = self._tensor(name, dtype, data.shape, L.STORAGE_CONST, offset, len(raw), 0, scale, zero_point)
        self.const_blobs.append((offset, raw))
        self.cnst_size = offset + len(raw)
        return idx

    # ---- ops ------------------------------------------------------------------------
    def op(self, name: str, inputs: Sequence[int | None], outputs: Sequence[int],
           params: dict[str, Any] | None = None, extra: Sequence[int | float] = ()) -> int:
        spec = OPCODES[name]
        params = dict(params or {})
        words: list[bytes] = []
        for pname, kind in spec.params:
            v = params.pop(pname, _PARAM_DEFAULTS.get(pname, 0))
            words.append(struct.pack("<f", float(v)) if kind == "f" else struct.pack("<i", int(v)))
        for pname, kind in spec.tail:
            v = params.pop(pname, 0)
            if v:
                words.append(struct.pack("<f", float(v)) if kind == "f" else struct.pack("<i", int(v)))
        if params:
            raise ArtifactError(f"{name}: unknown parameters {sorted(params)}")
        if extra and name not in VARIADIC_PARAMS:
            raise ArtifactError(f"{name} takes no extra parameter words")
        for v in extra:
            words.append(struct.pack("<f", v) if isinstance(v, float) else struct.pack("<i", int(v)))
        io_start = len(self.ioix)
        self.ioix += [ABSENT if i is None else int(i) for i in inputs] + [int(o) for o in outputs]
        param_start = len(self.parm) // 4
        self.parm += b"".join(words)
        self.ops.append(L.OP.pack(spec.code, len(inputs), len(outputs), io_start, param_start, len(words)))
        return len(self.ops) - 1

    def set_io(self, inputs: Sequence[int], outputs: Sequence[int]) -> None:
        self.graph_inputs, self.graph_outputs = list(inputs), list(outputs)

    # ---- layout ---------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        arena = L.align(self.arena_size if self.arena_size is not None else self._arena_end)
        cnst = bytearray(L.align(self.cnst_size) if self.cnst_size else 0)
        for off, raw in self.const_blobs:
            cnst[off:off + len(raw)] = raw
        grph = struct.pack(f"<II{len(self.graph_inputs) + len(self.graph_outputs)}I",
                           len(self.graph_inputs), len(self.graph_outputs), *self.graph_inputs, *self.graph_outputs)
        sections = [
            (b"STRS", bytes(self.strings)),
            (b"TENS", b"".join(self.tensors)),
            (b"OPS_", b"".join(self.ops)),
            (b"IOIX", struct.pack(f"<{len(self.ioix)}I", *self.ioix)),
            (b"PARM", bytes(self.parm)),
            (b"GRPH", grph),
            (b"CNST", bytes(cnst)),
        ]
        if self.meta is not None:
            sections.append((b"META", json.dumps(self.meta, sort_keys=True, default=_json_default).encode()))
        table_off = L.HEADER.size
        pos = L.align(table_off + L.SECTION.size * len(sections))
        table, body = [], []
        for kind, data in sections:
            pos = L.align(pos)
            table.append(L.SECTION.pack(kind, 0, pos, len(data), L.crc32(data), 0))
            body.append((pos, data))
            pos += len(data)
        file_size = pos  # ends with the last section: no trailing bytes outside a checksum
        out = bytearray(file_size)
        out[table_off:table_off + L.SECTION.size * len(sections)] = b"".join(table)
        for off, data in body:
            out[off:off + len(data)] = data
        header = bytearray(L.HEADER.pack(L.MAGIC, *L.VERSION, L.HEADER.size, len(sections), file_size, arena,
                                         table_off, 0, 0))
        struct.pack_into("<I", header, L.HEADER_CRC_OFFSET, L.crc32(bytes(header)))
        out[:L.HEADER.size] = header
        return bytes(out)


def fix_crcs(data: bytes) -> bytes:
    """Recompute every CRC so tests can reach the checks that lie past them."""
    buf = bytearray(data)
    if len(buf) < L.HEADER.size:
        return bytes(buf)
    n = struct.unpack_from("<I", buf, 12)[0]
    table = struct.unpack_from("<I", buf, 32)[0]
    for i in range(min(n, 64)):
        at = table + i * L.SECTION.size
        if at + L.SECTION.size > len(buf):
            break
        kind, flags, off, size, _crc, res = L.SECTION.unpack_from(buf, at)
        if off + size <= len(buf):
            L.SECTION.pack_into(buf, at, kind, flags, off, size, L.crc32(bytes(buf[off:off + size])), res)
    struct.pack_into("<I", buf, L.HEADER_CRC_OFFSET, 0)
    struct.pack_into("<I", buf, L.HEADER_CRC_OFFSET, L.crc32(bytes(buf[:L.HEADER.size])))
    return bytes(buf)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(type(o).__name__)
