"""STM32 LPM01A (X-NUCLEO-LPM01A) power monitor over its serial protocol (3,686,400 baud).

Setup (the EEMBC energy runner's sequence, /work/shared/REFERENCE.md): htc, format ascii_dec,
acqtime inf, trigsrc sw, trigdelay 0, eventsrc d7 fal, output energy, freq 1k, volt 1800m,
pwr on; each answered `ack ...` or `error ...`. `start` streams one sample per line; in
`output energy` mode a sample is the energy of its sample period, written MANT-EXP
(MANT x 10^-EXP joules) or as a plain number. Lines containing `event` mark the device's GPIO
falling edges; the window's energy is the sum between the first two edges, or over the whole
capture when the device sends no edges (then the report says `capture`). ASCII streaming
works up to 5 kHz, so `freq` is capped there.
"""
from __future__ import annotations

import re
import threading
import time

from ..errors import PowerMeterError
from . import PowerMeter

SETUP = ["htc", "format ascii_dec", "acqtime inf", "trigsrc sw", "trigdelay 0", "eventsrc d7 fal",
         "output energy"]
_SAMPLE = re.compile(r"^\s*(\d+)-(\d+)\s*$")


def parse_sample(line: str) -> float | None:
    """Energy in joules from one data line; None when the line is not a sample."""
    m = _SAMPLE.match(line)
    if m:
        return int(m.group(1)) * 10.0 ** -int(m.group(2))
    try:
        return float(line)
    except ValueError:
        return None


class Lpm01a(PowerMeter):
    source = "lpm01a"
    kind = "measured"

    def __init__(self, port: str, baud: int = 3_686_400, freq_hz: int = 1000, volt_mv: int = 1800,
                 timeout_s: float = 2.0):
        if freq_hz > 5000:
            raise PowerMeterError("LPM01A ASCII streaming works only up to 5 kHz")
        self.port, self.baud, self.freq, self.volt, self.timeout_s = port, baud, freq_hz, volt_mv, timeout_s
        self.ser = None
        self._lines: list[str] = []
        self._reader = None
        self._streaming = threading.Event()
        self.last_window = ""

    def open(self) -> None:
        import serial

        try:
            self.ser = serial.serial_for_url(self.port, baudrate=self.baud, timeout=0.05)
        except (serial.SerialException, OSError, ValueError) as e:
            raise PowerMeterError(f"LPM01A at {self.port}: {e}") from None
        for cmd in SETUP + [f"freq {self._freq_arg()}", f"volt {self.volt}m", "pwr on"]:
            self._cmd(cmd)

    def _freq_arg(self) -> str:
        return f"{self.freq // 1000}k" if self.freq % 1000 == 0 else str(self.freq)

    def _readline(self, deadline: float) -> str | None:
        buf = bytearray()
        while time.monotonic() < deadline:
            b = self.ser.read(1)
            if b:
                if b == b"\n":
                    return buf.decode("ascii", "replace").strip()
                buf += b
        return None

    def _cmd(self, cmd: str) -> None:
        self.ser.write((cmd + "\n").encode())
        deadline = time.monotonic() + self.timeout_s
        while True:
            line = self._readline(deadline)
            if line is None:
                raise PowerMeterError(f"LPM01A did not answer '{cmd}' within {self.timeout_s:g} s")
            if line.startswith("ack"):
                return
            if line.startswith("error"):
                raise PowerMeterError(f"LPM01A refused '{cmd}': {line}")
            # anything else (a stray sample after stop, a banner) is skipped

    def _read_stream(self) -> None:
        buf = bytearray()
        while self._streaming.is_set():
            try:
                b = self.ser.read(256)
            except Exception:
                return
            if not b:
                continue
            buf += b
            while b"\n" in buf:
                line, _, rest = bytes(buf).partition(b"\n")
                buf = bytearray(rest)
                self._lines.append(line.decode("ascii", "replace").strip())

    def start(self) -> None:
        self._lines = []
        self._cmd("start")
        self._streaming.set()
        self._reader = threading.Thread(target=self._read_stream, daemon=True)
        self._reader.start()

    def stop(self, window=None) -> float | None:
        self._streaming.clear()
        self._reader.join(timeout=self.timeout_s)
        self.ser.write(b"stop\n")
        deadline = time.monotonic() + self.timeout_s
        while True:  # the rest of the stream, up to the ack of stop
            line = self._readline(deadline)
            if line is None:
                raise PowerMeterError(f"LPM01A did not acknowledge 'stop' within {self.timeout_s:g} s")
            if line.startswith("ack"):
                break
            self._lines.append(line)
        return self.energy_uj(self._lines)

    def energy_uj(self, lines: list[str]) -> float:
        edges = [i for i, ln in enumerate(lines) if "event" in ln]
        if len(edges) >= 2:
            lines, self.last_window = lines[edges[0] + 1:edges[1]], "edges"
        else:
            self.last_window = "capture"
        total = sum(v for v in (parse_sample(ln) for ln in lines) if v is not None)
        return total * 1e6

    def close(self) -> None:
        if self.ser is not None:
            try:
                self._cmd("hrc")
            except Exception:
                pass
            self.ser.close()
            self.ser = None
