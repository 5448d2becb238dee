"""Lab files (TOML): which devices exist, how to reach, deploy to and measure them.

docs/hil.md has a full example. Every mistake is one LabFileError line naming the file and device.
Secrets (passwords, key files) may be written as ${ENV_VAR}; they are resolved here and never
copied into a report (`Device.public()` drops them).
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import LabFileError

TRANSPORTS = ("serial", "ssh", "adb", "local")
PROTOCOLS = ("mlperf-tiny", "edge-sdk")
FLASHERS = ("none", "pyocd", "openocd", "gdb", "scp", "adb")
POWER = ("none", "joulescope", "lpm01a", "ina219", "ina226", "rapl", "model")
SECRET_KEYS = ("password", "key_file", "passphrase")
_KNOWN = {"name", "target", "transport", "port", "baud", "protocol", "flash", "power", "emulate", "budget",
          "host", "user", "key_file", "password", "passphrase", "serial", "workdir", "bench_program",
          "timeout_s", "infer_timeout_s", "retries", "power_port", "i2c_bus", "i2c_address", "shunt_ohms",
          "rapl_domain", "flash_target", "probe", "openocd_config", "cooldown_s", "labgrid_place", "wrapper",
          "gdb", "gdb_reset", "adb_server"}


@dataclass
class Budget:
    latency_ms: float | None = None
    energy_uj: float | None = None


@dataclass
class Device:
    name: str
    target: str
    transport: str
    protocol: str
    port: str | int | None = None
    baud: int = 115200
    flash: str = "none"
    power: str = "none"
    emulate: bool = False
    budget: Budget = field(default_factory=Budget)
    host: str | None = None
    user: str | None = None
    key_file: str | None = None
    password: str | None = None
    passphrase: str | None = None
    serial: str | None = None
    workdir: str = "/tmp/edge-sdk-hil"
    bench_program: str | None = None
    timeout_s: float = 5.0            # per command (MLPerf Tiny runner: 5 s)
    infer_timeout_s: float = 30.0     # per infer window beyond its expected length (runner: 30 s)
    retries: int = 3                  # name%/profile% probes and reconnects
    cooldown_s: float = 0.0
    options: dict = field(default_factory=dict)   # power/flash specifics (power_port, i2c_bus, probe, ...)
    target_kind: str = "host"

    def public(self) -> dict:
        """The device as a report may show it: no secrets."""
        d = {"name": self.name, "target": self.target, "transport": self.transport, "protocol": self.protocol,
             "flash": self.flash, "power": self.power, "emulate": self.emulate,
             "budget": {"latency_ms": self.budget.latency_ms, "energy_uj": self.budget.energy_uj}}
        if self.transport == "serial":
            d["port"], d["baud"] = str(self.port), self.baud
        if self.transport == "ssh":
            d["host"], d["port"] = self.host, self.port
        if self.transport == "adb":
            d["serial"] = self.serial
        return d


@dataclass
class Lab:
    path: Path
    devices: list[Device]

    def device(self, name: str) -> Device:
        for d in self.devices:
            if d.name == name:
                return d
        raise LabFileError(f"{self.path}: no device named '{name}'; devices: {', '.join(d.name for d in self.devices)}")

    def select(self, names: list[str] | None) -> list[Device]:
        return [self.device(n) for n in names] if names else list(self.devices)


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value, where: str):
    if not isinstance(value, str):
        return value

    def sub(m):
        if m.group(1) not in os.environ:
            raise LabFileError(f"{where}: environment variable {m.group(1)} is not set")
        return os.environ[m.group(1)]

    return _ENV.sub(sub, value)


def parse_endpoint(text: str, where: str = "address") -> tuple[str, int]:
    """HOST:PORT (a GDB server, an adb server) -> (host, port); ValueError naming `where`."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{where} must be HOST:PORT (e.g. 127.0.0.1:3333), not {text!r}")
    return host, int(port)


def _num(raw: dict, key: str, where: str, kind=float, positive=True):
    v = raw.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise LabFileError(f"{where}: {key} must be a number, not {v!r}")
    if positive and v <= 0:
        raise LabFileError(f"{where}: {key} must be > 0, not {v!r}")
    return kind(v)


def _device(raw, i: int, path: Path) -> Device:
    if not isinstance(raw, dict):
        raise LabFileError(f"{path}: [[device]] #{i + 1} is not a table")
    name = raw.get("name")
    if not isinstance(name, str) or not name or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise LabFileError(f"{path}: [[device]] #{i + 1} needs a name of letters, digits, '.', '_' or '-'")
    where = f"{path}: device '{name}'"
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise LabFileError(f"{where}: unknown key(s) {', '.join(unknown)}")
    target = raw.get("target")
    if not isinstance(target, str):
        raise LabFileError(f"{where}: needs target = \"<descriptor in targets/>\"")
    from ..compile.target import load_target
    from ..errors import EdgeSdkError

    try:
        kind = load_target(target).raw.get("kind", "host")
    except EdgeSdkError as e:
        raise LabFileError(f"{where}: {e}") from None
    transport = raw.get("transport")
    if transport not in TRANSPORTS:
        raise LabFileError(f"{where}: transport must be one of {'|'.join(TRANSPORTS)}, not {transport!r}")
    protocol = raw.get("protocol", "mlperf-tiny" if kind == "mcu" else "edge-sdk")
    if protocol not in PROTOCOLS:
        raise LabFileError(f"{where}: protocol must be one of {'|'.join(PROTOCOLS)}, not {protocol!r}")
    if protocol == "mlperf-tiny" and transport not in ("serial",):
        raise LabFileError(f"{where}: protocol mlperf-tiny needs transport = \"serial\"")
    flash = raw.get("flash", "none")
    if flash not in FLASHERS:
        raise LabFileError(f"{where}: flash must be one of {'|'.join(FLASHERS)}, not {flash!r}")
    power = raw.get("power", "none")
    if power not in POWER:
        raise LabFileError(f"{where}: power must be one of {'|'.join(POWER)}, not {power!r}")
    emulate = raw.get("emulate", False)
    if not isinstance(emulate, bool):
        raise LabFileError(f"{where}: emulate must be true or false")
    if flash == "gdb":
        try:
            parse_endpoint(_expand(raw.get("gdb", ""), where), f"{where}: gdb")
        except ValueError as e:
            raise LabFileError(f"{e} (flash = \"gdb\" needs the GDB server's address)") from None
        if not isinstance(raw.get("gdb_reset", ""), str):
            raise LabFileError(f"{where}: gdb_reset must be a monitor command string or \"none\"")
    if power == "model" and not emulate:
        raise LabFileError(f"{where}: power = \"model\" estimates energy of emulated boards only (emulate = true)")
    budget = raw.get("budget", {})
    if not isinstance(budget, dict) or set(budget) - {"latency_ms", "energy_uj"}:
        raise LabFileError(f"{where}: [device.budget] takes latency_ms and energy_uj only")
    port = _expand(raw.get("port"), where)
    host = _expand(raw.get("host"), where)
    if transport == "serial" and not emulate and not isinstance(port, str):
        raise LabFileError(f"{where}: serial needs port = a device path, a pyserial URL or usb:SERIALNUMBER")
    if transport == "ssh":
        if not emulate and not isinstance(host, str):
            raise LabFileError(f"{where}: ssh needs host")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
            raise LabFileError(f"{where}: ssh port must be an integer 1..65535")
    if transport == "adb" and not isinstance(raw.get("serial"), (str, type(None))):
        raise LabFileError(f"{where}: adb serial must be a string")
    if "adb_server" in raw:
        try:
            parse_endpoint(_expand(raw["adb_server"], where), f"{where}: adb_server")
        except ValueError as e:
            raise LabFileError(str(e)) from None
    baud = _num(raw, "baud", where, int) or 115200
    dev = Device(name=name, target=target, transport=transport, protocol=protocol, port=port, baud=baud,
                 flash=flash, power=power, emulate=emulate, target_kind=kind,
                 budget=Budget(_num(budget, "latency_ms", where), _num(budget, "energy_uj", where)),
                 host=host, user=_expand(raw.get("user"), where), key_file=_expand(raw.get("key_file"), where),
                 password=_expand(raw.get("password"), where), passphrase=_expand(raw.get("passphrase"), where),
                 serial=_expand(raw.get("serial"), where))
    for key in ("workdir", "bench_program"):
        if key in raw:
            if not isinstance(raw[key], str):
                raise LabFileError(f"{where}: {key} must be a string")
            setattr(dev, key, raw[key])
    for key in ("timeout_s", "infer_timeout_s"):
        v = _num(raw, key, where)
        if v is not None:
            setattr(dev, key, v)
    if "cooldown_s" in raw:
        dev.cooldown_s = _num(raw, "cooldown_s", where, positive=False) or 0.0
    if "retries" in raw:
        dev.retries = _num(raw, "retries", where, int)
    dev.options = {k: _expand(raw[k], where) for k in ("power_port", "i2c_bus", "i2c_address", "shunt_ohms",
                                                        "rapl_domain", "flash_target", "probe", "openocd_config",
                                                        "labgrid_place", "wrapper", "gdb", "gdb_reset", "adb_server") if k in raw}
    return dev


def load_lab(path: str | Path) -> Lab:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise LabFileError(f"cannot read lab file {path}: {e.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LabFileError(f"{path}: not valid TOML: {e}") from None
    devices = raw.get("device")
    if not isinstance(devices, list) or not devices:
        raise LabFileError(f"{path}: no [[device]] tables")
    out = [_device(d, i, path) for i, d in enumerate(devices)]
    names = [d.name for d in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise LabFileError(f"{path}: device name(s) used twice: {', '.join(dup)}")
    return Lab(path, out)
