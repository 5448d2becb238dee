"""The MoE runtime cross-built for aarch64 (Debian's gcc-aarch64-linux-gnu, static, as in
targets/aarch64-linux-gnu.cmake) and run under qemu-aarch64 gives the host's tokens, from
resident experts and from the streamed cache."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CC = shutil.which("aarch64-linux-gnu-gcc")
QEMU = shutil.which("qemu-aarch64")
SRCS = [str(p) for p in sorted((ROOT / "native" / "src" / "moe").glob("*.c"))] + [str(ROOT / "native/programs/moe_run.c")]


@pytest.mark.skipif(not (CC and QEMU), reason="needs aarch64-linux-gnu-gcc and qemu-aarch64")
def test_aarch64_tokens_match_host(tmp_path):
    from edge_sdk import Generator
    from edge_sdk.moe.export import export_dir
    from models.moe_lm import build

    src = build(tmp_path / "hf", seed=5, pre_router=True)
    art = tmp_path / "m.esmoe"
    export_dir(src, art, quantize="int8")
    prompt = list(b"int main(")
    host = Generator(art, mode="resident").generate(prompt, 16).tokens
    exe = tmp_path / "moe_run_aarch64"
    flags = ["-O2", "-std=c99", "-ffp-contract=off", "-static", "-pthread", f"-I{ROOT / 'native/include'}"]
    subprocess.run([CC, *flags, *SRCS, "-o", str(exe), "-lm"], check=True, capture_output=True)
    for cache in ("0", "200000"):
        r = subprocess.run([QEMU, str(exe), str(art), str(art.with_suffix(".esmx")), "16", cache, *map(str, prompt)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert [int(t) for t in r.stdout.split()] == host, (cache, r.stderr)
