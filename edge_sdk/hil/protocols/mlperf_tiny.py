"""MLPerf Tiny DUTs as the harness uses them, on top of edge_sdk/hil/dut.py (DutClient, the
host side of the wire protocol: commands, m-ready handshake, name/profile retries, 31-byte db
lines). This thin layer adds what a measurement run needs around it:
  - recovery: after garbage, dropped bytes or a timeout, drain the link and retry the command
    (up to `retries`); after a board reset, re-upload the input and retry the window;
  - one health probe (name% + profile%), a `db out` that is optional (stock firmware lacks it).
Latency comes only from the device's m-lap-us- timestamps (DutClient.infer).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from ..dut import DutClient, DutErrorReply, DutProtocolError, DutReset, DutTimeout
from ..errors import ConnectionLost, DeviceOffline, InfraError


@dataclass
class InferResult:
    n: int
    warmup: int
    t0_us: int
    t1_us: int
    results: list[float]
    retries: int = 0

    @property
    def duration_us(self) -> int:
        return self.t1_us - self.t0_us


def drain(client: DutClient, quiet_s: float = 0.2, max_s: float = 2.0) -> None:
    """Discard whatever the device still sends (a half reply, noise) until it is quiet."""
    end = time.monotonic() + max_s
    while time.monotonic() < end:
        try:
            client._readline(min(end, time.monotonic() + quiet_s))
        except DutTimeout:
            client._buf.clear()
            return


class MlperfTiny:
    def __init__(self, client: DutClient, retries: int = 3):
        self.c, self.retries = client, max(1, retries)
        self._input: bytes | None = None

    def _retry(self, fn, what: str, on_reset=None):
        last: InfraError | None = None
        for attempt in range(self.retries):
            try:
                return fn()
            except DutReset as e:
                last = e
                drain(self.c)
                if on_reset:
                    on_reset()
            except (DutTimeout, DutProtocolError) as e:
                last = e
                drain(self.c)
        raise last

    def health(self) -> dict:
        try:
            drain(self.c, 0.2, 2.0)  # a boot banner still on the wire
            name = self.c.name()
            prof = self.c.profile()
        except (DutTimeout, DutProtocolError, DutReset, ConnectionLost, DutErrorReply) as e:
            # a board that rejects name%/profile% is no usable DUT: offline, the others go on
            raise DeviceOffline(f"health check (name%/profile%) failed: {e}") from None
        return {"name": name, **prof}

    def load(self, data: bytes) -> None:
        self._input = bytes(data)
        self._retry(lambda: self.c.load(self._input), "db load")

    def _reload(self) -> None:
        if self._input is not None:
            self.c.load(self._input)

    def infer(self, n: int, warmup: int, expected_s: float = 0.0) -> InferResult:
        """One window; `expected_s` widens the timeout for long windows (runner: 30 s + the window)."""
        tries = {"n": 0}

        def go():
            tries["n"] += 1
            old = self.c.infer_timeout_s
            self.c.infer_timeout_s = old + 3 * expected_s
            try:
                r = self.c.infer(n, warmup)
            finally:
                self.c.infer_timeout_s = old
            t1 = r.t1_us if r.t1_us >= r.t0_us else r.t1_us + (1 << 32)  # 32-bit us counters wrap
            return InferResult(n, warmup, r.t0_us, t1, r.results, tries["n"] - 1)

        return self._retry(go, "infer", on_reset=self._reload)

    def output_bytes(self, index: int = 0) -> bytes | None:
        """Raw output bytes (edge-sdk firmware's `db out I`); None when the firmware lacks it."""
        try:
            return self._retry(lambda: self.c.output_bytes(index), "db out")
        except DutErrorReply:
            return None

    def close(self) -> None:
        self.c.close()
