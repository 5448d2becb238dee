"""Joulescope (JS110 / JS220) through the `joulescope` package: the window's energy is the
difference of the instrument's energy accumulator (integral of i*v at up to 1 MS/s) read at
the window's start and end through its statistics callback. (JS110: blind ~5 us after
auto-ranging; keep the current range fixed for short windows.)"""
from __future__ import annotations

import threading

from ..errors import PowerMeterError
from . import PowerMeter


def _energy_j(stats: dict) -> float:
    acc = stats.get("accumulators", {})
    e = acc.get("energy") or stats.get("energy")
    return float(e["value"] if isinstance(e, dict) else e)


class Joulescope(PowerMeter):
    source = "joulescope"
    kind = "measured"

    def __init__(self, serial_number: str | None = None, module=None, timeout_s: float = 2.0):
        self.serial_number, self._mod, self.timeout_s = serial_number, module, timeout_s
        self.dev = None
        self._latest = None
        self._fresh = threading.Event()
        self._e0 = None

    def open(self) -> None:
        mod = self._mod
        if mod is None:
            try:
                import joulescope as mod
            except ImportError as e:
                raise PowerMeterError(f"power = joulescope needs the joulescope package: {e}") from None
        try:
            devs = mod.scan(config="auto")
            if self.serial_number:
                devs = [d for d in devs if str(getattr(d, "device_serial_number", "")) == self.serial_number]
            if len(devs) != 1:
                raise PowerMeterError(f"found {len(devs)} Joulescope(s) matching {self.serial_number or 'any'}; need 1")
            self.dev = devs[0]
            self.dev.open()
            self.dev.statistics_callback_register(self._on_stats, "sensor")
            self.dev.parameter_set("i_range", "auto")
            self.dev.start()
        except PowerMeterError:
            raise
        except Exception as e:
            raise PowerMeterError(f"Joulescope: {e}") from None

    def _on_stats(self, stats, *_):
        self._latest = stats
        self._fresh.set()

    def _now_j(self) -> float:
        self._fresh.clear()
        if not self._fresh.wait(self.timeout_s) or self._latest is None:
            raise PowerMeterError(f"Joulescope sent no statistics within {self.timeout_s:g} s")
        return _energy_j(self._latest)

    def start(self) -> None:
        self._e0 = self._now_j()

    def stop(self, window=None) -> float | None:
        return (self._now_j() - self._e0) * 1e6

    def close(self) -> None:
        if self.dev is not None:
            try:
                self.dev.stop()
                self.dev.close()
            finally:
                self.dev = None
