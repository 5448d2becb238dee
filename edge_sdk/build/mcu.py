"""Cortex-M targets (cortex-m4, cortex-m7, cortex-m55): bench firmware and emulated runs.

`build` compiles hil/firmware (runtime + the target's kernels + the MLPerf Tiny DUT
protocol) with CMake and the target's toolchain file, reads the ELF's section sizes, and,
given an artifact, checks firmware + model + arena against the target's flash and SRAM.
`run` boots the target's emulated board (qemu-system-arm, edge_sdk/build/mcu_qemu.py) with
the artifact written into the fixed flash slot and drives the firmware over its serial port
with the DUT client (edge_sdk/hil/dut.py): input through `db`, `infer`, raw outputs through
`db out`.

Memory layout (hil/firmware/ld/*.ld): flash = firmware | model slot (fixed address, so a new
model is flashed without relinking); SRAM = .data | .bss | arena + input staging | stack.
"""
from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ..compile.target import TARGETS_DIR, Target
from ..errors import EdgeSdkError

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = ROOT / "hil" / "firmware"
TOOLS = ("cmake", "arm-none-eabi-gcc", "arm-none-eabi-size")


def missing_tools(target: Target | None = None, emulate: bool = True) -> list[str]:
    """Host tools an MCU build (and, with emulate, a run) needs that are not installed."""
    need = list(TOOLS) + (["qemu-system-arm"] if emulate else [])
    return [t for t in need if shutil.which(t) is None]


def _require(emulate: bool) -> None:
    miss = missing_tools(emulate=emulate)
    if miss:
        raise EdgeSdkError(f"MCU targets need {', '.join(miss)} on PATH "
                           "(apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm cmake)")


def _mem(target: Target) -> dict:
    mem = target.raw.get("memory", {})
    for key in ("sram_bytes", "flash_bytes", "flash_base", "model_slot"):
        if key not in mem:
            raise EdgeSdkError(f"target '{target.name}': [memory] {key} missing from its descriptor")
    return mem


@dataclass
class Footprint:
    """Bytes of flash and SRAM one model needs on one target (all figures in bytes)."""
    target: str
    firmware_flash: int      # .text + .ARM.exidx + .data load image
    firmware_sram: int       # .data + .bss + stack (model context, UART and protocol state)
    model_flash: int         # the .esm in its slot
    arena: int               # activations: the artifact header's arena_size
    input_staging: int       # the db-loaded input, kept apart from the arena across inferences
    flash_total: int
    sram_total: int
    flash_size: int
    sram_size: int
    slot_size: int

    def to_dict(self) -> dict:
        return asdict(self)


def elf_sections(elf: Path) -> dict[str, int]:
    """Section name -> size from arm-none-eabi-size -A."""
    out = subprocess.run(["arm-none-eabi-size", "-A", "-d", str(elf)], capture_output=True, text=True, check=True)
    sizes = {}
    for ln in out.stdout.splitlines():
        parts = ln.split()
        if len(parts) >= 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def _artifact_needs(data: bytes) -> tuple[int, int]:
    """(arena_size from the header, bytes of graph input 0) of an .esm."""
    if len(data) < 64 or data[:4] != b"ESDK":
        raise EdgeSdkError("not an .esm artifact (bad magic)")
    arena = struct.unpack_from("<Q", data, 24)[0]
    from ..artifact.reader import read_artifact

    art = read_artifact(data)
    inputs = [t for t in art.tensors if t.flags & 1]
    return arena, (int(inputs[0].nbytes) if inputs else 0)


def footprint(target: Target, elf: Path, artifact: bytes) -> Footprint:
    mem = _mem(target)
    sec = elf_sections(elf)
    fw_flash = sec.get(".text", 0) + sec.get(".ARM.exidx", 0) + sec.get(".data", 0)
    fw_sram = sec.get(".data", 0) + sec.get(".bss", 0) + sec.get(".stack", 0)
    arena, inp = _artifact_needs(artifact)
    align = lambda v: (v + 63) // 64 * 64  # noqa: E731 - the firmware 64-aligns arena and staging
    slot = int(mem["flash_bytes"]) - (int(mem["model_slot"]) - int(mem["flash_base"]))
    return Footprint(target.name, fw_flash, fw_sram, len(artifact), arena, inp,
                     flash_total=fw_flash + len(artifact), sram_total=align(fw_sram) + align(arena) + align(inp),
                     flash_size=int(mem["flash_bytes"]), sram_size=int(mem["sram_bytes"]), slot_size=slot)


def check_fit(fp: Footprint) -> None:
    """EdgeSdkError saying by how many bytes it does not fit, or nothing."""
    problems = []
    if fp.sram_total > fp.sram_size:
        problems.append(f"firmware needs {fp.sram_total:,} bytes of SRAM, {fp.target} has {fp.sram_size:,}: "
                        f"{fp.sram_total - fp.sram_size:,} bytes over (firmware {fp.firmware_sram:,} + arena "
                        f"{fp.arena:,} + input buffer {fp.input_staging:,})")
    if fp.flash_total > fp.flash_size:
        problems.append(f"firmware needs {fp.flash_total:,} bytes of flash, {fp.target} has {fp.flash_size:,}: "
                        f"{fp.flash_total - fp.flash_size:,} bytes over (firmware {fp.firmware_flash:,} + model "
                        f"{fp.model_flash:,})")
    elif fp.model_flash > fp.slot_size:
        problems.append(f"the model needs {fp.model_flash:,} bytes of flash, {fp.target}'s model slot holds "
                        f"{fp.slot_size:,}: {fp.model_flash - fp.slot_size:,} bytes over")
    if problems:
        raise EdgeSdkError("; ".join(problems))


def _toolchain(target: Target) -> Path:
    path = TARGETS_DIR / target.raw.get("toolchain", "")
    if not target.raw.get("toolchain") or not path.is_file():
        raise EdgeSdkError(f"target '{target.name}': toolchain file '{target.raw.get('toolchain')}' not in {TARGETS_DIR}")
    return path


def build_firmware(target: Target, out_dir: Path) -> Path:
    """Configure (once) and build the firmware; incremental, so repeated calls are cheap."""
    _require(emulate=False)
    board = target.raw.get("firmware", {}).get("board")
    if not board:
        raise EdgeSdkError(f"target '{target.name}': [firmware] board missing from its descriptor")
    out_dir = Path(out_dir).resolve()
    steps = []
    if not (out_dir / "CMakeCache.txt").is_file():
        gen = ["-G", "Ninja"] if shutil.which("ninja") else []
        steps.append(["cmake", "-S", str(FIRMWARE_DIR), "-B", str(out_dir), *gen,
                      f"-DCMAKE_TOOLCHAIN_FILE={_toolchain(target)}", f"-DESDK_BOARD={board}"])
    steps.append(["cmake", "--build", str(out_dir)])
    for cmd in steps:
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode:
            raise EdgeSdkError(f"firmware build for {target.name} failed ({' '.join(cmd[:3])}):\n"
                               + (p.stdout + p.stderr)[-3000:])
    return out_dir / "firmware.elf"


def build(target: Target, out_dir: Path, artifact: Path | None) -> dict:
    elf = build_firmware(target, out_dir)
    mem = _mem(target)
    result = {"target": target.name, "firmware": str(elf), "sections": elf_sections(elf),
              "model_slot": int(mem["model_slot"]), "emulator": target.raw.get("emulator", "")}
    if artifact is not None:
        data = Path(artifact).read_bytes()
        fp = footprint(target, elf, data)
        check_fit(fp)
        result["footprint"] = fp.to_dict()
        result["artifact"] = str(artifact)
        flash = target.raw.get("flash", {})
        fmt = {"elf": elf, "artifact": artifact, "slot": int(mem["model_slot"])}
        result["flash_commands"] = [flash[k].format(**fmt) for k in ("firmware", "model") if k in flash
                                    and "{pyocd_target}" not in flash[k]]
    return result


def board(target: Target, artifact: Path, elf: Path | None = None):
    """QemuBoard context manager for `artifact` on `target` (builds the firmware if needed)."""
    from .mcu_qemu import QemuBoard

    _require(emulate=True)
    elf = elf or build_firmware(target, ROOT / "build" / target.name)
    fp = footprint(target, elf, Path(artifact).read_bytes())
    check_fit(fp)
    emu = target.raw.get("emulation", {})
    return QemuBoard(emu.get("machine", ""), elf, Path(artifact), int(_mem(target)["model_slot"]),
                     qemu=emu.get("qemu", "qemu-system-arm"))


def _io(artifact: Path):
    from ..runtime.session import Session

    s = Session(Path(artifact).read_bytes())
    return s.inputs, s.outputs


def run(target: Target, artifact_path: Path, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs of one inference on the emulated board, raw dtype, as Session.run returns them."""
    inputs, outputs = _io(artifact_path)
    if len(inputs) != 1:
        raise EdgeSdkError(f"the MLPerf Tiny firmware takes one input tensor; this model has {len(inputs)}")
    info = inputs[0]
    if isinstance(feeds, Mapping):
        if info.name not in feeds:
            raise EdgeSdkError(f"missing input '{info.name}'; given {sorted(feeds)}")
        x = feeds[info.name]
    else:
        x = list(feeds)[0]
    x = np.asarray(x)
    if tuple(x.shape) != tuple(info.shape):
        raise EdgeSdkError(f"input '{info.name}' has shape {list(x.shape)}, the model wants {list(info.shape)}")
    data = np.ascontiguousarray(x.astype(info.dtype, copy=False)).astype(info.dtype.newbyteorder("<")).tobytes()
    with board(target, artifact_path) as dut:
        dut.load(data)
        dut.infer(1, 0)
        return {o.name: np.frombuffer(dut.output_bytes(i), dtype=o.dtype.newbyteorder("<")).astype(o.dtype)
                .reshape(o.shape) for i, o in enumerate(outputs)}


def instructions_per_inference(target: Target, artifact_path: Path, runs: int = 2, isa: str = "best",
                               feeds: Mapping[str, np.ndarray] | None = None) -> dict:
    """Guest instructions per inference on the emulated board: with -icount shift=0 one
    instruction is 1 ns of virtual time, so (t1 - t0) us x 1000 / runs (resolution 1000 / runs)."""
    inputs, _ = _io(artifact_path)
    info = inputs[0]
    if feeds is None:
        rng = np.random.default_rng(0)
        x = (rng.integers(-128, 128, info.shape) if info.dtype == np.int8 else rng.standard_normal(info.shape))
    else:
        x = feeds[info.name]
    data = np.asarray(x).astype(info.dtype).tobytes()
    with board(target, artifact_path) as dut:
        isa_name = dut.set_isa(isa)
        dut.load(data)
        r = dut.infer(runs, 1)
    return {"target": target.name, "isa": isa_name, "runs": runs, "lap_us": r.duration_us,
            "instructions": r.duration_us * 1000 // runs}
