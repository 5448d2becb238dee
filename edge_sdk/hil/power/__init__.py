"""Energy drivers. Each meter measures one timed window: start() before the window, stop() after;
stop returns the window's energy in microjoules (or None). `source` says what produced the figure,
`kind` whether it was measured or estimated; both go into every report next to the number."""
from __future__ import annotations

from ..errors import LabFileError, PowerMeterError


class PowerMeter:
    source = "none"
    kind = "unavailable"   # measured | estimated | unavailable
    reason = ""

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self, window=None) -> float | None:
        return None


def meter_for(dev, **kw) -> PowerMeter:
    o = dev.options
    if dev.power == "none":
        return PowerMeter()
    if dev.power == "lpm01a":
        from .lpm01a import Lpm01a

        if "power_port" not in o:
            raise LabFileError(f"device '{dev.name}': power = lpm01a needs power_port (the LPM01A's serial port)")
        return Lpm01a(o["power_port"])
    if dev.power == "joulescope":
        from .joulescope import Joulescope

        return Joulescope(o.get("power_port"))
    if dev.power in ("ina219", "ina226"):
        from .ina219 import Ina2xx

        return Ina2xx(dev.power, bus=int(o.get("i2c_bus", 1)), address=int(o.get("i2c_address", 0x40)),
                      shunt_ohms=float(o.get("shunt_ohms", 0.1)))
    if dev.power == "rapl":
        from .rapl import Rapl

        return Rapl(o.get("rapl_domain", "intel-rapl:0"))
    if dev.power == "model":
        from .model import EnergyModel

        return EnergyModel.for_target(dev.target, **kw)
    raise PowerMeterError(f"unknown power meter {dev.power!r}")
