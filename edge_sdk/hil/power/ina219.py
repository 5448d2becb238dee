"""INA219 / INA226 current-shunt monitors on I2C (smbus2), e.g. on a Raspberry Pi's bus 1.
A sampler thread reads shunt and bus voltage registers and integrates P = V_bus * V_shunt / R_shunt
over the window (trapezoids on the host clock). Registers are big-endian; SMBus words arrive
little-endian, so bytes are swapped.
  INA219: shunt reg 0x01, LSB 10 uV (signed); bus reg 0x02, bits 15..3, LSB 4 mV.
  INA226: shunt reg 0x01, LSB 2.5 uV (signed); bus reg 0x02, LSB 1.25 mV."""
from __future__ import annotations

import threading
import time

from ..errors import PowerMeterError
from . import PowerMeter

CHIPS = {"ina219": (10e-6, lambda raw: (raw >> 3) * 4e-3), "ina226": (2.5e-6, lambda raw: raw * 1.25e-3)}


def _swap(w: int) -> int:
    return ((w & 0xFF) << 8) | (w >> 8)


def _signed(v: int) -> int:
    return v - 0x10000 if v & 0x8000 else v


class Ina2xx(PowerMeter):
    kind = "measured"

    def __init__(self, chip: str = "ina219", bus: int = 1, address: int = 0x40, shunt_ohms: float = 0.1,
                 period_s: float = 0.001, smbus=None):
        if chip not in CHIPS:
            raise PowerMeterError(f"unknown INA chip {chip}")
        self.chip, self.bus_no, self.addr, self.r, self.period = chip, bus, address, shunt_ohms, period_s
        self.source = f"{chip} (i2c bus {bus}, 0x{address:02x}, {shunt_ohms:g} ohm shunt)"
        self._bus = smbus
        self._run = threading.Event()
        self._th = None
        self.energy_j = 0.0
        self.samples = 0

    def open(self) -> None:
        if self._bus is None:
            try:
                from smbus2 import SMBus

                self._bus = SMBus(self.bus_no)
            except (ImportError, OSError) as e:
                raise PowerMeterError(f"{self.chip}: cannot open I2C bus {self.bus_no}: {e}") from None
        self.power_w()  # answers?

    def power_w(self) -> float:
        lsb, bus_v = CHIPS[self.chip]
        try:
            shunt = _signed(_swap(self._bus.read_word_data(self.addr, 0x01))) * lsb
            vbus = bus_v(_swap(self._bus.read_word_data(self.addr, 0x02)))
        except OSError as e:
            raise PowerMeterError(f"{self.chip} at 0x{self.addr:02x}: {e}") from None
        return vbus * shunt / self.r

    def _sample(self) -> None:
        t_prev, p_prev = time.monotonic(), self.power_w()
        while self._run.is_set():
            time.sleep(self.period)
            t, p = time.monotonic(), self.power_w()
            self.energy_j += (p + p_prev) / 2 * (t - t_prev)
            self.samples += 1
            t_prev, p_prev = t, p

    def start(self) -> None:
        self.energy_j, self.samples = 0.0, 0
        self._run.set()
        self._th = threading.Thread(target=self._sample, daemon=True)
        self._th.start()

    def stop(self, window=None) -> float | None:
        self._run.clear()
        self._th.join(timeout=2)
        return self.energy_j * 1e6

    def close(self) -> None:
        if self._bus is not None and hasattr(self._bus, "close"):
            self._bus.close()
