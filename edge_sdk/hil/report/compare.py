"""`edge-sdk hil compare OLD/report.json NEW/report.json`: per device x model, the change in
median latency and energy; a regression is a rise beyond the threshold (default 10%)."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import HilError


def load_report(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise HilError(f"cannot read {path}: {e.strerror}") from None
    except ValueError as e:
        raise HilError(f"{path} is not JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise HilError(f"{path} is not an edge-sdk HIL report.json")
    return data


def _key(r):
    return r.get("device"), r.get("model")


def compare(old: dict, new: dict, threshold: float = 0.10) -> list[dict]:
    olds = {_key(r): r for r in old["results"]}
    rows = []
    for r in new["results"]:
        o = olds.get(_key(r))
        for metric in ("latency_ms", "energy_uj"):
            a = (o or {}).get(metric, {}).get("median")
            b = r.get(metric, {}).get("median")
            if a is None or b is None or a <= 0:
                continue
            change = (b - a) / a
            rows.append({"device": r["device"], "model": r["model"], "metric": metric, "old": a, "new": b,
                         "change": change, "regression": change > threshold})
    return rows


def parse_threshold(s: str) -> float:
    s = s.strip()
    try:
        v = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    except ValueError:
        raise HilError(f"--threshold must look like 10% or 0.1, not {s!r}") from None
    if v < 0:
        raise HilError("--threshold must be >= 0")
    return v
