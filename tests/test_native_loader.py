"""Corrupt artifacts must come back as an error status with a message, never a crash.

CRCs are recomputed (writer.fix_crcs) for most mutations so the checks behind them run."""
from __future__ import annotations

import struct

import numpy as np
import pytest

native_harness = pytest.importorskip("native_harness")
from native_harness import Graph, Loaded, lib  # noqa: E402

from edge_sdk.artifact import layout as L  # noqa: E402
from edge_sdk.artifact.writer import fix_crcs  # noqa: E402

if lib is None:
    pytest.skip("native runtime not built", allow_module_level=True)


def sample_graph() -> Graph:
    """A few ops of different kinds, including sparse and int8 ones, so op checks get hit."""
    rng = np.random.default_rng(0)
    g = Graph()
    x = g.input("x", rng.standard_normal((1, 4, 6, 6)).astype(np.float32))
    w = g.const("w", rng.standard_normal((8, 4, 3, 3)).astype(np.float32))
    b = g.const("b", rng.standard_normal(8).astype(np.float32))
    c = g.act("c", "float32", (1, 8, 6, 6))
    g.op("CONV2D", [x, w, b], [c], stride_h=1, stride_w=1, pad_t=1, pad_l=1, pad_b=1, pad_r=1, dil_h=1, dil_w=1,
         group=1, act=1)
    rp = g.const("rp", np.array([0, 1, 1, 3], np.uint32))
    ci = g.const("ci", np.array([2, 0, 7], np.uint32))
    v = g.const("v", rng.standard_normal((3, 2, 1)).astype(np.float32))
    s = g.act("s", "float32", (1, 6, 6, 6))
    g.op("SPARSE_CONV1X1", [c, v, rp, ci, None], [s], block_r=2, block_c=1, rows=6, cols=8)
    q = g.act("q", "int8", (1, 6, 6, 6), scale=0.1, zp=2)
    g.op("QUANTIZE", [s], [q])
    p = g.act("p", "int8", (1, 6, 3, 3), scale=0.1, zp=2)
    g.op("MAXPOOL", [q], [p], kh=2, kw=2, stride_h=2, stride_w=2)
    sl = g.act("sl", "int8", (1, 3, 2, 3), scale=0.1, zp=2)
    g.op("SLICE", [p], [sl], extra=[0, 1, 0, 2, 1, 1, 0, 1])
    pd = g.output("pd", "int8", (1, 3, 4, 5), scale=0.1, zp=2)
    g.op("PAD", [sl], [pd], extra=[0, 0, 1, 1, 0, 0, 1, 1], mode=1)
    t = g.output("t", "float32", (6, 6, 6, 1))
    g.op("TRANSPOSE", [s], [t], perm0=1, perm1=2, perm2=3, perm3=0)
    return g


@pytest.fixture(scope="module")
def good() -> bytes:
    return sample_graph().to_bytes()


def check_error(data: bytes, skip_crc: int = 0) -> int:
    ld = Loaded(data, skip_crc)
    if ld.status != lib.ESDK_OK:
        assert ld.error and ld.error != "no error", ld.status
        assert "\n" not in ld.error
    elif lib.esdk_arena_size(ld.m) <= 16 << 20:  # undetectable mutations must still run safely
        assert ld.bind_arena() == lib.ESDK_OK
        assert lib.esdk_invoke(ld.m) == lib.ESDK_OK
    return ld.status


def test_good_loads(good):
    ld = Loaded(good)
    assert ld.status == lib.ESDK_OK, ld.error
    assert lib.esdk_num_ops(ld.m) == 7
    assert ld.bind_arena() == lib.ESDK_OK
    assert lib.esdk_invoke(ld.m) == lib.ESDK_OK


def test_unaligned_and_null(good):
    from native_harness import aligned, ffi
    owner, p = aligned(len(good) + 1)
    ffi.memmove(p + 1, good, len(good))
    mb, mp = aligned(lib.esdk_model_size(), 16)
    m = ffi.cast("esdk_model *", mp)
    assert lib.esdk_load(m, p + 1, len(good)) == lib.ESDK_ERR_ARG
    assert lib.esdk_load(m, ffi.NULL, 0) == lib.ESDK_ERR_ARG
    assert lib.esdk_invoke(m) == lib.ESDK_ERR_STATE
    assert lib.esdk_load(ffi.NULL, p, len(good)) == lib.ESDK_ERR_ARG


def test_checksum_detected(good):
    for pos in range(0, len(good), max(1, len(good) // 200)):
        if 44 <= pos < 64 or pos >= len(good):
            continue
        buf = bytearray(good)
        buf[pos] ^= 0x10
        st = check_error(bytes(buf))
        # a flip inside alignment padding between sections is covered by no CRC
        assert st != lib.ESDK_OK or _in_padding(good, pos), pos


def _in_padding(data: bytes, pos: int) -> bool:
    n = struct.unpack_from("<I", data, 12)[0]
    spans = [(0, 64 + 32 * n)]
    for i in range(n):
        _, _, off, size, _, _ = L.SECTION.unpack_from(data, 64 + 32 * i)
        spans.append((off, off + size))
    return not any(a <= pos < b for a, b in spans)


def test_bit_flips_with_fixed_crcs(good):
    rng = np.random.default_rng(1)
    for pos in range(len(good)):
        for bit in (rng.integers(8), 7):
            buf = bytearray(good)
            buf[pos] ^= 1 << int(bit)
            check_error(fix_crcs(bytes(buf)))


def test_random_multi_byte_corruption(good):
    rng = np.random.default_rng(2)
    for _ in range(1500):
        buf = bytearray(good)
        for _ in range(int(rng.integers(1, 6))):
            pos = int(rng.integers(64, len(buf)))
            buf[pos] = int(rng.integers(256))
        check_error(fix_crcs(bytes(buf)))
        check_error(bytes(buf), skip_crc=1)


def test_truncation(good):
    n = struct.unpack_from("<I", good, 12)[0]
    cuts = {0, 1, 63, 64, 65, 64 + 32 * n - 1, len(good) - 1}
    for i in range(n):
        _, _, off, size, _, _ = L.SECTION.unpack_from(good, 64 + 32 * i)
        cuts |= {off, off + 1, off + size - 1, off + size}
    rng = np.random.default_rng(3)
    cuts |= set(int(c) for c in rng.integers(0, len(good), 100))
    for c in sorted(cuts):
        if c >= len(good):
            continue
        assert check_error(good[:c]) != lib.ESDK_OK
        # also with a header claiming the shorter size
        buf = bytearray(good[:c])
        if len(buf) >= 64:
            struct.pack_into("<Q", buf, 16, len(buf))
            assert check_error(fix_crcs(bytes(buf))) != lib.ESDK_OK


def _section(data: bytes, kind: bytes):
    n = struct.unpack_from("<I", data, 12)[0]
    for i in range(n):
        k, _, off, size, _, _ = L.SECTION.unpack_from(data, 64 + 32 * i)
        if k == kind:
            return 64 + 32 * i, off, size
    raise KeyError(kind)


ABSURD = [0, 1, 3, 63, 64, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE]


def test_absurd_header_fields(good):
    for field, fmt in [(12, "<I"), (16, "<Q"), (24, "<Q"), (32, "<I"), (8, "<I"), (36, "<I"), (4, "<H")]:
        for v in ABSURD + [2**63, 2**64 - 1]:
            try:
                buf = bytearray(good)
                struct.pack_into(fmt, buf, field, v)
            except struct.error:
                continue
            check_error(fix_crcs(bytes(buf)))


def test_absurd_section_entries(good):
    n = struct.unpack_from("<I", good, 12)[0]
    for i in range(n):
        for field, fmt in [(8, "<Q"), (16, "<Q"), (4, "<I"), (0, "<4s")]:
            for v in ABSURD + [2**64 - 64, len(good), len(good) - 64]:
                buf = bytearray(good)
                if fmt == "<4s":
                    v = b"CNST" if v == 0 else b"ZZZZ"
                try:
                    struct.pack_into(fmt, buf, 64 + 32 * i + field, v)
                except struct.error:
                    continue
                check_error(fix_crcs(bytes(buf)))


def test_absurd_tensor_records(good):
    _, off, size = _section(good, b"TENS")
    fields = [(0, "<I"), (4, "<B"), (5, "<B"), (6, "<B"), (7, "<B"), (8, "<i"), (12, "<i"), (20, "<i"),
              (32, "<Q"), (40, "<Q"), (52, "<i")]
    for t in range(size // 64):
        for field, fmt in fields:
            for v in [0, 1, 2, 5, 7, 255, -1, 2**31 - 1, -2**31, 2**40, 2**63, 4096, 64]:
                buf = bytearray(good)
                try:
                    struct.pack_into(fmt, buf, off + 64 * t + field, v)
                except struct.error:
                    continue
                check_error(fix_crcs(bytes(buf)))


def test_absurd_ops_ioix_params(good):
    for kind, width in [(b"OPS_", 2), (b"IOIX", 4), (b"PARM", 4), (b"GRPH", 4)]:
        _, off, size = _section(good, kind)
        for pos in range(0, size, width):
            for v in [0, 1, 2, 3, 6, 255, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFE, 1000]:
                buf = bytearray(good)
                if width == 2:
                    struct.pack_into("<H", buf, off + pos, v & 0xFFFF)
                else:
                    struct.pack_into("<I", buf, off + pos, v)
                check_error(fix_crcs(bytes(buf)))


def test_block_csr_structure_errors():
    def build(rp, ci, nv):
        g = Graph()
        x = g.input("x", np.zeros((1, 4, 2, 2), np.float32))
        y = g.output("y", "float32", (1, 4, 2, 2))
        ins = [x, g.const("v", np.ones((nv, 1, 1), np.float32)), g.const("rp", np.array(rp, np.uint32)),
               g.const("ci", np.array(ci, np.uint32))]
        g.op("SPARSE_CONV1X1", ins, [y], block_r=1, block_c=1, rows=4, cols=4)
        return Loaded(g.to_bytes())

    assert build([0, 1, 1, 2, 3], [0, 1, 3], 3).status == lib.ESDK_OK
    for rp, ci, nv, msg in [([1, 1, 1, 2, 3], [0, 1, 3], 3, "row_ptr[0]"),
                            ([0, 2, 1, 2, 3], [0, 1, 3], 3, "monotonic"),
                            ([0, 1, 1, 2, 3], [0, 4, 3], 3, "col_idx"),
                            ([0, 2, 2, 2, 3], [1, 0, 3], 3, "increasing"),
                            ([0, 1, 1, 2, 3], [0, 1, 3], 4, "values"),
                            ([0, 1, 1, 2, 9], [0, 1, 3], 3, "col_idx"),
                            ([0, 1, 1, 2], [0, 1], 2, "row_ptr")]:
        ld = build(rp, ci, nv)
        assert ld.status == lib.ESDK_ERR_FORMAT, (rp, ci)
        assert msg in ld.error, ld.error


def test_shape_errors():
    def conv(out_hw, w_shape=(3, 2, 3, 3)):
        g = Graph()
        x = g.input("x", np.zeros((1, 2, 5, 5), np.float32))
        y = g.output("y", "float32", (1, 3) + out_hw)
        g.op("CONV2D", [x, g.const("w", np.zeros(w_shape, np.float32)), None], [y], stride_h=1, stride_w=1,
             dil_h=1, dil_w=1, group=1)
        return Loaded(g.to_bytes())

    assert conv((3, 3)).status == lib.ESDK_OK
    ld = conv((4, 3))
    assert ld.status == lib.ESDK_ERR_FORMAT and "conv output" in ld.error
    assert conv((3, 3), (3, 1, 3, 3)).status == lib.ESDK_ERR_FORMAT

    g = Graph()
    x = g.input("x", np.zeros((2, 3), np.float32))
    y = g.output("y", "float32", (3, 3))
    g.op("TRANSPOSE", [x], [y], perm0=1, perm1=1)
    assert Loaded(g.to_bytes()).status == lib.ESDK_ERR_FORMAT

    g = Graph()
    x = g.input("x", np.zeros((4, 3), np.float32))
    y = g.output("y", "float32", (3, 3))
    g.op("SLICE", [x], [y], extra=[2, 1, 0, 1])  # reads rows 2..4 of 4
    ld = Loaded(g.to_bytes())
    assert ld.status == lib.ESDK_ERR_FORMAT and "outside" in ld.error

    g = Graph()
    x = g.input("x", np.zeros((4, 3), np.float32))
    y = g.output("y", "float32", (3, 3))
    t = g.act("t", "float32", (3, 3))
    g.op("RESHAPE", [t], [y])  # t never produced
    ld = Loaded(g.to_bytes())
    assert ld.status == lib.ESDK_ERR_FORMAT and "before" in ld.error


def test_arena_errors(good):
    from native_harness import aligned
    ld = Loaded(good)
    n = lib.esdk_arena_size(ld.m)
    owner, p = aligned(n + 64)
    assert lib.esdk_set_arena(ld.m, p + 4, n) == lib.ESDK_ERR_ARG
    assert lib.esdk_set_arena(ld.m, p, n - 1) == lib.ESDK_ERR_ARENA
    assert lib.esdk_invoke(ld.m) == lib.ESDK_ERR_ARENA
