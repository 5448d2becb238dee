"""adb transport (adbutils): push to /data/local/tmp, run with a timeout, pull results."""
from __future__ import annotations

import shlex
from pathlib import Path

from ..errors import ConnectionLost, DeviceOffline, TransportTimeout
from .base import CommandResult, CommandTransport

RC_MARK = "__ESDK_RC="


class AdbTransport(CommandTransport):
    name = "adb"

    def __init__(self, serial: str | None, timeout_s: float = 5.0, server: tuple[str, int] | None = None):
        self.serial, self.timeout_s = serial, timeout_s
        self.server = server   # (host, port) of the adb server; None: ANDROID_ADB_SERVER_* or 127.0.0.1:5037
        self.dev = None

    def connect(self) -> None:
        try:
            import adbutils

            kw = {"host": self.server[0], "port": self.server[1]} if self.server else {}
            self.dev = adbutils.AdbClient(socket_timeout=self.timeout_s, **kw).device(serial=self.serial)
            state = self.dev.get_state()
        except Exception as e:  # adbutils raises AdbError / socket errors / RuntimeError
            raise DeviceOffline(f"adb device {self.serial or '(default)'}: {e}") from None
        if state != "device":
            raise DeviceOffline(f"adb device {self.serial or '(default)'} is '{state}', not 'device'")

    def run(self, argv: list[str], timeout_s: float) -> CommandResult:
        if self.dev is None:
            self.connect()
        cmd = " ".join(shlex.quote(a) for a in argv) + f"; echo {RC_MARK}$?"
        try:
            out = self.dev.shell(cmd, timeout=timeout_s)
        except Exception as e:
            if "timeout" in str(e).lower() or isinstance(e, TimeoutError):
                raise TransportTimeout(f"adb '{argv[0]}' ran past {timeout_s:g} s") from None
            raise ConnectionLost(f"adb {self.serial}: {e}") from None
        text, _, rc = str(out).rpartition(RC_MARK)
        try:
            code = int(rc.strip())
        except ValueError:
            raise ConnectionLost(f"adb '{argv[0]}' output ended early (no exit status)") from None
        return CommandResult(code, text, "")

    def put(self, local: Path, remote: str) -> None:
        if self.dev is None:
            self.connect()
        try:
            self.dev.sync.push(str(local), remote, mode=Path(local).stat().st_mode & 0o777)
        except Exception as e:
            raise ConnectionLost(f"adb push {remote}: {e}") from None

    def get(self, remote: str, local: Path) -> None:
        if self.dev is None:
            self.connect()
        try:
            self.dev.sync.pull_file(remote, str(local))   # pull() takes a missing file for a directory
        except Exception as e:
            raise ConnectionLost(f"adb pull {remote}: {e}") from None
