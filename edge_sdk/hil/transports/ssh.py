"""SSH transport (paramiko): exec with a timeout, sftp put/get, one reconnect when the session
died. Host keys are accepted on first use (lab devices are reflashed often); secrets come from
the lab file's ${ENV} values and are never logged."""
from __future__ import annotations

import shlex
import socket
import time
from pathlib import Path

from ..errors import ConnectionLost, DeviceOffline, TransportTimeout
from .base import CommandResult, CommandTransport


class SshTransport(CommandTransport):
    name = "ssh"

    def __init__(self, host: str, port: int = 22, user: str | None = None, key_file: str | None = None,
                 password: str | None = None, passphrase: str | None = None, timeout_s: float = 5.0,
                 retries: int = 3):
        self.host, self.port, self.user = host, int(port), user
        self._key, self._pw, self._pp = key_file, password, passphrase
        self.timeout_s, self.retries = timeout_s, retries
        self.client = None

    def connect(self) -> None:
        import paramiko

        last = None
        for attempt in range(max(1, self.retries)):
            c = paramiko.SSHClient()
            c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                c.connect(self.host, self.port, username=self.user, key_filename=self._key, password=self._pw,
                          passphrase=self._pp, timeout=self.timeout_s, banner_timeout=self.timeout_s,
                          auth_timeout=self.timeout_s, allow_agent=False, look_for_keys=False)
                c.get_transport().set_keepalive(2)
                self.client = c
                return
            except (paramiko.SSHException, OSError, EOFError) as e:
                last = e
                c.close()
                time.sleep(0.3 * (attempt + 1))
        raise DeviceOffline(f"ssh {self.user or ''}@{self.host}:{self.port}: {type(last).__name__}: {last}")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def _alive(self) -> bool:
        t = self.client.get_transport() if self.client else None
        return bool(t and t.is_active())

    def _ensure(self) -> None:
        if not self._alive():
            self.close()
            self.connect()

    def run(self, argv: list[str], timeout_s: float) -> CommandResult:
        import paramiko

        self._ensure()
        cmd = " ".join(shlex.quote(a) for a in argv)
        try:
            chan = self.client.get_transport().open_session(timeout=self.timeout_s)
            chan.settimeout(timeout_s)
            chan.exec_command(cmd)
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout_s
            while True:
                if chan.recv_ready():
                    out += chan.recv(65536)
                elif chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                elif chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                elif chan.closed or not self._alive():
                    raise ConnectionLost(f"ssh session to {self.host}:{self.port} dropped during '{argv[0]}'")
                else:
                    if time.monotonic() > deadline:
                        chan.close()
                        raise TransportTimeout(f"ssh '{argv[0]}' on {self.host} ran past {timeout_s:g} s")
                    time.sleep(0.01)
            rc = chan.recv_exit_status()
            chan.close()
            return CommandResult(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
        except (paramiko.SSHException, EOFError, socket.error) as e:
            if isinstance(e, socket.timeout):
                raise TransportTimeout(f"ssh '{argv[0]}' on {self.host} timed out") from None
            raise ConnectionLost(f"ssh link to {self.host}:{self.port} lost: {e}") from None

    def _sftp(self, fn, *args, what: str):
        import paramiko

        self._ensure()
        try:
            with self.client.open_sftp() as sftp:
                sftp.get_channel().settimeout(max(self.timeout_s, 30.0))
                return fn(sftp, *args)
        except (paramiko.SSHException, EOFError, socket.error) as e:
            raise ConnectionLost(f"sftp {what} on {self.host}: {e}") from None
        except OSError as e:
            raise ConnectionLost(f"sftp {what} on {self.host}: {e}") from None

    def put(self, local: Path, remote: str) -> None:
        self.run(["mkdir", "-p", str(Path(remote).parent)], self.timeout_s)

        def _put(sftp):
            sftp.put(str(local), remote)
            sftp.chmod(remote, Path(local).stat().st_mode & 0o777)
            return sftp.stat(remote).st_size

        size = self._sftp(_put, what=f"put {remote}")
        if size != Path(local).stat().st_size:
            raise ConnectionLost(f"sftp put {remote}: {size} bytes arrived, {Path(local).stat().st_size} sent")

    def get(self, remote: str, local: Path) -> None:
        self._sftp(lambda sftp: sftp.get(remote, str(local)), what=f"get {remote}")
