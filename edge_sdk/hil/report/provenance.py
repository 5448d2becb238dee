"""Provenance of a run: git commit, runtime version, host; per device its serial."""
from __future__ import annotations

import platform
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def git_commit() -> str:
    try:
        p = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        commit = p.stdout.strip() if p.returncode == 0 else "unavailable"
        d = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5)
        return commit + ("-dirty" if d.returncode == 0 and d.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"


def run_provenance() -> dict:
    from ... import __version__

    return {"git_commit": git_commit(), "runtime_version": __version__, "host": platform.node(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def device_serial(rec: dict, dev) -> str:
    info = rec.get("device_info") or {}
    if dev.transport == "adb" and dev.serial:
        return dev.serial
    if dev.transport == "serial" and str(dev.port or "").startswith("usb:"):
        return str(dev.port)[4:]
    return info.get("serial") or info.get("name") or info.get("uname") or "unavailable"
