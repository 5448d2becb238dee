"""Results written as they come: results.jsonl gets one line per window and per finished
device x model, flushed and fsynced, so a fault (or a cancelled job) keeps everything measured
before it. A write failure (disk full, read-only) is remembered, not raised mid-run: the
measurement goes on in memory and the CLI reports ReportWriteError at the end.

`opener` is the fault-injection hook for tests where a tiny tmpfs cannot be mounted."""
from __future__ import annotations

import json
import os
from pathlib import Path


def _default_open(path: Path, mode: str):
    return open(path, mode)


class ResultStore:
    opener = staticmethod(_default_open)

    def __init__(self, out_dir: Path):
        self.dir = Path(out_dir)
        self.error: OSError | None = None
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self.error = e

    @property
    def path(self) -> Path:
        return self.dir / "results.jsonl"

    def _append(self, obj: dict) -> None:
        if self.error is not None:
            return
        try:
            with self.opener(self.path, "a") as f:
                f.write(json.dumps(obj, default=str) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            self.error = e

    def window(self, device: str, model: str, row: dict) -> None:
        self._append({"type": "window", "device": device, "model": model, **row})

    def record(self, rec: dict) -> None:
        self._append({"type": "result", **{k: v for k, v in rec.items() if k != "windows"}})

    def write_text(self, name: str, text: str) -> None:
        """Write a whole report file (atomically: temp file then rename)."""
        if self.error is not None:
            return
        tmp = self.dir / f".{name}.tmp"
        try:
            with self.opener(tmp, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.dir / name)
        except OSError as e:
            self.error = e
            try:
                tmp.unlink()
            except OSError:
                pass
