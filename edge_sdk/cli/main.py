"""The `edge-sdk` command. User mistakes: one line on stderr, exit 1. Never a traceback."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import EdgeSdkError
from . import tables

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Export ONNX/TFLite models to sparse, quantized .esm artifacts and run them natively.")


@app.command()
def export(
    model: Path = typer.Argument(..., help="ONNX (.onnx) or TFLite (.tflite) model"),
    out: Path = typer.Option(..., "-o", "--out", help="artifact to write (.esm)"),
    sparsity: float = typer.Option(0.0, help="fraction of prunable weights set to zero, in [0, 1)"),
    pattern: str = typer.Option("unstructured", help="unstructured | n:m (2:4, 1:4) | block:RxC (1x4, 4x1, 8x1) | kernel-pattern"),
    allocation: str = typer.Option("uniform", help="per-layer sparsity: uniform | global"),
    method: str = typer.Option("magnitude", help="pruning score: magnitude | wanda (needs calibration data)"),
    keep_dense: Optional[List[str]] = typer.Option(None, "--keep-dense", help="layer to leave dense (repeatable; 'none' prunes all)"),
    quantize: str = typer.Option("none", help="none | int8"),
    calibration: Optional[Path] = typer.Option(None, help="directory of .npy/.npz input samples"),
    input_shape: Optional[List[str]] = typer.Option(None, "--input-shape", help="fix a dynamic input: NAME=1,3,224,224"),
    target: str = typer.Option("host", help="target descriptor in targets/"),
    report: Optional[Path] = typer.Option(None, help="write the export report as JSON"),
):
    """Import, prune, quantize and pack a model into one validated artifact."""
    from ..data import parse_shape_args
    from ..export import export as do_export, save_report
    from ..moe.export import cli_export, is_moe_dir  # MoE: a Hugging Face-style directory (docs/moe.md)
    if is_moe_dir(model):
        return cli_export(model, out, quantize, report)

    with tables.progress_bar() as bar:
        art = do_export(model, sparsity=sparsity, pattern=pattern, quantize=quantize, calibration=calibration,
                        input_shapes=parse_shape_args(input_shape), target=target, allocation=allocation,
                        method=method, keep_dense=keep_dense, progress=bar)
    art.save(out)
    if report:
        save_report(art.report, report)
    tables.print_export(art.report, out)


@app.command()
def inspect(artifact: Path = typer.Argument(..., help=".esm artifact"),
            as_json: bool = typer.Option(False, "--json", help="machine-readable output")):
    """Show an artifact's graph, tensors, sparsity and memory plan."""
    from ..artifact.reader import read_artifact

    art = read_artifact(_read(artifact))
    if as_json:
        typer.echo(json.dumps(tables.inspect_dict(art), indent=2))
    else:
        tables.print_inspect(art, artifact)


@app.command()
def run(
    artifact: Path = typer.Argument(..., help=".esm artifact"),
    input: Optional[List[str]] = typer.Option(None, "--input", help="NAME=x.npy (repeatable)"),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="write outputs to this .npz"),
    threads: int = typer.Option(1, help="worker threads"),
    target: str = typer.Option("host", help="run on this target's emulated board (targets/*.toml)"),
):
    """Run an artifact on inputs from .npy files; outputs go to an .npz under their names."""
    import numpy as np

    from ..data import load_input_arg
    from ..runtime.session import Session

    sess = Session(artifact, threads=threads)  # validates the artifact and names its inputs
    feeds = dict(load_input_arg(s) for s in input or [])
    if not feeds and sess.inputs:
        raise EdgeSdkError("give every input with --input NAME=FILE.npy; inputs: "
                           + ", ".join(f"{i.name}{list(i.shape)}" for i in sess.inputs))
    if target == "host":
        outs = sess.run(feeds)
    else:
        from ..build import run_on_target

        outs = run_on_target(artifact, target, feeds)
    if out:
        np.savez(out, **outs)
    tables.print_outputs(outs, out)


@app.command()
def bench(
    artifact: Optional[Path] = typer.Argument(None, help=".esm artifact (not needed with --kernels)"),
    threads: int = typer.Option(1, help="threads for edge-sdk and every peer"),
    runs: int = typer.Option(50, help="measured runs per contender"),
    warmup: int = typer.Option(5, help="unmeasured runs first"),
    compare: Optional[List[Path]] = typer.Option(None, "--compare", help="source model to run in onnxruntime / LiteRT (repeatable)"),
    profile: bool = typer.Option(False, "--profile", help="per-op times (median over --runs) instead of peers"),
    top: int = typer.Option(20, help="--profile: ops to list"),
    kernels: bool = typer.Option(False, "--kernels", help="kernel microbenchmarks + sparse break-even (bench/kernels.py)"),
    target: str = typer.Option("host", help="--kernels: target descriptor to write the break-even table into"),
    write: bool = typer.Option(False, "--write", help="--kernels: write [cost.sparse_break_even] into the target"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """Latency per inference, interleaved with the peers in the same process; or a per-op
    profile (--profile); or the kernel microbenchmarks that calibrate the cost model (--kernels)."""
    import numpy as np

    from ..benchmark import interleaved
    from ..peers import adapt_feeds, peer_runners
    from ..runtime.session import Session

    if kernels:
        import argparse
        import importlib.util

        path = Path(__file__).resolve().parents[2] / "bench" / "kernels.py"
        if not path.is_file():
            raise EdgeSdkError(f"--kernels needs the repository's bench/kernels.py ({path} not found)")
        spec = importlib.util.spec_from_file_location("esdk_bench_kernels", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.run(argparse.Namespace(runs=runs if runs != 50 else 25, target=target, isa="auto", write=write,
                                   no_doc=True))
        return
    if artifact is None:
        raise EdgeSdkError("give an artifact to benchmark (or --kernels)")
    sess = Session(artifact, threads=threads)
    rng = np.random.default_rng(0)
    feeds = {i.name: rng.standard_normal(i.shape).astype(i.dtype) for i in sess.inputs}
    if profile:
        rows = sess.profile(feeds, runs=runs, warmup=warmup)
        if as_json:
            typer.echo(json.dumps({"artifact": str(artifact), "threads": threads, "isa": sess.isa,
                                   "ops": [{"index": i, "opcode": op, "source": src, "median_ms": ms}
                                           for i, op, src, ms in rows]}, indent=2))
        else:
            tables.print_profile(rows, sess.isa, threads, top)
        return
    contenders = {"edge-sdk": lambda: sess.run(feeds)}
    for model in compare or []:
        for peer in peer_runners(model, threads):
            pf = adapt_feeds(feeds, peer)
            contenders[f"{peer.name} ({model.name})"] = (lambda p=peer, f=pf: p.run(f))
    with tables.progress_bar() as bar:
        timings = interleaved(contenders, runs=runs, warmup=warmup, progress=lambda d, t: bar("benchmark", d, t))
    result = {"artifact": str(artifact), "threads": threads, "isa": sess.isa,
              "timings": [t.to_dict() for t in timings.values()]}
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        tables.print_bench(timings, sess.isa, threads)


@app.command()
def build(
    target: str = typer.Option(..., "--target", "-t", help="target descriptor in targets/"),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="output directory (default build/TARGET)"),
    artifact: Optional[Path] = typer.Option(None, help="artifact to link into MCU firmware"),
):
    """Build the runtime and a bench program (Linux targets) or bench firmware (MCUs)."""
    from ..build import build_target

    result = build_target(target, out, artifact)
    for k, v in result.items():
        typer.echo(f"{k}: {v}")


@app.command()
def ops():
    """List the supported ops per frontend."""
    from ..frontends import SUPPORTED_OPS

    tables.print_ops(SUPPORTED_OPS)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise EdgeSdkError(f"cannot read {path}: {e.strerror}") from None


from .hil_cmd import register as _register_hil  # noqa: E402  (edge-sdk hil run|compare, edge-sdk flash)

_register_hil(app)

from .finetune_cmd import register as _register_ft  # noqa: E402  (edge-sdk finetune plan|run)

_register_ft(app)

from .generate_cmd import register as _register_gen  # noqa: E402  (edge-sdk generate: MoE)

_register_gen(app)


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv, standalone_mode=False)
    except EdgeSdkError as e:
        typer.echo(f"error: {e}", err=True)
        return 1
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except SystemExit as e:
        return int(e.code or 0)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except Exception as e:  # a bug in edge-sdk: still one line, with a way to get the details
        if os.environ.get("EDGE_SDK_DEBUG"):
            raise
        # a usage error (unknown option, bad value): click's, or the copy of click that newer typer ships
        if any(c.__name__ == "ClickException" for c in type(e).__mro__):
            typer.echo(f"error: {e.format_message()} (see --help)", err=True)
            return int(getattr(e, "exit_code", 1) or 1)
        msg = str(e).splitlines()[0] if str(e) else ""
        typer.echo(f"internal error: {type(e).__name__}: {msg} (set EDGE_SDK_DEBUG=1 for a traceback)", err=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
