"""Scale-out through labgrid (>= 24: gRPC coordinator): devices live behind labgrid exporters on
many hosts, and a HIL job reserves them as labgrid places instead of talking to a home-made
server. A device with `labgrid_place = "NAME"` is acquired before the run and released after it,
also when the job is cancelled (SIGINT/SIGTERM -> release in `finally`); its serial port is the
place's NetworkSerialPort (socket:// for raw TCP, rfc2217:// otherwise).

We drive labgrid-client (its stable CLI) with timeouts rather than the client's internal API.
"""
from __future__ import annotations

import ast
import os
import re
import signal
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
        self._client("acquire")
        self.acquired = True

    def release(self) -> None:
        if self.acquired:
            self._client("release", check=False)
            self.acquired = False

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
    """Acquire `place` for the duration of the block; released on exit, error or SIGTERM."""
    lp = LabgridPlace(coordinator, place, timeout_s)
    old = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        raise KeyboardInterrupt("job cancelled")

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread
        old = None
    try:
        lp.acquire()
        yield lp
    finally:
        lp.release()
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def resolve_devices(devices, coordinator: str | None):
    """For devices with labgrid_place: acquire each place and point the device at its serial port.
    Returns the list of acquired places (release them when the run ends)."""
    places = []
    for d in devices:
        place = d.options.get("labgrid_place")
        if not place:
            continue
        if not coordinator:
            raise LabgridError(f"device '{d.name}' uses labgrid place '{place}': give --coordinator or LG_COORDINATOR")
        lp = LabgridPlace(coordinator, place)
        lp.acquire()
        places.append(lp)
        if d.transport == "serial":
            d.port = lp.serial_url()
    return places
