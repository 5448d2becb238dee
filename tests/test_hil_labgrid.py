"""Scale-out through labgrid (slow): a real labgrid-coordinator and labgrid-exporter on 127.0.0.1
export the UART of an emulated Cortex-M4 board (qemu-system-arm, serial on TCP, the real bench
firmware); a place is created, acquired, one measurement runs through it, the place is released."""
import shutil

import pytest

from hil_helpers import LabgridLoopback, tiny_artifacts, wait_for, write_lab

pytestmark = pytest.mark.slow


def test_labgrid_coordinator_exporter_place_measure_release(tmp_path):
    pytest.importorskip("labgrid")
    for tool in LabgridLoopback.TOOLS:
        if not shutil.which(tool):
            pytest.skip(f"{tool} missing")
    from edge_sdk.hil.labgrid_lab import LabgridPlace, reserved
    from edge_sdk.hil.lab import load_lab
    from edge_sdk.hil.runner import RunOptions, run_lab

    dense, _ = tiny_artifacts(tmp_path)
    with LabgridLoopback(tmp_path, dense) as lg:
        coord, uart = lg.coord, lg.uart["emu-m4"]
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
        # the coordinator keeps its state in its own working directory, not the caller's
        wait_for(lambda: (tmp_path / "places.yaml").is_file(), 30, "the coordinator's places.yaml in tmp_path")
