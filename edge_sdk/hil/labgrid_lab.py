"""Scale-out through labgrid (>= 24: gRPC coordinator): devices live behind labgrid exporters on
many hosts, and a HIL job reserves them as labgrid places instead of talking to a home-made
server. A device with `labgrid_place = "NAME"` is acquired before the run and released after it,
also when the job is cancelled (SIGTERM/SIGINT/SIGHUP unwind through `finally`, cancel.py); its serial port is the
place's NetworkSerialPort (socket:// for raw TCP, rfc2217:// otherwise).

We drive labgrid-client (its stable CLI) with timeouts rather than the client's internal API.
"""
from __future__ import annotations

import ast
import os
import re
import subprocess
from contextlib import contextmanager

from .errors import DeviceOffline, InfraError


class LabgridError(InfraError):
    """The coordinator did not answer, or the place cannot be created / acquired / released."""


class LabgridPlace:
    def __init__(self, coordinator: str, place: str, timeout_s: float = 30.0):
        self.coordinator, self.place, self.timeout_s = coordinator, place, timeout_s
        self.acquired = False

    def _client(self, *args: str, check: bool = True) -> str:
        env = dict(os.environ, LG_COORDINATOR=self.coordinator)
        try:
            p = subprocess.run(["labgrid-client", "-p", self.place, *args], capture_output=True, text=True,
                               timeout=self.timeout_s, env=env)
        except FileNotFoundError:
            raise LabgridError("labgrid-client is not installed (pip install labgrid)") from None
        except subprocess.TimeoutExpired:
            raise LabgridError(f"labgrid-client {' '.join(args)} ran past {self.timeout_s:g} s "
                               f"(coordinator {self.coordinator} unreachable?)") from None
        if check and p.returncode != 0:
            raise LabgridError(f"labgrid-client -p {self.place} {' '.join(args)}: "
                               f"{(p.stderr or p.stdout).strip().splitlines()[-1:] or ['failed']}")
        return p.stdout

    def create(self, *matches: str) -> None:
        self._client("create", check=False)  # exists already: fine
        for m in matches:
            self._client("add-match", m)

    def acquire(self) -> None:
        try:
            self._client("acquire")
        except KeyboardInterrupt:
            # cancelled while labgrid-client ran: the coordinator may have granted it; release to be sure
            self.acquired = True
            raise
        self.acquired = True

    def release(self) -> bool:
        """Gives the place back; False when the coordinator did not confirm it."""
        if not self.acquired:
            return True
        try:
            self._client("release")
        except LabgridError:
            return False
        self.acquired = False
        return True

    def resources(self) -> list[dict]:
        """The acquired resources' (cls, params) as the coordinator reports them."""
        text = self._client("show")
        out = []
        for m in re.finditer(r"Acquired resource '([^']+)' \(([^)]+)\):", text):
            start = text.find("{", m.end())
            depth, end = 0, start
            for end in range(start, len(text)):
                depth += {"{": 1, "}": -1}.get(text[end], 0)
                if depth == 0:
                    break
            try:
                out.append(dict(ast.literal_eval(text[start:end + 1]), name=m.group(2)))
            except (ValueError, SyntaxError):
                continue
        return out

    def serial_url(self) -> str:
        for r in self.resources():
            if r.get("cls") in ("NetworkSerialPort", "RawNetworkSerialPort"):
                p = r["params"]
                scheme = "socket" if p.get("protocol", "rfc2217") == "raw" else "rfc2217"
                return f"{scheme}://{p['host']}:{p['port']}"
        raise DeviceOffline(f"labgrid place {self.place} has no NetworkSerialPort")


@contextmanager
def reserved(coordinator: str, place: str, timeout_s: float = 30.0):
    """Acquire `place` for the duration of the block; released on exit, error or a cancel signal."""
    from .cancel import cancel_on_signals

    lp = LabgridPlace(coordinator, place, timeout_s)
    with cancel_on_signals():
        try:
            lp.acquire()
            yield lp
        finally:
            lp.release()


def resolve_devices(devices, coordinator: str | None, places: list | None = None):
    """For devices with labgrid_place: acquire each place and point the device at its serial port.
    Each place is appended to `places` before it is acquired, so a caller that releases `places`
    in its `finally` also frees those acquired before a failure or a cancel. Returns `places`."""
    places = [] if places is None else places
    for d in devices:
        place = d.options.get("labgrid_place")
        if not place:
            continue
        if not coordinator:
            raise LabgridError(f"device '{d.name}' uses labgrid place '{place}': give --coordinator or LG_COORDINATOR")
        lp = LabgridPlace(coordinator, place)
        places.append(lp)
        lp.acquire()
        if d.transport == "serial":
            d.port = lp.serial_url()
    return places
