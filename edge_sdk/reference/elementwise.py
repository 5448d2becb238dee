"""Elementwise ops: numpy broadcasting, float32; Add and Mul also in int8."""
from __future__ import annotations

import numpy as np

from ..quant.fixedpoint import multiply_by_quantized_multiplier as mbqm
from ..quant.multipliers import add_multipliers, clamp_range, mul_multipliers
from .common import apply_act, qparams

F32 = np.float32


def _f(xs):
    return [x.astype(F32) for x in xs]


def add(g, node, xs):
    a, b = xs
    if a.dtype == np.int8:
        aq, bq, yq = (qparams(g, n) for n in (node.inputs[0], node.inputs[1], node.outputs[0]))
        m = add_multipliers(aq, bq, yq)
        ls = m["left_shift"]
        sa = mbqm((a.astype(np.int64) - int(aq.zero_point[0])) << ls, m["a_mult"], m["a_shift"])
        sb = mbqm((b.astype(np.int64) - int(bq.zero_point[0])) << ls, m["b_mult"], m["b_shift"])
        y = mbqm(sa + sb, m["out_mult"], m["out_shift"]) + int(yq.zero_point[0])
        qmin, qmax = clamp_range(node.attrs["act"], node.attrs["act_min"], node.attrs["act_max"], yq)
        return [np.clip(y, qmin, qmax).astype(np.int8)]
    a, b = _f(xs)
    return [apply_act(a + b, node.attrs)]


def mul(g, node, xs):
    a, b = xs
    if a.dtype == np.int8:
        aq, bq, yq = (qparams(g, n) for n in (node.inputs[0], node.inputs[1], node.outputs[0]))
        mult, shift = mul_multipliers(aq, bq, yq)
        prod = (a.astype(np.int64) - int(aq.zero_point[0])) * (b.astype(np.int64) - int(bq.zero_point[0]))
        y = mbqm(prod, mult, shift) + int(yq.zero_point[0])
        return [np.clip(y, -128, 127).astype(np.int8)]
    a, b = _f(xs)
    return [a * b]


def _binary(fn):
    def impl(g, node, xs):
        a, b = _f(xs)
        return [np.asarray(fn(a, b), dtype=F32)]
    return impl


def _unary(fn):
    def impl(g, node, xs):
        return [np.asarray(fn(xs[0].astype(F32), node.attrs), dtype=F32)]
    return impl


def _relu6(x):
    return np.clip(x, F32(0), F32(6))


def _sigmoid(x, _):
    # split by sign so exp never overflows
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


IMPL = {
    "Add": add,
    "Mul": mul,
    "Sub": _binary(np.subtract),
    "Div": _binary(np.divide),
    "Pow": _binary(np.power),
    "Max": _binary(np.maximum),
    "Min": _binary(np.minimum),
    "PRelu": _binary(lambda x, s: np.where(x < 0, x * s, x)),
    "Relu": _unary(lambda x, a: np.maximum(x, F32(0))),
    "Clip": _unary(lambda x, a: np.clip(x, F32(a["min"]), F32(a["max"]))),
    "LeakyRelu": _unary(lambda x, a: np.where(x < 0, x * F32(a["alpha"]), x)),
    "Sigmoid": _unary(_sigmoid),
    "HardSigmoid": _unary(lambda x, a: np.clip(F32(a["alpha"]) * x + F32(a["beta"]), F32(0), F32(1))),
    "HardSwish": _unary(lambda x, a: x * _relu6(x + F32(3)) / F32(6)),
    "Tanh": _unary(lambda x, a: np.tanh(x)),
    "Sqrt": _unary(lambda x, a: np.sqrt(x)),
    "Exp": _unary(lambda x, a: np.exp(x)),
    "Neg": _unary(lambda x, a: -x),
    "Abs": _unary(lambda x, a: np.abs(x)),
}
INT8 = {"Add", "Mul"}
