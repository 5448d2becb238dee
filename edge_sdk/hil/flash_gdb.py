"""flash = "gdb": program an MCU through any GDB server (openocd, pyocd gdbserver, J-Link GDB
server, qemu -gdb) with our own RSP client (gdb_rsp.py), no debugger binary needed.

1. attach (the server halts the core) and read its features and memory map;
2. write the firmware's loadable ELF segments (when asked) and the model into its slot:
   inside a flash region of the memory map with vFlashErase / vFlashWrite / vFlashDone, whole
   erase blocks, the parts of a block outside the image read first and written back as they
   were (as GDB's own `load` does); elsewhere (RAM, or no map at all: qemu) with X / M writes;
3. read every written range back with `m` packets and compare byte for byte (FlashFailed
   naming the first differing address);
4. run the lab's `gdb_reset` monitor command (default `reset`; "none" for a board held at
   its first instruction, such as qemu -S, whose own reset would reload its -kernel images),
   then detach, which lets the core run.
"""
from __future__ import annotations

import struct
from pathlib import Path

from .errors import FlashFailed
from .gdb_rsp import GdbRemote
from .lab import parse_endpoint

TIMEOUT_S = 120.0   # erase and program steps of a real flash take seconds


def elf_load_segments(elf: Path) -> list[tuple[int, bytes]]:
    """(load address, bytes) of every PT_LOAD segment with file contents, at its physical
    (load) address: .data's initial values live in flash, not at their RAM address."""
    raw = Path(elf).read_bytes()
    if raw[:4] != b"\x7fELF" or len(raw) < 52:
        raise FlashFailed(f"{elf}: not an ELF file")
    if raw[4] != 1 or raw[5] != 1:
        raise FlashFailed(f"{elf}: not a 32-bit little-endian ELF (a Cortex-M firmware is)")
    phoff, = struct.unpack_from("<I", raw, 28)
    phentsize, phnum = struct.unpack_from("<HH", raw, 42)
    segs = []
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 32 > len(raw):
            raise FlashFailed(f"{elf}: program header {i} lies past the end of the file")
        p_type, p_offset, _vaddr, p_paddr, p_filesz, _memsz, _flags, _align = struct.unpack_from("<8I", raw, off)
        if p_type != 1 or p_filesz == 0:
            continue
        if p_offset + p_filesz > len(raw):
            raise FlashFailed(f"{elf}: segment {i} lies past the end of the file")
        segs.append((p_paddr, raw[p_offset:p_offset + p_filesz]))
    if not segs:
        raise FlashFailed(f"{elf}: no loadable segments")
    return segs


def _region(regions: list[dict], addr: int) -> dict | None:
    return next((r for r in regions if r["start"] <= addr < r["start"] + r["length"]), None)


def _split(regions: list[dict], addr: int, data: bytes) -> list[tuple[dict | None, int, bytes]]:
    """Cut one image where it crosses memory-map regions: [(region or None, addr, bytes)]."""
    out, off = [], 0
    while off < len(data):
        a = addr + off
        r = _region(regions, a)
        if regions and r is None:
            raise FlashFailed(f"{a:#x} is outside the target's memory map")
        end = len(data) if r is None else min(len(data), r["start"] + r["length"] - addr)
        out.append((r, a, data[off:end]))
        off = end
    return out


def _program_flash(g: GdbRemote, pieces: list[tuple[dict, int, bytes]]) -> None:
    """Erase and program whole blocks; bytes of a block outside the pieces keep their value."""
    blocks: dict[int, tuple[int, bytearray | None, list]] = {}
    for r, a, data in pieces:
        bs, base = r["blocksize"], r["start"]
        first = base + (a - base) // bs * bs
        for b in range(first, a + len(data), bs):
            blocks.setdefault(b, (bs, None, []))[2].append((a, data))
    for b, (bs, _, parts) in sorted(blocks.items()):
        covered = bytearray(bs)
        for a, data in parts:
            lo, hi = max(a, b), min(a + len(data), b + bs)
            covered[lo - b:hi - b] = b"\x01" * (hi - lo)
        img = bytearray(g.read_memory(b, bs)) if 0 in covered else bytearray(b"\xff" * bs)
        for a, data in parts:
            lo, hi = max(a, b), min(a + len(data), b + bs)
            img[lo - b:hi - b] = data[lo - a:hi - a]
        blocks[b] = (bs, img, parts)
    # erase runs of adjacent blocks with one packet each, then program, then commit
    run_start, run_end = None, None
    for b, (bs, _, _) in sorted(blocks.items()) + [(None, (0, None, None))]:
        if b is not None and run_end == b:
            run_end += bs
            continue
        if run_start is not None:
            g.flash_erase(run_start, run_end - run_start, TIMEOUT_S)
        if b is not None:
            run_start, run_end = b, b + bs
    for b, (_, img, _) in sorted(blocks.items()):
        g.flash_write(b, bytes(img), TIMEOUT_S)
    g.flash_done(TIMEOUT_S)


def write_images(g: GdbRemote, images: list[tuple[int, bytes]]) -> str:
    """Write every (address, bytes); returns how (for the flash report)."""
    regions = g.memory_map()
    flash, plain = [], []
    for addr, data in images:
        for r, a, piece in _split(regions, addr, data):
            (flash if r is not None and r["type"] == "flash" else plain).append((r, a, piece))
    for r, a, piece in plain:
        if r is not None and r["type"] == "rom":
            raise FlashFailed(f"{a:#x} is read-only memory in the target's memory map")
        g.write_memory(a, piece)
    if flash:
        _program_flash(g, flash)
    how = []
    if flash:
        how.append("vFlashErase/vFlashWrite/vFlashDone (server memory map)")
    if plain:
        how.append("X/M memory writes" + ("" if regions else " (server has no memory map)"))
    return " + ".join(how)


def verify_images(g: GdbRemote, images: list[tuple[int, bytes]], names: list[str]) -> None:
    for (addr, data), name in zip(images, names):
        back = g.read_memory(addr, len(data))
        if back != data:
            i = next(k for k in range(len(data)) if back[k] != data[k])
            raise FlashFailed(f"read-back of {name} at {addr:#x} does not match: first difference at "
                              f"{addr + i:#x} (wrote {data[i]:#04x}, read {back[i]:#04x})")


def flash_gdb(dev, artifact: Path, slot: int, firmware: Path | None = None) -> dict:
    """Flash (the firmware's segments and) the model into `slot` over the device's GDB server."""
    try:
        host, port = parse_endpoint(dev.options.get("gdb", ""), f"device '{dev.name}': gdb")
    except ValueError as e:
        raise FlashFailed(str(e)) from None
    artifact = Path(artifact)
    images, names = [], []
    if firmware is not None:
        for a, seg in elf_load_segments(Path(firmware)):
            images.append((a, seg))
            names.append(f"{Path(firmware).name} segment at {a:#x}")
    images.append((slot, artifact.read_bytes()))
    names.append(artifact.name)
    reset = str(dev.options.get("gdb_reset", "reset")).strip()
    with GdbRemote(host, port, timeout_s=max(dev.timeout_s, 5.0), retries=dev.retries) as g:
        g.handshake()
        how = write_images(g, images)
        verify_images(g, images, names)
        if reset and reset != "none":
            g.monitor(reset, TIMEOUT_S)
        g.detach()
    return {"device": dev.name, "flashed": artifact.name, "slot": f"{slot:#x}",
            "firmware": Path(firmware).name if firmware else None, "how": f"gdb {host}:{port}: {how}",
            "verified": "read-back (m packets)", "reset": reset or "none"}
