"""Static arena plan: every activation gets an offset before anything runs.

Greedy by size (the TFLite Micro planner's strategy): buffers sorted largest first, each
placed at the lowest 64-byte-aligned offset that does not collide with an already placed
buffer whose lifetime overlaps. A RESHAPE whose input dies at the reshape shares its
input's buffer, so it costs no copy.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..artifact.layout import align


@dataclass
class Buffer:
    names: list[str]
    size: int
    first: int  # op index that defines it (-1: graph input)
    last: int  # op index of the last use (len(ops): graph output)
    offset: int = -1


def plan(kops, sizes: dict[str, int], inputs: list[str], outputs: list[str]) -> tuple[dict[str, int], int]:
    """Returns ({tensor: arena offset}, arena bytes)."""
    n = len(kops)
    first: dict[str, int] = {i: -1 for i in inputs}
    last: dict[str, int] = {}
    for k, op in enumerate(kops):
        for i in op.inputs:
            if i in sizes:
                last[i] = k
        for o in op.outputs:
            first.setdefault(o, k)
            last.setdefault(o, k)  # written even if never read
    # Graph inputs and outputs live for the whole run: a caller may write the inputs once and
    # invoke many times (benchmarks, firmware), and reads the outputs after invoke returns.
    for t in list(inputs) + list(outputs):
        last[t] = n

    # Alias RESHAPE outputs onto inputs that die there (and are not graph inputs/outputs).
    owner: dict[str, str] = {}

    def root(t: str) -> str:
        while t in owner:
            t = owner[t]
        return t

    for k, op in enumerate(kops):
        if op.opcode == "RESHAPE":
            src, dst = op.inputs[0], op.outputs[0]
            if src in sizes and last.get(src) == k and src not in inputs and src not in outputs \
                    and dst not in outputs and sizes[src] == sizes[dst]:
                owner[dst] = root(src)

    buffers: dict[str, Buffer] = {}
    for t, size in sizes.items():
        if t not in first:
            continue  # declared but unused
        r = root(t)
        b = buffers.setdefault(r, Buffer([], size, first[t], last.get(t, first[t])))
        b.names.append(t)
        b.first = min(b.first, first[t])
        b.last = max(b.last, last.get(t, first[t]))
        b.size = max(b.size, size)

    placed: list[Buffer] = []
    for b in sorted(buffers.values(), key=lambda b: (-b.size, b.first)):
        live = sorted((p for p in placed if p.first <= b.last and b.first <= p.last), key=lambda p: p.offset)
        offset = 0
        for p in live:
            if offset + b.size <= p.offset:
                break
            offset = max(offset, align(p.offset + p.size))
        b.offset = offset
        placed.append(b)
    offsets = {name: b.offset for b in placed for name in b.names}
    arena = align(max((b.offset + b.size for b in placed), default=0))
    return offsets, arena
