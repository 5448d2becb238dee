"""What the CLI prints: rich tables on a terminal, plain text in logs."""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

# In a pipe or a CI log rich would assume 80 columns and squeeze the layer table.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def _kb(n: int) -> str:
    return f"{n / 1024:,.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):,.2f} MiB"


def _m(n: int) -> str:
    return f"{n / 1e6:,.2f}M"


@contextlib.contextmanager
def progress_bar():
    """Yields progress(stage, done, total); draws one bar per stage on stderr."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, leave=False, unit="step", disable=None)  # off in logs
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        for bar in bars.values():
            bar.close()


def print_export(report, out: Path) -> None:
    t = Table(title=f"{report.source} -> {out}", title_justify="left")
    for col in ("layer", "op", "kernel", "pattern", "sparsity", "MACs dense", "MACs", "weights"):
        t.add_column(col, justify="right" if col in ("sparsity", "MACs dense", "MACs", "weights") else "left")
    for l in report.layers:
        t.add_row(l["node"], l["op"], l["kernel"], l["pattern"], f"{1 - l['density']:.1%}", _m(l["macs_dense"]),
                  _m(l["macs"]), _kb(l["weight_bytes"]))
    console.print(t)
    s = Table(show_header=False, box=None)
    s.add_row("size", f"{_kb(report.source_weight_bytes)} weights in the source -> {_kb(report.artifact_bytes)} artifact")
    s.add_row("MACs", f"{_m(report.macs_dense)} dense -> {_m(report.macs)} executed")
    s.add_row("peak arena", f"{report.arena_bytes:,} bytes")
    s.add_row("kernel ops", str(report.ops))
    for f in report.fidelity:
        s.add_row("error vs " + f.against, f"max abs {f.max_abs:.3g}, max rel {f.max_rel:.3g}, cosine {f.cosine:.6f}")
    for f in (report.quant or {}).get("fidelity", []):
        s.add_row(f"int8 vs float ({f['name']})", f"cosine {f['cosine']:.6f}, max abs {f['max_abs_error']:.3g}, "
                                                  f"SQNR {f['sqnr_db']:.1f} dB (held-out inputs)")
    console.print(s)
    for l in report.layers:
        if l["kernel"].startswith("sparse") or l["pattern"] != "dense":
            console.print(f"  {l['node']}: {l['kernel']} — {l['reason']}")


def inspect_dict(art) -> dict:
    tensors = [{"index": t.index, "name": t.name, "dtype": t.dtype, "shape": list(t.shape),
                "storage": "constant" if t.is_const else "arena", "offset": t.offset, "bytes": t.nbytes,
                **({"scale": t.scale, "zero_point": t.zero_point} if t.quantized else {})} for t in art.tensors]
    ops = [{"index": o.index, "op": o.name, "inputs": [art.tensors[i].name if i is not None else None for i in o.inputs],
            "outputs": [art.tensors[i].name for i in o.outputs]} for o in art.ops]
    return {"version": f"{art.version[0]}.{art.version[1]}", "bytes": len(art.data), "arena_bytes": art.arena_size,
            "inputs": [art.tensors[i].name for i in art.inputs], "outputs": [art.tensors[i].name for i in art.outputs],
            "sections": {k: {"offset": v[0], "size": v[1]} for k, v in art.sections.items()},
            "ops": ops, "tensors": tensors, "layers": art.meta.get("layers", []), "meta": {
                k: v for k, v in art.meta.items() if k not in ("layers", "kernel_ops")}}


def print_inspect(art, path: Path) -> None:
    d = inspect_dict(art)
    console.print(f"[bold]{path}[/bold]: .esm {d['version']}, {d['bytes']:,} bytes, arena {d['arena_bytes']:,} bytes, "
                  f"{len(d['ops'])} ops, {len(d['tensors'])} tensors")
    src = art.meta.get("source")
    if src:
        console.print(f"source: {src}  options: {art.meta.get('options', {})}")
    sec = Table(title="sections", title_justify="left")
    for c in ("section", "offset", "bytes"):
        sec.add_column(c, justify="left" if c == "section" else "right")
    for k, v in d["sections"].items():
        sec.add_row(k, f"{v['offset']:,}", f"{v['size']:,}")
    console.print(sec)
    g = Table(title="graph (execution order)", title_justify="left")
    for c in ("#", "op", "inputs", "outputs"):
        g.add_column(c)
    for o in d["ops"]:
        g.add_row(str(o["index"]), o["op"], ", ".join(i or "-" for i in o["inputs"]), ", ".join(o["outputs"]))
    console.print(g)
    if d["layers"]:
        lt = Table(title="weight layers: kernel choice and sparsity", title_justify="left")
        for c in ("layer", "kernel", "pattern", "sparsity", "block", "why"):
            lt.add_column(c)
        for l in d["layers"]:
            lt.add_row(l["node"], l["kernel"], l["pattern"], f"{1 - l['density']:.1%}",
                       "x".join(map(str, l["block"])) if l.get("block") else "-", l["reason"])
        console.print(lt)
    mp = Table(title="memory plan (arena tensors)", title_justify="left")
    for c in ("tensor", "dtype", "shape", "offset", "bytes"):
        mp.add_column(c, justify="right" if c in ("offset", "bytes") else "left")
    for t in sorted((t for t in d["tensors"] if t["storage"] == "arena"), key=lambda t: t["offset"]):
        mp.add_row(t["name"], t["dtype"], "x".join(map(str, t["shape"])), f"{t['offset']:,}", f"{t['bytes']:,}")
    console.print(mp)


def print_outputs(outs: dict, out: Path | None) -> None:
    for name, a in outs.items():
        flat = a.ravel()
        head = ", ".join(f"{v:.4g}" for v in flat[:6]) + (" ..." if flat.size > 6 else "")
        console.print(f"{name}: {a.dtype} {list(a.shape)} [{head}]")
    if out:
        console.print(f"saved {len(outs)} output(s) to {out}")


def print_bench(timings: dict, isa: str, threads: int) -> None:
    t = Table(title=f"latency per inference, {threads} thread(s), interleaved (edge-sdk kernels: {isa})",
              title_justify="left")
    for c in ("runtime", "median ms", "min ms", "max ms", "runs", "edge-sdk speed-up"):
        t.add_column(c, justify="left" if c == "runtime" else "right")
    base = timings["edge-sdk"].median
    for name, tm in timings.items():
        t.add_row(name, f"{tm.median:.3f}", f"{tm.min:.3f}", f"{tm.max:.3f}", str(len(tm.samples_ms)),
                  "-" if name == "edge-sdk" else f"{tm.median / base:.2f}x")
    console.print(t)


def print_ops(supported: dict) -> None:
    for frontend, names in supported.items():
        console.print(f"[bold]{frontend}[/bold] ({len(names)} ops)")
        console.print("  " + ", ".join(names))


def print_profile(rows: list, isa: str, threads: int, top: int = 20) -> None:
    """Per-op profile: the slowest ops first, with their share of the summed time."""
    total = sum(r[3] for r in rows) or 1e-30
    t = Table(title=f"per-op time, {threads} thread(s), median per op (edge-sdk kernels: {isa}); "
                    f"{len(rows)} ops, sum {total:.3f} ms", title_justify="left")
    for c in ("op", "opcode", "source node", "median ms", "share", "cumulative"):
        t.add_column(c, justify="right" if c in ("op", "median ms", "share", "cumulative") else "left")
    cum = 0.0
    for i, op, src, ms in sorted(rows, key=lambda r: -r[3])[:top]:
        cum += ms
        t.add_row(str(i), op, src, f"{ms:.3f}", f"{ms / total:.1%}", f"{cum / total:.1%}")
    console.print(t)
    by = {}
    for _, op, _, ms in rows:
        by[op] = by.get(op, 0.0) + ms
    console.print("by opcode: " + ", ".join(f"{k} {v:.3f} ms ({v / total:.0%})"
                                            for k, v in sorted(by.items(), key=lambda kv: -kv[1])))
