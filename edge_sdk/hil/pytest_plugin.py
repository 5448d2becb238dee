"""pytest plugin (entry point pytest11 'edge_sdk_hil'): `pytest --lab LAB.toml` gives tests the
lab's devices, so teams write their own HIL tests in plain pytest.

Fixtures:
  hil_lab             the parsed Lab (tests using HIL fixtures are skipped without --lab)
  hil_device          one connected, health-checked device per lab device (tests using it are
                      parametrized over the lab's devices, or over --hil-device NAME)
  hil_measure         hil_measure(artifact, windows=3, min_window_s=1.0) -> the report record of
                      that artifact on the current hil_device (latency_ms, energy_uj, fidelity, status)
An offline device makes its tests skip with the reason (infrastructure), not fail.
"""
from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser):
    g = parser.getgroup("edge-sdk hil")
    g.addoption("--lab", default=None, help="edge-sdk lab file (TOML): enables the hil_* fixtures")
    g.addoption("--hil-device", action="append", default=None, help="only this lab device (repeatable)")
    g.addoption("--hil-out", default=None, help="directory for the measurements' results.jsonl")


def _lab(config):
    path = config.getoption("--lab")
    if not path:
        return None
    from .lab import load_lab

    return load_lab(path)


def pytest_generate_tests(metafunc):
    if "hil_device" in metafunc.fixturenames:
        lab = _lab(metafunc.config)
        names = metafunc.config.getoption("--hil-device") or ([d.name for d in lab.devices] if lab else ["(no lab)"])
        metafunc.parametrize("hil_device", names, indirect=True, scope="module")


@pytest.fixture(scope="session")
def hil_lab(request):
    lab = _lab(request.config)
    if lab is None:
        pytest.skip("no --lab LAB.toml given")
    return lab


@pytest.fixture(scope="module")
def hil_device(request, hil_lab):
    from .devices import connect
    from .errors import InfraError

    dev = hil_lab.device(request.param)
    d = connect(dev)
    try:
        d.health()
    except InfraError as e:
        d.close()
        pytest.skip(f"device {dev.name} offline (infrastructure): {e}")
    d.lab_device = dev
    yield d
    d.close()


@pytest.fixture
def hil_measure(hil_device, hil_lab, tmp_path, request):
    from .runner import RunOptions, Runner

    out = Path(request.config.getoption("--hil-out") or tmp_path)

    def measure(artifact, windows: int = 3, min_window_s: float = 1.0, warmup: int = 2) -> dict:
        r = Runner(hil_lab, [Path(artifact)], out, RunOptions(windows, min_window_s, warmup, cooldown_s=0),
                   connect=lambda dev: _Shared(hil_device))
        return r.run([hil_device.lab_device])[0]

    return measure


class _Shared:
    """The module's connected device, lent to one Runner without being closed by it."""

    def __init__(self, d):
        self._d = d

    def __getattr__(self, k):
        return getattr(self._d, k)

    def close(self):
        pass
