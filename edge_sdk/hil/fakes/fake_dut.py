"""FAKE MLPerf Tiny device under test, for fault tests: speaks the protocol of hil/firmware/dut.c on a
TCP socket (pyserial URL socket://127.0.0.1:PORT) and runs the artifact with the host Session.

Faults (all off by default): `garbage` (junk lines between replies), `drop_every` (drop one byte of
every Nth reply line), `reset_after` (after that many infer commands the board "reboots": banner
again, input buffer lost), `hang_after` (after that many infer commands it stops answering).
Timestamps come from a virtual microsecond clock advanced by `us_per_inference` per inference, so
tests are fast and deterministic.
"""
from __future__ import annotations

import socket
import threading

import numpy as np


class FakeDut:
    def __init__(self, artifact: str | None = None, us_per_inference: int = 1500, garbage: bool = False,
                 drop_every: int = 0, reset_after: int = 0, hang_after: int = 0, model_id: str = "ic01"):
        self.artifact, self.us = artifact, us_per_inference
        self.garbage, self.drop_every, self.reset_after, self.hang_after = garbage, drop_every, reset_after, hang_after
        self.model_id = model_id
        self.clock_us = 1000
        self.infers = 0
        self.lines_sent = 0
        self.buf = bytearray()
        self.expect = 0
        self.results = None
        self.hung = False
        self._sess = None
        self._srv = socket.socket()
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(4)
        self.port = self._srv.getsockname()[1]
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._serve, daemon=True)
        self._th.start()

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop.set()
        try:
            self._srv.close()
        except OSError:
            pass
        self._th.join(timeout=2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- wire ----
    def _send(self, conn, text: str) -> None:
        data = (text + "\r\n").encode()
        self.lines_sent += 1
        if self.drop_every and self.lines_sent % self.drop_every == 0 and len(data) > 4:
            data = data[:2] + data[3:]
        if self.garbage and self.lines_sent % 3 == 0:
            conn.sendall(b"\x00\xffgarbage~~\r\n")
        conn.sendall(data)

    def _boot(self, conn) -> None:
        self.buf, self.expect, self.results = bytearray(), 0, None
        for ln in ("m-timestamp-mode-performance", "m-init-done", "m-ready"):
            self._send(conn, ln)

    def _serve(self) -> None:
        self._srv.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._srv.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(0.2)
            try:
                self._boot(conn)
                cmd = bytearray()
                while not self._stop.is_set():
                    try:
                        b = conn.recv(4096)
                    except socket.timeout:
                        continue
                    if not b:
                        break
                    for c in b:
                        if c == ord("%"):
                            if not self.hung:
                                self._dispatch(conn, cmd.decode("ascii", "replace"))
                            cmd = bytearray()
                        elif c not in (10, 13):
                            cmd.append(c)
            except OSError:
                pass
            finally:
                conn.close()

    # ---- commands ----
    def _session(self):
        if self._sess is None and self.artifact:
            from ...runtime.session import Session

            self._sess = Session(self.artifact)
        return self._sess

    def _dispatch(self, conn, cmd: str) -> None:
        if len(cmd) > 80:
            self._send(conn, "e-[Command too long: the buffer holds 80 characters]")
            self._send(conn, "m-ready")
            return
        name, _, args = cmd.partition(" ")
        if name == "name":
            self._send(conn, "m-name-dut-[edge-sdk-fake]")
        elif name == "profile":
            self._send(conn, "m-profile-[ULPMark for tinyML Firmware V0.0.1]")
            self._send(conn, f"m-model-[{self.model_id}]")
        elif name == "db":
            self._db(conn, args)
        elif name == "infer":
            if self._infer(conn, args) == "silent":
                return
        elif name == "results":
            self._results(conn)
        elif name == "timestamp":
            self._send(conn, f"m-lap-us-{self.clock_us}")
        else:
            self._send(conn, f"e-[Unknown command: {cmd}]")
        self._send(conn, "m-ready")

    def _db(self, conn, args: str) -> None:
        sub, _, rest = args.partition(" ")
        if sub == "load":
            self.expect, self.buf = int(rest or 0), bytearray()
            self._send(conn, f"m-[Expecting {self.expect} bytes]")
        elif sub == "out":
            if self.results is None:
                self._send(conn, "e-[No results yet: run infer first]")
                return
            raw = self._outputs[int(rest or 0)].tobytes()
            self._send(conn, f"m-out-bytes-{len(raw)}")
            for i in range(0, len(raw), 32):
                self._send(conn, "m-out-" + raw[i:i + 32].hex())
        else:
            if len(args) % 2 or any(c not in "0123456789abcdefABCDEF" for c in args):
                self._send(conn, "e-[Invalid hex digit in db data]")
                return
            self.buf += bytes.fromhex(args)
            if len(self.buf) == self.expect:
                self._send(conn, "m-load-done")

    def _infer(self, conn, args: str):
        parts = args.split()
        n = int(parts[0]) if parts else 1
        w = int(parts[1]) if len(parts) > 1 else 10
        self.infers += 1
        if self.hang_after and self.infers > self.hang_after:
            self.hung = True
            return "silent"
        if self.reset_after and self.infers == self.reset_after + 1:
            self._send(conn, f"m-warmup-start-{w}")
            self._boot(conn)  # watchdog reset in the middle of a window
            return "silent"
        if self.expect == 0 or len(self.buf) != self.expect:
            self._send(conn, "e-[No complete input: db load it first]")
            return None
        self._send(conn, f"m-warmup-start-{w}")
        self.clock_us += w * self.us
        self._send(conn, "m-warmup-done")
        self._send(conn, f"m-infer-start-{n}")
        self._send(conn, f"m-lap-us-{self.clock_us}")
        self._run_model()
        self.clock_us += n * self.us + 37  # pre/post-processing
        self._send(conn, f"m-lap-us-{self.clock_us}")
        self._send(conn, "m-infer-done")
        self._results(conn)
        return None

    def _run_model(self) -> None:
        s = self._session()
        if s is None:
            self._outputs = [np.frombuffer(bytes(self.buf), np.uint8)[:4].astype(np.float32)]
        else:
            info = s.inputs[0]
            x = np.frombuffer(bytes(self.buf), info.dtype).reshape(info.shape)
            out = s.run({info.name: x})
            self._outputs = [out[o.name] for o in s.outputs]
        self.results = True

    def _results(self, conn) -> None:
        if self.results is None:
            self._send(conn, "e-[No results yet: run infer first]")
            return
        o = self._outputs[0]
        s = self._session()
        if s is not None and s.outputs[0].dtype != np.float32:
            q = s.outputs[0]
            o = q.scale * (o.astype(np.float32) - q.zero_point)
        self._send(conn, "m-results-[" + ",".join(f"{v:.3f}" for v in np.ravel(o)) + "]")
