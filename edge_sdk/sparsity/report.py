"""What sparsification did, per layer and in total (printed by the CLI, stored in META)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class LayerSparsity:
    name: str
    op: str
    shape: tuple[int, ...]
    pattern: str  # pattern applied, "dense" (kept dense) or "source" (sparse on arrival)
    sparsity: float  # achieved fraction of zero weights
    kept_magnitude: float  # sum |W| kept / sum |W| before pruning
    kept_magnitude_unpermuted: float | None = None  # same pattern without channel permutation
    permuted: bool = False
    params: int = 0
    nonzero: int = 0
    macs: int = 0
    macs_after: int = 0
    note: str = ""


@dataclass
class SparsityReport:
    pattern: str
    target: float
    allocation: str
    method: str
    layers: list[LayerSparsity] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def params_before(self) -> int:
        return sum(r.params for r in self.layers)

    @property
    def params_after(self) -> int:
        return sum(r.nonzero for r in self.layers)

    @property
    def macs_before(self) -> int:
        return sum(r.macs for r in self.layers)

    @property
    def macs_after(self) -> int:
        return sum(r.macs_after for r in self.layers)

    @property
    def overall_sparsity(self) -> float:
        return 1.0 - self.params_after / max(self.params_before, 1)

    def layer(self, name: str) -> LayerSparsity:
        for r in self.layers:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {
            "pattern": self.pattern,
            "target": self.target,
            "allocation": self.allocation,
            "method": self.method,
            "layers": [{**asdict(r), "shape": list(r.shape)} for r in self.layers],
            "totals": {
                "params_before": self.params_before,
                "params_after": self.params_after,
                "sparsity": self.overall_sparsity,
                "macs_before": self.macs_before,
                "macs_after": self.macs_after,
            },
            "notes": list(self.notes),
        }

    def table(self) -> str:
        lines = [f"{'layer':<28} {'op':<15} {'pattern':<14} {'sparsity':>8} {'kept|W|':>8}"]
        for r in self.layers:
            lines.append(
                f"{r.name[:28]:<28} {r.op:<15} {r.pattern:<14} {r.sparsity:>8.3f} {r.kept_magnitude:>8.3f}"
            )
        lines.append(
            f"params {self.params_before} -> {self.params_after} nonzero "
            f"({self.overall_sparsity:.1%} sparse); MACs {self.macs_before} -> {self.macs_after}"
        )
        return "\n".join(lines)
