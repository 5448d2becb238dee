"""The command-transport interface shared by ssh, adb and local."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class CommandResult:
    rc: int
    stdout: str
    stderr: str


class CommandTransport:
    """Runs argv on the device and moves files. Implementations: ssh.py, adb.py, local.py."""

    name = "command"

    def connect(self) -> None:
        pass

    def close(self) -> None:
        pass

    def run(self, argv: list[str], timeout_s: float) -> CommandResult:
        raise NotImplementedError

    def put(self, local: Path, remote: str) -> None:
        raise NotImplementedError

    def get(self, remote: str, local: Path) -> None:
        raise NotImplementedError

    def read_text(self, path: str, timeout_s: float = 5.0) -> str | None:
        """A small file's text (/sys readings); None when absent or unreadable."""
        r = self.run(["cat", path], timeout_s)
        return r.stdout.strip() if r.rc == 0 and r.stdout.strip() else None

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()
