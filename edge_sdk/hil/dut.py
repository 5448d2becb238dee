"""Host side of the MLPerf Tiny (EEMBC) device-under-test serial protocol.

Wire rules (docs/mlperf-tiny.md): a command is ASCII ending in '%' (no CR/LF); the device
answers with `m-...` / `e-[...]` lines and ends every reply with `m-ready`; the host sends
nothing more until it has seen `m-ready`. Waits time out after 5 s (30 s for `infer`);
`name` and `profile` are retried 3 times; `db` lines carry 31 bytes (62 hex digits) so each
command stays under the device's 80-character buffer.

`DutClient` works over any pyserial port or URL (`socket://127.0.0.1:PORT` for qemu's
serial-on-TCP, `/dev/ttyACM0` for a board). The errors are the HIL harness's typed errors
(edge_sdk/hil/errors.py), so callers tell a device's `e-[...]` (DutErrorReply, a test error)
from a silent or garbled link (DutTimeout / DutProtocolError, infrastructure).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from .errors import ConnectionLost, DeviceReportedError, ProtocolViolation, TransportTimeout

CMD_MAX = 80               # device command buffer, characters before the '%'
DB_BYTES_PER_LINE = 31     # the reference runner's choice: "db " + 62 hex digits
TIMEOUT_S = 5.0
INFER_TIMEOUT_S = 30.0
RETRIES = 3
BOOT_LINES = ("m-timestamp-mode-", "m-init-done")


class DutTimeout(TransportTimeout):
    """No `m-ready` (or boot banner) before the deadline."""


class DutProtocolError(ProtocolViolation):
    """The reply does not have the shape the protocol promises (missing or unreadable lines)."""


class DutErrorReply(DeviceReportedError):
    """The device answered `e-[...]`; `.message` holds the text between the brackets."""

    def __init__(self, command: str, message: str):
        self.command, self.message = command, message
        super().__init__(f"device rejected '{command}': {message}")


class DutReset(ConnectionLost):
    """The boot banner appeared in the middle of a reply: the board restarted."""


@dataclass
class Reply:
    command: str
    lines: list[str]                      # m- lines, m-ready excluded
    errors: list[str] = field(default_factory=list)  # e-[...] contents
    noise: int = 0                        # lines that were neither (serial noise)

    def value(self, prefix: str) -> str:
        """Rest of the first line starting with `prefix`; DutProtocolError when there is none."""
        for ln in self.lines:
            if ln.startswith(prefix):
                return ln[len(prefix):]
        raise DutProtocolError(f"'{self.command}': no '{prefix}...' line in {self.lines[:6]}")


@dataclass
class InferResult:
    n: int
    warmup: int
    t0_us: int
    t1_us: int
    results: list[float]

    @property
    def duration_us(self) -> int:
        return self.t1_us - self.t0_us


def parse_results(text: str) -> list[float]:
    """'[0.125,-1.000]' (the part after m-results-) -> floats."""
    m = re.fullmatch(r"\[(.*)\]", text.strip())
    if not m:
        raise DutProtocolError(f"results not in brackets: {text[:60]!r}")
    try:
        return [float(v) for v in m.group(1).split(",") if v.strip()]
    except ValueError:
        raise DutProtocolError(f"unreadable results: {text[:60]!r}") from None


def db_lines(data: bytes, per_line: int = DB_BYTES_PER_LINE) -> list[str]:
    """The `db <hex>` commands that upload `data`."""
    return ["db " + data[i:i + per_line].hex() for i in range(0, len(data), per_line)]


class DutClient:
    """One connection to a DUT. Not thread-safe: one command at a time, as the protocol says."""

    def __init__(self, port, timeout_s: float = TIMEOUT_S, infer_timeout_s: float = INFER_TIMEOUT_S,
                 retries: int = RETRIES):
        if isinstance(port, str):
            import serial

            try:
                port = serial.serial_for_url(port, baudrate=115200, timeout=0.05)
            except (serial.SerialException, OSError, ValueError) as e:
                raise ConnectionLost(f"cannot open {port}: {e}") from None
        self.port = port
        self.timeout_s, self.infer_timeout_s, self.retries = timeout_s, infer_timeout_s, max(1, retries)
        self._buf = bytearray()

    # ---- link ----
    def close(self) -> None:
        try:
            self.port.close()
        except Exception:
            pass

    def __enter__(self) -> "DutClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _readline(self, deadline: float) -> str:
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                raw = bytes(self._buf[:i + 1])
                del self._buf[:i + 1]
                return raw.decode("ascii", "replace").strip("\r\n")
            if time.monotonic() >= deadline:
                raise DutTimeout("timed out waiting for a line from the device")
            try:
                chunk = self.port.read(max(1, getattr(self.port, "in_waiting", 0) or 1))
            except Exception as e:  # pyserial raises several types for a dropped socket
                raise ConnectionLost(f"serial link lost: {e}") from None
            if chunk:
                self._buf += chunk

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except Exception as e:
            raise ConnectionLost(f"serial link lost on write: {e}") from None

    def wait_boot(self, timeout_s: float | None = None) -> list[str]:
        """Read the boot banner up to its `m-ready`; returns its lines."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        lines = []
        while True:
            try:
                ln = self._readline(deadline)
            except DutTimeout:
                raise DutTimeout(f"no boot banner within {timeout_s or self.timeout_s:g} s "
                                 f"(got {lines[:4]})") from None
            if ln == "m-ready":
                return lines
            lines.append(ln)

    def raw(self, cmd: str, timeout_s: float | None = None) -> Reply:
        """Send `cmd` + '%' as is and collect the reply up to m-ready (errors are not raised)."""
        t = timeout_s or self.timeout_s
        self._write((cmd + "%").encode("latin-1"))
        deadline = time.monotonic() + t
        reply = Reply(cmd, [])
        while True:
            try:
                ln = self._readline(deadline)
            except DutTimeout:
                raise DutTimeout(f"no m-ready after '{cmd[:40]}' within {t:g} s (got {reply.lines[:4]})") from None
            if ln == "m-ready":
                return reply
            if ln.startswith(BOOT_LINES):
                raise DutReset(f"board rebooted while answering '{cmd[:40]}' ({ln})")
            if ln.startswith("e-[") and ln.endswith("]"):
                reply.errors.append(ln[3:-1])
            elif ln.startswith("m-") and ln.isprintable():
                reply.lines.append(ln)
            else:
                reply.noise += 1

    def command(self, cmd: str, timeout_s: float | None = None) -> Reply:
        """Send one command; DutErrorReply if the device answered e-[...]."""
        if len(cmd) > CMD_MAX or "%" in cmd:
            raise ValueError(f"not a single DUT command of at most {CMD_MAX} characters: {cmd[:40]!r}")
        r = self.raw(cmd, timeout_s)
        if r.errors:
            raise DutErrorReply(cmd, r.errors[0])
        return r

    def _retried(self, cmd: str) -> Reply:
        """The name%/profile% probes, retried. An e-[...] answer is retried too: bytes left in
        the device's command buffer (a host that went away mid-command, noise at power-up)
        turn the first probe into 'Unknown command: <junk>name'; the '%' clears the buffer."""
        last: Exception | None = None
        for _ in range(self.retries):
            try:
                return self.command(cmd)
            except (DutTimeout, DutProtocolError, DutReset, DutErrorReply) as e:
                last = e
        raise last  # type: ignore[misc]

    # ---- the standard commands ----
    def name(self) -> str:
        v = self._retried("name").value("m-name-dut-")
        return v[1:-1] if v.startswith("[") and v.endswith("]") else v

    def profile(self) -> dict:
        r = self._retried("profile")
        return {"profile": r.value("m-profile-").strip("[]"), "model": r.value("m-model-").strip("[]")}

    def timestamp(self) -> int:
        v = self.command("timestamp").value("m-lap-us-")
        try:
            return int(v)
        except ValueError:
            raise DutProtocolError(f"unreadable timestamp {v!r}") from None

    def load(self, data: bytes) -> None:
        """db load N, then 31-byte db lines; checks the device's m-[Expecting N bytes] and m-load-done."""
        data = bytes(data)
        if not data:
            raise ValueError("nothing to load")
        want = self.command(f"db load {len(data)}").value("m-[Expecting ")
        if want != f"{len(data)} bytes]":
            raise DutProtocolError(f"device expects {want!r}, sent db load {len(data)}")
        done = False
        for ln in db_lines(data):
            done = "m-load-done" in self.command(ln).lines
        if not done:
            raise DutProtocolError("no m-load-done after the last db line (bytes lost on the way?)")

    def infer(self, n: int = 1, warmup: int = 10) -> InferResult:
        r = self.command(f"infer {n} {warmup}", self.infer_timeout_s)
        laps = [ln[len("m-lap-us-"):] for ln in r.lines if ln.startswith("m-lap-us-")]
        if len(laps) != 2 or "m-infer-done" not in r.lines:
            raise DutProtocolError(f"incomplete infer reply: {r.lines[:8]}")
        try:
            t0, t1 = int(laps[0]), int(laps[1])
        except ValueError:
            raise DutProtocolError(f"unreadable m-lap-us values {laps}") from None
        return InferResult(n, warmup, t0, t1, parse_results(r.value("m-results-")))

    def results(self) -> list[float]:
        return parse_results(self.command("results").value("m-results-"))

    # ---- edge-sdk firmware extras (docs/mlperf-tiny.md) ----
    def output_bytes(self, index: int = 0) -> bytes:
        """Raw bytes of output `index` from the last inference (`db out I`)."""
        r = self.command(f"db out {index}")
        want = int(r.value("m-out-bytes-"))
        hexes = [ln[len("m-out-"):] for ln in r.lines if re.fullmatch(r"m-out-[0-9a-f]+", ln)]
        data = bytes.fromhex("".join(hexes))
        if len(data) != want:
            raise DutProtocolError(f"db out {index}: {len(data)} of {want} bytes arrived")
        return data

    def model_info(self) -> dict:
        """`model%` -> {'isa': 'dsp', 'in': 'int8:1x1x49x10', 'out': ..., 'arena': '16000', ...}."""
        v = self.command("model").value("m-model-info-[").rstrip("]")
        return dict(kv.split("=", 1) for kv in v.split(",") if "=" in kv)

    def set_isa(self, which: str = "best") -> str:
        """`isa scalar%` / `isa best%`: switch the kernel set; returns the active ISA's name."""
        return self.command(f"isa {which}").value("m-isa-")
