"""The compiled kernel graph (what the C runtime runs), read back from .esm bytes.

Training is planned on this graph, not on the IR: the backward program must name the
exact tensors and ops the native forward executes, and an .esm given on the command line
has no IR beside it.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from ..artifact.opcodes import OPCODES
from ..artifact.reader import Artifact, read_artifact
from .errors import FinetuneError

TRAINABLE = ("CONV2D", "FULLY_CONNECTED")


@dataclass
class KOp:
    index: int
    opcode: str
    inputs: list[int | None]
    outputs: list[int]
    p: dict[str, float | int] = field(default_factory=dict)


def _params(opcode: str, words: list[int]) -> dict:
    out = {}
    for (name, kind), w in zip(OPCODES[opcode].params, words):
        out[name] = struct.unpack("<f", struct.pack("<i", w))[0] if kind == "f" else int(w)
    return out


class KGraph:
    def __init__(self, data: bytes):
        self.art: Artifact = read_artifact(data)
        self.tensors = self.art.tensors
        self.ops = [KOp(o.index, o.name, list(o.inputs), list(o.outputs), _params(o.name, o.params))
                    for o in self.art.ops]
        self.producer: dict[int, int] = {t: op.index for op in self.ops for t in op.outputs}
        self.consumers: dict[int, list[int]] = {}
        for op in self.ops:
            for t in op.inputs:
                if t is not None and not self.tensors[t].is_const:
                    self.consumers.setdefault(t, []).append(op.index)

    def const(self, t: int) -> np.ndarray:
        return np.array(self.art.constant(self.tensors[t]))

    def is_int8(self, t: int | None) -> bool:
        return t is not None and self.tensors[t].dtype == "int8"

    def trainable(self, op: KOp) -> bool:
        return op.opcode in TRAINABLE and self.is_int8(op.inputs[0])

    def logits(self) -> int:
        """The float32 tensor the loss reads: the graph output, or the input of a final SOFTMAX."""
        if len(self.art.outputs) != 1:
            raise FinetuneError(f"fine-tuning needs a model with one output, this one has {len(self.art.outputs)}")
        t = self.art.outputs[0]
        op = self.ops[self.producer[t]]
        if op.opcode == "SOFTMAX":
            t = op.inputs[0]
        if self.tensors[t].dtype != "float32":
            raise FinetuneError("the model's output must be float32 logits (export with int8 inside, float at the edges)")
        return t

    def weight_scales(self, op: KOp, graph=None) -> np.ndarray:
        """Per-output-channel weight scales s_W: from the IR when we have it, else recovered from the
        requantization multipliers (M = s_x s_W / s_y), which the artifact keeps per channel."""
        w = self.tensors[op.inputs[1]]
        M = w.shape[0]
        if graph is not None and w.name in graph.tensors and graph.tensors[w.name].quant is not None:
            s = np.asarray(graph.tensors[w.name].quant.scale, np.float32)
            return np.broadcast_to(s, (M,)).astype(np.float32).copy()
        mult = self.const(op.inputs[3]).astype(np.float64)
        shift = self.const(op.inputs[4]).astype(np.float64)
        real = mult * np.exp2(shift - 31)
        sx, sy = self.tensors[op.inputs[0]].scale, self.tensors[op.outputs[0]].scale
        return (real * sy / sx).astype(np.float32)
