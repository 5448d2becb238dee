"""A run on the in-process host device and a FAKE MLPerf Tiny DUT through the CLI: the four
report files, junit structure and provenance, compare's exit codes, the pytest plugin."""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from edge_sdk.cli.main import main
from edge_sdk.hil.fakes.fake_dut import FakeDut
from hil_helpers import fake_serial, local_host, tiny_artifacts, write_lab


@pytest.fixture(scope="module")
def run_out(tmp_path_factory):
    d = tmp_path_factory.mktemp("hil_rep")
    dense, sparse = tiny_artifacts(d)
    with FakeDut(str(dense)) as fd:
        lab = write_lab(d / "lab.toml", local_host(extra="[device.budget]\nlatency_ms = 100"),
                        fake_serial(fd.url, extra="[device.budget]\nlatency_ms = 1.0"))
        rc = main(["hil", "run", "--lab", str(lab), "--model", str(dense), "--model", str(sparse),
                   "--windows", "3", "--min-window-s", "0.01", "--warmup", "2", "--out", str(d / "out")])
    return d, rc


def test_reports_written(run_out):
    d, rc = run_out
    assert rc == 1          # the fake DUT runs only the dense model: sparse fidelity fails; 1.5 ms > 1 ms budget
    out = d / "out"
    for f in ("junit.xml", "report.json", "report.html", "summary.md", "results.jsonl"):
        assert (out / f).stat().st_size > 0, f
    rep = json.loads((out / "report.json").read_text())
    by = {(r["device"], r["model"]): r for r in rep["results"]}
    h = by[("host-local", "tiny_dense.esm")]
    assert h["status"] == "pass" and len(h["latency_ms"]["windows"]) == 3
    assert h["latency_ms"]["min"] <= h["latency_ms"]["median"] <= h["latency_ms"]["max"]
    assert h["latency_ms"]["unit"] == "ms" and h["energy_uj"]["unit"] == "uJ"
    m = by[("fake-m4", "tiny_dense.esm")]
    assert m["latency_ms"]["source"] == "device clock (m-lap-us)"
    assert m["fidelity"]["max_rel_err"] == 0.0 and m["checks"]["latency"] == "fail"
    assert by[("fake-m4", "tiny_sparse.esm")]["checks"]["fidelity"] == "fail"
    assert len(rep["provenance"]["git_commit"]) >= 7 and rep["provenance"]["runtime_version"]


def test_junit_case_per_device_model_metric(run_out):
    d, _ = run_out
    root = ET.parse(d / "out" / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 2 * 2 * 3
    names = {(c.get("classname"), c.get("name")) for c in cases}
    assert ("hil.fake-m4.tiny_dense.esm", "latency") in names
    props = {p.get("name") for p in root.find("testsuite").find("properties")}
    assert {"git_commit", "runtime_version", "target", "device_serial"} <= props
    fails = root.findall(".//failure")
    assert any("budget" in f.get("message") for f in fails)
    sha = [p.get("value") for p in root.iter("property") if p.get("name") == "artifact_sha256"]
    assert sha and all(len(s) == 64 for s in sha)


def test_html_self_contained_with_svg(run_out):
    d, _ = run_out
    html = (d / "out" / "report.html").read_text()
    assert html.count("<svg") >= 3 and "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    assert "Sparse vs dense" in html and "Trend against the baseline" in html


def test_compare_exit_codes(run_out, tmp_path, capsys):
    d, _ = run_out
    old = d / "out" / "report.json"
    rep = json.loads(old.read_text())
    assert main(["hil", "compare", str(old), str(old)]) == 0
    for r in rep["results"]:
        if r["latency_ms"]["median"]:
            r["latency_ms"]["median"] *= 1.2
    new = tmp_path / "new.json"
    new.write_text(json.dumps(rep))
    assert main(["hil", "compare", str(old), str(new), "--threshold", "25%"]) == 0
    assert main(["hil", "compare", str(old), str(new)]) == 1
    assert "REGRESSION" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert main(["hil", "compare", str(old), str(bad)]) == 1


def test_flash_copies_to_linux_device(tmp_path):
    dense, _ = tiny_artifacts(tmp_path)
    lab = write_lab(tmp_path / "lab.toml", local_host("box", f'bench_program = "{sys.executable} -m edge_sdk.hil.agent"\n'
                                                      f'workdir = "{tmp_path / "remote"}"'))
    assert main(["flash", str(dense), "--lab", str(lab), "--device", "box"]) == 0
    assert (tmp_path / "remote" / "tiny_dense.esm").read_bytes() == dense.read_bytes()
    assert main(["flash", str(dense), "--lab", str(lab), "--device", "nobox"]) == 1


def test_pytest_plugin_device_fixtures(tmp_path):
    dense, _ = tiny_artifacts(tmp_path)
    lab = write_lab(tmp_path / "lab.toml", local_host("h1"), local_host("h2"))
    (tmp_path / "test_team.py").write_text(f'''
def test_latency(hil_device, hil_measure):
    rec = hil_measure(r"{dense}", windows=2, min_window_s=0.001)
    assert rec["status"] == "pass" and rec["latency_ms"]["median"] > 0
''')
    from importlib.metadata import entry_points

    installed = any(e.name == "edge_sdk_hil" for e in entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", "edge_sdk.hil.pytest_plugin"]   # entry point after pip install
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", *plugin, "-p", "no:cacheprovider",
                        "--lab", str(lab), str(tmp_path / "test_team.py"), "-o", "addopts=", "--rootdir", str(tmp_path)],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "2 passed" in p.stdout, p.stdout[-800:] + p.stderr[-800:]
