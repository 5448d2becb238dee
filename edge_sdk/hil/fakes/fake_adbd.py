"""FAKE Android device: an adbd that speaks the adb device wire protocol over TCP, for tests and
emulated labs only (we have no phone). The real adb server connects to it (`adb connect
127.0.0.1:PORT`) as it would to a phone in wireless/TCP mode, and adbutils drives it through
that server, so our adb transport is exercised end to end.

Written from the public protocol descriptions (AOSP adb's protocol.txt and SYNC.TXT):

- messages: a 24-byte header of six little-endian u32 (command, arg0, arg1, payload length,
  payload byte sum, command ^ 0xffffffff) and the payload;
- CNXN(version, max payload, "device::props;features=...") answers the host's CNXN; no AUTH
  (like a device with adb authentication off); no features advertised, so the host uses the
  legacy services below;
- streams: OPEN(host id, 0, "service\\0") -> OKAY(our id, host id) or CLSE(0, host id) when the
  service is unknown; WRTE carries data, and each WRTE is answered by OKAY before the next one
  may be sent on that stream (flow control); CLSE ends it;
- `shell:CMD` (and `exec:CMD`): `/bin/sh -c CMD` on this machine, stdout and stderr merged,
  CLSE when it exits (the legacy shell carries no exit status); the device's files are this
  machine's files;
- `sync:`: requests of 4-byte id + u32 length + data. STAT -> STAT mode size mtime (zeros when
  absent); LIST -> DENT entries then DONE; SEND "path,mode" then DATA chunks and DONE mtime ->
  OKAY or FAIL; RECV path -> DATA chunks then DONE, or FAIL; QUIT ends the stream.

What runs the aarch64 bench program under qemu-aarch64 is the harness's emulator prefix (as
for the ssh "Pi"), not this fake.
"""
from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import threading
from pathlib import Path

A_CNXN, A_OPEN, A_OKAY, A_WRTE, A_CLSE, A_AUTH = (int.from_bytes(c, "little") for c in
                                                  (b"CNXN", b"OPEN", b"OKAY", b"WRTE", b"CLSE", b"AUTH"))
VERSION = 0x01000001          # >= this version the payload checksum is not checked
MAX_PAYLOAD = 256 * 1024
SYNC_DATA_MAX = 64 * 1024     # SYNC.TXT: DATA chunks of at most 64 KiB
HEADER = struct.Struct("<6I")


def message(cmd: int, arg0: int, arg1: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(cmd, arg0, arg1, len(payload), sum(payload) & 0xFFFFFFFF, cmd ^ 0xFFFFFFFF) + payload


class _Closed(Exception):
    pass


class _Stream:
    """One OPENed service: our id, the host's id, an inbox of WRTE data, acked sends."""

    def __init__(self, conn: "_Connection", local: int, remote: int):
        self.conn, self.local, self.remote = conn, local, remote
        self.inbox = bytearray()
        self.cv = threading.Condition()
        self.acked = True
        self.closed = False

    # host -> us
    def feed(self, data: bytes) -> None:
        with self.cv:
            self.inbox += data
            self.cv.notify_all()

    def read(self, n: int) -> bytes:
        with self.cv:
            while len(self.inbox) < n:
                if self.closed:
                    raise _Closed
                self.cv.wait(1.0)
            out = bytes(self.inbox[:n])
            del self.inbox[:n]
            return out

    def on_okay(self) -> None:
        with self.cv:
            self.acked = True
            self.cv.notify_all()

    def on_close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify_all()

    # us -> host
    def send(self, data: bytes) -> None:
        for off in range(0, len(data), self.conn.max_payload):
            with self.cv:
                while not self.acked:
                    if self.closed:
                        raise _Closed
                    self.cv.wait(1.0)
                if self.closed:
                    raise _Closed
                self.acked = False
            self.conn.send(message(A_WRTE, self.local, self.remote, data[off:off + self.conn.max_payload]))

    def close(self) -> None:
        with self.cv:
            if self.closed:
                return
            self.closed = True
            self.cv.notify_all()
        self.conn.send(message(A_CLSE, self.local, self.remote))
        self.conn.drop(self.local)


class _Connection:
    def __init__(self, adbd: "FakeAdbd", sock: socket.socket):
        self.adbd, self.sock = adbd, sock
        self.lock = threading.Lock()
        self.streams: dict[int, _Stream] = {}
        self.next_id = 1
        self.max_payload = 4096

    def send(self, data: bytes) -> None:
        with self.lock:
            self.sock.sendall(data)

    def drop(self, local: int) -> None:
        self.streams.pop(local, None)

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise _Closed
            buf += chunk
        return bytes(buf)

    def serve(self) -> None:
        try:
            while True:
                cmd, arg0, arg1, length, check, magic = HEADER.unpack(self._recv_exact(HEADER.size))
                if magic != cmd ^ 0xFFFFFFFF or length > MAX_PAYLOAD:
                    return   # protocol.txt: an invalid header closes the connection
                payload = self._recv_exact(length) if length else b""
                self._dispatch(cmd, arg0, arg1, payload)
        except (_Closed, OSError):
            pass
        finally:
            for s in list(self.streams.values()):
                s.on_close()
            try:
                self.sock.close()
            except OSError:
                pass

    def _dispatch(self, cmd: int, arg0: int, arg1: int, payload: bytes) -> None:
        if cmd == A_CNXN:
            self.max_payload = max(256, min(arg1, MAX_PAYLOAD))
            self.send(message(A_CNXN, VERSION, MAX_PAYLOAD, self.adbd.banner.encode()))
        elif cmd == A_OPEN:
            service = payload.rstrip(b"\0").decode("utf-8", "replace")
            self.adbd.services.append(service)
            worker = self.adbd.worker_for(service)
            if worker is None:
                self.send(message(A_CLSE, 0, arg0))
                return
            local = self.next_id
            self.next_id += 1
            s = _Stream(self, local, arg0)
            self.streams[local] = s
            self.send(message(A_OKAY, local, arg0))
            threading.Thread(target=self._run, args=(worker, s), daemon=True).start()
        elif cmd == A_OKAY:
            s = self.streams.get(arg1)
            if s:
                s.on_okay()
        elif cmd == A_WRTE:
            s = self.streams.get(arg1)
            if s:
                s.feed(payload)
                self.send(message(A_OKAY, s.local, s.remote))
        elif cmd == A_CLSE:
            s = self.streams.pop(arg1, None)
            if s:
                s.on_close()
        # AUTH and anything else: ignored (we never asked for authentication)

    @staticmethod
    def _run(worker, s: _Stream) -> None:
        try:
            worker(s)
        except (_Closed, OSError):
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass


def _shell(command: str):
    def run(s: _Stream) -> None:
        p = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while True:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                s.send(chunk)
            p.wait()
        finally:
            if p.poll() is None:   # the host closed the stream (a timeout): end the command
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
            p.stdout.close()
    return run


def _u32(b: bytes) -> int:
    return struct.unpack("<I", b)[0]


def _sync(s: _Stream) -> None:
    def reply(id_: bytes, *words: int, data: bytes = b"") -> None:
        s.send(id_ + b"".join(struct.pack("<I", w) for w in words) + data)

    def fail(msg: str) -> None:
        m = msg.encode()
        reply(b"FAIL", len(m), data=m)

    while True:
        try:
            req = s.read(8)
        except _Closed:
            return
        id_, n = req[:4], _u32(req[4:])
        arg = s.read(n) if n else b""
        if id_ == b"QUIT":
            return
        path = arg.decode("utf-8", "replace")
        if id_ == b"STAT":
            try:
                st = os.stat(path)
                reply(b"STAT", st.st_mode & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF, int(st.st_mtime))
            except OSError:
                reply(b"STAT", 0, 0, 0)
        elif id_ == b"LIST":
            try:
                names = sorted(os.listdir(path))
            except OSError:
                names = []
            for name in names:
                try:
                    st = os.lstat(os.path.join(path, name))
                except OSError:
                    continue
                nb = name.encode()
                reply(b"DENT", st.st_mode & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(nb), data=nb)
            reply(b"DONE", 0, 0, 0, 0)
        elif id_ == b"SEND":
            dest, _, mode = path.rpartition(",")
            data = bytearray()
            while True:
                h = s.read(8)
                if h[:4] == b"DATA":
                    data += s.read(_u32(h[4:]))
                elif h[:4] == b"DONE":
                    mtime = _u32(h[4:])
                    break
                else:
                    fail(f"unexpected {h[:4]!r} in SEND")
                    return
            try:
                Path(dest).parent.mkdir(parents=True, exist_ok=True)   # adbd makes missing directories
                Path(dest).write_bytes(bytes(data))
                os.chmod(dest, int(mode or "420") & 0o7777)   # decimal st_mode, as the host sends it
                os.utime(dest, (mtime, mtime))
                reply(b"OKAY", 0)
            except (OSError, ValueError) as e:
                fail(f"cannot write {dest}: {e}")
        elif id_ == b"RECV":
            try:
                data = Path(path).read_bytes()
            except OSError as e:
                fail(f"cannot read {path}: {e.strerror}")
                continue
            for off in range(0, len(data), SYNC_DATA_MAX):
                chunk = data[off:off + SYNC_DATA_MAX]
                reply(b"DATA", len(chunk), data=chunk)
            reply(b"DONE", 0)
        else:
            fail(f"unknown sync request {id_!r}")
            return


class FakeAdbd:
    """Listens on 127.0.0.1:port (0: a free one); one thread per host connection."""

    def __init__(self, port: int = 0, model: str = "fake_adbd"):
        self.banner = f"device::ro.product.name={model};ro.product.model={model};ro.product.device={model};features="
        self.services: list[str] = []
        self._srv = socket.socket()
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", port))
        self._srv.listen(4)
        self.port = self._srv.getsockname()[1]
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def worker_for(self, service: str):
        for prefix in ("shell:", "exec:"):
            if service.startswith(prefix) and service[len(prefix):].strip():
                return _shell(service[len(prefix):])
        if service == "sync:":
            return _sync
        return None   # interactive shell, reboot:, tcpip:, ...: not offered

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._srv.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conns.append(sock)
            threading.Thread(target=_Connection(self, sock).serve, daemon=True).start()

    def close(self) -> None:
        """Stop listening and drop every host connection (the phone is unplugged)."""
        self._stop.set()
        for sock in [self._srv, *self._conns]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass
