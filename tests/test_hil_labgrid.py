"""Scale-out through labgrid (slow): a real labgrid-coordinator and labgrid-exporter on 127.0.0.1
export the UART of an emulated Cortex-M4 board (qemu-system-arm, serial on TCP, the real bench
firmware); a place is created, acquired, one measurement runs through it, the place is released."""
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from hil_helpers import tiny_artifacts, write_lab

pytestmark = pytest.mark.slow


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_labgrid_coordinator_exporter_place_measure_release(tmp_path):
    pytest.importorskip("labgrid")
    for tool in ("labgrid-coordinator", "labgrid-exporter", "labgrid-client", "qemu-system-arm", "arm-none-eabi-gcc"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} missing")
    from edge_sdk.build import mcu
    from edge_sdk.build.mcu_qemu import QemuBoard
    from edge_sdk.compile.target import load_target
    from edge_sdk.hil.labgrid_lab import LabgridPlace, reserved
    from edge_sdk.hil.lab import load_lab
    from edge_sdk.hil.runner import RunOptions, run_lab

    dense, _ = tiny_artifacts(tmp_path)
    t = load_target("cortex-m4")
    elf = mcu.build_firmware(t, Path(__file__).resolve().parents[1] / "build" / "cortex-m4")
    uart = _port()
    qb = QemuBoard(t.raw["emulation"]["machine"], elf, dense, int(t.raw["memory"]["model_slot"]))
    qemu_cmd = [a.replace("wait=on", "wait=off") for a in qb.command_line(uart)]
    coord = f"127.0.0.1:{_port()}"
    (tmp_path / "exporter.yaml").write_text(
        f"emu-m4:\n  NetworkSerialPort:\n    host: 127.0.0.1\n    port: {uart}\n    protocol: raw\n    speed: 115200\n")
    env = dict(os.environ, LG_COORDINATOR=coord)
    procs = []
    try:
        procs.append(subprocess.Popen(qemu_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # the coordinator keeps places.yaml and resources.yaml in its working directory
        procs.append(subprocess.Popen(["labgrid-coordinator", "-l", coord], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, cwd=tmp_path))
        time.sleep(1.0)
        procs.append(subprocess.Popen(["labgrid-exporter", "-c", coord, "-n", "exp1", "--hostname", "127.0.0.1",
                                       str(tmp_path / "exporter.yaml")], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))

        def exported():
            p = subprocess.run(["labgrid-client", "resources"], capture_output=True, text=True, env=env, timeout=20)
            return "exp1/emu-m4/NetworkSerialPort" in p.stdout

        _wait(exported, 60, "the exporter's resource at the coordinator")
        place = LabgridPlace(coord, "emu-m4-place")
        place.create("exp1/emu-m4/NetworkSerialPort")
        with reserved(coord, "emu-m4-place") as lp:
            assert "acquired: " in lp._client("show")
            url = lp.serial_url()
            assert url == f"socket://127.0.0.1:{uart}"
            lab = load_lab(write_lab(tmp_path / "lab.toml", f'[[device]]\nname = "m4-via-labgrid"\ntarget = "cortex-m4"\n'
                                     f'transport = "serial"\nport = "{url}"\nlabgrid_place = "emu-m4-place"\n'
                                     f'infer_timeout_s = 60\n'))
            rep = run_lab(lab, [dense], tmp_path / "out",
                          opts=RunOptions(windows=2, min_window_s=0.01, warmup=1, cooldown_s=0))
        r = rep["results"][0]
        assert r["status"] == "pass", r["error"]
        assert r["fidelity"]["max_rel_err"] < 1e-5 and r["latency_ms"]["median"] > 0
        shown = place._client("show")
        assert "acquired: None" in shown or "acquired:" not in shown, shown
        _wait(lambda: (tmp_path / "places.yaml").is_file(), 30, "the coordinator's places.yaml in its own directory")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
