"""Small graph-editing helpers shared by the passes and the frontends."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node, QuantParams, Tensor
from ..ir.ops import defaults
from ..reference.shapes import infer


def node_name(g: Graph, base: str) -> str:
    taken = {n.name for n in g.nodes}
    name, i = base, 1
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def make_node(g: Graph, op: str, inputs: list[str], attrs: dict | None = None, *, name: str | None = None,
              outputs: list[str] | None = None, quant: list | None = None, shapes: list | None = None,
              at: int | None = None) -> Node:
    """Create a node with all attributes defaulted and output tensors of inferred shape.

    `outputs` names are taken as given when they do not exist yet, else made unique.
    `shapes` overrides inference (needed for ConvTranspose and Resize).
    """
    full = defaults(op)
    full.update(attrs or {})
    base = name or (outputs[0] if outputs else f"{op.lower()}")
    node = Node(op, node_name(g, base), list(inputs), [], full)
    n_out = len(full["sizes"]) if op == "Split" else 1
    outs = list(outputs) if outputs else [f"{base}_out" if n_out == 1 else f"{base}_out{i}" for i in range(n_out)]
    outs = [g.unique_name(o) for o in outs]
    node.outputs = outs
    if shapes is not None:
        for o, s in zip(outs, shapes):
            g.tensors[o] = Tensor(o, tuple(int(d) for d in s), _dtype_guess(g, op, inputs))
    for o, (shape, dtype) in zip(outs, infer(g, node)):
        q = quant[outs.index(o)] if quant else None
        g.tensors[o] = Tensor(o, shape, dtype, None, q)
    if at is None:
        g.nodes.append(node)
    else:
        g.nodes.insert(at, node)
    return node


def _dtype_guess(g, op, inputs):
    if op == "Dequantize":
        return "float32"
    return g.tensors[inputs[0]].dtype if inputs and inputs[0] else "float32"


def add_const(g: Graph, name: str, value, quant: QuantParams | None = None) -> str:
    """Graph.const that keeps 0-d arrays 0-d (np.ascontiguousarray makes them 1-d)."""
    value = np.asarray(value)
    name = g.const(name, value, quant)
    t = g.tensors[name]
    t.data = t.data.reshape(value.shape)
    t.shape = tuple(value.shape)
    return name


def consumer_map(g: Graph) -> dict[str, list[Node]]:
    res: dict[str, list[Node]] = {}
    for n in g.nodes:
        for i in n.inputs:
            if i:
                res.setdefault(i, []).append(n)
    return res


def producer_map(g: Graph) -> dict[str, Node]:
    return {o: n for n in g.nodes for o in n.outputs}


def bypass(g: Graph, node: Node, src: str, dst: str) -> bool:
    """Remove `node` whose output `dst` equals its input `src`. Graph output names stay."""
    if dst in g.outputs:
        if src in g.inputs or src in g.outputs or g.is_const(src):
            return False
        prod = producer_map(g).get(src)
        if prod is None:
            return False
        # the producer of src now writes the graph output directly
        prod.outputs = [dst if o == src else o for o in prod.outputs]
        for n in g.nodes:
            n.inputs = [dst if i == src else i for i in n.inputs]
        g.tensors[dst].quant = g.tensors[src].quant
        g.tensors[dst].dtype = g.tensors[src].dtype
    else:
        g.replace_uses(dst, src)
    g.nodes.remove(node)
    return True


def perm_quant(q: QuantParams | None, perm) -> QuantParams | None:
    """Quantization of a tensor transposed by `perm` (per-channel axis follows its dim)."""
    if q is None or q.axis is None:
        return q
    return QuantParams(q.scale, q.zero_point, list(perm).index(q.axis))
