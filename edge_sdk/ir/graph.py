"""The graph IR every frontend produces and every later stage consumes.

Semantics are ONNX's (NCHW activations, OIHW weights), with every shape static and
every attribute resolved to plain Python values. A tensor either has constant `data`
or is produced by exactly one node (or is a graph input). Quantized tensors carry
`QuantParams`; the dtype of a node's inputs decides whether it is a float or an int8
node. The canonical op set and its attributes are listed in `edge_sdk.ir.ops`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from ..errors import ModelError

DTYPES = ("float32", "int8", "uint8", "int32", "int64", "bool")


@dataclass
class QuantParams:
    """Affine quantization: real = scale * (q - zero_point).

    Per-tensor when `axis` is None (scale/zero_point of length 1), else per-channel
    along `axis`.
    """

    scale: np.ndarray  # float32, shape [n]
    zero_point: np.ndarray  # int32, shape [n]
    axis: int | None = None

    def __post_init__(self) -> None:
        self.scale = np.asarray(self.scale, dtype=np.float32).reshape(-1)
        self.zero_point = np.asarray(self.zero_point, dtype=np.int32).reshape(-1)
        if self.scale.shape != self.zero_point.shape:
            raise ModelError("quantization scale and zero point differ in length")

    @property
    def per_tensor(self) -> bool:
        return self.axis is None

    def same_as(self, other: "QuantParams | None") -> bool:
        return (
            other is not None
            and self.axis == other.axis
            and np.array_equal(self.scale, other.scale)
            and np.array_equal(self.zero_point, other.zero_point)
        )


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    data: np.ndarray | None = None  # constants only
    quant: QuantParams | None = None

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


@dataclass
class Node:
    op: str
    name: str
    inputs: list[str]  # "" marks an absent optional input
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    name: str = "model"
    tensors: dict[str, Tensor] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)  # topological order
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    source: str = ""  # path of the model it came from, for messages
    metadata: dict[str, Any] = field(default_factory=dict)

    # ---- construction helpers -------------------------------------------------
    def add_tensor(self, t: Tensor) -> Tensor:
        self.tensors[t.name] = t
        return t

    def const(self, name: str, value: np.ndarray, quant: QuantParams | None = None) -> str:
        value = np.asarray(value, order="C")  # keeps 0-d arrays 0-d, unlike ascontiguousarray
        name = self.unique_name(name)
        self.tensors[name] = Tensor(name, tuple(value.shape), str(value.dtype), value, quant)
        return name

    def unique_name(self, base: str) -> str:
        if base not in self.tensors:
            return base
        i = 1
        while f"{base}_{i}" in self.tensors:
            i += 1
        return f"{base}_{i}"

    # ---- queries ---------------------------------------------------------------
    def producer(self, name: str) -> Node | None:
        for n in self.nodes:
            if name in n.outputs:
                return n
        return None

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]

    def is_const(self, name: str) -> bool:
        return bool(name) and name in self.tensors and self.tensors[name].is_const

    def value(self, name: str) -> np.ndarray:
        t = self.tensors[name]
        if t.data is None:
            raise ModelError(f"tensor '{name}' is not a constant")
        return t.data

    def iter_ops(self, *ops: str) -> Iterable[Node]:
        return [n for n in self.nodes if n.op in ops]

    # ---- maintenance -----------------------------------------------------------
    def prune(self) -> None:
        """Drop nodes whose outputs nobody needs and tensors nobody references."""
        needed = set(self.outputs)
        kept: list[Node] = []
        for n in reversed(self.nodes):
            if any(o in needed for o in n.outputs):
                kept.append(n)
                needed.update(i for i in n.inputs if i)
        self.nodes = kept[::-1]
        used = set(self.inputs) | set(self.outputs)
        for n in self.nodes:
            used.update(i for i in n.inputs if i)
            used.update(n.outputs)
        self.tensors = {k: v for k, v in self.tensors.items() if k in used}

    def replace_uses(self, old: str, new: str) -> None:
        for n in self.nodes:
            n.inputs = [new if i == old else i for i in n.inputs]
        self.outputs = [new if o == old else o for o in self.outputs]

    def validate(self) -> None:
        """Structural checks: every input defined, topological order, single producer."""
        defined = set(self.inputs) | {k for k, t in self.tensors.items() if t.is_const}
        for n in self.nodes:
            for i in n.inputs:
                if i and i not in defined:
                    raise ModelError(f"node '{n.name}' ({n.op}) reads '{i}' before it is defined")
            for o in n.outputs:
                if o in defined:
                    raise ModelError(f"tensor '{o}' is produced twice")
                if o not in self.tensors:
                    raise ModelError(f"node '{n.name}' output '{o}' has no tensor entry")
                defined.add(o)
        for o in self.outputs:
            if o not in defined:
                raise ModelError(f"graph output '{o}' is never produced")
