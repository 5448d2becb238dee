"""Static output shapes and dtypes of canonical IR nodes, for frontends and passes."""
from __future__ import annotations

import numpy as np

from ..errors import ModelError


def conv_out(size: int, k: int, stride: int, pad_begin: int, pad_end: int, dilation: int = 1) -> int:
    return (size + pad_begin + pad_end - dilation * (k - 1) - 1) // stride + 1


def infer(g, node) -> list[tuple[tuple[int, ...], str]]:
    """(shape, dtype) of each output; ConvTranspose/Resize outputs must already exist."""
    ins = [g.tensors[i] if i else None for i in node.inputs]
    s = [t.shape if t is not None else None for t in ins]
    dt = ins[0].dtype if ins and ins[0] is not None else "float32"
    op, a = node.op, node.attrs
    one = lambda shape, dtype=dt: [(tuple(int(d) for d in shape), dtype)]  # noqa: E731
    if op == "Conv":
        n, _, h, w = s[0]
        m, _, kh, kw = s[1]
        p = a["pads"]
        return one((n, m, conv_out(h, kh, a["strides"][0], p[0], p[2], a["dilations"][0]),
                    conv_out(w, kw, a["strides"][1], p[1], p[3], a["dilations"][1])))
    if op in ("ConvTranspose", "Resize"):
        if node.outputs[0] not in g.tensors:
            raise ModelError(f"{op} node '{node.name}' needs its output shape set by its creator")
        t = g.tensors[node.outputs[0]]
        return [(t.shape, t.dtype)]
    if op == "FullyConnected":
        return one(tuple(s[0][:-1]) + (s[1][0],))
    if op == "MatMul":
        return one(np.matmul(np.empty(s[0], np.int8), np.empty(s[1], np.int8)).shape, "float32")
    if op in ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "PRelu"):
        return one(np.broadcast_shapes(s[0], s[1]))
    if op in ("Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Sqrt", "Exp",
              "Neg", "Abs", "Softmax"):
        return one(s[0])
    if op == "ReduceMean":
        shape = [1 if i in a["axes"] else d for i, d in enumerate(s[0])]
        if not a["keepdims"]:
            shape = [d for i, d in enumerate(s[0]) if i not in a["axes"]]
        return one(shape)
    if op in ("MaxPool", "AveragePool"):
        n, c, h, w = s[0]
        k, st, p = a["kernel"], a["strides"], a["pads"]
        return one((n, c, conv_out(h, k[0], st[0], p[0], p[2]), conv_out(w, k[1], st[1], p[1], p[3])))
    if op == "GlobalAveragePool":
        return one(tuple(s[0][:2]) + (1,) * (len(s[0]) - 2))
    if op == "Reshape":
        if int(np.prod(a["shape"], dtype=np.int64)) != int(np.prod(s[0], dtype=np.int64)):
            raise ModelError(f"Reshape '{node.name}' cannot reshape {s[0]} to {a['shape']}")
        return one(a["shape"])
    if op == "Transpose":
        return one(tuple(s[0][p] for p in a["perm"]))
    if op == "Concat":
        shape = list(s[0])
        shape[a["axis"]] = sum(x[a["axis"]] for x in s)
        return one(shape)
    if op == "Split":
        res = []
        for size in a["sizes"]:
            shape = list(s[0])
            shape[a["axis"]] = size
            res.append((tuple(shape), dt))
        return res
    if op == "Slice":
        shape = list(s[0])
        for st, en, ax, step in zip(a["starts"], a["ends"], a["axes"], a["steps"]):
            shape[ax] = len(range(st, en, step))
        return one(shape)
    if op == "Pad":
        r = len(s[0])
        return one(tuple(d + a["pads"][i] + a["pads"][i + r] for i, d in enumerate(s[0])))
    if op == "DepthToSpace":
        n, c, h, w = s[0]
        b = a["blocksize"]
        return one((n, c // (b * b), h * b, w * b))
    if op == "Quantize":
        return one(s[0], "int8")
    if op == "Dequantize":
        return one(s[0], "float32")
    if op == "Requantize":
        return one(s[0], "int8")
    raise ModelError(f"no shape rule for op '{op}'")
