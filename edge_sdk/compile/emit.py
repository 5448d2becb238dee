"""Compile an IR graph for a target: lower, plan memory, write .esm bytes."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..artifact.opcodes import DTYPE_CODES
from ..artifact.writer import GRAPH_INPUT, GRAPH_OUTPUT, ArtifactBuilder
from ..errors import EdgeSdkError
from ..ir.graph import Graph
from . import memplan
from .lower import LayerChoice, Lowering
from .target import Target, load_target

ELEM = {"float32": 4, "int8": 1, "uint8": 1, "int32": 4, "uint32": 4}


@dataclass
class CompileResult:
    data: bytes
    arena_bytes: int
    layers: list[LayerChoice]
    op_count: int
    constant_bytes: int
    meta: dict[str, Any] = field(default_factory=dict)


def compile_graph(graph: Graph, target: str | Target = "host", meta: dict | None = None) -> CompileResult:
    tgt = load_target(target) if isinstance(target, str) else target
    low = Lowering(graph, tgt)
    kops = low.run()
    g = graph

    used: list[str] = []
    seen = set()
    for name in list(g.inputs) + [t for op in kops for t in op.inputs + op.outputs if t] + list(g.outputs):
        if name not in seen:
            seen.add(name)
            used.append(name)
    sizes = {}
    for name in used:
        t = g.tensors[name]
        if t.dtype not in ELEM:
            raise EdgeSdkError(f"tensor '{name}' has dtype {t.dtype}, which the runtime does not support")
        if not t.is_const:
            sizes[name] = t.size * ELEM[t.dtype]
    offsets, arena = memplan.plan(kops, sizes, list(g.inputs), list(g.outputs))

    b = ArtifactBuilder()
    index: dict[str, int] = {}
    const_bytes = 0
    for name in used:
        t = g.tensors[name]
        scale = zp = None
        if t.quant is not None and t.dtype == "int8":
            scale, zp = float(t.quant.scale[0]), int(t.quant.zero_point[0])
        if t.is_const:
            data = np.asarray(t.data)
            if str(data.dtype) not in DTYPE_CODES:
                if data.dtype == np.float64:
                    data = data.astype(np.float32)
                elif data.dtype == np.int64 and np.all(np.abs(data) < 2**31):
                    data = data.astype(np.int32)
                else:
                    raise EdgeSdkError(f"constant '{name}' has dtype {data.dtype}, which the runtime does not support")
            if data.ndim == 0:
                data = data.reshape(1) if not t.shape else data
            index[name] = b.constant(name, data.reshape(t.shape) if t.shape else data, scale, zp or 0)
            const_bytes += data.nbytes
        else:
            flags = (GRAPH_INPUT if name in g.inputs else 0) | (GRAPH_OUTPUT if name in g.outputs else 0)
            index[name] = b.activation(name, t.dtype, t.shape, offsets[name], flags, scale, zp or 0)
    for op in kops:
        b.op(op.opcode, [index[i] if i else None for i in op.inputs], [index[o] for o in op.outputs],
             op.params, op.extra)
    b.set_io([index[i] for i in g.inputs], [index[o] for o in g.outputs])
    b.arena_size = arena
    meta = dict(meta or {})
    meta["layers"] = [asdict(l) for l in low.layers]
    meta["target"] = tgt.name
    meta["kernel_ops"] = [{"opcode": k.opcode, "source": k.source} for k in kops]
    b.meta = meta
    return CompileResult(b.to_bytes(), arena, low.layers, len(kops), const_bytes, meta)
