"""edge_sdk.finetune.plan: from a model to a training plan artifact that fits a memory budget."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .encode import BACKWARD, ROUNDING, encode, rewrite, sections
from .errors import FinetuneError
from .kgraph import KGraph
from .memory import ArenaPlan, plan_arena
from .program import LayerUpdate, Program, derive
from .targets import overhead_bytes

RATIOS = (1 / 8, 1 / 4, 1 / 2, 1.0)


@dataclass
class Plan:
    data: bytes  # the plan artifact (.esm with a TRNP section)
    kg: KGraph
    prog: Program
    arena: ArenaPlan
    scales: dict[int, np.ndarray]
    lrw: dict[int, np.ndarray]
    lrb: dict[int, np.ndarray]
    loss: str
    lr: float
    rounding: str
    seed: int
    report: dict[str, Any] = field(default_factory=dict)
    backward: str = "fp32"

    @property
    def rounding_code(self) -> int:
        return ROUNDING[self.rounding]

    @property
    def backward_code(self) -> int:
        return BACKWARD[self.backward]

    def layer_M(self, li: int) -> int:
        return self.kg.tensors[self.kg.ops[self.prog.layers[li].op].inputs[1]].shape[0]

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(self.data)
        return p

    def summary(self) -> str:
        r = self.report
        m = r["memory"]
        lines = [f"training plan: update={r['update']} loss={r['loss']} lr={r['lr']} target={r['target']} "
                 f"backward={r.get('backward', 'fp32')}",
                 f"  layers updated: {len(r['layers'])} (weights in {sum(1 for l in r['layers'] if l['channels'])}, "
                 f"biases in {sum(1 for l in r['layers'] if l['bias'])}); backward steps: {r['steps']}"]
        for k in ("activations", "saved_activations", "gradients", "updated_params", "optimizer_state",
                  "runtime_contexts", "target_overhead"):
            lines.append(f"  {k:<18} {m[k] / 1024:9.1f} KB")
        lines.append(f"  {'arena':<18} {m['arena'] / 1024:9.1f} KB")
        lines.append(f"  {'peak SRAM':<18} {m['peak_total'] / 1024:9.1f} KB of {r['budget_kb']} KB")
        return "\n".join(lines)


def _int8_artifact(model, calibration, target):
    """bytes of an int8 artifact + the IR graph (for exact weight scales) when we made it."""
    from ..export import Artifact, export

    if isinstance(model, Artifact):
        return model.data, model.graph
    if isinstance(model, (bytes, bytearray)):
        return bytes(model), None
    p = Path(model) if isinstance(model, (str, Path)) else None
    if p is not None and p.suffix == ".esm":
        if not p.is_file():
            raise FinetuneError(f"model file {p} does not exist")
        return p.read_bytes(), None
    calib = None
    if calibration is not None:
        xs = calibration[0]
        calib = [{"input": np.asarray(x, np.float32)[None] if np.ndim(x) == 3 else np.asarray(x, np.float32)}
                 for x in xs]
    art = export(model, quantize="int8", calibration=calib, target="host", validate=False)
    return art.data, art.graph


def _build(base: bytes, kg: KGraph, graph, updates: dict[int, LayerUpdate], loss: str, lr: float, rounding: str,
           seed: int, peak: bool = True):
    prog = derive(kg, {k: LayerUpdate(v.op, list(v.channels), v.bias) for k, v in updates.items()}, loss)
    ap = plan_arena(kg, prog, peak=peak)
    return prog, ap


def _mem_total(kg, ap: ArenaPlan, target: str) -> int:
    from ..runtime.session import _lib

    _, lib = _lib()
    return ap.arena_bytes + int(lib.esdk_model_size()) + int(lib.esdk_trainer_size()) + overhead_bytes(target)


def plan(model, budget_kb: float = 256, target: str = "cortex-m7", update: str = "sparse",
         loss: str = "cross_entropy", optimizer: str = "sgd", lr: float = 0.01,
         calibration: tuple[Sequence[np.ndarray], Sequence[int]] | None = None, rounding: str = "stochastic",
         seed: int = 0, max_depth: int = 12, backward: str = "fp32") -> Plan:
    """Plan on-device fine-tuning of `model` (ONNX/TFLite path, Graph, export Artifact or int8 .esm).

    update: "sparse" (contribution analysis within the budget), "bias", "last:K", "full".
    calibration: (inputs, labels) from the fine-tuning task; needed for "sparse" (the
    contribution analysis) and to quantize a float model.
    backward: arithmetic of the conv/fc backward steps: "fp32", or "int8" (output gradient
    quantized per tensor, int8 x int8 -> int32 products; "int8-stochastic" rounds it
    stochastically). The contribution analysis is float either way.
    """
    if optimizer != "sgd":
        raise FinetuneError(f"optimizer must be 'sgd' (no state: nothing to keep in SRAM), not '{optimizer}'")
    if loss not in ("cross_entropy", "mse"):
        raise FinetuneError(f"loss must be cross_entropy or mse, not '{loss}'")
    if rounding not in ROUNDING:
        raise FinetuneError(f"rounding must be nearest or stochastic, not '{rounding}'")
    if backward not in BACKWARD:
        raise FinetuneError(f"backward must be one of {', '.join(BACKWARD)}, not '{backward}'")
    if not (lr > 0 and np.isfinite(lr)):
        raise FinetuneError(f"lr must be a positive number, not {lr}")
    if budget_kb <= 0:
        raise FinetuneError("budget_kb must be positive")
    overhead_bytes(target)  # unknown target: fail before any work
    base, graph = _int8_artifact(model, calibration, target)
    if "TRNP" in sections(base):
        raise FinetuneError("this artifact already carries a training plan; plan from the model instead")
    kg = KGraph(base)
    kg.logits()
    layers = [op.index for op in kg.ops if kg.trainable(op)]
    if not layers:
        raise FinetuneError("the model has no int8 conv or fully connected layer to train")
    scales = {i: kg.weight_scales(kg.ops[i], graph) for i in layers}
    M = {i: kg.tensors[kg.ops[i].inputs[1]].shape[0] for i in layers}
    budget = int(budget_kb * 1024)
    analysis = None
    if update == "full":
        updates = {i: LayerUpdate(i, list(range(M[i])), True) for i in layers}
    elif update == "bias":
        updates = {i: LayerUpdate(i, [], True) for i in layers}
    elif update.startswith("last:"):
        try:
            k = int(update[5:])
        except ValueError:
            raise FinetuneError(f"update 'last:K' needs an integer K, got '{update}'") from None
        if not 1 <= k <= len(layers):
            raise FinetuneError(f"last:K needs 1 <= K <= {len(layers)} (the model's trainable layers)")
        updates = {i: LayerUpdate(i, list(range(M[i])), True) for i in layers[-k:]}
    elif update == "sparse":
        if calibration is None:
            raise FinetuneError("update='sparse' needs calibration=(inputs, labels) for the contribution analysis")
        from .select import choose_sparse

        updates, analysis = choose_sparse(base, kg, graph, layers, scales, loss, calibration, budget, target,
                                          max_depth, lambda u: _mem_total(kg, _build(base, kg, graph, u, loss, lr,
                                                                                     rounding, seed, False)[1], target))
    else:
        raise FinetuneError(f"update must be sparse, bias, last:K or full, not '{update}'")
    prog, ap = _build(base, kg, graph, updates, loss, lr, rounding, seed)
    lrw = {li.op: (np.float64(lr) / scales[li.op].astype(np.float64)).astype(np.float32) for li in prog.layers}
    lrb = {li.op: (np.float64(lr) / (scales[li.op].astype(np.float64) *
                                     np.float64(np.float32(kg.tensors[kg.ops[li.op].inputs[0]].scale))))
           .astype(np.float32) for li in prog.layers}
    trnp = encode(kg, prog, ap, loss, lr, rounding, seed, scales, backward)
    data = rewrite(base, kg, ap, trnp)
    from ..runtime.session import _lib

    _, lib = _lib()
    contexts = int(lib.esdk_model_size()) + int(lib.esdk_trainer_size())
    mem = dict(ap.peak)
    mem.update(updated_params=ap.params_bytes, optimizer_state=0, runtime_contexts=contexts,
               target_overhead=overhead_bytes(target), arena=ap.arena_bytes)
    mem["peak_total"] = ap.arena_bytes + contexts + overhead_bytes(target)
    report = {
        "update": update, "loss": loss, "lr": lr, "target": target, "budget_kb": budget_kb, "rounding": rounding,
        "backward": backward,
        "steps": len(prog.steps), "memory": mem, "artifact_bytes": len(data),
        "layers": [{"op": u.op, "name": kg.tensors[kg.ops[u.op].outputs[0]].name, "kind": kg.ops[u.op].opcode,
                    "channels": len(u.channels), "of": M[u.op], "bias": u.bias}
                   for u in prog.layers if u.channels or u.bias],
        "analysis": analysis,
    }
    if mem["peak_total"] > budget:
        raise FinetuneError(
            f"plan does not fit: peak {mem['peak_total'] / 1024:.1f} KB > budget {budget_kb} KB "
            f"(activations {mem['activations'] / 1024:.1f} KB, saved activations {mem['saved_activations'] / 1024:.1f} KB, "
            f"gradients {mem['gradients'] / 1024:.1f} KB, updated params {ap.params_bytes / 1024:.1f} KB, "
            f"optimizer state 0 KB, contexts {contexts / 1024:.1f} KB, {target} runtime {overhead_bytes(target) / 1024:.1f} KB; "
            f"arena {ap.arena_bytes / 1024:.1f} KB)")
    data = _with_meta(data, report)
    kg2 = KGraph(data)
    return Plan(data, kg2, prog, ap, scales, lrw, lrb, loss, lr, rounding, seed, report, backward)


def _with_meta(data: bytes, report: dict) -> bytes:
    from .encode import pack

    secs = []
    for kind, (off, size) in sections(data).items():
        blob = data[off:off + size]
        if kind == "META":
            meta = json.loads(blob.decode())
            meta["finetune"] = report
            blob = json.dumps(meta, sort_keys=True, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)).encode()
        secs.append((kind.encode(), blob))
    import struct

    return pack(secs, struct.unpack_from("<Q", data, 24)[0])
