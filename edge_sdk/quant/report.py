"""What quantization did and how close the int8 graph stays to the float one."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class OutputFidelity:
    name: str
    cosine: float
    max_abs_error: float
    sqnr_db: float  # 10*log10(signal power / error power); inf when identical


@dataclass
class QuantReport:
    method: str
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # calibrated (lo, hi)
    params: dict[str, tuple[float, int]] = field(default_factory=dict)  # activation: (scale, zero point)
    fidelity: list[OutputFidelity] = field(default_factory=list)
    holdout: str = ""  # where the fidelity inputs came from
    already_int8: bool = False
    int8_nodes: int = 0
    float_nodes: int = 0
    zeroed_weights: dict[str, int] = field(default_factory=dict)  # kept weights that rounded to 0
    notes: list[str] = field(default_factory=list)

    def output(self, name: str) -> OutputFidelity:
        for f in self.fidelity:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def min_cosine(self) -> float:
        return min((f.cosine for f in self.fidelity), default=float("nan"))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ranges"] = {k: [float(a), float(b)] for k, (a, b) in self.ranges.items()}
        d["params"] = {k: [float(s), int(z)] for k, (s, z) in self.params.items()}
        for f in d["fidelity"]:  # strict JSON has no Infinity: identical outputs report null
            if not np.isfinite(f["sqnr_db"]):
                f["sqnr_db"] = None
        return d

    def table(self) -> str:
        lines = [f"quantized ({self.method}): {self.int8_nodes} int8 ops, {self.float_nodes} float ops"]
        for f in self.fidelity:
            lines.append(f"  {f.name}: cosine {f.cosine:.5f}, max |err| {f.max_abs_error:.4g}, SQNR {f.sqnr_db:.1f} dB")
        if self.holdout:
            lines.append(f"  fidelity inputs: {self.holdout}")
        return "\n".join(lines)


def compare(name: str, ref: np.ndarray, got: np.ndarray) -> OutputFidelity:
    a = np.asarray(ref, dtype=np.float64).reshape(-1)
    b = np.asarray(got, dtype=np.float64).reshape(-1)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        cos = 1.0
    elif na == 0 or nb == 0:
        cos = 0.0
    else:
        cos = float(a @ b / (na * nb))
    err = a - b
    noise = float(err @ err)
    sqnr = float("inf") if noise == 0 else float(10 * np.log10(max(float(a @ a), 1e-300) / noise))
    return OutputFidelity(name, cos, float(np.max(np.abs(err))) if err.size else 0.0, sqnr)
