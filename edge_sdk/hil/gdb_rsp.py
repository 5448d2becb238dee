"""A small client of the GDB remote serial protocol (RSP), the one wire protocol that openocd,
pyocd gdbserver, SEGGER's J-Link GDB server and qemu's gdbstub all serve: enough of it to write
memory (X, or M when X is refused), program flash (vFlashErase / vFlashWrite / vFlashDone,
when the server's qXfer:memory-map names flash), read memory back (m), pass a monitor command
(qRcmd) and detach, which lets the target run.

Framing, as in GDB's manual ("Remote Protocol: Overview"): `$payload#cs`, cs = the sum of the
payload bytes mod 256 in two hex digits; each packet is acknowledged with `+` (or `-`: send it
again). Binary payloads escape `#`, `$`, `}` and `*` as `}` + (byte ^ 0x20); replies may be
run-length encoded (`X*n` repeats X n - 29 more times). Every wait has a timeout.
"""
from __future__ import annotations

import re
import socket
import time

from .errors import FlashFailed

_ESCAPE = frozenset(b"#$}*")


def checksum(payload: bytes) -> bytes:
    return b"%02x" % (sum(payload) & 0xFF)


def frame(payload: bytes) -> bytes:
    return b"$" + payload + b"#" + checksum(payload)


def escape(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in _ESCAPE:
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    """Undo binary escaping and run-length encoding of a received payload."""
    out = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        if b == 0x7D and i + 1 < len(data):
            out.append(data[i + 1] ^ 0x20)
            i += 2
        elif b == 0x2A and out and i + 1 < len(data):   # '*': repeat the previous byte
            out += bytes((out[-1],)) * (data[i + 1] - 29)
            i += 2
        else:
            out.append(b)
            i += 1
    return bytes(out)


class RspError(FlashFailed):
    """The GDB server refused a packet (Exx), did not answer, or the link dropped."""


class GdbRemote:
    """One connection to a GDB server. Not thread-safe; one packet in flight at a time."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0, retries: int = 3):
        self.where = f"gdb server {host}:{port}"
        self.timeout_s, self.retries = timeout_s, max(1, retries)
        self.features: dict[str, str | bool] = {}
        self._buf = bytearray()
        self._x_ok: bool | None = None   # does the server take binary X writes?
        try:
            self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        except OSError as e:
            raise RspError(f"{self.where}: cannot connect: {e.strerror or e}") from None
        self.sock.settimeout(0.2)

    # ---- framing ----
    def _recv_some(self, deadline: float) -> None:
        while True:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                if time.monotonic() > deadline:
                    raise RspError(f"{self.where}: no answer within the timeout") from None
                continue
            except OSError as e:
                raise RspError(f"{self.where}: link lost: {e}") from None
            if not chunk:
                raise RspError(f"{self.where}: closed the connection")
            self._buf += chunk
            return

    def _read_packet(self, timeout_s: float) -> bytes:
        """The next `$...#cs` packet's raw payload (acked); stray acks and %notifications skipped."""
        deadline = time.monotonic() + timeout_s
        while True:
            start = next((i for i, b in enumerate(self._buf) if b in b"$%"), -1)
            if start >= 0:
                end = self._buf.find(b"#", start)
                if end >= 0 and len(self._buf) >= end + 3:
                    kind, payload = self._buf[start], bytes(self._buf[start + 1:end])
                    cs = bytes(self._buf[end + 1:end + 3])
                    del self._buf[:end + 3]
                    if kind == ord("%"):      # async notification (non-stop mode): not ours
                        continue
                    if cs.lower() != checksum(payload):
                        self._send_raw(b"-")
                        continue
                    self._send_raw(b"+")
                    return payload
            else:
                self._buf.clear()
            self._recv_some(deadline)

    def _send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise RspError(f"{self.where}: link lost on write: {e}") from None

    def _wait_ack(self, deadline: float) -> bool:
        while True:
            while self._buf:
                b = self._buf[0]
                if b in b"+-":
                    del self._buf[0]
                    return b == ord("+")
                if b == ord("$"):   # a reply before the ack (some servers): treat as acked
                    return True
                del self._buf[0]
            self._recv_some(deadline)

    def request(self, payload: bytes, timeout_s: float | None = None) -> bytes:
        """Send one packet, wait for its ack (resending on `-`) and return the reply payload,
        unescaped."""
        timeout_s = timeout_s or self.timeout_s
        for _ in range(self.retries):
            self._send_raw(frame(payload))
            if self._wait_ack(time.monotonic() + timeout_s):
                break
        else:
            raise RspError(f"{self.where}: packet {payload[:16]!r} not acknowledged after {self.retries} tries")
        return unescape(self._read_packet(timeout_s))

    @staticmethod
    def _check(reply: bytes, what: str, where: str) -> None:
        if reply == b"OK":
            return
        if reply == b"":
            raise RspError(f"{where}: does not support {what}")
        raise RspError(f"{where}: {what} refused: {reply[:40].decode(errors='replace')}")

    # ---- session ----
    def handshake(self) -> dict:
        """qSupported, then `?` (the attach halted the target; this reads why)."""
        reply = self.request(b"qSupported:multiprocess-;swbreak+;hwbreak+;xmlRegisters=arm")
        for item in reply.decode(errors="replace").split(";"):
            if "=" in item:
                k, v = item.split("=", 1)
                self.features[k] = v
            elif item.endswith(("+", "-")):
                self.features[item[:-1]] = item.endswith("+")
        self.stop_reason = self.request(b"?").decode(errors="replace")
        return self.features

    @property
    def packet_size(self) -> int:
        try:
            return max(64, int(str(self.features.get("PacketSize", "190")), 16))
        except ValueError:
            return 400

    # ---- memory ----
    def read_memory(self, addr: int, length: int) -> bytes:
        out = bytearray()
        step = max(16, (self.packet_size - 8) // 2)
        while len(out) < length:
            n = min(step, length - len(out))
            a = addr + len(out)
            reply = self.request(b"m%x,%x" % (a, n))
            if not reply or reply[:1] == b"E" and len(reply) == 3:
                why = reply.decode(errors="replace") or "no reply"
                raise RspError(f"{self.where}: cannot read {n} bytes at {a:#x}: {why}")
            try:
                chunk = bytes.fromhex(reply.decode())
            except ValueError:
                raise RspError(f"{self.where}: reply to m{a:x} is not hex: {reply[:20]!r}") from None
            if not chunk:
                raise RspError(f"{self.where}: empty read at {a:#x}")
            out += chunk
        return bytes(out[:length])

    def write_memory(self, addr: int, data: bytes) -> None:
        """RAM (or memory the server writes itself): X binary packets, M hex when X is refused."""
        step = max(16, (self.packet_size - 32) // 2)   # worst case every byte escaped
        for off in range(0, len(data), step):
            chunk = data[off:off + step]
            a = addr + off
            if self._x_ok is not False:
                reply = self.request(b"X%x,%x:" % (a, len(chunk)) + escape(chunk))
                if reply == b"" and self._x_ok is None:
                    self._x_ok = False      # no binary writes: fall back to M for good
                else:
                    self._x_ok = True
                    self._check(reply, f"write of {len(chunk)} bytes at {a:#x}", self.where)
                    continue
            self._check(self.request(b"M%x,%x:" % (a, len(chunk)) + chunk.hex().encode()),
                        f"write of {len(chunk)} bytes at {a:#x}", self.where)

    def memory_map(self) -> list[dict]:
        """Regions of qXfer:memory-map (type ram|rom|flash, start, length, blocksize); [] when the
        server has none (qemu, J-Link without a device)."""
        if self.features.get("qXfer:memory-map:read") is not True:
            return []
        xml = bytearray()
        while True:
            reply = self.request(b"qXfer:memory-map:read::%x,%x" % (len(xml), max(64, self.packet_size - 16)))
            if not reply or reply[:1] not in (b"m", b"l"):
                if not xml:
                    return []
                raise RspError(f"{self.where}: memory map read failed: {reply[:20]!r}")
            xml += reply[1:]
            if reply[:1] == b"l":
                break
        return parse_memory_map(xml.decode(errors="replace"))

    # ---- flash ----
    def flash_erase(self, addr: int, length: int, timeout_s: float) -> None:
        self._check(self.request(b"vFlashErase:%x,%x" % (addr, length), timeout_s),
                    f"flash erase {addr:#x}+{length:#x}", self.where)

    def flash_write(self, addr: int, data: bytes, timeout_s: float) -> None:
        step = max(16, (self.packet_size - 32) // 2)
        for off in range(0, len(data), step):
            self._check(self.request(b"vFlashWrite:%x:" % (addr + off) + escape(data[off:off + step]), timeout_s),
                        f"flash write at {addr + off:#x}", self.where)

    def flash_done(self, timeout_s: float) -> None:
        self._check(self.request(b"vFlashDone", timeout_s), "vFlashDone", self.where)

    # ---- control ----
    def monitor(self, command: str, timeout_s: float | None = None) -> str:
        """qRcmd: a server command (`reset`, `reset halt`, ...). Returns its console output."""
        self._send_raw(frame(b"qRcmd," + command.encode().hex().encode()))
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        if not self._wait_ack(deadline):
            raise RspError(f"{self.where}: monitor {command!r} not acknowledged")
        text = []
        while True:
            reply = unescape(self._read_packet(max(0.1, deadline - time.monotonic())))
            if reply.startswith(b"O") and reply != b"OK":
                try:
                    text.append(bytes.fromhex(reply[1:].decode()).decode(errors="replace"))
                except ValueError:
                    pass
                continue
            if reply == b"OK":
                return "".join(text)
            if len(reply) % 2 == 0 and re.fullmatch(rb"[0-9a-fA-F]+", reply):
                # the output hex-encoded in the final reply (Enn is odd-length, never this)
                text.append(bytes.fromhex(reply.decode()).decode(errors="replace"))
                return "".join(text)
            self._check(reply, f"monitor {command!r}", self.where)

    def detach(self) -> None:
        """D: the server lets the target run and drops the debug session."""
        try:
            reply = self.request(b"D")
        except RspError:
            return   # some servers close the socket at once
        if reply not in (b"OK", b""):
            raise RspError(f"{self.where}: detach refused: {reply[:20]!r}")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "GdbRemote":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def parse_memory_map(xml: str) -> list[dict]:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml.split("?>", 1)[-1] if xml.lstrip().startswith("<?xml") else xml)
    except ET.ParseError as e:
        raise RspError(f"memory map is not XML: {e}") from None
    regions = []
    for m in root.iter("memory"):
        try:
            r = {"type": m.get("type", "ram"), "start": int(m.get("start"), 0), "length": int(m.get("length"), 0)}
        except (TypeError, ValueError):
            raise RspError(f"memory map region without start/length: {m.attrib}") from None
        for p in m.iter("property"):
            if p.get("name") == "blocksize":
                r["blocksize"] = int((p.text or "0").strip(), 0)
        if r["type"] == "flash" and not r.get("blocksize"):
            raise RspError(f"flash region at {r['start']:#x} has no blocksize")
        regions.append(r)
    return regions
