"""An MCU target's emulated board: qemu-system-arm running the bench firmware, with the
model written into its flash slot by qemu's generic loader (as a flasher would) and UART0
on a TCP socket that the DUT client reaches through pyserial's socket:// URL.

`-icount shift=0` makes the emulation deterministic: every guest instruction advances
virtual time by exactly 1 ns, so the firmware's SysTick-based m-lap-us values are guest
instructions / 1000 (docs/mlperf-tiny.md, "Timing on emulated boards").
"""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from ..errors import EdgeSdkError
from ..hil.dut import DutClient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QemuBoard:
    """Context manager: boots the board and yields a connected DutClient (banner consumed)."""

    def __init__(self, machine: str, elf: Path, artifact: Path | None, slot_address: int,
                 qemu: str = "qemu-system-arm", timeout_s: float = 5.0, infer_timeout_s: float = 120.0):
        self.machine, self.elf, self.artifact, self.slot = machine, Path(elf), artifact, slot_address
        self.qemu, self.timeout_s, self.infer_timeout_s = qemu, timeout_s, infer_timeout_s
        self.proc: subprocess.Popen | None = None
        self.client: DutClient | None = None
        self.banner: list[str] = []

    def command_line(self, port: int) -> list[str]:
        cmd = [self.qemu, "-M", self.machine, "-display", "none", "-monitor", "none", "-nodefaults",
               "-icount", "shift=0", "-kernel", str(self.elf),
               "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"]
        if self.artifact is not None:
            cmd += ["-device", f"loader,file={self.artifact},addr={self.slot:#x}"]
        return cmd

    def __enter__(self) -> DutClient:
        port = _free_port()
        # wait=on: the guest starts only once we are connected, so no banner byte is lost
        self.proc = subprocess.Popen(self.command_line(port), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            self.client = self._connect(f"socket://127.0.0.1:{port}")
            self.banner = self.client.wait_boot(self.timeout_s)
        except Exception:
            self.close()
            raise
        return self.client

    def _connect(self, url: str) -> DutClient:
        """Retry until qemu listens; the first connection is ours (a probe would take the banner)."""
        deadline = time.monotonic() + 10.0
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
                raise EdgeSdkError(f"{self.qemu} -M {self.machine} exited at start: {err[-400:]}")
            try:
                return DutClient(url, timeout_s=self.timeout_s, infer_timeout_s=self.infer_timeout_s)
            except Exception as e:
                if time.monotonic() > deadline:
                    raise EdgeSdkError(f"cannot connect to the emulated board's UART at {url}: {e}") from None
                time.sleep(0.05)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.proc is not None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None

    def __exit__(self, *exc) -> None:
        self.close()
