"""The Python reader: round trip with the writer, and corrupt bytes always give ArtifactError."""
import struct

import numpy as np
import pytest

from edge_sdk.artifact.reader import read_artifact
from edge_sdk.artifact.writer import GRAPH_INPUT, GRAPH_OUTPUT, ArtifactBuilder, fix_crcs
from edge_sdk.errors import ArtifactError


def small_artifact() -> bytes:
    b = ArtifactBuilder()
    x = b.activation("x", "float32", (1, 3, 5, 5), 0, GRAPH_INPUT)
    w = b.constant("w", np.arange(4 * 3 * 9, dtype=np.float32).reshape(4, 3, 3, 3))
    bias = b.constant("b", np.ones(4, np.float32))
    y = b.activation("y", "float32", (1, 4, 5, 5), 320, GRAPH_OUTPUT)
    b.op("CONV2D", [x, w, bias], [y], dict(stride_h=1, stride_w=1, pad_t=1, pad_l=1, pad_b=1, pad_r=1, dil_h=1,
                                           dil_w=1, group=1, act=1))
    b.set_io([x], [y])
    b.meta = {"hello": "world"}
    return b.to_bytes()


def test_roundtrip():
    data = small_artifact()
    art = read_artifact(data)
    assert art.version == (1, 1) and art.arena_size >= 320 + 400
    assert [t.name for t in art.tensors] == ["x", "w", "b", "y"]
    np.testing.assert_array_equal(art.constant(art.tensors[1]).ravel(), np.arange(108, dtype=np.float32))
    assert art.ops[0].name == "CONV2D" and art.ops[0].inputs == [0, 1, 2] and art.ops[0].outputs == [3]
    assert art.meta == {"hello": "world"}
    for name, (off, size) in art.sections.items():
        assert off % 64 == 0


def test_every_truncation_is_refused():
    data = small_artifact()
    for n in range(0, len(data), 7):
        with pytest.raises(ArtifactError):
            read_artifact(data[:n])


@pytest.mark.parametrize("check_crc", [True, False])
def test_bit_flips_never_escape_as_other_errors(check_crc):
    data = small_artifact()
    rng = np.random.default_rng(0)
    for _ in range(600):
        buf = bytearray(data)
        for pos in rng.integers(0, len(buf), rng.integers(1, 4)):
            buf[pos] ^= 1 << int(rng.integers(0, 8))
        if not check_crc:
            buf = bytearray(fix_crcs(bytes(buf)))
        try:
            read_artifact(bytes(buf), check_crc=check_crc)
        except ArtifactError:
            pass


def test_checksum_and_version_errors_are_specific():
    data = bytearray(small_artifact())
    data[-1] ^= 1  # inside the last section
    with pytest.raises(ArtifactError, match="checksum"):
        read_artifact(bytes(data))
    v2 = bytearray(small_artifact())
    struct.pack_into("<H", v2, 4, 2)
    with pytest.raises(ArtifactError, match="version 2"):
        read_artifact(fix_crcs(bytes(v2)))
