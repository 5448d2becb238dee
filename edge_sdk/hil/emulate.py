"""Emulated boards for `emulate = true` devices.

MCU targets: the target's qemu-system-arm board (edge_sdk/build/mcu_qemu.py via
edge_sdk.build.mcu.board) with the bench firmware, the model in its flash slot and UART0 on a
loopback TCP socket; -icount shift=N makes every instruction 2^N ns of virtual time, so the
device's m-lap-us windows convert to guest instructions (the energy model's input).

aarch64 Linux targets: the bench program runs under qemu-aarch64 (-cpu from the descriptor).
transport = local runs it directly; transport = ssh starts a real sshd on 127.0.0.1 (generated
host key, a generated client key authorized for the current user) and runs it through ssh,
so the ssh transport, sftp deploy and link faults are exercised for real. transport = adb
starts a FAKE adbd (fakes/fake_adbd.py: the adb device protocol over TCP; there is no Android
device or emulator here), a private real adb server on its own port and `adb connect`s them,
so adbutils, the adb server and our adb transport run for real up to the device's end.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .errors import EmulatorError
from .lab import Device


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class McuBoard:
    """Restarted with each model (the model is 'flashed' by qemu's loader into the slot)."""

    def __init__(self, dev: Device):
        from ..compile.target import load_target

        self.dev = dev
        self.target = load_target(dev.target)
        m = re.search(r"-icount\s+shift=(\d+)", self.target.raw.get("emulator", ""))
        self.insns_per_us = 1000.0 / (1 << int(m.group(1))) if m else None
        self._qb = None
        self.client = None

    def start(self, artifact: Path) -> None:
        from ..build import mcu
        from ..errors import EdgeSdkError

        self.stop()
        try:
            self._qb = mcu.board(self.target, Path(artifact))
            self._qb.timeout_s = self.dev.timeout_s
            self._qb.infer_timeout_s = self.dev.infer_timeout_s
            self.client = self._qb.__enter__()
        except EdgeSdkError as e:
            self._qb = None
            raise EmulatorError(f"emulated {self.target.name} board did not start: {str(e).splitlines()[0]}") from None

    def stop(self) -> None:
        if self._qb is not None:
            self._qb.close()
        self._qb, self.client = None, None


class Sshd:
    """A real OpenSSH server on 127.0.0.1:port for the current user, key auth only."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="esdk-sshd-"))
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.proc = None
        self.client_key = self.dir / "client_key"

    def start(self, timeout_s: float = 10.0) -> "Sshd":
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not Path(sshd).exists() or not shutil.which("ssh-keygen"):
            raise EmulatorError("emulated ssh devices need openssh-server and openssh-client (apt-get install)")
        for name in ("host_key", "client_key"):
            if not (self.dir / name).exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / name)],
                               check=True, timeout=30)
        auth = self.dir / "authorized_keys"
        auth.write_text((self.dir / "client_key.pub").read_text())
        os.chmod(self.dir, 0o700)
        os.chmod(auth, 0o600)
        cfg = self.dir / "sshd_config"
        cfg.write_text(f"""ListenAddress 127.0.0.1
Port {self.port}
HostKey {self.dir / 'host_key'}
AuthorizedKeysFile {auth}
PidFile {self.dir / 'sshd.pid'}
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
LogLevel ERROR
""")
        os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
        self.proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(cfg), "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EmulatorError(f"sshd exited at start: {self.proc.stderr.read().decode(errors='replace')[-300:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise EmulatorError(f"sshd did not listen on 127.0.0.1:{self.port} within {timeout_s:g} s")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None

    def kill(self) -> None:
        """Fault injection: the server and every session it forked die at once."""
        if self.proc is not None:
            try:
                import psutil

                for child in psutil.Process(self.proc.pid).children(recursive=True):
                    child.kill()
            except Exception:
                pass
            self.stop()


class AdbPhone:
    """A FAKE adbd on 127.0.0.1 behind a private adb server (started and killed with the device,
    so an adb server on the usual 5037 is left alone)."""

    def __init__(self):
        self.fake = None
        self.server_port: int | None = None
        self.server_up = False
        self.services: list[str] = []   # what the host opened on the fake (kept after stop)
        self.adb = shutil.which("adb")

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.fake.port}"

    def _adb(self, *args: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([self.adb, "-P", str(self.server_port), *args], capture_output=True, text=True,
                                  timeout=timeout_s, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise EmulatorError(f"adb {' '.join(args)} ran past {timeout_s:g} s") from None

    def start(self, timeout_s: float = 20.0) -> "AdbPhone":
        from .fakes.fake_adbd import FakeAdbd

        if not self.adb:
            raise EmulatorError("emulated adb devices need the adb client and server (apt-get install adb)")
        self.fake = FakeAdbd()
        self.server_port = free_port()
        self.server_up = True
        try:
            r = self._adb("start-server")
            if r.returncode != 0:
                raise EmulatorError(f"adb start-server failed: {(r.stderr or r.stdout).strip()[-200:]}")
            r = self._adb("connect", self.serial)
            if "connected to" not in r.stdout:
                raise EmulatorError(f"adb connect {self.serial}: {(r.stdout + r.stderr).strip()[-200:]}")
            deadline = time.monotonic() + timeout_s
            while self._adb("-s", self.serial, "get-state").stdout.strip() != "device":
                if time.monotonic() > deadline:
                    raise EmulatorError(f"adb device {self.serial} did not come online within {timeout_s:g} s")
                time.sleep(0.2)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.server_up:
            try:
                self._adb("kill-server", timeout_s=10)
            except EmulatorError:
                pass
            self.server_up = False
        if self.fake is not None:
            self.services = list(self.fake.services)
            self.fake.close()
            self.fake = None


def qemu_prefix(dev: Device) -> list[str]:
    from ..compile.target import load_target

    emu = load_target(dev.target).raw.get("emulation", {})
    qemu = emu.get("qemu", "qemu-aarch64")
    if not shutil.which(qemu):
        raise EmulatorError(f"{qemu} is not installed (apt-get install qemu-user)")
    return [qemu, "-cpu", emu.get("cpu", "max")]


def emulated_linux(dev: Device):
    from .devices import LinuxDevice
    from .transports.ssh import SshTransport

    prefix = qemu_prefix(dev) if dev.target_kind == "linux" else []
    if dev.transport == "local":
        return LinuxDevice(dev, prefix=prefix)
    if dev.transport == "adb":
        from .transports.adb import AdbTransport

        phone = AdbPhone().start()
        t = AdbTransport(phone.serial, timeout_s=dev.timeout_s, server=("127.0.0.1", phone.server_port))
        d = LinuxDevice(dev, transport=t, prefix=prefix, on_close=phone.stop)
        d.phone = phone
        return d
    if dev.transport != "ssh":
        raise EmulatorError(f"device '{dev.name}': emulate = true supports transport local, ssh or adb, "
                            f"not {dev.transport}")
    sshd = Sshd(dev.port if isinstance(dev.port, int) else None).start()
    t = SshTransport("127.0.0.1", sshd.port, sshd.user, key_file=str(sshd.client_key), timeout_s=dev.timeout_s,
                     retries=dev.retries)
    d = LinuxDevice(dev, transport=t, prefix=prefix, on_close=sshd.stop)
    d.sshd = sshd
    return d
