"""Static arena plan: every activation gets an offset before anything runs.

Greedy by size (the TFLite Micro planner's strategy): buffers sorted largest first, each
placed at the lowest 64-byte-aligned offset that does not collide with an already placed
buffer whose lifetime overlaps. A RESHAPE whose input dies at the reshape shares its
input's buffer, so it costs no copy.

Op outputs never overlap their inputs, except where the caller names an op in `inplace`:
ops whose kernel is proven safe when its output starts at its input's offset (the runtime
detects the aliasing and runs the in-place kernel: QUANTIZE f32->int8, depthwise and
pointwise int8 CONV2D, see native/src/kernels/scalar/inplace-i8-scalar.c). Such an output
shares its first input's buffer when that input dies there; the buffer is the larger of
the two. `keep_inputs=False` lets graph inputs die at their last use (a trainer rewrites
its input before every step), which the in-place rule then may reuse.
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
    parts: list[tuple[int, int, int]] | None = None  # (size, first, last) per member: in-place groups


def plan(kops, sizes: dict[str, int], inputs: list[str], outputs: list[str], inplace=(),
         keep_inputs: bool = True) -> tuple[dict[str, int], int]:
    """Returns ({tensor: arena offset}, arena bytes). `inplace`: op indices whose output may
    alias its (dying) first input; `keep_inputs`: graph inputs live for the whole run."""
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
    for t in (list(inputs) if keep_inputs else []) + list(outputs):
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
    # In-place candidates; aliased only where it lowers the peak: repeatedly, at the instant
    # with the most live bytes, the candidate op there (if any) is aliased. Aliasing everything
    # would chain whole networks into groups that collide with each other.
    cand: dict[int, tuple[str, str]] = {}
    for k in sorted(set(inplace)):
        op = kops[k]
        if op.inputs and op.outputs:
            src, dst = op.inputs[0], op.outputs[0]
            if src in sizes and dst in sizes and last.get(src) == k and dst not in outputs and dst not in owner \
                    and (src not in inputs or not keep_inputs) and src not in outputs \
                    and all(i != src for i in op.inputs[1:]):
                cand[k] = (src, dst)
    shaped: set[str] = set()  # roots of groups joined by an in-place op
    if cand:
        live = [0] * (n + 2)  # instants -1 .. n
        for t, size in sizes.items():
            if t in first:
                for k in range(first[t], last.get(t, first[t]) + 1):
                    live[k + 1] += size
        while True:
            peak = max(live)
            ks = [k for k in cand if live[k + 1] == peak]
            if not ks:
                break
            k = ks[0]
            src, dst = cand.pop(k)
            live[k + 1] -= min(sizes[src], sizes[dst])
            owner[dst] = root(src)
            shaped.add(dst)
        shaped = {root(t) for t in shaped}

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

    if shaped:
        return _place_shaped(buffers, shaped, sizes, first, last)
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


def _place_shaped(buffers, shaped, sizes, first, last):
    """Greedy by size where an in-place group is not one rectangle but one per member, all at
    the group's offset: an expansion that dies early does not keep its size reserved for the
    rest of the group's lifetime."""
    for r, b in buffers.items():
        if r in shaped:
            b.parts = [(sizes[t], first[t], last.get(t, first[t])) for t in b.names]
        else:
            b.parts = [(b.size, b.first, b.last)]
    placed: list[Buffer] = []
    for b in sorted(buffers.values(), key=lambda b: (-b.size, b.first)):
        near = [(p.offset, y) for p in placed if p.first <= b.last and b.first <= p.last for y in p.parts]
        offset = 0
        while True:
            ends = [align(po + ys) for po, (ys, yf, yl) in near for (xs, xf, xl) in b.parts
                    if yf <= xl and xf <= yl and offset < po + ys and po < offset + xs]
            if not ends:
                break
            offset = min(ends)
        b.offset = offset
        placed.append(b)
    offsets = {name: b.offset for b in placed for name in b.names}
    arena = align(max((b.offset + b.size for b in placed), default=0))
    return offsets, arena
