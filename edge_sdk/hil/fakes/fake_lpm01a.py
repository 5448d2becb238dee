"""FAKE STM32 LPM01A on a pseudo-terminal, for tests (we own no power monitor): answers the
commands of REFERENCE.md with `ack <cmd>` / `error <cmd>`, and after `start` streams energy
samples (MANT-EXP joules, `sample_j` each, one per 1/freq s) with `event d7 fal` lines marking a
window of `window_samples` samples, until `stop`."""
from __future__ import annotations

import os
import pty
import threading
import time

KNOWN = ("htc", "hrc", "format", "acqtime", "trigsrc", "trigdelay", "eventsrc", "output", "freq", "volt", "pwr",
         "start", "stop")


class FakeLpm01a:
    def __init__(self, sample_j: float = 2e-6, window_samples: int = 50, refuse: str | None = None):
        self.master, slave = pty.openpty()
        self.port = os.ttyname(slave)
        self._slave = slave
        import tty

        tty.setraw(slave)
        self.sample_j, self.window_samples, self.refuse = sample_j, window_samples, refuse
        self.commands: list[str] = []
        self._streaming = threading.Event()
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._serve, daemon=True)
        self._th.start()

    def _write(self, text: str) -> None:
        os.write(self.master, (text + "\r\n").encode())

    def _stream(self) -> None:
        mant = round(self.sample_j * 1e9)
        self._write("event d7 fal")
        for _ in range(self.window_samples):
            if not self._streaming.is_set():
                return
            self._write(f"{mant}-09")
            time.sleep(0.0005)
        self._write("event d7 fal")
        while self._streaming.is_set():  # samples after the window's end edge are not counted
            self._write(f"{mant}-09")
            time.sleep(0.002)

    def _serve(self) -> None:
        buf = b""
        while not self._stop.is_set():
            try:
                chunk = os.read(self.master, 256)
            except OSError:
                return
            buf += chunk
            while b"\n" in buf:
                line, _, buf = buf.partition(b"\n")
                cmd = line.decode(errors="replace").strip()
                if not cmd:
                    continue
                self.commands.append(cmd)
                word = cmd.split()[0]
                if word not in KNOWN or cmd == self.refuse:
                    self._write(f"error {cmd}")
                    continue
                if word == "stop":
                    self._streaming.clear()
                    time.sleep(0.01)
                self._write(f"ack {cmd}")
                if word == "start":
                    self._streaming.set()
                    threading.Thread(target=self._stream, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._streaming.clear()
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
