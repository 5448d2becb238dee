"""Per-target builds and emulated runs.

A target descriptor's `kind` picks the backend: "host" (this machine), "linux" (aarch64
Linux boards and phones: edge_sdk/build/linux.py) or "mcu" (Cortex-M firmware:
edge_sdk/build/mcu.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from ..compile.target import load_target
from ..errors import EdgeSdkError


def _backend(target: str):
    t = load_target(target)
    kind = t.raw.get("kind", "host")
    if kind == "linux":
        from . import linux as backend
    elif kind == "mcu":
        from . import mcu as backend
    elif kind == "host":
        backend = None
    else:
        raise EdgeSdkError(f"target '{target}' has unknown kind '{kind}'")
    return t, backend


def build_target(target: str, out_dir: str | Path | None = None, artifact: str | Path | None = None) -> dict:
    """Build the runtime and the bench program / firmware for `target`; returns what was built."""
    t, backend = _backend(target)
    if backend is None:
        raise EdgeSdkError("the host target is built by 'pip install'; nothing to cross-build")
    return backend.build(t, Path(out_dir or f"build/{t.name}"), Path(artifact) if artifact else None)


def run_on_target(artifact: str | Path, target: str, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run an artifact on the target's emulated board (or on the host for target 'host')."""
    t, backend = _backend(target)
    if backend is None:
        from ..runtime.session import Session

        return Session(artifact).run(feeds)
    return backend.run(t, Path(artifact), feeds)
