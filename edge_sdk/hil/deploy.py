"""Deploy without measuring (`edge-sdk flash`): MCUs get the model flashed into its slot (and
the bench firmware when the board does not already answer as an edge-sdk DUT) with pyocd or
openocd, or through any GDB server with our RSP client (flash_gdb.py), verified by reading the
flash back; Linux devices get the artifact (and the bench program) copied with scp/sftp or adb
push, verified by size."""
from __future__ import annotations

import shlex
import subprocess
import tempfile
from pathlib import Path

from .errors import FlashFailed
from .lab import Device

TIMEOUT_S = 120.0


def _run(cmd: list[str], what: str) -> None:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except FileNotFoundError:
        raise FlashFailed(f"{what}: {cmd[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise FlashFailed(f"{what}: {cmd[0]} ran past {TIMEOUT_S:g} s") from None
    if p.returncode != 0:
        raise FlashFailed(f"{what}: {cmd[0]} exited {p.returncode}: {(p.stderr or p.stdout).strip()[-200:]}")


def _slot(dev: Device) -> int:
    from ..compile.target import load_target

    return int(load_target(dev.target).raw.get("memory", {}).get("model_slot", 0))


def _pyocd_target(dev: Device) -> list[str]:
    t = dev.options.get("flash_target")
    probe = dev.options.get("probe")
    return (["-t", t] if t else []) + (["-u", probe] if probe else [])


def flash_mcu(dev: Device, artifact: Path, firmware: Path | None = None) -> dict:
    """Flash (firmware if given, then) the model into its slot; read back and compare."""
    artifact = Path(artifact)
    slot = _slot(dev)
    if dev.flash == "gdb":
        from .flash_gdb import flash_gdb

        return flash_gdb(dev, artifact, slot, firmware)
    data = artifact.read_bytes()
    with tempfile.TemporaryDirectory(prefix="esdk-flash-") as tmp:
        back = Path(tmp) / "readback.bin"
        if dev.flash == "pyocd":
            if firmware:
                _run(["pyocd", "flash", *_pyocd_target(dev), str(firmware)], "flash firmware")
            _run(["pyocd", "flash", *_pyocd_target(dev), "--base-address", f"{slot:#x}", str(artifact)], "flash model")
            _run(["pyocd", "cmd", *_pyocd_target(dev), "-c", f"savemem {slot:#x} {len(data)} {back}"], "read back")
        elif dev.flash == "openocd":
            cfg = shlex.split(dev.options.get("openocd_config", "-f interface/stlink.cfg"))
            prog = ([f"program {firmware} verify"] if firmware else []) + [
                f"program {artifact} {slot:#x} verify", f"dump_image {back} {slot:#x} {len(data)}", "reset run", "exit"]
            _run(["openocd", *cfg, *sum((["-c", c] for c in ["init"] + prog), [])], "openocd program")
        else:
            raise FlashFailed(f"device '{dev.name}': flash = {dev.flash} cannot flash an MCU (pyocd|openocd|gdb)")
        if not back.is_file() or back.read_bytes() != data:
            raise FlashFailed(f"read-back of the model slot at {slot:#x} does not match {artifact.name}")
    return {"device": dev.name, "flashed": artifact.name, "slot": f"{slot:#x}", "verified": "read-back"}


def deploy_one(dev: Device, artifact: Path, log=lambda s: None) -> dict:
    """`edge-sdk flash`: put one artifact (and the bench program/firmware) on a device."""
    from .devices import LinuxDevice, McuDevice, connect
    from .errors import InfraError

    d = connect(dev)
    try:
        if isinstance(d, McuDevice):
            if d.board is not None:
                d.board.start(artifact)
                d.health()
                return {"device": dev.name, "deployed": Path(artifact).name, "how": "emulated board booted with the model"}
            firmware = None
            try:
                d.health()
            except InfraError:
                from ..build import build_target

                log(f"[{dev.name}] no edge-sdk DUT answers: flashing the bench firmware too")
                firmware = Path(build_target(dev.target)["firmware"])
            if d.link is not None:
                d.close()
            return flash_mcu(dev, artifact, firmware)
        assert isinstance(d, LinuxDevice)
        d.health()
        d.proto.deploy(Path(artifact), [], d._bench()[1])
        return {"device": dev.name, "deployed": Path(artifact).name, "to": d.proto.remote_artifact, "how": dev.transport}
    finally:
        d.close()
