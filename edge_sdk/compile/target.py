"""Target descriptors (targets/*.toml)."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EdgeSdkError

TARGETS_DIR = Path(__file__).resolve().parents[2] / "targets"


@dataclass
class Target:
    name: str
    arch: str
    raw: dict = field(default_factory=dict)

    def break_even(self, block: tuple[int, int]) -> float:
        table = self.raw.get("cost", {}).get("sparse_break_even", {})
        return float(table.get(f"{block[0]}x{block[1]}", table.get("default", 0.5)))


def available() -> list[str]:
    return sorted(p.stem for p in TARGETS_DIR.glob("*.toml"))


def load_target(name: str) -> Target:
    path = TARGETS_DIR / f"{name}.toml"
    if not path.is_file():
        raise EdgeSdkError(f"unknown target '{name}'; available: {', '.join(available()) or 'none'}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise EdgeSdkError(f"target descriptor {path.name} is not valid TOML: {e}") from None
    return Target(raw.get("name", name), raw.get("arch", ""), raw)
