"""flash = "gdb": our GDB remote-protocol client writes the model slot (and the firmware when the
board does not answer) and verifies by reading back.

Against the real qemu-system-arm gdbstub (slow): a Cortex-M4 board started with one model in its
slot and held at reset (-S) gets another model written over GDB; after the detach it boots and
its MLPerf Tiny answers must match the host run of the new model (and the two models' host
outputs differ, so the check tells them apart). A write corrupted on the way must fail with
FlashFailed. qemu offers no flash memory map, so the vFlashErase/vFlashWrite path is tested
against a FAKE gdbserver with a NOR flash (fake_gdbserver), standing in for openocd/pyocd with a
probe, which we do not have.
"""
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge_sdk.hil.errors import FlashFailed, LabFileError
from edge_sdk.hil.lab import Device, load_lab
from hil_helpers import free_port, tiny_artifacts, write_lab

ROOT = Path(__file__).resolve().parents[1]


def _dev(port: int, reset: str | None = "reset") -> Device:
    opts = {"gdb": f"127.0.0.1:{port}"}
    if reset is not None:
        opts["gdb_reset"] = reset
    return Device(name="m4-gdb", target="cortex-m4", transport="serial", protocol="mlperf-tiny", flash="gdb",
                  options=opts, timeout_s=5.0)


# ---- FAKE gdbserver with a flash memory map (the vFlash path) ----

def test_gdb_flash_fake_gdbserver_flash_map_erases_whole_blocks_keeps_neighbours_and_verifies(tmp_path):
    from edge_sdk.hil.fakes.fake_gdbserver import FakeGdbServer
    from edge_sdk.hil.flash_gdb import flash_gdb

    fake = FakeGdbServer(nack_first=True, rle=True)
    rng = np.random.default_rng(1)
    before = rng.integers(0, 256, len(fake.flash), dtype=np.uint8).tobytes()
    fake.flash[:] = before                    # "firmware" and old data everywhere
    slot = fake.flash_start + 0x1234          # not block aligned: blocks shared with neighbours
    model = bytes(rng.integers(0, 256, 3000, dtype=np.uint8)) + b"#$}*" * 50 + b"\x00" * 300
    art = tmp_path / "model.esm"
    art.write_bytes(model)
    try:
        info = flash_gdb(_dev(fake.port), art, slot)
    finally:
        fake.close()
    off = slot - fake.flash_start
    want = bytearray(before)
    want[off:off + len(model)] = model
    assert bytes(fake.flash) == bytes(want)   # the image in place, every byte around it unchanged
    bs = fake.blocksize
    assert fake.erased == [(fake.flash_start + off // bs * bs, (-(-(off + len(model)) // bs) - off // bs) * bs)]
    assert "vFlashErase" in info["how"] and info["verified"].startswith("read-back")
    assert fake.log.count(b"vFlashDone") == 1
    assert fake.monitor_cmds == ["reset"] and fake.detached
    assert not any(p[:1] in (b"X", b"M") for p in fake.log)   # flash is never written as RAM


def test_gdb_flash_fake_gdbserver_bad_flash_cell_fails_readback(tmp_path):
    from edge_sdk.hil.fakes.fake_gdbserver import FakeGdbServer
    from edge_sdk.hil.flash_gdb import flash_gdb

    slot = 0x08000800
    fake = FakeGdbServer(flip_write_at=slot + 100)
    art = tmp_path / "m.esm"
    art.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(FlashFailed, match=r"first difference at 0x8000864 \(wrote 0x64, read 0x65\)"):
        flash_gdb(_dev(fake.port), art, slot)
    fake.close()
    assert not fake.detached and fake.monitor_cmds == []   # no reset into a half-written image


def test_gdb_flash_fake_gdbserver_refused_reset_command_is_flash_failed(tmp_path):
    from edge_sdk.hil.fakes.fake_gdbserver import FakeGdbServer
    from edge_sdk.hil.flash_gdb import flash_gdb

    fake = FakeGdbServer()
    art = tmp_path / "m.esm"
    art.write_bytes(b"\x5a" * 100)
    with pytest.raises(FlashFailed, match="monitor 'reset-and-pray' refused: E04"):
        flash_gdb(_dev(fake.port, reset="reset-and-pray"), art, 0x08000000)
    fake.close()
    assert bytes(fake.flash[:100]) == b"\x5a" * 100 and fake.monitor_cmds == ["reset-and-pray"]


def test_gdb_flash_unreachable_server_and_bad_lab_entries(tmp_path):
    from edge_sdk.hil.flash_gdb import flash_gdb

    art = tmp_path / "m.esm"
    art.write_bytes(b"x" * 10)
    with pytest.raises(FlashFailed, match="cannot connect"):
        flash_gdb(_dev(free_port()), art, 0x20000)
    base = '[[device]]\nname = "b"\ntarget = "cortex-m4"\ntransport = "serial"\nport = "socket://127.0.0.1:1"\nflash = "gdb"\n'
    with pytest.raises(LabFileError, match="gdb must be HOST:PORT"):
        load_lab(write_lab(tmp_path / "a.toml", base))
    with pytest.raises(LabFileError, match="gdb must be HOST:PORT"):
        load_lab(write_lab(tmp_path / "b.toml", base + 'gdb = "localhost"\n'))
    lab = load_lab(write_lab(tmp_path / "c.toml", base + 'gdb = "127.0.0.1:3333"\ngdb_reset = "none"\n'))
    assert lab.devices[0].options == {"gdb": "127.0.0.1:3333", "gdb_reset": "none"}


def test_elf_load_segments_match_objcopy(tmp_path):
    """Our PT_LOAD reader against binutils: objcopy -O binary lays the same segments out."""
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-objcopy", "cmake"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} missing")
    from edge_sdk.build import mcu
    from edge_sdk.compile.target import load_target
    from edge_sdk.hil.flash_gdb import elf_load_segments

    elf = mcu.build_firmware(load_target("cortex-m4"), ROOT / "build" / "cortex-m4")
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", str(elf), str(tmp_path / "fw.bin")], check=True)
    flat = (tmp_path / "fw.bin").read_bytes()
    segs = elf_load_segments(elf)
    base = min(a for a, _ in segs)
    assert base == 0 and len(segs) >= 2      # vector table + text at 0, .data's load image after it
    for a, data in segs:
        assert flat[a - base:a - base + len(data)] == data
    assert max(a + len(d) for a, d in segs) - base == len(flat)


# ---- the real qemu-system-arm gdbstub ----

class HaltedBoard:
    """The cortex-m4 emulated board (mps2-an386, the real bench firmware) with `artifact` in its
    slot, held at reset by -S, its gdbstub on a TCP port and UART0 on another."""

    def __init__(self, artifact: Path):
        from edge_sdk.build import mcu
        from edge_sdk.build.mcu_qemu import QemuBoard
        from edge_sdk.compile.target import load_target

        t = load_target("cortex-m4")
        self.slot = int(t.raw["memory"]["model_slot"])
        elf = mcu.build_firmware(t, ROOT / "build" / "cortex-m4")
        self.gdb, self.uart = free_port(), free_port()
        qb = QemuBoard(t.raw["emulation"]["machine"], elf, artifact, self.slot)
        self.cmd = [a.replace("wait=on", "wait=off") for a in qb.command_line(self.uart)] + [
            "-S", "-gdb", f"tcp:127.0.0.1:{self.gdb}"]

    def __enter__(self):
        import socket

        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.uart), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > end or self.proc.poll() is not None:
                    self.__exit__()
                    raise AssertionError("qemu-system-arm did not start")
                time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait(timeout=10)


def _need_qemu():
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc", "cmake"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} missing")


def _measure(tmp_path, uart: int, model: Path) -> dict:
    """One short run through the board's UART: status and fidelity against the host run of `model`."""
    from edge_sdk.hil.runner import RunOptions, run_lab

    lab = load_lab(write_lab(tmp_path / "measure.toml", f'[[device]]\nname = "m4"\ntarget = "cortex-m4"\n'
                             f'transport = "serial"\nport = "socket://127.0.0.1:{uart}"\ninfer_timeout_s = 60\n'))
    rep = run_lab(lab, [model], tmp_path / f"out-{model.stem}",
                  opts=RunOptions(windows=1, min_window_s=0.01, warmup=1, cooldown_s=0))
    return rep["results"][0]


def _host_outputs_differ(a: Path, b: Path) -> float:
    from edge_sdk.hil.inputs import host_reference, make_inputs
    from edge_sdk.hil.measure import max_rel_err

    xa, sa = make_inputs(a, 0)
    xb, sb = make_inputs(b, 0)
    assert all(np.array_equal(p, q) for p, q in zip(xa, xb))
    return max_rel_err(host_reference(sa, xa)[0], host_reference(sb, xb)[0])


@pytest.mark.slow
def test_gdb_flash_qemu_gdbstub_model_slot_then_mlperf_answers_match_host(tmp_path):
    _need_qemu()
    from edge_sdk.hil.deploy import flash_mcu

    dense, sparse = tiny_artifacts(tmp_path)
    assert _host_outputs_differ(dense, sparse) > 0.05   # the fidelity check tells the two models apart
    with HaltedBoard(sparse) as b:
        info = flash_mcu(_dev(b.gdb, reset="none"), dense)
        assert info["slot"] == f"{b.slot:#x}" and "X/M memory writes" in info["how"]
        r = _measure(tmp_path, b.uart, dense)
    assert r["status"] == "pass", r["error"]
    assert r["fidelity"]["max_rel_err"] < 1e-5, r["fidelity"]


@pytest.mark.slow
def test_gdb_flash_qemu_gdbstub_corrupted_write_fails_readback(tmp_path, monkeypatch):
    _need_qemu()
    from edge_sdk.hil import gdb_rsp
    from edge_sdk.hil.deploy import flash_mcu

    dense, sparse = tiny_artifacts(tmp_path)
    real_write = gdb_rsp.GdbRemote.write_memory

    def corrupting_write(self, addr, data):   # one bit flipped on its way to the board
        data = bytearray(data)
        data[len(data) // 2] ^= 0x10
        return real_write(self, addr, bytes(data))

    with HaltedBoard(sparse) as b:
        monkeypatch.setattr(gdb_rsp.GdbRemote, "write_memory", corrupting_write)
        with pytest.raises(FlashFailed, match=r"read-back of tiny_dense.esm at 0x20000 does not match"):
            flash_mcu(_dev(b.gdb, reset="none"), dense)
        monkeypatch.setattr(gdb_rsp.GdbRemote, "write_memory", real_write)
        # the board really holds the corrupted bytes: our read-back saw what qemu has
        with gdb_rsp.GdbRemote("127.0.0.1", b.gdb) as g:
            g.handshake()
            back = g.read_memory(b.slot, dense.stat().st_size)
    want = dense.read_bytes()
    assert back != want and sum(x != y for x, y in zip(back, want)) >= 1


@pytest.mark.slow
def test_gdb_flash_cli_halted_qemu_board_gets_firmware_and_model(tmp_path):
    """`edge-sdk flash` on a board that does not answer (held at reset): firmware segments and
    model over GDB, read back; after the detach the board runs the new model."""
    _need_qemu()
    dense, sparse = tiny_artifacts(tmp_path)
    with HaltedBoard(sparse) as b:
        lab = write_lab(tmp_path / "lab.toml", f'[[device]]\nname = "m4-gdb"\ntarget = "cortex-m4"\n'
                        f'transport = "serial"\nport = "socket://127.0.0.1:{b.uart}"\nflash = "gdb"\n'
                        f'gdb = "127.0.0.1:{b.gdb}"\ngdb_reset = "none"\ntimeout_s = 0.5\nretries = 1\n')
        p = subprocess.run([sys.executable, "-m", "edge_sdk.cli.main", "flash", str(dense), "--lab", str(lab),
                            "--device", "m4-gdb"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                           env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
        assert p.returncode == 0, p.stderr[-800:]
        info = json.loads(p.stdout.strip().splitlines()[-1])
        assert info["firmware"] == "firmware.elf" and info["flashed"] == "tiny_dense.esm"
        assert "flashing the bench firmware too" in p.stderr
        r = _measure(tmp_path, b.uart, dense)
    assert r["status"] == "pass", r["error"]
    assert r["fidelity"]["max_rel_err"] < 1e-5, r["fidelity"]
