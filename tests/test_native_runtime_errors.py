"""Errors while running: an op that cannot run makes invoke fail; it never returns outputs."""
import numpy as np
import pytest

import edge_sdk
from edge_sdk.artifact.writer import GRAPH_INPUT, GRAPH_OUTPUT, ArtifactBuilder
from edge_sdk.errors import RuntimeFailure


def aliased_conv(kh: int, group: int) -> bytes:
    """int8 conv whose output the plan placed on its own input (an in-place plan)."""
    b = ArtifactBuilder()
    c = 4
    x = b.activation("x", "int8", (1, c, 6, 6), 0, GRAPH_INPUT, scale=0.05, zero_point=3)
    w = b.constant("w", np.ones((c, c // group, kh, kh), np.int8), scale=0.01)
    bias = b.constant("b", np.zeros(c, np.int32))
    mult = b.constant("mult", np.full(c, 1 << 30, np.int32))
    shift = b.constant("shift", np.zeros(c, np.int32))
    y = b.activation("y", "int8", (1, c, 6, 6), 0, GRAPH_OUTPUT, scale=0.05, zero_point=3)
    pad = kh // 2
    b.op("CONV2D", [x, w, bias, mult, shift], [y], dict(stride_h=1, stride_w=1, pad_t=pad, pad_l=pad, pad_b=pad,
                                                         pad_r=pad, dil_h=1, dil_w=1, group=group))
    b.set_io([x], [y])
    return b.to_bytes()


def test_unsupported_in_place_conv_fails_the_run():
    try:
        sess = edge_sdk.Session(aliased_conv(3, 1))  # a dense 3x3 conv cannot overwrite its input
    except edge_sdk.ArtifactError:
        return  # refusing it at load is as good
    with pytest.raises(RuntimeFailure, match="in-place"):
        sess.run({"x": np.zeros((1, 4, 6, 6), np.int8)})


def test_supported_in_place_depthwise_runs():
    sess = edge_sdk.Session(aliased_conv(3, 4))
    out = sess.run({"x": np.full((1, 4, 6, 6), 10, np.int8)})["y"]
    assert out.shape == (1, 4, 6, 6)
