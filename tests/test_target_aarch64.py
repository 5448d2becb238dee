"""aarch64 Linux targets (rpi4 = Cortex-A72, rpi5 = Cortex-A76 + dotprod, android-arm64) on
emulated boards: every zoo model exported fp32 dense, fp32 sparse (0.8) and int8 runs through
the cross-built bench program under qemu-aarch64 and matches the host Session (int8 bit-exact,
fp32 within 1e-5 relative). MobileNet-size models and the Python-binding proof are slow."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edge_sdk
from edge_sdk.build import linux, run_on_target
from edge_sdk.compile.target import load_target
from edge_sdk.errors import EdgeSdkError
from edge_sdk.runtime.session import Session
from test_target_aarch64_util import EXPECTED_ISA, TARGETS, fp32_close, int8_exact, needs_aarch64

pytestmark = needs_aarch64
ROOT = Path(__file__).resolve().parents[1]
from conftest import BIG_ZOO as BIG, SMALL_ZOO as SMALL  # every zoo model, split by run time
VARIANTS = {"fp32": {}, "sparse": {"sparsity": 0.8}, "int8": {"quantize": "int8"}}


@pytest.fixture(scope="module")
def artifact(zoo_model, tmp_path_factory):
    """artifact(model, variant) -> (path, feeds, host outputs), exported once per module."""
    d = tmp_path_factory.mktemp("aarch64")
    cache: dict = {}

    def get(model: str, variant: str):
        key = (model, variant)
        if key not in cache:
            with _quiet():
                art = edge_sdk.export(zoo_model(model), **VARIANTS[variant])
            path = art.save(d / f"{model}-{variant}.esm")
            sess = Session(path)
            rng = np.random.default_rng(42)
            feeds = {i.name: rng.standard_normal(i.shape).astype(i.dtype) if i.dtype == np.float32
                     else rng.integers(-128, 128, i.shape).astype(i.dtype) for i in sess.inputs}
            cache[key] = (path, feeds, sess.run(feeds))
        return cache[key]

    return get


class _quiet:
    """export() warns when no calibration data is given; irrelevant here."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def compare(host: dict, got: dict, variant: str) -> None:
    assert list(host) == list(got)
    for k in host:
        if variant == "int8" or host[k].dtype != np.float32:
            int8_exact(host[k], got[k])  # int8 artifacts: every value bit-exact (float outputs too)
        else:
            fp32_close(host[k], got[k])


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("model", SMALL)
def test_zoo_small(artifact, model, variant, target):
    path, feeds, host = artifact(model, variant)
    compare(host, run_on_target(path, target, feeds), variant)
    assert linux.run.last_report["isa"] == EXPECTED_ISA[target]


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("model", BIG)
def test_zoo_mobilenets(artifact, model, variant, target):
    path, feeds, host = artifact(model, variant)
    compare(host, run_on_target(path, target, feeds), variant)


@pytest.mark.parametrize("target", ["rpi4", "rpi5", "android-arm64"])
def test_isa_picked_from_hwcap(artifact, target):
    """One binary: cpu.c reads HWCAP and picks SDOT only where the emulated core has it."""
    path, feeds, host = artifact("ds_cnn", "int8")
    compare(host, run_on_target(path, target, feeds), "int8")
    assert linux.run.last_report["isa"] == EXPECTED_ISA[target]


def test_scalar_fallback_on_target_matches(artifact):
    """The portable scalar kernels on aarch64 give the same int8 bytes as NEON/SDOT."""
    path, feeds, host = artifact("resnet8", "int8")
    t = load_target("rpi5")
    compare(host, linux.run(t, path, feeds, isa="scalar"), "int8")
    assert linux.run.last_report["isa"] == "scalar"


def test_instruction_count(artifact):
    """The TCG plugin counts guest instructions; SDOT cuts the int8 count on the A76."""
    path, _, _ = artifact("ds_cnn", "int8")
    a72 = linux.count_instructions(load_target("rpi4"), path, runs=2)
    a76 = linux.count_instructions(load_target("rpi5"), path, runs=2)
    scalar = linux.count_instructions(load_target("rpi5"), path, runs=2, isa="scalar")
    assert a72["isa"] == "neon" and a76["isa"] == "neon-dotprod"
    assert 0 < a76["insns_per_inference"] < a72["insns_per_inference"] < scalar["insns_per_inference"]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "edge_sdk.cli.main", *map(str, args)], capture_output=True,
                          text=True, env=dict(os.environ, COLUMNS="200"), timeout=600)


def test_cli_build_and_run(artifact, tmp_path):
    path, feeds, host = artifact("ds_cnn", "fp32")
    p = cli("build", "--target", "rpi4", "-o", tmp_path / "b", "--artifact", path)
    assert p.returncode == 0, p.stderr
    exe = tmp_path / "b" / "esdk_run"
    head = exe.read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == 183  # EM_AARCH64
    assert (tmp_path / "b" / path.name).is_file() and "scp" in p.stdout
    (name, x), = feeds.items()
    np.save(tmp_path / "x.npy", x)
    p = cli("run", path, "--target", "rpi5", "--input", f"{name}={tmp_path / 'x.npy'}", "-o", tmp_path / "o.npz")
    assert p.returncode == 0, p.stderr
    with np.load(tmp_path / "o.npz") as z:
        compare(host, {k: z[k] for k in z.files}, "fp32")


def test_bad_input_is_one_line_error(artifact, tmp_path):
    path, feeds, _ = artifact("ds_cnn", "fp32")
    (name, x), = feeds.items()
    with pytest.raises(EdgeSdkError, match="has shape"):
        run_on_target(path, "rpi4", {name: x[..., :-1]})
    with pytest.raises(EdgeSdkError, match="unknown target"):
        run_on_target(path, "rpi9", feeds)
    np.save(tmp_path / "x.npy", x[..., :-1])
    p = cli("run", path, "--target", "rpi4", "--input", f"{name}={tmp_path / 'x.npy'}")
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["int8", "fp32"])
def test_python_binding_on_aarch64(artifact, variant, tmp_path):
    """The cffi binding cross-built for aarch64 and run by arm64 python3.11 under qemu
    (native/cross/aarch64_python.sh) gives the host's outputs."""
    if subprocess.run(["which", "debootstrap"], capture_output=True).returncode:
        pytest.skip("debootstrap is not installed (needed for the arm64 Python sysroot)")
    path, feeds, host = artifact("resnet8", variant)
    np.savez(tmp_path / "in.npz", **feeds)
    p = subprocess.run(["bash", str(ROOT / "native" / "cross" / "aarch64_python.sh"), path, tmp_path / "in.npz",
                        tmp_path / "out.npz"], capture_output=True, text=True, timeout=1800,
                       env=dict(os.environ, EDGE_SDK_QEMU_CPU="cortex-a76", PYTHON=sys.executable))
    assert p.returncode == 0, p.stderr[-2000:]
    info = json.loads(p.stdout.strip().splitlines()[-1])
    assert info["machine"] == "aarch64" and info["extension"].endswith("aarch64-linux-gnu.so")
    assert info["isa"] == "neon-dotprod"
    with np.load(tmp_path / "out.npz") as z:
        compare(host, {k: z[k] for k in z.files}, variant)
