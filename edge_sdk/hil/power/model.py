"""Energy model for emulated boards: guest instructions x the target's energy per instruction
(targets/*.toml `energy_pj_per_insn`). An ESTIMATE, labelled so in every report.

Instructions per window come from `insns_per_us` (MCU boards under qemu -icount, where the
virtual clock advances a fixed time per instruction, so the device's m-lap-us window converts to
instructions exactly) or from `insns_per_inference` (aarch64 boards: counted once per model with
the qemu TCG plugin, edge_sdk.build.linux.count_instructions)."""
from __future__ import annotations

from ..errors import LabFileError
from . import PowerMeter


class EnergyModel(PowerMeter):
    kind = "estimated"

    def __init__(self, pj_per_insn: float, target: str, insns_per_us: float | None = None):
        self.pj, self.target = float(pj_per_insn), target
        self.insns_per_us = insns_per_us
        self.insns_per_inference: float | None = None
        self.source = f"model: guest instructions x {self.pj:g} pJ/insn ({target})"

    @classmethod
    def for_target(cls, target: str, insns_per_us: float | None = None) -> "EnergyModel":
        from ...compile.target import load_target

        raw = load_target(target).raw
        pj = raw.get("energy_pj_per_insn")
        if pj is None:
            raise LabFileError(f"power = model needs energy_pj_per_insn in targets/{target}.toml")
        return cls(pj, target, insns_per_us)

    def stop(self, window=None) -> float | None:
        if window is None:
            return None
        if self.insns_per_inference is not None:
            insns = self.insns_per_inference * window.n
        elif self.insns_per_us is not None:
            insns = window.duration_us * self.insns_per_us
        else:
            return None
        window.raw["guest_insns"] = insns
        return insns * self.pj * 1e-6  # pJ -> uJ
