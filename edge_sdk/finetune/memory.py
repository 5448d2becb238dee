"""One static arena for forward + backward + the parameters kept in SRAM.

The forward ops and the backward steps form one timeline; every buffer lives from the op
that writes it to the last op that reads it, and the compiler's planner
(edge_sdk.compile.memplan: greedy by size, TFLite Micro's strategy) places them. An
activation a backward step reads simply lives longer ("saved"); gradient buffers are
float32. The updated parameters (int32 biases, int8 weight rows of the updated channels)
sit after the planned region for the whole session: they are what gets saved to flash.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from ..artifact.layout import align
from ..compile import memplan
from .kgraph import KGraph
from .program import Program


@dataclass
class ParamSlot:
    layer: int
    bias_off: int | None  # arena offset of int32[M]
    weight_off: int | None  # arena offset of int8[n_upd * K]
    bias_bytes: int
    weight_bytes: int


@dataclass
class ArenaPlan:
    offsets: dict[str, int]  # "t<idx>" forward tensors and "g<idx>" gradient buffers
    dynamic_bytes: int
    params_off: int
    params_bytes: int
    arena_bytes: int
    slots: list[ParamSlot]
    peak: dict[str, int] = field(default_factory=dict)  # live bytes by class at the peak instant


INPLACE_MAX_K, INPLACE_MAX_W, INPLACE_MAX_C = 5, 128, 256  # native/src/kernels/kernels.h


def inplace_ok(kg: KGraph, op) -> bool:
    """The runtime's in-place kernels take this op (mirror of esdk_*_inplace_ok in C)."""
    if op.opcode == "QUANTIZE":
        x, y = kg.tensors[op.inputs[0]], kg.tensors[op.outputs[0]]
        return x.dtype == "float32" and y.dtype == "int8"
    if op.opcode != "CONV2D" or not kg.is_int8(op.inputs[0]):
        return False
    x, y, w = kg.tensors[op.inputs[0]], kg.tensors[op.outputs[0]], kg.tensors[op.inputs[1]]
    if len(x.shape) != 4 or x.shape[0] != 1:
        return False
    _, C, H, W = x.shape
    _, M, OH, OW = y.shape
    KH, KW = w.shape[2], w.shape[3]
    p = op.p
    if p["group"] == C == M:
        return (1 <= KH <= INPLACE_MAX_K and W <= INPLACE_MAX_W and OW <= W and OH <= H and p["stride_h"] >= 1
                and p["stride_w"] >= 1 and p["dil_h"] == 1 and 0 <= p["pad_t"] < KH)
    return (p["group"] == 1 and KH == KW == 1 and p["stride_h"] == p["stride_w"] == 1 and p["pad_t"] == 0
            and p["pad_l"] == 0 and OH == H and OW == W and C <= INPLACE_MAX_C)


def plan_arena(kg: KGraph, prog: Program, peak: bool = True) -> ArenaPlan:
    tn = lambda t: f"t{t}"  # noqa: E731
    sizes = {tn(t.index): t.nbytes for t in kg.tensors if not t.is_const}
    sizes.update(prog.grad_sizes)
    kops = [SimpleNamespace(opcode=op.opcode, inputs=[tn(t) for t in op.inputs if t is not None],
                            outputs=[tn(t) for t in op.outputs]) for op in kg.ops]
    n_fwd = len(kops)
    for st in prog.steps:
        loss_step = st.kind.startswith("LOSS")
        ins = [tn(t) for t in st.saved] + ([] if loss_step else [st.g_out])
        outs = [st.g_out] if loss_step else []
        for g, a in zip(st.g_in, st.acc):
            if g is not None:
                (ins if a else outs).append(g)
                if a:
                    outs.append(g)
        kops.append(SimpleNamespace(opcode="BACKWARD", inputs=ins, outputs=outs))
    gin = [tn(t) for t in kg.art.inputs]
    gout = [tn(t) for t in kg.art.outputs]
    # a RESHAPE may alias its input only where the planner sees the input die; the names are
    # the forward's, so the rule is the compiler's own
    # In place (the kernels of native/src/kernels/scalar/inplace-i8-scalar.c): the input is
    # rewritten before every step, so it need not outlive its last reader.
    trained = {u.op for u in prog.layers}
    inplace = [op.index for op in kg.ops if op.index not in trained and inplace_ok(kg, op)]
    offsets, dyn = memplan.plan(kops, sizes, gin, gout, inplace=inplace, keep_inputs=False)

    # live bytes per class at each instant (for the report)
    first, last = {}, {}
    for k, op in enumerate(kops):
        for t in op.inputs + op.outputs:
            first.setdefault(t, k)
            last[t] = max(last.get(t, k), k)
    for t in gout:
        last[t] = len(kops)
    best, peak_cls = -1, {"activations": 0, "saved_activations": 0, "gradients": 0}
    for k in (range(len(kops)) if peak else ()):
        cls = {"activations": 0, "saved_activations": 0, "gradients": 0}
        at: dict[int, tuple[int, str]] = {}  # tensors at one offset and instant are in-place aliases: count once
        for t, f in first.items():
            if t in sizes and f <= k <= last[t] and sizes[t] > 0:
                c = "gradients" if t.startswith("g") else \
                    "saved_activations" if last[t] >= n_fwd and t not in gout else "activations"
                if sizes[t] > at.get(offsets[t], (0, ""))[0]:
                    at[offsets[t]] = (sizes[t], c)
        for sz, c in at.values():
            cls[c] += sz
        tot = sum(cls.values())
        if tot > best:
            best, peak_cls = tot, cls
    slots, pos = [], align(dyn)
    params_off = pos
    for li, u in enumerate(prog.layers):
        op = kg.ops[u.op]
        w = kg.tensors[op.inputs[1]]
        M, K = w.shape[0], w.nbytes // w.shape[0]
        bo = wo = None
        bb = wb = 0
        if u.bias:
            bo, bb = pos, 4 * M
            pos += bb
        if u.channels:
            wo, wb = pos, len(u.channels) * K
            pos = align(pos + wb, 4)
        slots.append(ParamSlot(li, bo, wo, bb, wb))
    params_bytes = pos - params_off
    return ArenaPlan(offsets, dyn, params_off, params_bytes, align(pos), slots, peak_cls)
