"""numpy evaluation of ONNX ops whose inputs are all constants (shape arithmetic).

Once input shapes are fixed, Shape -> Gather -> Concat -> Reshape style subgraphs are
pure functions of constants; evaluating them here keeps them out of the IR.
"""
from __future__ import annotations

import numpy as np
from onnx import helper


def _axes(attrs, xs, opset, first_input_opset, idx=1):
    if opset >= first_input_opset:
        return None if len(xs) <= idx or xs[idx] is None else [int(a) for a in xs[idx].reshape(-1)]
    a = attrs.get("axes")
    return None if a is None else [int(v) for v in a]


def _div(a, b):
    if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer):
        q = np.abs(a) // np.abs(b)
        return np.where((a < 0) != (b < 0), -q, q).astype(a.dtype)
    return (a / b).astype(a.dtype)


def _reduce(fn):
    def impl(xs, attrs, opset):
        axes = _axes(attrs, xs, opset, 18 if fn is not np.sum else 13)
        keep = bool(attrs.get("keepdims", 1))
        if axes is None or len(axes) == 0:
            if attrs.get("noop_with_empty_axes", 0):
                return [xs[0]]
            axes = None
        return [np.asarray(fn(xs[0], axis=None if axes is None else tuple(axes), keepdims=keep))]
    return impl


def _slice(xs, attrs, opset):
    x = xs[0]
    if opset < 10:
        starts, ends = attrs["starts"], attrs["ends"]
        axes = attrs.get("axes", list(range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts, ends = xs[1].tolist(), xs[2].tolist()
        axes = xs[3].tolist() if len(xs) > 3 and xs[3] is not None else list(range(len(starts)))
        steps = xs[4].tolist() if len(xs) > 4 and xs[4] is not None else [1] * len(starts)
    idx = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        idx[a] = slice(int(max(min(s, 2**62), -2**62)), int(max(min(e, 2**62), -2**62)), int(st))
    return [x[tuple(idx)]]


def _unsqueeze(xs, attrs, opset):
    axes = _axes(attrs, xs, opset, 13)
    r = xs[0].ndim + len(axes)
    y = xs[0]
    for a in sorted(a % r for a in axes):
        y = np.expand_dims(y, a)
    return [y]


def _squeeze(xs, attrs, opset):
    axes = _axes(attrs, xs, opset, 13)
    if axes is None:
        return [np.squeeze(xs[0])]
    return [np.squeeze(xs[0], axis=tuple(a % xs[0].ndim for a in axes))]


def _reshape(xs, attrs, opset):
    shape = [int(v) for v in xs[1]]
    if not attrs.get("allowzero", 0):
        shape = [xs[0].shape[i] if v == 0 else v for i, v in enumerate(shape)]
    return [xs[0].reshape(shape)]


def _gather(xs, attrs, opset):
    axis = attrs.get("axis", 0)
    idx = xs[1].astype(np.int64)
    idx = np.where(idx < 0, idx + xs[0].shape[axis], idx)
    return [np.take(xs[0], idx, axis=axis)]


def _cast(xs, attrs, opset):
    return [xs[0].astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))]


def _constant_of_shape(xs, attrs, opset):
    v = attrs.get("value")
    v = np.zeros(1, np.float32) if v is None else np.asarray(v).reshape(-1)
    return [np.full([int(d) for d in xs[0]], v[0], dtype=v.dtype)]


def _split(xs, attrs, opset):
    x, axis = xs[0], attrs.get("axis", 0)
    sizes = attrs.get("split") if opset < 13 else (xs[1].tolist() if len(xs) > 1 and xs[1] is not None else None)
    if sizes is None:
        n = attrs.get("num_outputs") or attrs["_n_outputs"]
        d = x.shape[axis]
        chunk = -(-d // n)
        sizes = [min(chunk, d - i * chunk) for i in range(n)]
    return list(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


def _shape(xs, attrs, opset):
    shape = np.array(xs[0].shape, dtype=np.int64)
    return [shape[attrs.get("start", 0): attrs.get("end", None)]]


def _b(fn):
    return lambda xs, attrs, opset: [np.asarray(fn(*xs))]


CONST_EVAL = {
    "Shape": _shape,
    "Size": lambda xs, a, o: [np.array(xs[0].size, dtype=np.int64)],
    "Gather": _gather,
    "Concat": lambda xs, a, o: [np.concatenate([x.reshape(x.shape or (1,)) if x.ndim == 0 else x for x in xs], axis=a["axis"])],
    "Cast": _cast,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Reshape": _reshape,
    "Flatten": lambda xs, a, o: [xs[0].reshape(int(np.prod(xs[0].shape[: a.get("axis", 1)])), -1)],
    "Range": lambda xs, a, o: [np.arange(xs[0], xs[1], xs[2]).astype(xs[0].dtype)],
    "ConstantOfShape": _constant_of_shape,
    "Expand": lambda xs, a, o: [xs[0] * np.ones([int(d) for d in xs[1]], dtype=xs[0].dtype)],
    "Tile": lambda xs, a, o: [np.tile(xs[0], [int(r) for r in xs[1]])],
    "Slice": _slice,
    "Split": _split,
    "Transpose": lambda xs, a, o: [np.transpose(xs[0], a.get("perm"))],
    "Identity": lambda xs, a, o: [xs[0]],
    "Add": _b(lambda a, b: (a + b).astype(a.dtype)),
    "Sub": _b(lambda a, b: (a - b).astype(a.dtype)),
    "Mul": _b(lambda a, b: (a * b).astype(a.dtype)),
    "Div": _b(_div),
    "Mod": _b(np.mod),
    "Neg": _b(np.negative),
    "Abs": _b(np.abs),
    "Floor": _b(np.floor),
    "Ceil": _b(np.ceil),
    "Sqrt": _b(np.sqrt),
    "Equal": _b(np.equal),
    "Less": _b(np.less),
    "Greater": _b(np.greater),
    "LessOrEqual": _b(np.less_equal),
    "GreaterOrEqual": _b(np.greater_equal),
    "Not": _b(np.logical_not),
    "And": _b(np.logical_and),
    "Or": _b(np.logical_or),
    "Where": _b(np.where),
    "Min": lambda xs, a, o: [np.minimum.reduce(np.broadcast_arrays(*xs))],
    "Max": lambda xs, a, o: [np.maximum.reduce(np.broadcast_arrays(*xs))],
    "ReduceProd": _reduce(np.prod),
    "ReduceSum": _reduce(np.sum),
    "ReduceMin": _reduce(np.min),
    "ReduceMax": _reduce(np.max),
    "NonZero": lambda xs, a, o: [np.array(np.nonzero(xs[0]), dtype=np.int64)],
}
# ops whose result depends only on the input's shape, so they fold for any input
SHAPE_ONLY = {"Shape", "Size"}
