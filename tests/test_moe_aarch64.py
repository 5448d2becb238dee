"""The MoE runtime cross-built for aarch64 (Debian's gcc-aarch64-linux-gnu, static,
-ffp-contract=off, as in targets/aarch64-linux-gnu.cmake) and run under qemu-aarch64: the NEON
expert kernels equal the scalar ones bit for bit (native/programs/moe_xmatvec_check.c), and a
whole model decoded with either, from resident experts and from the streamed cache, gives the
host's tokens; and edge_sdk.Generator itself in arm64 Python (slow). Correctness only: emulated
time means nothing."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CC = shutil.which("aarch64-linux-gnu-gcc")
QEMU = shutil.which("qemu-aarch64")
OBJDUMP = shutil.which("aarch64-linux-gnu-objdump")
MOE_SRCS = sorted((ROOT / "native" / "src" / "moe").glob("*.c"))
FLAGS = ["-O2", "-std=c99", "-static", "-pthread", f"-I{ROOT / 'native/include'}"]

pytestmark = pytest.mark.skipif(not (CC and QEMU), reason="needs aarch64-linux-gnu-gcc and qemu-aarch64")


def cross_build(out: Path, program: str, contract: dict | None = None) -> Path:
    """native/src/moe/*.c + native/programs/PROGRAM.c; every file with -ffp-contract=off unless
    `contract` maps a file name to another mode (to build a deliberately fused variant)."""
    objs = []
    for src in [*MOE_SRCS, ROOT / "native" / "programs" / f"{program}.c"]:
        obj = out / f"{program}-{src.stem}.o"
        mode = (contract or {}).get(src.name, "off")
        subprocess.run([CC, *FLAGS, f"-ffp-contract={mode}", "-c", str(src), "-o", str(obj)], check=True,
                       capture_output=True)
        objs.append(str(obj))
    exe = out / f"{program}_aarch64"
    subprocess.run([CC, *FLAGS, *objs, "-o", str(exe), "-lm"], check=True, capture_output=True)
    return exe


@pytest.fixture(scope="module")
def bins(tmp_path_factory):
    d = tmp_path_factory.mktemp("aarch64")
    return {"check": cross_build(d, "moe_xmatvec_check"), "run": cross_build(d, "moe_run"), "dir": d}


def qemu(*args, timeout=120):
    return subprocess.run([QEMU, *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("seed", [1, 2])
def test_neon_kernels_bit_exact_with_scalar(bins, seed):
    """f32 / int8 / int4, rows 1..9 and larger, any column count, odd row strides, ordinary and
    extreme values: NEON (isa 2) and auto (-1, which is NEON here) against scalar (isa 0)."""
    for isa in (2, -1):
        r = qemu(bins["check"], "check", isa, 3000, seed)
        assert r.returncode == 0 and r.stdout.strip() == "ok 3000", r.stdout + r.stderr
    r = qemu(bins["check"], "check", 1, 3)  # AVX2 does not exist here
    assert r.returncode == 1 and "status 0 / 6" in r.stdout, r.stdout  # ESDK_ERR_UNSUPPORTED


@pytest.mark.skipif(not OBJDUMP, reason="needs aarch64-linux-gnu-objdump")
def test_check_catches_fused_neon_kernels(bins):
    """The bit check is sharp enough to fail on a kernel that fuses multiply and add: the NEON
    files built with -ffp-contract=fast (GCC turns vmulq_f32 + vaddq_f32 into fmla), the rest
    as usual."""
    fused = {src.name: "fast" for src in MOE_SRCS if src.name.endswith("-neon.c")}
    exe = cross_build(bins["dir"], "moe_xmatvec_check", fused)
    dis = subprocess.run([OBJDUMP, "-d", str(exe)], capture_output=True, text=True, check=True).stdout
    if "fmla" not in dis:
        pytest.skip("this compiler does not fuse the NEON intrinsics under -ffp-contract=fast")
    r = qemu(exe, "check", 2, 3000, 1)
    assert r.returncode == 1 and "isa 2" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("quant,pre_router", [("int8", True), ("int4", False), ("f32", False)])
def test_aarch64_tokens_match_host(bins, tmp_path, quant, pre_router):
    """Host tokens (its fastest kernels) = aarch64 tokens with the NEON and the scalar kernels,
    resident and streamed (I/O thread, O_DIRECT); on aarch64 the last logits are the same bits
    in all four runs, and auto picks NEON."""
    pytest.importorskip("torch")
    from edge_sdk import Generator
    from edge_sdk.moe.export import export_dir
    from models.moe_lm import build

    src = build(tmp_path / "hf", seed=5, pre_router=pre_router)
    art = tmp_path / "m.esmoe"
    export_dir(src, art, quantize=quant)
    prompt = list(b"int main(")
    host = Generator(art, mode="resident").generate(prompt, 16).tokens
    logits = set()
    for kernels in ("neon", "scalar", "auto"):
        for cache in ("0", "200000") if kernels != "auto" else ("0",):
            r = qemu(bins["run"], "-k", kernels, art, art.with_suffix(".esmx"), 16, cache, *prompt)
            assert r.returncode == 0, r.stderr
            assert [int(t) for t in r.stdout.split()] == host, (kernels, cache, r.stderr)
            m = re.search(r"kernels (\w+) logits ([0-9a-f]{16})", r.stderr)
            assert m and m.group(1) == ("scalar" if kernels == "scalar" else "neon"), r.stderr
            logits.add(m.group(2))
            if cache != "0":
                assert re.search(r"reads [1-9]", r.stderr), r.stderr  # the cache really streamed
    assert len(logits) == 1, logits
    r = qemu(bins["run"], "-k", "avx2", art, art.with_suffix(".esmx"), 1, "0", *prompt)
    assert r.returncode == 1 and r.stderr.strip() == "error: expert kernels: this CPU or build has no AVX2", r.stderr


def test_aarch64_io_uring_unavailable(bins, tmp_path):
    """qemu-user has no io_uring (io_uring_setup answers ENOSYS): asking for it is a one-line
    error, and auto falls back to pread, says why, and still decodes the host's tokens."""
    pytest.importorskip("torch")
    from edge_sdk import Generator
    from edge_sdk.moe.export import export_dir
    from models.moe_lm import build

    art = tmp_path / "m.esmoe"
    export_dir(build(tmp_path / "hf", seed=5, pre_router=True), art, quantize="int8")
    prompt = list(b"int main(")
    host = Generator(art, mode="resident").generate(prompt, 12).tokens
    bundle = art.with_suffix(".esmx")
    r = qemu(bins["run"], "-io", "io_uring", art, bundle, 12, "200000", *prompt)
    assert r.returncode == 1 and r.stdout == "", r.stdout
    assert r.stderr == "error: io_uring is not available here (io_uring_setup: Function not implemented)\n", r.stderr
    for io in ("auto", "pread"):
        r = qemu(bins["run"], "-io", io, art, bundle, 12, "200000", *prompt)
        assert r.returncode == 0 and [int(t) for t in r.stdout.split()] == host, r.stderr
        assert re.search(r"reads [1-9]", r.stderr), r.stderr
        why = " (io_uring unavailable: Function not implemented)" if io == "auto" else ""
        assert f"io pread, O_DIRECT{why}\n" in r.stderr, r.stderr


GEN_SCRIPT = """
import json, sys, types
stage, art = sys.argv[1], sys.argv[2]
pkg = types.ModuleType("edge_sdk"); pkg.__path__ = [stage + "/edge_sdk"]; sys.modules["edge_sdk"] = pkg
from edge_sdk.moe.generator import Generator
for kernels, kw in (("auto", {"mode": "resident"}), ("neon", {"expert_cache_mb": 0.2}), ("scalar", {"expert_cache_mb": 0.2})):
    with Generator(art, kernels=kernels, **kw) as g:
        r = g.generate(list(b"def f("), 12)
        print(json.dumps({"asked": kernels, "kernels": g.kernels, "tokens": r.tokens, "reads": r.stats.get("reads")}))
"""


@pytest.mark.slow
def test_python_generator_on_aarch64(tmp_path):
    """edge_sdk.Generator in arm64 python3.11 under qemu (the cffi extension cross-built by
    native/cross/aarch64_python.sh): "auto" picks NEON, and resident and streamed decoding with
    kernels="neon" and "scalar" give the host's tokens."""
    if not shutil.which("debootstrap"):
        pytest.skip("debootstrap is not installed (needed for the arm64 Python sysroot)")
    pytest.importorskip("torch")
    from edge_sdk import Generator
    from edge_sdk.moe.export import export_dir
    from models.moe_lm import build

    art = tmp_path / "m.esmoe"
    export_dir(build(tmp_path / "hf", seed=7, pre_router=True), art, quantize="int4")
    host = Generator(art, mode="resident").generate(list(b"def f("), 12).tokens
    env = dict(os.environ, PYTHON=sys.executable)
    cross = ROOT / "native" / "cross"
    p = subprocess.run(["bash", str(cross / "aarch64_python.sh")], capture_output=True, text=True, timeout=1800, env=env)
    assert p.returncode == 0, p.stderr[-2000:]  # builds (or reuses) the staged aarch64 package
    sysroot = subprocess.run(["bash", str(cross / "aarch64_sysroot.sh")], capture_output=True, text=True, check=True,
                             env=env).stdout.strip()
    stage = Path(os.environ.get("EDGE_SDK_CACHE", Path.home() / ".cache" / "edge-sdk")) / "py-aarch64"
    script = tmp_path / "gen.py"
    script.write_text(GEN_SCRIPT)
    r = qemu("-cpu", "cortex-a76", "-L", sysroot, f"{sysroot}/usr/bin/python3.11", "-B", script, stage, art, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    runs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["asked"], x["kernels"]) for x in runs] == [("auto", "neon"), ("neon", "neon"), ("scalar", "scalar")]
    assert all(x["tokens"] == host for x in runs), (host, runs)
    assert runs[1]["reads"] > 0 and runs[2]["reads"] > 0  # those two really streamed
