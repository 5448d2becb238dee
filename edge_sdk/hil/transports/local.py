"""Local transport: the device is this machine (target host), or an emulated board whose
bench program runs under a wrapper (qemu-aarch64 -L SYSROOT; the protocol adds it). Subprocesses get a timeout and are
killed, with their process group, when they run past it."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from ..errors import ConnectionLost, TransportTimeout
from .base import CommandResult, CommandTransport


class LocalTransport(CommandTransport):
    name = "local"

    def run(self, argv: list[str], timeout_s: float) -> CommandResult:
        cmd = list(argv)
        try:
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
        except OSError as e:
            raise ConnectionLost(f"cannot start {cmd[0]}: {e.strerror}") from None
        try:
            out, err = p.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise TransportTimeout(f"{' '.join(argv[:2])} ran past {timeout_s:g} s") from None
        return CommandResult(p.returncode, out, err)

    def put(self, local: Path, remote: str) -> None:
        Path(remote).parent.mkdir(parents=True, exist_ok=True)
        if Path(local).resolve() != Path(remote).resolve():
            shutil.copyfile(local, remote)
            shutil.copymode(local, remote)

    def get(self, remote: str, local: Path) -> None:
        try:
            shutil.copyfile(remote, local)
        except OSError as e:
            raise ConnectionLost(f"cannot fetch {remote}: {e.strerror}") from None

    def read_text(self, path: str, timeout_s: float = 5.0) -> str | None:
        try:
            return Path(path).read_text().strip() or None
        except OSError:
            return None
