"""RAPL (x86 Linux): package energy counter in /sys/class/powercap/intel-rapl*/energy_uj.
The counter wraps at max_energy_range_uj; one wrap per window is undone. Often unreadable
(no powercap in containers and VMs, root-only since CVE-2020-8694): then `kind` is
'unavailable' and `reason` says why, and no figure is reported."""
from __future__ import annotations

from pathlib import Path

from . import PowerMeter

ROOT = Path("/sys/class/powercap")


def delta_uj(before: int, after: int, max_range: int) -> int:
    return after - before if after >= before else after + max_range + 1 - before


class Rapl(PowerMeter):
    source = "rapl"

    def __init__(self, domain: str = "intel-rapl:0", root: Path = ROOT):
        self.dir = Path(root) / domain
        self.kind = "measured"
        self._t0 = None
        try:
            self.max_range = int((self.dir / "max_energy_range_uj").read_text())
            self._read()
        except (OSError, ValueError) as e:
            self.kind = "unavailable"
            self.reason = f"RAPL unreadable at {self.dir}: {getattr(e, 'strerror', None) or e}"

    def _read(self) -> int:
        return int((self.dir / "energy_uj").read_text())

    def start(self) -> None:
        if self.kind == "measured":
            self._t0 = self._read()

    def stop(self, window=None) -> float | None:
        if self.kind != "measured" or self._t0 is None:
            return None
        return float(delta_uj(self._t0, self._read(), self.max_range))
