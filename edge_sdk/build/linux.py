"""aarch64 Linux targets (rpi4, rpi5, android-arm64): cross-build and emulated runs.

`build` cross-compiles the runtime (libedge_sdk_rt.a) and the bench program (esdk_run) as
static aarch64 executables with CMake and the target's toolchain file (targets/*.cmake).
`run` executes an artifact with that bench program under qemu-aarch64 user mode with the
target's CPU model (-cpu cortex-a72 / cortex-a76 / max): inputs go in as raw files, outputs
come back as raw files, the program prints JSON. `count_instructions` adds a TCG plugin
(native/tools/insn_count_plugin.c) that counts guest instructions.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

from ..compile.target import TARGETS_DIR, Target
from ..errors import EdgeSdkError

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("EDGE_SDK_CACHE", Path.home() / ".cache" / "edge-sdk"))
_built: dict[Path, Path] = {}  # build dir -> bench binary, built (or re-checked) in this process


def _emulation(target: Target) -> tuple[str, str]:
    emu = target.raw.get("emulation", {})
    return emu.get("qemu", "qemu-aarch64"), emu.get("cpu", "max")


def _cross_gcc(target: Target) -> str:
    return target.raw.get("cross_compiler", "aarch64-linux-gnu-gcc")


def missing_tools(target: Target, emulate: bool = True) -> list[str]:
    """Host tools this target needs that are not installed (empty when all are there)."""
    need = ["cmake", _cross_gcc(target)] + ([_emulation(target)[0]] if emulate else [])
    return [t for t in need if shutil.which(t) is None]


def _require(target: Target, emulate: bool = True) -> None:
    miss = missing_tools(target, emulate)
    if miss:
        raise EdgeSdkError(f"target '{target.name}' needs {', '.join(miss)} on PATH "
                           "(apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user cmake)")


def _toolchain(target: Target) -> Path:
    name = target.raw.get("toolchain", "")
    path = TARGETS_DIR / name
    if not name or not path.is_file():
        raise EdgeSdkError(f"target '{target.name}': toolchain file '{name}' not found in {TARGETS_DIR}")
    return path


def _cmake_build(target: Target, build_dir: Path) -> Path:
    """Configure (once) and build esdk_run in build_dir; returns the binary."""
    exe = build_dir / "native" / "esdk_run"
    if _built.get(build_dir) == exe and exe.is_file():
        return exe
    _require(target, emulate=False)
    build_dir.mkdir(parents=True, exist_ok=True)
    steps = []
    if not (build_dir / "CMakeCache.txt").is_file():
        steps.append(["cmake", "-S", str(ROOT), "-B", str(build_dir), f"-DCMAKE_TOOLCHAIN_FILE={_toolchain(target)}",
                      "-DCMAKE_BUILD_TYPE=Release"])
    steps.append(["cmake", "--build", str(build_dir), "--target", "esdk_run", "edge_sdk_rt", "-j",
                  str(os.cpu_count() or 2)])
    for cmd in steps:
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            log = build_dir / "build.log"
            log.write_text(p.stdout + p.stderr)
            raise EdgeSdkError(f"cross build for '{target.name}' failed in '{' '.join(cmd[:2])}'; see {log}")
    _built[build_dir] = exe
    return exe


def bench_program(target: Target) -> Path:
    """The target's bench program, built on first use into the cache (one per toolchain)."""
    return _cmake_build(target, CACHE / "build" / _toolchain(target).stem)


def build(target: Target, out_dir: Path, artifact: Path | None) -> dict:
    exe = _cmake_build(target, Path(out_dir) / "cmake")
    out_dir = Path(out_dir)
    shutil.copy2(exe, out_dir / "esdk_run")
    shutil.copy2(exe.parent / "libedge_sdk_rt.a", out_dir / "libedge_sdk_rt.a")
    result = {"target": target.name, "bench": str(out_dir / "esdk_run"), "library": str(out_dir / "libedge_sdk_rt.a")}
    remote = target.raw.get("deploy_dir", "/tmp/edge-sdk")
    files = "esdk_run"
    if artifact is not None:
        if not Path(artifact).is_file():
            raise EdgeSdkError(f"artifact {artifact} does not exist")
        shutil.copy2(artifact, out_dir / Path(artifact).name)
        result["artifact"] = str(out_dir / Path(artifact).name)
        files += f" {Path(artifact).name}"
    model = Path(artifact).name if artifact is not None else "MODEL.esm"
    if target.raw.get("deploy") == "adb":
        result["deploy"] = (f"adb shell mkdir -p {remote} && adb push {files} {remote}/ && "
                            f"adb shell {remote}/esdk_run {remote}/{model} --runs 20")
    else:
        result["deploy"] = (f"ssh pi@BOARD mkdir -p {remote} && scp {files} pi@BOARD:{remote}/ && "
                            f"ssh pi@BOARD {remote}/esdk_run {remote}/{model} --runs 20")
    qemu, cpu = _emulation(target)
    result["emulator"] = f"{qemu} -cpu {cpu} {out_dir / 'esdk_run'} {model}"
    return result


def _io_info(artifact: Path):
    from ..runtime.session import Session

    s = Session(artifact)  # validates the artifact on the host before anything is emulated
    return s.inputs, s.outputs


def _qemu_cmd(target: Target, plugin: Path | None = None) -> list[str]:
    qemu, cpu = _emulation(target)
    cmd = [qemu, "-cpu", cpu]
    if plugin is not None:
        cmd += ["-plugin", str(plugin), "-d", "plugin"]
    return cmd


def _exec(target: Target, artifact: Path, args: list[str], plugin: Path | None = None) -> tuple[dict, str]:
    _require(target)
    exe = bench_program(target)
    cmd = _qemu_cmd(target, plugin) + [str(exe), str(artifact)] + args
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        msg = (p.stderr.strip().splitlines() or ["no message"])[-1]
        raise EdgeSdkError(f"esdk_run on emulated '{target.name}' failed (exit {p.returncode}): {msg}")
    try:
        report = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise EdgeSdkError(f"esdk_run on emulated '{target.name}' printed no JSON: {p.stdout[-200:]!r}") from None
    return report, p.stderr


def run(target: Target, artifact_path: Path, feeds: Mapping[str, np.ndarray], isa: str = "best") -> dict[str, np.ndarray]:
    """Run one inference on the emulated board; outputs as {name: array}, like Session.run."""
    artifact_path = Path(artifact_path)
    inputs, outputs = _io_info(artifact_path)
    names = [i.name for i in inputs]
    missing = [n for n in names if n not in feeds]
    unknown = [k for k in feeds if k not in names]
    if missing or unknown:
        raise EdgeSdkError(f"inputs missing: {missing}, unknown: {unknown}; expected {names}")
    with tempfile.TemporaryDirectory(prefix="esdk-qemu-") as tmp:
        args = ["--runs", "1", "--isa", isa, "--out-dir", tmp]
        for k, info in enumerate(inputs):
            arr = np.asarray(feeds[info.name])
            if tuple(arr.shape) != info.shape:
                raise EdgeSdkError(f"input '{info.name}' has shape {tuple(arr.shape)}, expected {info.shape}")
            path = Path(tmp) / f"input_{k}.bin"
            np.ascontiguousarray(arr.astype(info.dtype, copy=False)).tofile(path)
            args += ["--input", f"{k}={path}"]
        report, _ = _exec(target, artifact_path, args)
        outs = {}
        for k, info in enumerate(outputs):
            raw = np.fromfile(Path(tmp) / f"output_{k}.bin", dtype=info.dtype)
            outs[info.name] = raw.reshape(info.shape)
    run.last_report = report  # the bench program's JSON (isa name, timings), for tools and tests
    return outs


run.last_report = {}


def insn_plugin() -> Path:
    """Build (once) the instruction-counting TCG plugin for the host's qemu; returns the .so."""
    out = CACHE / "insn_count_plugin.so"
    src = ROOT / "native" / "tools" / "insn_count_plugin.c"
    if not out.is_file() or out.stat().st_mtime < src.stat().st_mtime:
        p = subprocess.run(["bash", str(ROOT / "native" / "tools" / "build_insn_plugin.sh"), str(out)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise EdgeSdkError(f"building the qemu instruction-count plugin failed: {p.stderr.strip()[-300:]}")
    return out


def count_instructions(target: Target, artifact: Path, runs: int = 1, isa: str = "best") -> dict:
    """Guest instructions per inference on the emulated board.

    Method: run the bench program twice under the counting plugin, with 1 and with 1 + runs
    inferences, and divide the difference by `runs`: program start, file reading, loading and
    validation cancel out, leaving only esdk_invoke. Inputs are the bench program's
    deterministic pattern (instruction counts do not depend on the values for these kernels,
    except through activation clamps).
    """
    plugin = insn_plugin()
    counts = []
    report = {}
    for n in (1, 1 + runs):
        report, err = _exec(target, artifact, ["--runs", str(n), "--isa", isa], plugin=plugin)
        lines = [ln for ln in err.splitlines() if ln.startswith("insns:")]
        if not lines:
            raise EdgeSdkError(f"the instruction-count plugin printed nothing (qemu without plugin support?): {err[-200:]}")
        counts.append(int(lines[-1].split(":", 1)[1]))
    return {"target": target.name, "isa": report.get("isa", "?"), "insns_per_inference": (counts[1] - counts[0]) / runs,
            "insns_total_1": counts[0]}
