"""FAKE GDB server with a NOR flash, for tests only: what openocd or pyocd gdbserver serve with a
probe on a real MCU, which we do not have. (qemu's gdbstub, which tests use for real, offers
no flash memory map, so the vFlash path needs this.)

It serves the GDB remote protocol on 127.0.0.1 with a memory map of one flash region (erase
blocks of `blocksize`, erased = 0xFF, programming can only clear bits, as NOR flash does) and
one RAM region. Plain X/M writes into flash are refused, as openocd does; vFlashErase must be
block-aligned. Faults: `nack_first` answers `-` to the first packet (we must send it again);
`rle` run-length encodes replies; `flip_write_at` programs that address with one bit flipped
(a bad flash cell: read-back must catch it). Records every packet in `log`.
"""
from __future__ import annotations

import socket
import threading


def _cs(payload: bytes) -> bytes:
    return b"%02x" % (sum(payload) & 0xFF)


def _unescape(data: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(data):
        if data[i] == 0x7D:
            out.append(data[i + 1] ^ 0x20)
            i += 2
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


def _escape(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        out += bytes((0x7D, b ^ 0x20)) if b in b"#$}*" else bytes((b,))
    return bytes(out)


def _rle(data: bytes) -> bytes:
    """GDB's encoding: X then '*' then chr(29 + extra repeats); counts giving '#' or '$' not used."""
    out, i = bytearray(), 0
    while i < len(data):
        j = i
        while j < len(data) and data[j] == data[i] and j - i < 97:
            j += 1
        extra = j - i - 1
        while extra in (6, 7):   # 29 + 6 = '#', 29 + 7 = '$'
            extra -= 1
        if extra >= 3:
            out += bytes((data[i], 0x2A, 29 + extra))
            i += extra + 1
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


class FakeGdbServer:
    def __init__(self, flash_start=0x08000000, flash_size=0x10000, blocksize=0x800, ram_start=0x20000000,
                 ram_size=0x8000, packet_size=0x200, nack_first=False, rle=False, flip_write_at: int | None = None):
        self.flash_start, self.blocksize = flash_start, blocksize
        self.flash = bytearray(b"\xff" * flash_size)
        self.ram_start, self.ram = ram_start, bytearray(ram_size)
        self.packet_size, self.nack_first, self.rle, self.flip_write_at = packet_size, nack_first, rle, flip_write_at
        self.log: list[bytes] = []
        self.erased: list[tuple[int, int]] = []
        self.monitor_cmds: list[str] = []
        self.detached = False
        self._srv = socket.socket()
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(1)
        self.port = self._srv.getsockname()[1]
        self._th = threading.Thread(target=self._serve, daemon=True)
        self._th.start()

    def memory_map(self) -> bytes:
        return (f'<?xml version="1.0"?><!DOCTYPE memory-map PUBLIC "+//IDN gnu.org//DTD GDB Memory Map V1.0//EN"'
                f' "http://sourceware.org/gdb/gdb-memory-map.dtd"><memory-map>'
                f'<memory type="flash" start="{self.flash_start:#x}" length="{len(self.flash):#x}">'
                f'<property name="blocksize">{self.blocksize:#x}</property></memory>'
                f'<memory type="ram" start="{self.ram_start:#x}" length="{len(self.ram):#x}"/></memory-map>').encode()

    # ---- memory ----
    def _where(self, addr: int, n: int):
        if self.flash_start <= addr and addr + n <= self.flash_start + len(self.flash):
            return self.flash, addr - self.flash_start
        if self.ram_start <= addr and addr + n <= self.ram_start + len(self.ram):
            return self.ram, addr - self.ram_start
        return None, 0

    def _handle(self, p: bytes) -> bytes | None:
        if p.startswith(b"qSupported"):
            return b"PacketSize=%x;qXfer:memory-map:read+" % self.packet_size
        if p == b"?":
            return b"S05"
        if p.startswith(b"qXfer:memory-map:read::"):
            off, n = (int(x, 16) for x in p.split(b"::")[1].split(b","))
            mm = self.memory_map()
            chunk = mm[off:off + n]
            return (b"l" if off + n >= len(mm) else b"m") + _escape(chunk)
        if p[:1] == b"m":
            a, n = (int(x, 16) for x in p[1:].split(b","))
            mem, off = self._where(a, n)
            return b"E01" if mem is None else mem[off:off + n].hex().encode()
        if p[:1] in (b"X", b"M"):
            head, data = p[1:].split(b":", 1)
            a, n = (int(x, 16) for x in head.split(b","))
            data = _unescape(data) if p[:1] == b"X" else bytes.fromhex(data.decode())
            mem, off = self._where(a, n)
            if mem is not self.ram or len(data) != n:
                return b"E01"   # flash needs the flash commands, as with openocd
            self.ram[off:off + n] = data
            return b"OK"
        if p.startswith(b"vFlashErase:"):
            a, n = (int(x, 16) for x in p[len(b"vFlashErase:"):].split(b","))
            mem, off = self._where(a, n)
            if mem is not self.flash or off % self.blocksize or n % self.blocksize:
                return b"E02"
            self.flash[off:off + n] = b"\xff" * n
            self.erased.append((a, n))
            return b"OK"
        if p.startswith(b"vFlashWrite:"):
            head, data = p[len(b"vFlashWrite:"):].split(b":", 1)
            a, data = int(head, 16), bytearray(_unescape(data))
            mem, off = self._where(a, len(data))
            if mem is not self.flash:
                return b"E03"
            if self.flip_write_at is not None and a <= self.flip_write_at < a + len(data):
                data[self.flip_write_at - a] ^= 0x01
            for k, b in enumerate(data):
                self.flash[off + k] &= b     # NOR: programming clears bits only
            return b"OK"
        if p == b"vFlashDone":
            return b"OK"
        if p.startswith(b"qRcmd,"):
            cmd = bytes.fromhex(p[6:].decode()).decode()
            self.monitor_cmds.append(cmd)
            return b"OK" if cmd in ("reset", "reset halt", "reset run") else b"E04"
        if p == b"D":
            self.detached = True
            return b"OK"
        return b""   # unsupported

    # ---- wire ----
    def _serve(self) -> None:
        try:
            conn, _ = self._srv.accept()
        except OSError:
            return
        buf = bytearray()
        first = True
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while True:
                    s = buf.find(b"$")
                    if s < 0:
                        buf.clear()
                        break
                    e = buf.find(b"#", s)
                    if e < 0 or len(buf) < e + 3:
                        del buf[:s]
                        break
                    payload, cs = bytes(buf[s + 1:e]), bytes(buf[e + 1:e + 3])
                    del buf[:e + 3]
                    if cs != _cs(payload) or (first and self.nack_first):
                        first = False
                        conn.sendall(b"-")
                        continue
                    first = False
                    conn.sendall(b"+")
                    self.log.append(payload)
                    reply = self._handle(payload)
                    if reply is not None:
                        body = _rle(reply) if self.rle and payload[:1] == b"m" else reply
                        conn.sendall(b"$" + body + b"#" + _cs(body))
                    if payload == b"D":
                        return

    def close(self) -> None:
        try:
            self._srv.close()
        except OSError:
            pass
