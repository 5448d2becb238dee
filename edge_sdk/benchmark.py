"""Interleaved latency measurement: every contender runs once per round, in one process.

The machine is shared and noisy; interleaving exposes all contenders to the same noise,
so the ratio of medians holds even when absolute times move.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Timing:
    name: str
    samples_ms: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def min(self) -> float:
        return min(self.samples_ms)

    @property
    def max(self) -> float:
        return max(self.samples_ms)

    def to_dict(self) -> dict:
        return {"name": self.name, "median_ms": self.median, "min_ms": self.min, "max_ms": self.max,
                "runs": len(self.samples_ms), "samples_ms": self.samples_ms}


def interleaved(contenders: dict[str, Callable[[], object]], runs: int = 50, warmup: int = 5,
                progress: Callable[[int, int], None] | None = None) -> dict[str, Timing]:
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    out = {name: Timing(name) for name in contenders}
    order = list(contenders.items())
    for r in range(runs):
        # rotate the order each round so no contender always runs right after another
        for name, fn in order[r % len(order):] + order[:r % len(order)]:
            t0 = time.perf_counter()
            fn()
            out[name].samples_ms.append((time.perf_counter() - t0) * 1e3)
        if progress:
            progress(r + 1, runs)
    return out
