"""Faults: garbage and dropped bytes on the serial link, a board that resets mid-run, a hung
board, sshd killed mid-run, a full report disk. The harness retries within limits, marks
infrastructure errors, keeps what it measured before the fault, and never hangs. The boards here
are the FAKE MLPerf Tiny DUT (edge_sdk/hil/fakes/fake_dut.py); sshd is the real OpenSSH server."""
import errno
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from edge_sdk.hil.errors import ReportWriteError
from edge_sdk.hil.fakes.fake_dut import FakeDut
from edge_sdk.hil.lab import load_lab
from edge_sdk.hil.runner import RunOptions, run_lab
from hil_helpers import fake_serial, local_host, tiny_artifacts, write_lab

FAST = RunOptions(windows=3, min_window_s=0.001, warmup=1, cooldown_s=0)


@pytest.fixture(scope="module")
def arts(tmp_path_factory):
    return tiny_artifacts(tmp_path_factory.mktemp("hil_arts"))


def _run(tmp_path, lab_text, models, **kw):
    lab = load_lab(write_lab(tmp_path / "lab.toml", *lab_text))
    t0 = time.monotonic()
    rep = run_lab(lab, models, tmp_path / "out", opts=FAST, **kw)
    return rep, time.monotonic() - t0


def _windows(out: Path):
    return [json.loads(ln) for ln in (out / "results.jsonl").read_text().splitlines()
            if json.loads(ln)["type"] == "window"]


def test_serial_garbage_and_dropped_bytes_are_survived(tmp_path, arts):
    with FakeDut(str(arts[0]), garbage=True, drop_every=11) as fd:
        rep, dt = _run(tmp_path, [fake_serial(fd.url)], [arts[0]])
    r = rep["results"][0]
    assert r["status"] == "pass", r["error"]
    assert len(r["latency_ms"]["windows"]) == 3
    assert r["latency_ms"]["median"] == pytest.approx(1.5, rel=0.05)   # device clock: 1500 us/inference
    assert r["fidelity"]["max_rel_err"] == 0.0 and dt < 60


def test_board_reset_mid_run_reloads_input_and_retries(tmp_path, arts):
    with FakeDut(str(arts[0]), reset_after=2) as fd:
        rep, _ = _run(tmp_path, [fake_serial(fd.url)], [arts[0]])
        assert fd.infers > 4
    r = rep["results"][0]
    assert r["status"] == "pass", r["error"]
    assert sum(w["raw"]["retries"] for w in r["windows"]) == 1   # the window hit by the reset was retried


def test_hung_board_is_infrastructure_others_go_on(tmp_path, arts):
    with FakeDut(str(arts[0]), hang_after=2) as fd:
        rep, dt = _run(tmp_path, [fake_serial(fd.url, extra="retries = 2"), local_host()], list(arts))
    by = {(r["device"], r["model"]): r for r in rep["results"]}
    hung = by[("fake-m4", "tiny_dense.esm")]
    assert hung["status"] == "infra" and hung["error"]["type"] in ("DutTimeout", "TransportTimeout")
    assert by[("fake-m4", "tiny_sparse.esm")]["status"] == "offline"
    assert by[("host-local", "tiny_dense.esm")]["status"] == "pass"
    # the window measured before the hang is on disk and in the report
    assert [w["window"] for w in _windows(tmp_path / "out") if w["device"] == "fake-m4"] == [0]
    assert len(hung["windows"]) == 1
    assert dt < 60
    assert rep["counts"]["infra"] == 1 and rep["counts"]["offline"] == 1


def test_offline_device_at_health_check(tmp_path, arts):
    rep, dt = _run(tmp_path, [fake_serial("socket://127.0.0.1:9", extra="retries = 1"), local_host()], [arts[0]])
    st = {r["device"]: r["status"] for r in rep["results"]}
    assert st == {"fake-m4": "offline", "host-local": "pass"} and dt < 30


@pytest.mark.skipif(not shutil.which("sshd") and not Path("/usr/sbin/sshd").exists(), reason="openssh-server not installed")
def test_sshd_killed_mid_run(tmp_path, arts):
    from edge_sdk.hil.devices import connect as real_connect

    state = {}

    def connect(dev):
        d = real_connect(dev)
        infer = d.infer

        def infer_then_kill(n, warmup, expected_s=0.0):
            state["calls"] = state.get("calls", 0) + 1
            if state["calls"] == 3:          # probe, window 0, then sshd dies before window 1
                d.sshd.kill()
            return infer(n, warmup, expected_s)

        d.infer = infer_then_kill
        return d

    lab = local_host("pi-ssh", 'emulate = true\ntimeout_s = 5\ninfer_timeout_s = 20\nretries = 2').replace(
        'transport = "local"', 'transport = "ssh"')
    rep, dt = _run(tmp_path, [lab], [arts[0]], connect=connect)
    r = rep["results"][0]
    assert r["status"] == "infra", r
    assert r["error"]["type"] in ("ConnectionLost", "DeviceOffline")
    assert len(r["windows"]) == 1 and dt < 60


def _mount_tiny_tmpfs(path: Path) -> bool:
    path.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(path)], capture_output=True)
    return p.returncode == 0


def test_full_disk_for_report_dir(tmp_path, arts, monkeypatch):
    """A 12 KiB tmpfs when mount works (root); else the ResultStore.opener ENOSPC hook."""
    out = tmp_path / "tiny"
    mounted = _mount_tiny_tmpfs(out)
    if not mounted:
        from edge_sdk.hil.report import store

        count = {"n": 0}

        def opener(path, mode):
            count["n"] += 1
            if count["n"] > 4:
                raise OSError(errno.ENOSPC, "No space left on device")
            return open(path, mode)

        monkeypatch.setattr(store.ResultStore, "opener", staticmethod(opener))
    try:
        lab = load_lab(write_lab(tmp_path / "lab.toml", local_host()))
        with pytest.raises(ReportWriteError, match="No space left|cannot write reports"):
            run_lab(lab, list(arts) * 40, out, opts=RunOptions(windows=5, min_window_s=0.001, warmup=1, cooldown_s=0))
        kept = [json.loads(ln) for ln in (out / "results.jsonl").read_text().splitlines() if ln.strip().endswith("}")]
        assert kept and kept[0]["type"] == "window"    # what was measured before the disk filled is there
    finally:
        if mounted:
            subprocess.run(["umount", str(out)])
