"""`edge-sdk hil run|compare` and `edge-sdk flash` (registered from edge_sdk/cli/main.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import EdgeSdkError
from ..hil.errors import HilError

hil_app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                      help="Hardware-in-the-loop: deploy, measure latency and energy, report (docs/hil.md).")


def _log(msg: str) -> None:
    typer.echo(msg, err=True)


@hil_app.command("run")
def run(
    lab: Path = typer.Option(..., "--lab", help="lab file (TOML, docs/hil.md)"),
    model: List[Path] = typer.Option(..., "--model", help=".esm artifact (repeatable)"),
    device: Optional[List[str]] = typer.Option(None, "--device", help="only this device (repeatable)"),
    windows: int = typer.Option(5, help="timed windows per device x model (median reported)"),
    min_window_s: float = typer.Option(10.0, "--min-window-s", help="each window lasts at least this long"),
    warmup: int = typer.Option(10, help="inferences before each window's first timestamp"),
    baseline: Optional[Path] = typer.Option(None, help="older report.json for the trend plot"),
    out: Path = typer.Option(..., "--out", help="report directory"),
    coordinator: Optional[str] = typer.Option(None, envvar="LG_COORDINATOR",
                                              help="labgrid coordinator HOST:PORT for devices with labgrid_place"),
):
    """Measure every device x model; writes junit.xml, report.json, report.html, summary.md."""
    from ..hil.lab import load_lab
    from ..hil.report.compare import load_report
    from ..hil.runner import RunOptions, run_lab

    if windows < 1 or min_window_s < 0 or warmup < 0:
        raise EdgeSdkError("--windows must be >= 1, --min-window-s and --warmup >= 0")
    for m in model:
        if not m.is_file():
            raise EdgeSdkError(f"artifact {m} does not exist")
    the_lab = load_lab(lab)
    base = load_report(baseline) if baseline else None
    from ..hil.cancel import cancel_on_signals
    from ..hil.errors import RunCancelled
    from ..hil.labgrid_lab import resolve_devices

    places: list = []
    with cancel_on_signals():  # SIGTERM (a cancelled CI job), SIGINT, SIGHUP unwind through finally
        try:
            resolve_devices(the_lab.select(device or None), coordinator, places)
            rep = run_lab(the_lab, model, out, device or None, RunOptions(windows, min_window_s, warmup), log=_log,
                          baseline=base)
        except KeyboardInterrupt as e:
            why = getattr(e, "signame", "SIGINT")
            kept = [p.place for p in places if not p.release()]
            freed = [p.place for p in places if p.place not in kept]
            raise RunCancelled(
                f"{why}: run cancelled"
                + (f"; labgrid place(s) {', '.join(freed)} released" if freed else "")
                + (f"; NOT released (release them with labgrid-client -p NAME release): {', '.join(kept)}"
                   if kept else "")
                + (f"; what was measured is in {out / 'results.jsonl'}" if (out / "results.jsonl").is_file()
                   else "; nothing was measured yet")) from None
        finally:  # a cancelled job, an error or a normal end: the places go back
            for p in places:
                p.release()
    c = rep["counts"]
    line = (f"{c['pass']} pass, {c['fail']} fail, {c['error']} error, {c['infra']} infrastructure error, "
            f"{c['offline']} offline; reports in {out}")
    if c["fail"] or c["error"] or c["infra"] or c["offline"]:
        raise HilError(line)  # one line, exit 1 (main() turns EdgeSdkError into exit 1)
    typer.echo(line)


@hil_app.command("compare")
def compare(
    old: Path = typer.Argument(..., help="baseline report.json"),
    new: Path = typer.Argument(..., help="new report.json"),
    threshold: str = typer.Option("10%", help="a rise beyond this is a regression (10% or 0.1)"),
):
    """Show latency/energy changes; exit 1 when one regresses past the threshold."""
    from ..hil.report.compare import compare as do_compare, load_report, parse_threshold

    t = parse_threshold(threshold)
    rows = do_compare(load_report(old), load_report(new), t)
    bad = [r for r in rows if r["regression"]]
    for r in rows:
        typer.echo(f"{'REGRESSION' if r['regression'] else 'ok':10} {r['device']:16} {r['model']:24} "
                   f"{r['metric']:10} {r['old']:.4g} -> {r['new']:.4g} ({r['change'] * 100:+.1f}%)")
    if not rows:
        typer.echo("no device x model in common")
    if bad:
        raise HilError(f"{len(bad)} regression(s) past {t * 100:g}%")


def flash(
    artifact: Path = typer.Argument(..., help=".esm artifact"),
    lab: Path = typer.Option(..., "--lab", help="lab file"),
    device: str = typer.Option(..., "--device", help="device name in the lab file"),
):
    """Deploy one artifact to one device without measuring (flash MCUs, copy to Linux devices)."""
    from ..hil.deploy import deploy_one
    from ..hil.lab import load_lab

    if not artifact.is_file():
        raise EdgeSdkError(f"artifact {artifact} does not exist")
    typer.echo(json.dumps(deploy_one(load_lab(lab).device(device), artifact, log=_log)))


def register(app: typer.Typer) -> None:
    app.add_typer(hil_app, name="hil")
    app.command("flash")(flash)
