"""`edge-sdk finetune plan|run` (registered from edge_sdk/cli/main.py)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from ..errors import EdgeSdkError

ft_app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                     help="On-device fine-tuning: plan under a memory budget, train on host or board (docs/finetune.md).")


def _data(d: Path):
    """DIR/train.npz (x: [N, ...] float32, y: [N] int) and optional DIR/test.npz."""
    if not d.is_dir():
        raise EdgeSdkError(f"data directory {d} does not exist")
    out = []
    for name in ("train.npz", "test.npz"):
        p = d / name
        if not p.exists():
            if name == "train.npz":
                raise EdgeSdkError(f"{p} is missing (npz with arrays x [N, ...] and y [N])")
            out.append(None)
            continue
        try:
            z = np.load(p)
            x, y = np.asarray(z["x"], np.float32), np.asarray(z["y"]).astype(np.int64)
        except (OSError, KeyError, ValueError) as e:
            raise EdgeSdkError(f"cannot read {p}: {e}") from None
        if len(x) != len(y) or not len(y):
            raise EdgeSdkError(f"{p}: x and y must have the same non-zero length")
        out.append((x, y))
    return out


def _bar(label: str, done: int, total: int) -> None:
    """Progress on stderr. On a terminal: redrawn in place when the bar changes (at most 30
    redraws an epoch); captured (pipe, file, CI log): one line at each quarter, no '\\r'."""
    w = 30
    k = w * done // max(total, 1)
    if sys.stderr.isatty():
        if done == total or k != w * (done - 1) // max(total, 1) or done == 1:
            sys.stderr.write(f"\r{label} [{'#' * k}{'.' * (w - k)}] {done}/{total}")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        return
    q = 4 * done // max(total, 1)
    if done == total or (q != 4 * (done - 1) // max(total, 1) and q > 0):
        sys.stderr.write(f"{label}: {done}/{total}\n")
        sys.stderr.flush()


@ft_app.command("plan")
def plan_cmd(
    model: Path = typer.Argument(..., help="ONNX / TFLite model or int8 .esm"),
    budget_kb: float = typer.Option(256, "--budget-kb", help="SRAM budget for training, KB"),
    target: str = typer.Option("cortex-m7", "--target", help="cortex-m7 or host"),
    update: str = typer.Option("sparse", "--update", help="sparse | bias | last:K | full"),
    loss: str = typer.Option("cross_entropy", "--loss", help="cross_entropy | mse"),
    lr: float = typer.Option(0.01, "--lr", help="SGD learning rate"),
    backward: str = typer.Option("fp32", "--backward", help="fp32 | int8 | int8-stochastic (conv/fc backward arithmetic)"),
    data: Optional[Path] = typer.Option(None, "--data", help="DIR with train.npz: calibration + contribution analysis"),
    out: Path = typer.Option(..., "-o", "--out", help="plan artifact (.esm)"),
):
    """Derive the backward graph, choose what to update within the budget, plan one static arena."""
    from ..finetune import plan

    if not model.is_file():
        raise EdgeSdkError(f"model file {model} does not exist")
    calib = None
    if data is not None:
        (x, y), _ = _data(data)
        calib = (x[:32], y[:32])
    p = plan(str(model), budget_kb=budget_kb, target=target, update=update, loss=loss, lr=lr, calibration=calib,
             backward=backward)
    p.save(out)
    typer.echo(p.summary())
    typer.echo(f"wrote {out} ({len(p.data)} bytes)")


@ft_app.command("run")
def run_cmd(
    plan_path: Path = typer.Argument(..., help="plan artifact from 'edge-sdk finetune plan'"),
    data: Path = typer.Option(..., "--data", help="DIR with train.npz (and test.npz for accuracy)"),
    epochs: int = typer.Option(1, "--epochs"),
    device: Optional[str] = typer.Option(None, "--device", help="'host' (default) or 'qemu-cortex-m7'"),
    target: Optional[str] = typer.Option(None, "--target", help="cortex-m7: train on the emulated board"),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="write the updated artifact here (host)"),
    seed: int = typer.Option(0, "--seed", help="sample order"),
):
    """Train on labelled samples, reporting loss and accuracy per epoch."""
    from ..finetune import Trainer

    if not plan_path.is_file():
        raise EdgeSdkError(f"plan file {plan_path} does not exist")
    if epochs < 1:
        raise EdgeSdkError("--epochs must be >= 1")
    on_board = target == "cortex-m7" or device in ("qemu-cortex-m7", "cortex-m7")
    if target not in (None, "cortex-m7", "host") or device not in (None, "host", "qemu-cortex-m7", "cortex-m7"):
        raise EdgeSdkError("--target must be cortex-m7 or host; --device host or qemu-cortex-m7")
    (x, y), test = _data(data)
    rng = np.random.default_rng(seed)
    if on_board:
        import tempfile

        from ..finetune.board import Board, build_firmware

        build_firmware()
        flash = Path(tempfile.mkdtemp()) / "flash.img"
        with Board(plan_path, flash) as b:
            for ep in range(epochs):
                losses = []
                for k, i in enumerate(rng.permutation(len(y))):
                    losses.append(b.train(x[i], y[i])["loss"])
                    _bar(f"epoch {ep + 1}", k + 1, len(y))
                acc = (np.mean([b.predict(xx) == yy for xx, yy in zip(*test)]) if test else float("nan"))
                typer.echo(f"epoch {ep + 1}: loss {np.mean(losses):.4f}  accuracy {acc:.3f}")
            b.save()
            m = b.mem()
            typer.echo(f"board SRAM peak {m['peak']} bytes (static {m['static']}, arena {m['arena']}, "
                       f"stack {m['stack-hwm']}); weights saved to flash slot")
        return
    tr = Trainer(plan_path)
    for ep in range(epochs):
        losses = []
        for k, i in enumerate(rng.permutation(len(y))):
            losses.append(tr.step(x[i], y[i]))
            _bar(f"epoch {ep + 1}", k + 1, len(y))
        acc = tr.evaluate(*test)["accuracy"] if test else float("nan")
        typer.echo(f"epoch {ep + 1}: loss {np.mean(losses):.4f}  accuracy {acc:.3f}")
    if out is not None:
        tr.save(out)
        typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(ft_app, name="finetune")
