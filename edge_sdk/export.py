"""edge_sdk.export: model file in, validated artifact out."""
from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .compile.emit import CompileResult, compile_graph
from .data import generated_inputs, load_calibration
from .errors import EdgeSdkError
from .ir.graph import Graph


@dataclass
class Fidelity:
    against: str
    max_abs: float
    max_rel: float  # max|diff| / max|reference|
    cosine: float

    @staticmethod
    def of(ref: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray], against: str) -> "Fidelity":
        max_abs, max_rel, cos = 0.0, 0.0, 1.0
        for name, r in ref.items():
            r = np.asarray(r, np.float64).ravel()
            g = np.asarray(got[name], np.float64).ravel()
            d = float(np.max(np.abs(r - g))) if r.size else 0.0
            max_abs = max(max_abs, d)
            max_rel = max(max_rel, d / max(float(np.max(np.abs(r))), 1e-30))
            nr, ng = np.linalg.norm(r), np.linalg.norm(g)
            cos = min(cos, float(r @ g / (nr * ng)) if nr and ng else float(nr == ng))
        return Fidelity(against, max_abs, max_rel, cos)


@dataclass
class ExportReport:
    source: str
    options: dict[str, Any]
    layers: list[dict]
    source_weight_bytes: int
    artifact_bytes: int
    macs_dense: int
    macs: int
    arena_bytes: int
    ops: int
    fidelity: list[Fidelity] = field(default_factory=list)
    sparsity: dict | None = None
    quant: dict | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fidelity"] = [asdict(f) for f in self.fidelity]
        return d


class Artifact:
    """An exported model: bytes plus the report that says how it was made and how good it is."""

    def __init__(self, data: bytes, report: ExportReport, graph: Graph, pruned_float: Graph | None):
        self.data = data
        self.report = report
        self.graph = graph  # the final IR (int8 when quantized)
        self.pruned_float = pruned_float  # float IR after pruning: the oracle for sparse correctness

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(self.data)
        return p

    def session(self, threads: int = 1):
        from .runtime.session import Session

        return Session(self.data, threads=threads)


def _weight_bytes(g: Graph) -> int:
    return sum(t.data.nbytes for t in g.tensors.values() if t.is_const)


def export(model: str | Path | Graph, sparsity: float = 0.0, pattern: str = "unstructured",
           quantize: str = "none", calibration: str | Path | Sequence[Mapping[str, np.ndarray]] | None = None,
           input_shapes: Mapping[str, Sequence[int]] | None = None, target: str = "host",
           allocation: str = "uniform", method: str = "magnitude", keep_dense: Sequence[str] | None = None,
           permute: bool = True, validate: bool = True, eval_inputs: int = 2,
           progress: Callable[[str, int, int], None] | None = None) -> Artifact:
    """Import, prune, quantize, compile and validate a model.

    `progress(stage, done, total)` is called during long stages (the CLI draws a bar).
    """
    from .frontends import load_model

    if quantize not in ("none", "int8"):
        raise EdgeSdkError(f"--quantize must be none or int8, not '{quantize}'")
    if not 0.0 <= sparsity < 1.0:
        raise EdgeSdkError(f"sparsity must be in [0, 1), got {sparsity}")
    from .sparsity.patterns import parse_pattern

    parse_pattern(pattern)  # a typo fails now, not after minutes of calibration
    if allocation not in ("uniform", "global"):
        raise EdgeSdkError(f"allocation must be uniform or global, not '{allocation}'")
    if method not in ("magnitude", "wanda"):
        raise EdgeSdkError(f"method must be magnitude or wanda, not '{method}'")
    shapes = {k: tuple(int(d) for d in v) for k, v in (input_shapes or {}).items()}
    if isinstance(model, Graph):
        graph, source = model, None
    else:
        source = Path(model)
        if not source.is_file():
            raise EdgeSdkError(f"model file {source} does not exist")
        graph = load_model(str(source), shapes or None)
    src_bytes = _weight_bytes(graph)

    # calibration samples: given, or generated (with a warning) when a stage needs data
    need_data = quantize == "int8" or method == "wanda"
    if calibration is None:
        samples = generated_inputs(graph, 16, seed=0, warn=need_data) if need_data else []
    elif isinstance(calibration, (str, Path)):
        samples = load_calibration(calibration, graph)
    else:
        samples = [dict(s) for s in calibration]
    evals = generated_inputs(graph, eval_inputs, seed=1234, warn=False)

    sp_report = None
    if sparsity > 0 or graph.metadata.get("source_sparse"):
        from .sparsity import sparsify

        sp_report = sparsify(graph, sparsity, pattern=pattern, allocation=allocation,
                             keep_dense=set(keep_dense) if keep_dense is not None else None, method=method,
                             calibration=samples or None, permute=permute)
        if quantize == "int8" and permute and sparsity > 0 and pattern == "unstructured":
            from .sparsity.permute import group_input_channels

            grouped = group_input_channels(graph, 4)
            if grouped:
                before, after = sum(g[1] for g in grouped), sum(g[2] for g in grouped)
                sp_report.notes.append(f"input channels of {len(grouped)} sparse 1x1 layer(s) reordered into "
                                       f"4-channel groups: {before} -> {after} nonempty 1x4 blocks "
                                       f"(the int8 kernels work in 1x4 blocks: --pattern block:1x4 prunes in the "
                                       f"pattern they run fastest)")
    pruned_float = copy.deepcopy(graph)

    q_report = None
    if quantize == "int8":
        from .quant import quantize_graph

        held = samples[-max(1, len(samples) // 5):] if len(samples) >= 5 else evals
        calib = samples[:-len(held)] if len(samples) >= 5 else samples
        q_report = quantize_graph(graph, calib, heldout=held, progress=progress)

    options = dict(sparsity=sparsity, pattern=pattern, quantize=quantize, allocation=allocation, method=method,
                   target=target, input_shapes={k: list(v) for k, v in shapes.items()})
    meta = {"source": str(source) if source else graph.name, "options": options, "producer": "edge-sdk"}
    result: CompileResult = compile_graph(graph, target, meta)
    layers = [asdict(l) for l in result.layers]
    report = ExportReport(
        source=str(source) if source else graph.name, options=options, layers=layers,
        source_weight_bytes=src_bytes, artifact_bytes=len(result.data),
        macs_dense=sum(l["macs_dense"] for l in layers), macs=sum(l["macs"] for l in layers),
        arena_bytes=result.arena_bytes, ops=result.op_count,
        sparsity=sp_report.to_dict() if sp_report is not None else None,
        quant=q_report.to_dict() if q_report is not None else None,
    )
    art = Artifact(result.data, report, graph, pruned_float)
    if validate:
        _validate(art, source, shapes, evals, report)
    return art


def _validate(art: Artifact, source: Path | None, shapes, evals, report: ExportReport) -> None:
    """Run the artifact natively against the source runtime and the pruned-float reference."""
    from .reference import run as ref_run

    sess = art.session()
    native = [sess.run(feeds) for feeds in evals]
    refs = [ref_run(art.pruned_float, feeds) for feeds in evals]
    report.fidelity.append(_merge([Fidelity.of(r, n, "reference (pruned float)") for r, n in zip(refs, native)]))
    if source is not None:
        from .peers import source_runner

        peer = source_runner(source, 1, shapes)
        outs = [peer.run(feeds) for feeds in evals]
        report.fidelity.append(_merge([Fidelity.of(o, n, f"{peer.name} (source model)") for o, n in zip(outs, native)]))


def _merge(fs: list[Fidelity]) -> Fidelity:
    return Fidelity(fs[0].against, max(f.max_abs for f in fs), max(f.max_rel for f in fs), min(f.cosine for f in fs))


def save_report(report: ExportReport, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report.to_dict(), indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
