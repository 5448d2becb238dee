"""The backward program: derived from the compiled forward graph, pruned to what the chosen
updates need, in the order that applies each gradient as soon as it exists.

Gradients of activations are float32 in the real domain (dL/dy for y = s (q - z)); saved
activations stay int8 in the forward arena, so "saving" an activation is only keeping its
buffer alive past its last forward use. Each trainable layer's step computes dL/dx with
the weights as they were (the next step down needs it), then walks the updated output
channels, finishing each weight/bias gradient and applying it at once: no gradient
buffer for parameters ever exists, only one accumulator.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import FinetuneError
from .kgraph import KGraph, KOp

STEP_KINDS = {"LOSS_CE": 1, "LOSS_MSE": 2, "CONV": 3, "FC": 4, "ADD": 5, "GAP": 6, "AVGPOOL": 7, "MAXPOOL": 8,
              "COPY": 9}
# gradient flows through unchanged (real-valued identity; the int8 clamp of REQUANTIZE is ignored)
PASS = ("DEQUANTIZE", "RESHAPE", "REQUANTIZE")


@dataclass
class LayerUpdate:
    op: int
    channels: list[int]  # output channels whose weights are updated (sorted)
    bias: bool  # all biases of the layer are updated


@dataclass
class Step:
    kind: str
    op: int  # kernel op index; -1 for the loss
    g_out: str  # gradient buffer of the op's output
    g_in: list[str | None]  # per input: buffer receiving dL/dinput, None when not needed
    acc: list[bool]  # per input: add into the buffer (fan-out) instead of overwriting it
    layer: int = -1  # index into Program.layers
    saved: list[int] = field(default_factory=list)  # forward tensors this step reads


@dataclass
class Program:
    steps: list[Step]
    layers: list[LayerUpdate]
    logits: int
    grad_sizes: dict[str, int]  # gradient buffer -> bytes (float32)


def _kind(kg: KGraph, op: KOp) -> str:
    if op.opcode == "CONV2D" and kg.is_int8(op.inputs[0]):
        return "CONV"
    if op.opcode == "FULLY_CONNECTED" and kg.is_int8(op.inputs[0]):
        return "FC"
    if op.opcode == "BINARY" and op.p["kind"] == 0 and kg.is_int8(op.inputs[0]):
        a, b = (kg.tensors[t].shape for t in op.inputs[:2])
        if a == b:
            return "ADD"
    if op.opcode == "GLOBAL_AVGPOOL" and kg.is_int8(op.inputs[0]):
        return "GAP"
    if op.opcode == "AVGPOOL" and kg.is_int8(op.inputs[0]):
        return "AVGPOOL"
    if op.opcode == "MAXPOOL" and kg.is_int8(op.inputs[0]):
        return "MAXPOOL"
    if op.opcode in PASS:
        return "PASS"
    raise FinetuneError(f"op {op.index} ({op.opcode}, output '{kg.tensors[op.outputs[0]].name}') lies on the "
                        f"backward path and has no backward kernel; update only layers after it")


def derive(kg: KGraph, updates: dict[int, LayerUpdate], loss: str) -> Program:
    logits = kg.logits()
    for i, u in updates.items():
        if not kg.trainable(kg.ops[i]):
            raise FinetuneError(f"op {i} ({kg.ops[i].opcode}) has no int8 weights to update")
        if u.bias and kg.ops[i].inputs[2] is None:
            u.bias = False
    # dep: tensor depends on an updated parameter; reach: tensor leads to the logits
    dep: set[int] = set()
    for op in kg.ops:
        if op.index in updates or any(t in dep for t in op.inputs if t is not None):
            dep.update(op.outputs)
    reach: set[int] = {logits}
    for op in reversed(kg.ops):
        if any(o in reach for o in op.outputs):
            reach.update(t for t in op.inputs if t is not None and not kg.tensors[t].is_const)
    need = dep & reach

    # gradient buffer names; identity ops with a single-consumer input share the buffer
    buf: dict[int, str] = {logits: f"g{logits}"}
    written: set[str] = set()
    steps: list[Step] = [Step("LOSS_" + ("CE" if loss == "cross_entropy" else "MSE"), -1, buf[logits], [], [],
                              saved=[logits])]
    written.add(buf[logits])
    layers: list[LayerUpdate] = []
    for op in reversed(kg.ops):
        out = op.outputs[0]
        if out not in need:
            continue
        kind = _kind(kg, op)
        if out not in buf:
            raise FinetuneError(f"op {op.index} ({op.opcode}) output gets no gradient")  # defensive
        ins = [t if (t is not None and t in need) else None for t in op.inputs]
        if kind == "PASS":
            x = op.inputs[0]
            if x in need:
                if len(kg.consumers.get(x, [])) == 1 and x not in buf:
                    buf[x] = buf[out]
                else:
                    kind = "COPY"
            if kind == "PASS":
                continue
        n_in = 2 if kind == "ADD" else 1
        g_in, acc = [], []
        for k in range(n_in):
            x = ins[k]
            if x is None:
                g_in.append(None)
                acc.append(False)
                continue
            name = buf.setdefault(x, f"g{x}")
            g_in.append(name)
            acc.append(name in written)
            written.add(name)
        st = Step(kind, op.index, buf[out], g_in, acc)
        if kind in ("CONV", "FC"):
            st.saved.append(out)
            # frozen layers on the path get a record too: dL/dx needs their weight scales
            u = updates.get(op.index) or LayerUpdate(op.index, [], False)
            st.layer = len(layers)
            layers.append(u)
            if u.channels:
                st.saved.append(op.inputs[0])
        elif kind == "ADD":
            st.saved.append(out)
        elif kind == "MAXPOOL":  # the window's argmax is found again from the saved input
            st.saved.append(op.inputs[0])
        steps.append(st)
    missing = set(updates) - {u.op for u in layers}
    if missing:
        raise FinetuneError(f"layers {sorted(missing)} do not lead to the model output; nothing to learn there")
    sizes = {}
    for t, name in buf.items():
        sizes[name] = max(sizes.get(name, 0), 4 * _numel(kg, t))
    return Program(steps, layers, logits, sizes)


def _numel(kg: KGraph, t: int) -> int:
    n = 1
    for d in kg.tensors[t].shape:
        n *= d
    return n
