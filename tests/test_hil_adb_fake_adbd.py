"""adb without a phone: the device is a FAKE adbd (edge_sdk/hil/fakes/fake_adbd.py, the adb
device protocol over TCP), everything above it is real: Debian's adb server (`adb connect`),
the adb client, adbutils and our adb transport. The fake's shell runs commands on this machine;
the android-arm64 bench program runs under qemu-aarch64 (the emulated lab's prefix, as for the
ssh "Pi"). Outputs are checked against the host run of the same artifact."""
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hil_helpers import tiny_artifacts, write_lab

ROOT = Path(__file__).resolve().parents[1]

needs_adb = pytest.mark.skipif(shutil.which("adb") is None, reason="adb not installed (apt-get install adb)")


@pytest.fixture
def phone():
    from edge_sdk.hil.emulate import AdbPhone

    p = AdbPhone().start()
    yield p
    p.stop()


@needs_adb
def test_fake_adbd_real_adb_server_and_client_shell_push_pull(phone, tmp_path):
    """The real adb client as the protocol oracle: shell output, push and pull of a file larger
    than one message payload and one sync DATA chunk."""
    adb = ["adb", "-P", str(phone.server_port), "-s", phone.serial]
    devices = subprocess.run(["adb", "-P", str(phone.server_port), "devices"], capture_output=True, text=True,
                             timeout=30).stdout
    assert f"{phone.serial}\tdevice" in devices
    r = subprocess.run(adb + ["shell", "echo one; echo two >&2; printf 'a b'"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and r.stdout == "one\ntwo\na b", r
    blob = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    (tmp_path / "blob.bin").write_bytes(blob)
    dev_path = tmp_path / "sdcard" / "new_dir" / "blob.bin"
    assert subprocess.run(adb + ["push", str(tmp_path / "blob.bin"), str(dev_path)], capture_output=True,
                          timeout=30).returncode == 0
    assert dev_path.read_bytes() == blob
    assert subprocess.run(adb + ["pull", str(dev_path), str(tmp_path / "back.bin")], capture_output=True,
                          timeout=30).returncode == 0
    assert (tmp_path / "back.bin").read_bytes() == blob
    assert "sync:" in phone.fake.services and any(s.startswith("shell:") for s in phone.fake.services)


@needs_adb
def test_fake_adbd_our_adb_transport_rc_files_errors_and_timeout(phone, tmp_path):
    from edge_sdk.hil.errors import ConnectionLost, DeviceOffline, TransportTimeout
    from edge_sdk.hil.transports.adb import AdbTransport

    t = AdbTransport(phone.serial, timeout_s=5, server=("127.0.0.1", phone.server_port))
    t.connect()
    r = t.run(["sh", "-c", "echo out; echo err >&2; exit 3"], 10)
    assert r.rc == 3 and "out" in r.stdout and "err" in r.stdout     # legacy shell: one merged stream
    blob = np.random.default_rng(1).integers(0, 256, 200_001, dtype=np.uint8).tobytes()
    (tmp_path / "a.bin").write_bytes(blob)
    (tmp_path / "a.bin").chmod(0o750)
    t.put(tmp_path / "a.bin", str(tmp_path / "dev" / "a.bin"))
    assert (tmp_path / "dev" / "a.bin").read_bytes() == blob
    assert (tmp_path / "dev" / "a.bin").stat().st_mode & 0o777 == 0o750
    t.get(str(tmp_path / "dev" / "a.bin"), tmp_path / "b.bin")
    assert (tmp_path / "b.bin").read_bytes() == blob
    with pytest.raises(ConnectionLost, match="No such file"):
        t.get(str(tmp_path / "dev" / "missing.bin"), tmp_path / "c.bin")
    with pytest.raises(TransportTimeout):
        t.run(["sleep", "30"], 1.0)
    assert t.run(["echo", "still alive"], 10).stdout.strip() == "still alive"
    phone.fake.close()   # unplugged
    with pytest.raises((DeviceOffline, ConnectionLost)):
        AdbTransport(phone.serial, timeout_s=2, server=("127.0.0.1", phone.server_port)).run(["true"], 5)


def _lab(tmp_path: Path) -> Path:
    return write_lab(tmp_path / "phone.toml",
                     '[[device]]\nname = "phone-fake-adbd"\ntarget = "android-arm64"\ntransport = "adb"\n'
                     f'flash = "adb"\nemulate = true\npower = "model"\nworkdir = "{tmp_path / "data-local-tmp"}"\n'
                     'timeout_s = 10\ninfer_timeout_s = 120\ncooldown_s = 0\n')


@needs_adb
@pytest.mark.slow
def test_fake_adbd_phone_edge_sdk_flash_and_hil_run_match_host(tmp_path, monkeypatch):
    for tool in ("qemu-aarch64", "aarch64-linux-gnu-gcc", "cmake"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} missing")
    from edge_sdk.cli.main import main
    from edge_sdk.hil import emulate

    dense, sparse = tiny_artifacts(tmp_path)
    lab = _lab(tmp_path)
    # edge-sdk flash, as a user runs it: the artifact and the bench program arrive on the "phone"
    p = subprocess.run([sys.executable, "-m", "edge_sdk.cli.main", "flash", str(dense), "--lab", str(lab),
                        "--device", "phone-fake-adbd"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr[-800:]
    info = json.loads(p.stdout.strip().splitlines()[-1])
    assert info["how"] == "adb" and Path(info["to"]).read_bytes() == dense.read_bytes()
    assert (tmp_path / "data-local-tmp" / "esdk_run").read_bytes()[:4] == b"\x7fELF"

    phones = []
    real_start = emulate.AdbPhone.start

    def spy(self, *a, **kw):
        phones.append(self)
        return real_start(self, *a, **kw)

    monkeypatch.setattr(emulate.AdbPhone, "start", spy)
    rc = main(["hil", "run", "--lab", str(lab), "--model", str(dense), "--model", str(sparse), "--windows", "2",
               "--min-window-s", "0.05", "--warmup", "1", "--out", str(tmp_path / "out")])
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rc == 0, [(r["model"], r["status"], r["error"]) for r in rep["results"]]
    assert [r["model"] for r in rep["results"]] == ["tiny_dense.esm", "tiny_sparse.esm"]
    for r in rep["results"]:
        assert r["status"] == "pass" and r["transport"] == "adb"
        assert r["fidelity"]["max_rel_err"] < 1e-5          # against the host Session run
        assert len(r["latency_ms"]["windows"]) == 2 and r["latency_ms"]["median"] > 0
        assert r["energy_uj"]["kind"] == "estimated"
    # everything went through the adb server to the fake adbd: pushes by sync, runs by shell
    assert len(phones) == 1
    shells = [s for s in phones[0].services if s.startswith("shell:")]
    assert "sync:" in phones[0].services
    assert any("qemu-aarch64" in s and "esdk_run" in s and "tiny_sparse.esm" in s for s in shells)
    assert _port_closed(phones[0].server_port)   # the private adb server is gone with the run


def test_emulated_adb_device_without_adb_installed_is_one_line(tmp_path, monkeypatch, capsys):
    from edge_sdk.cli.main import main

    if not shutil.which("qemu-aarch64"):
        pytest.skip("qemu-aarch64 missing (the emulated phone's bench program runs under it)")
    dense, _ = tiny_artifacts(tmp_path)
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "adb" else real_which(name, *a, **k))
    rc = main(["flash", str(dense), "--lab", str(_lab(tmp_path)), "--device", "phone-fake-adbd"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and err == ["error: emulated adb devices need the adb client and server (apt-get install adb)"]


def _port_closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except OSError:
        return True
