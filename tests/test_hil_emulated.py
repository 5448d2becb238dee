"""The emulated lab end to end (slow; CI runs it): hil/labs/emulated.toml = a Cortex-M4 and a
Cortex-M55 board in qemu-system-arm with the real bench firmware speaking MLPerf Tiny over
serial-on-TCP, and an aarch64 "Pi 4" behind a real sshd on 127.0.0.1 whose bench program runs
under qemu-aarch64. `edge-sdk hil run` must write all four reports; Chromium renders the HTML."""
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from edge_sdk.cli.main import main
from hil_helpers import tiny_artifacts

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def emulated_run(tmp_path_factory):
    for tool in ("qemu-system-arm", "qemu-aarch64", "arm-none-eabi-gcc", "aarch64-linux-gnu-gcc", "cmake"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} missing")
    if not Path("/usr/sbin/sshd").exists():
        pytest.skip("openssh-server missing")
    d = tmp_path_factory.mktemp("emulated_lab")
    dense, sparse = tiny_artifacts(d)
    rc = main(["hil", "run", "--lab", str(ROOT / "hil" / "labs" / "emulated.toml"), "--model", str(dense),
               "--model", str(sparse), "--windows", "3", "--min-window-s", "0.05", "--warmup", "2",
               "--out", str(d / "out")])
    return d / "out", rc


def test_emulated_lab_all_reports(emulated_run):
    out, rc = emulated_run
    rep = json.loads((out / "report.json").read_text())
    assert rc == 0, [(r["device"], r["model"], r["status"], r["error"]) for r in rep["results"]]
    assert {r["device"] for r in rep["results"]} == {"m4-qemu", "m55-qemu", "pi4-qemu"}
    for r in rep["results"]:
        assert r["status"] == "pass" and len(r["latency_ms"]["windows"]) == 3
        assert r["energy_uj"]["kind"] == "estimated" and "pJ/insn" in r["energy_uj"]["source"]
        assert r["fidelity"]["max_rel_err"] < 1e-4
    mcu = [r for r in rep["results"] if r["device"] != "pi4-qemu"]
    # the device's own clock, and the report says that on an emulator it counts instructions
    assert all(r["latency_ms"]["source"].startswith("device clock (m-lap-us)") for r in mcu)
    assert all("-icount" in r["latency_ms"]["source"] for r in mcu)
    assert len(ET.parse(out / "junit.xml").getroot().findall(".//testcase")) == 3 * 2 * 3
    assert "m55-qemu" in (out / "summary.md").read_text()


def test_report_html_renders_in_headless_chromium(emulated_run, tmp_path):
    out, _ = emulated_run
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("chromium not installed")
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    url = (out / "report.html").resolve().as_uri()
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-500:]
    assert dom.stdout.count("<svg") >= 3 and "m55-qemu" in dom.stdout and "Latency distribution" in dom.stdout
    shot = out / "report.png"
    p = subprocess.run(flags + [f"--screenshot={shot}", "--window-size=1000,1600", url], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0 and shot.stat().st_size > 10_000, p.stderr[-500:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shutil.copy(shot, Path("/tmp/hil_report_screenshot.png"))
