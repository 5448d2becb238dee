"""Cortex-M targets: firmware builds, memory fit checks, and zoo models run on the emulated
boards (qemu-system-arm) compared with the host Session: int8 bit-exact, fp32 within 1e-5
relative. The full model x target matrix is marked slow."""
from __future__ import annotations

import re
import subprocess

import numpy as np

import pytest

from models.zoo import ZOO

from tests.conftest import rel_err
from tests.mcu_helpers import MCU_TARGETS, artifact, firmware, require_tools

pytestmark = pytest.mark.usefixtures("tools")


@pytest.fixture(scope="module")
def tools():
    require_tools()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("mcu")


def _target(name):
    from edge_sdk.compile.target import load_target

    return load_target(name)


def _compare(target: str, art, seed: int = 0):
    from edge_sdk.build import run_on_target
    from edge_sdk.runtime.session import Session

    s = Session(art.read_bytes())
    rng = np.random.default_rng(seed)
    feeds = {i.name: (rng.integers(-128, 128, i.shape).astype(i.dtype) if i.dtype == np.int8
                      else rng.standard_normal(i.shape).astype(i.dtype)) for i in s.inputs}
    ref = s.run(feeds)
    got = run_on_target(art, target, feeds)
    assert set(got) == set(ref)
    for k in ref:
        assert got[k].dtype == ref[k].dtype and got[k].shape == ref[k].shape
        quantized = any(t.quantized for t in _tensors(art))
        if quantized:
            assert np.array_equal(got[k], ref[k]), f"{target}: int8 model output differs from the host"
        else:
            assert rel_err(ref[k], got[k]) <= 1e-5, f"{target}: fp32 rel err {rel_err(ref[k], got[k]):.2e}"


def _tensors(art):
    from edge_sdk.artifact.reader import read_artifact

    return read_artifact(art.read_bytes()).tensors


# ---- default (fast) set ----
@pytest.mark.parametrize("target", MCU_TARGETS)
def test_ds_cnn_int8_bit_exact(target, work):
    firmware(target)
    _compare(target, artifact(work, "ds_cnn", "int8"))


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m55"])
def test_ds_cnn_int8_sparse_bit_exact(target, work):
    art = artifact(work, "ds_cnn", "int8", 0.8, target)
    from edge_sdk.artifact.reader import read_artifact

    assert any(op.name == "SPARSE_CONV1X1" for op in read_artifact(art.read_bytes()).ops), "no sparse layer to test"
    _compare(target, art, seed=3)


def test_autoencoder_fp32_on_cortex_m4(work):
    _compare("cortex-m4", artifact(work, "autoencoder"))


def test_build_reports_sections_and_fit(work):
    from edge_sdk.build import build_target

    art = artifact(work, "ds_cnn", "int8")
    res = build_target("cortex-m4", None, art)
    fp = res["footprint"]
    assert res["sections"][".text"] > 10_000
    assert fp["arena"] <= 64 * 1024, "DS-CNN int8 must run within 64 KB of arena on cortex-m4"
    assert fp["flash_total"] <= 256 * 1024, "DS-CNN int8 firmware + model must fit 256 KB of flash"
    assert fp["sram_total"] <= fp["sram_size"]
    assert any("--base-address 0x20000" in c for c in res["flash_commands"])


def test_firmware_that_does_not_fit_fails_with_the_overflow(work):
    from edge_sdk.build import build_target
    from edge_sdk.errors import EdgeSdkError

    art = artifact(work, "mobilenet_v1_025_96")  # fp32: arena + input > 320 KB
    with pytest.raises(EdgeSdkError) as e:
        build_target("cortex-m7", None, art)
    msg = str(e.value)
    import re

    m = re.search(r"firmware needs ([\d,]+) bytes of SRAM, cortex-m7 has 327,680: ([\d,]+) bytes over", msg)
    assert m, msg
    need, over = (int(g.replace(",", "")) for g in m.groups())
    assert need - 327_680 == over > 0


def test_firmware_links_no_malloc():
    elf = firmware("cortex-m4")
    syms = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    names = {ln.split()[-1] for ln in syms.splitlines() if ln.strip()}
    assert not names & {"malloc", "_malloc_r", "calloc", "realloc", "free", "_free_r"}


def test_kernels_are_chosen_at_compile_time():
    """The DSP build contains SMLAD, the M55 build MVE instructions (the ISA defines took effect)."""
    def dis(t, arch):
        return subprocess.run(["arm-none-eabi-objdump", "-d", "-m", arch, str(firmware(t))], capture_output=True,
                              text=True, check=True).stdout

    assert "smlad" in dis("cortex-m4", "armv7e-m")
    m55 = dis("cortex-m55", "armv8.1-m.main")
    assert ("vmladav" in m55 or "vmlava" in m55) and "vldrb" in m55 and "vctp" in m55


# ---- the full matrix (slow) ----
MATRIX = [(m, q) for m in sorted(ZOO) for q in ["int8", "none"]]  # every zoo model, int8 and fp32


@pytest.mark.slow
@pytest.mark.parametrize("target", MCU_TARGETS)
@pytest.mark.parametrize("model,quant", MATRIX)
def test_zoo_model_on_target(target, model, quant, work):
    from edge_sdk.build import mcu
    from edge_sdk.errors import EdgeSdkError

    art = artifact(work, model, quant)
    try:
        mcu.check_fit(mcu.footprint(_target(target), firmware(target), art.read_bytes()))
    except EdgeSdkError as e:
        # a model too big for the board must be refused with the overflow in bytes, not run
        assert not (model == "mobilenet_v1_025_96" and quant == "int8" and target == "cortex-m7"), str(e)
        assert re.search(r"needs [\d,]+ bytes of .+: [\d,]+ bytes over", str(e)), str(e)
        return
    _compare(target, art, seed=11)


@pytest.mark.slow
@pytest.mark.parametrize("target", MCU_TARGETS)
@pytest.mark.parametrize("model", ["resnet8", "mobilenet_v1_025_96", "autoencoder"])
def test_sparse_int8_on_target(target, model, work):
    _compare(target, artifact(work, model, "int8", 0.8, target), seed=5)
