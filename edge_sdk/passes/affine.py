"""Folds per-channel Mul/Add constants (lowered BatchNormalization) into Conv / FC weights."""
from __future__ import annotations

import numpy as np

from .util import consumer_map


def _per_channel(c: np.ndarray, out_shape, axis: int) -> np.ndarray | None:
    """The constant as a vector over `axis` if it only varies along that axis, else None."""
    rank = len(out_shape)
    if c.ndim > rank:
        return None
    full = c.reshape((1,) * (rank - c.ndim) + c.shape)
    for i, d in enumerate(full.shape):
        if d != 1 and i != axis:
            return None
    if np.broadcast_shapes(full.shape, out_shape) != tuple(out_shape):
        return None
    return np.broadcast_to(full, [out_shape[axis] if i == axis else 1 for i in range(rank)]).reshape(-1)


def fold_affine(g) -> bool:
    changed = False
    cons = consumer_map(g)
    for node in list(g.nodes):
        if node.op not in ("Conv", "FullyConnected", "ConvTranspose") or node.attrs["act"] != "none":
            continue
        y = node.outputs[0]
        t = g.tensors[y]
        if t.dtype != "float32" or y in g.outputs or len(cons.get(y, [])) != 1:
            continue
        if not g.is_const(node.inputs[1]) or (len(node.inputs) > 2 and node.inputs[2] and not g.is_const(node.inputs[2])):
            continue
        if node.op == "ConvTranspose" and node.attrs["group"] != 1:
            continue
        nxt = cons[y][0]
        if nxt.op not in ("Mul", "Add"):
            continue
        other = nxt.inputs[1] if nxt.inputs[0] == y else nxt.inputs[0]
        if not g.is_const(other) or nxt.inputs[0] == nxt.inputs[1]:
            continue
        axis = len(t.shape) - 1 if node.op == "FullyConnected" else 1
        vec = _per_channel(g.value(other).astype(np.float32), t.shape, axis)
        if vec is None or np.broadcast_shapes(g.tensors[other].shape, t.shape) != t.shape:
            continue
        w = g.value(node.inputs[1]).astype(np.float32)
        m = t.shape[axis]
        b = g.value(node.inputs[2]).astype(np.float32) if len(node.inputs) > 2 and node.inputs[2] else np.zeros(m, np.float32)
        if nxt.op == "Mul":
            waxis = 1 if node.op == "ConvTranspose" else 0
            shape = [1] * w.ndim
            shape[waxis] = m
            w = w * vec.reshape(shape)
            b = b * vec
            node.inputs[1] = g.const(node.inputs[1] + "_folded", w.astype(np.float32))
        else:
            b = b + vec
            # an activation fused into the Add earlier now belongs to the conv
            node.attrs.update({k: nxt.attrs[k] for k in ("act", "act_min", "act_max") if k in nxt.attrs})
        bname = g.const((node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else node.name + "_bias") + "_folded",
                        b.astype(np.float32))
        node.inputs = node.inputs[:2] + [bname]
        if nxt.op == "Add":  # the Add may carry a fused activation already
            node.attrs.update(act=nxt.attrs["act"], act_min=nxt.attrs["act_min"], act_max=nxt.attrs["act_max"])
        node.outputs = [nxt.outputs[0]]
        g.nodes.remove(nxt)
        cons = consumer_map(g)
        changed = True
    return changed
