"""FAKE SMBus with an INA219 or INA226 at one address, for tests (no I2C hardware here): the
registers hold a fixed bus voltage and shunt voltage, returned little-endian as SMBus words are."""
from __future__ import annotations


class FakeSmbus:
    def __init__(self, chip: str = "ina219", address: int = 0x40, bus_v: float = 3.3, shunt_v: float = 0.001):
        self.address = address
        if chip == "ina219":
            shunt, bus = round(shunt_v / 10e-6), round(bus_v / 4e-3) << 3
        else:
            shunt, bus = round(shunt_v / 2.5e-6), round(bus_v / 1.25e-3)
        self.regs = {0x01: shunt & 0xFFFF, 0x02: bus & 0xFFFF}
        self.reads = 0

    def read_word_data(self, address: int, register: int) -> int:
        if address != self.address:
            raise OSError(121, "Remote I/O error")
        self.reads += 1
        v = self.regs[register]
        return ((v & 0xFF) << 8) | (v >> 8)

    def close(self) -> None:
        pass
