"""A cancelled CI job gives its labgrid place back (slow): a real coordinator and exporter on
127.0.0.1 serve two emulated Cortex-M4 boards; `edge-sdk hil run --coordinator ...` runs as a
subprocess on a device with labgrid_place and gets SIGTERM (a cancelled job) or SIGINT (Ctrl-C)
while it is measuring. It must exit non-zero within seconds with one line and no traceback, and
the coordinator must show the place free again: another client can acquire it."""
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hil_helpers import LabgridLoopback, labgrid_client, tiny_artifacts, write_lab

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
GROUPS = {"sigterm": "emu-m4-a", "sigint": "emu-m4-b"}   # one board each: a cancelled board is mid-window


@pytest.fixture(scope="module")
def loopback(tmp_path_factory):
    pytest.importorskip("labgrid")
    for tool in LabgridLoopback.TOOLS:
        if not shutil.which(tool):
            pytest.skip(f"{tool} missing")
    d = tmp_path_factory.mktemp("labgrid")
    dense, _ = tiny_artifacts(d)
    with LabgridLoopback(d, dense, tuple(GROUPS.values())) as lg:
        yield lg, dense


@pytest.mark.parametrize("signame", ["sigterm", "sigint"])
def test_labgrid_place_released_when_hil_run_is_cancelled(loopback, signame, tmp_path):
    lg, dense = loopback
    sig = {"sigterm": signal.SIGTERM, "sigint": signal.SIGINT}[signame]
    place = f"cancel-{signame}"
    assert labgrid_client(lg.coord, "create", place=place).returncode == 0
    assert labgrid_client(lg.coord, "add-match", f"exp1/{GROUPS[signame]}/NetworkSerialPort", place=place).returncode == 0
    lab = write_lab(tmp_path / "lab.toml", f'[[device]]\nname = "m4-remote"\ntarget = "cortex-m4"\n'
                    f'transport = "serial"\nport = "socket://placeholder:0"\nlabgrid_place = "{place}"\n'
                    f'infer_timeout_s = 120\n')
    cmd = [sys.executable, "-m", "edge_sdk.cli.main", "hil", "run", "--lab", str(lab), "--model", str(dense),
           "--coordinator", lg.coord, "--windows", "20", "--min-window-s", "30", "--warmup", "1",
           "--out", str(tmp_path / "out")]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    lines: list[str] = []
    measuring = threading.Event()

    def read():
        for ln in p.stderr:
            lines.append(ln.rstrip("\n"))
            if " windows of " in ln:
                measuring.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert measuring.wait(180), f"never started measuring: {lines[-5:]} rc={p.poll()}"
        shown = labgrid_client(lg.coord, "show", place=place).stdout
        assert "acquired: None" not in shown and "acquired: " in shown, shown   # held while it measures
        time.sleep(1.0)   # inside the first window now
        t0 = time.monotonic()
        p.send_signal(sig)
        rc = p.wait(timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    reader.join(5)
    after = lines[next(i for i, ln in enumerate(lines) if " windows of " in ln) + 1:]
    print(f"{signame}: exit {rc} {elapsed:.2f} s after the signal: {after}")
    assert rc != 0, lines[-5:]
    assert elapsed < 15, f"took {elapsed:.1f} s to exit after {signame}"   # a hang bound (release = one labgrid-client call)
    assert not any("Traceback" in ln for ln in lines), "\n".join(lines)
    assert len(after) == 1 and signame.upper() in after[0], after
    shown = labgrid_client(lg.coord, "show", place=place).stdout
    assert "acquired: None" in shown, shown
    # free for the next job: another client acquires and releases it
    assert labgrid_client(lg.coord, "acquire", place=place).returncode == 0
    assert labgrid_client(lg.coord, "release", place=place).returncode == 0
