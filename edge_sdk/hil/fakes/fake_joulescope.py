"""FAKE of the joulescope package's device API (scan / open / statistics_callback_register /
parameter_set / start / stop / close), for tests: we own no Joulescope. Statistics arrive every
`period_s` with an energy accumulator growing at `power_w`."""
from __future__ import annotations

import threading
import time


class FakeJoulescopeDevice:
    device_serial_number = "FAKE0001"

    def __init__(self, power_w: float = 0.010, period_s: float = 0.005):
        self.power_w, self.period_s = power_w, period_s
        self._cb = None
        self._run = threading.Event()
        self.params = {}
        self.opened = False

    def open(self):
        self.opened = True

    def statistics_callback_register(self, cb, source=None):
        self._cb = cb

    def parameter_set(self, name, value):
        self.params[name] = value

    def _tick(self):
        t0 = time.monotonic()
        while self._run.is_set():
            time.sleep(self.period_s)
            e = (time.monotonic() - t0) * self.power_w
            if self._cb:
                self._cb({"accumulators": {"energy": {"value": e, "units": "J"}}})

    def start(self, *a, **kw):
        self._run.set()
        threading.Thread(target=self._tick, daemon=True).start()

    def stop(self):
        self._run.clear()

    def close(self):
        self.opened = False


class FakeJoulescopeModule:
    def __init__(self, devices=None):
        self.devices = devices if devices is not None else [FakeJoulescopeDevice()]

    def scan(self, config=None):
        return list(self.devices)
