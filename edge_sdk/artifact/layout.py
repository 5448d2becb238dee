"""Byte layout of .esm v1 (docs/format.md): struct formats shared by writer and reader."""
from __future__ import annotations

import struct
import zlib

MAGIC = b"ESDK"
VERSION = (1, 1)  # 1.1: optional k_chunk word on SPARSE_CONV1X1 (docs/format.md)
ALIGN = 64
HEADER = struct.Struct("<4sHHIIQQIII20x")  # magic, major, minor, header_size, n_sections, file_size, arena, table_off, flags, crc
SECTION = struct.Struct("<4sIQQII")  # kind, flags, offset, size, crc, reserved
TENSOR = struct.Struct("<IBBBB6iQQfi8x")  # name, dtype, rank, storage, flags, dims, offset, nbytes, scale, zp
OP = struct.Struct("<HBBIII")  # opcode, n_in, n_out, io_start, param_start, n_params
HEADER_CRC_OFFSET = 40

REQUIRED_SECTIONS = (b"STRS", b"TENS", b"OPS_", b"IOIX", b"PARM", b"GRPH", b"CNST")

STORAGE_ARENA, STORAGE_CONST = 0, 1
FLAG_INPUT, FLAG_OUTPUT, FLAG_QUANT = 1, 2, 4

assert HEADER.size == 64 and SECTION.size == 32 and TENSOR.size == 64 and OP.size == 16


def align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


def crc32(data: bytes | memoryview) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF
