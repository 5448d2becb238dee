"""The training firmware on the emulated cortex-m7 (qemu mps2-an500), driven over its UART.

Persistence: the two weight slots live in the board's PSRAM window (0x60000000); qemu backs
that memory with a file (`-object memory-backend-file,share=on` as the machine's RAM), so
every byte the firmware writes there is in the file at once and survives the emulator being
killed at any instant, exactly like flash survives a power cut. (qemu's flash on mps2 is
plain RAM; snapshotting through the serial port would only persist what a save completed,
which cannot show what a cut mid-save leaves behind.)
"""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import numpy as np

from .errors import FinetuneError

ROOT = Path(__file__).resolve().parents[2]
FW_DIR = ROOT / "hil" / "firmware-train"
BUILD = ROOT / "build" / "firmware-train"
ELF = BUILD / "firmware-train.elf"
MODEL_SLOT = 0x20000
FLASH_FILE_BYTES = 16 * 1024 * 1024  # the PSRAM window's size; the slots use its first 128 KB


def build_firmware() -> Path:
    import shutil

    for tool in ("cmake", "arm-none-eabi-gcc"):
        if not shutil.which(tool):
            raise FinetuneError(f"{tool} not found: the cortex-m7 training firmware cannot be built")
    if not (BUILD / "build.ninja").exists() and not (BUILD / "Makefile").exists():
        gen = ["-G", "Ninja"] if shutil.which("ninja") else []
        _run(["cmake", "-S", str(FW_DIR), "-B", str(BUILD), *gen, f"-DCMAKE_TOOLCHAIN_FILE={ROOT}/targets/cortex-m7.cmake",
              "-DCMAKE_BUILD_TYPE=Release"])
    _run(["cmake", "--build", str(BUILD)])
    return ELF


def _run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise FinetuneError(f"{' '.join(cmd[:2])} failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")


class Board:
    def __init__(self, plan_path: Path, flash_file: Path, elf: Path = ELF, timeout_s: float = 60.0):
        self.plan_path, self.flash_file, self.elf, self.timeout = Path(plan_path), Path(flash_file), elf, timeout_s
        self.proc = None
        self.sock = None
        self.buf = b""
        self.boot_lines: list[str] = []

    def __enter__(self) -> "Board":
        if not self.flash_file.exists():
            self.flash_file.write_bytes(b"\xff" * 0)
            with open(self.flash_file, "wb") as f:
                f.truncate(FLASH_FILE_BYTES)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        cmd = ["qemu-system-arm", "-M", "mps2-an500,memory-backend=flash", "-display", "none", "-monitor", "none",
               "-nodefaults", "-icount", "shift=0", "-kernel", str(self.elf),
               "-object", f"memory-backend-file,id=flash,size={FLASH_FILE_BYTES},mem-path={self.flash_file},share=on",
               "-device", f"loader,file={self.plan_path},addr={MODEL_SLOT:#x}",
               "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t0 = time.time()
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                if self.proc.poll() is not None or time.time() - t0 > 10:
                    err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.poll() is not None else ""
                    self.close()
                    raise FinetuneError(f"qemu did not start: {err[:200]}")
                time.sleep(0.05)
        self.boot_lines = self.until_ready()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Kill the emulator: as abrupt as pulling the power."""
        if self.sock:
            self.sock.close()
            self.sock = None
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def until_ready(self, timeout: float | None = None) -> list[str]:
        lines, end = [], time.time() + (timeout or self.timeout)
        while True:
            while b"\r\n" in self.buf:
                ln, self.buf = self.buf.split(b"\r\n", 1)
                s = ln.decode(errors="replace")
                if s == "m-ready":
                    return lines
                lines.append(s)
            if time.time() > end:
                raise FinetuneError(f"board timed out; last lines {lines[-3:]}")
            self.sock.settimeout(max(0.01, end - time.time()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise FinetuneError("board closed the serial port")
            self.buf += chunk

    def cmd(self, text: str, timeout: float | None = None) -> list[str]:
        if len(text) > 80:
            raise FinetuneError("command longer than the 80-character buffer")
        self.sock.sendall(text.encode() + b"%")
        lines = self.until_ready(timeout)
        errs = [l for l in lines if l.startswith("e-")]
        if errs:
            raise FinetuneError(f"board: {errs[0]}")
        return lines

    def send_cmd_nowait(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"%")

    @staticmethod
    def value(lines: list[str], prefix: str) -> str:
        for l in lines:
            if l.startswith(prefix):
                return l[len(prefix):]
        raise FinetuneError(f"board reply lacks {prefix}: {lines}")

    def load(self, x: np.ndarray) -> None:
        raw = np.ascontiguousarray(x, np.float32).tobytes()
        self.cmd(f"db load {len(raw)}")
        for i in range(0, len(raw), 31):  # 31 bytes per line, as the MLPerf Tiny host sends
            self.cmd("db " + raw[i:i + 31].hex())

    def train(self, x, y) -> dict:
        self.load(x)
        r = self.cmd(f"train {int(y)}", timeout=600)
        return {"loss": float(self.value(r, "m-loss-")), "us": int(self.value(r, "m-step-us-")),
                "steps": int(self.value(r, "m-steps-"))}

    def predict(self, x) -> int:
        self.load(x)
        return int(self.value(self.cmd("infer", timeout=600), "m-pred-"))

    def forward_us(self, x) -> int:
        """The forward alone (esdk_train_forward, what a step runs first), timed on the device."""
        self.load(x)
        return int(self.value(self.cmd("infer", timeout=600), "m-infer-us-"))

    def params(self) -> bytes:
        r = self.cmd("params dump")
        return bytes.fromhex("".join(l[4:] for l in r if l.startswith("m-p-")))

    def mem(self) -> dict:
        r = self.cmd("mem")
        return {k: int(self.value(r, f"m-mem-{k}-")) for k in ("static", "arena", "stack-hwm", "stack-size", "peak")}

    def save(self) -> int:
        return int(self.value(self.cmd("save"), "m-saved-seq-"))
