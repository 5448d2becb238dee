"""Transports: how bytes and commands reach a device.

Two shapes, after labgrid's small protocols: a byte stream (serial: MLPerf Tiny DUTs) and a
command runner with file transfer (ssh, adb, local: Linux boards and phones running the bench
program). Every wait has a timeout; link failures raise ConnectionLost / TransportTimeout.
"""
from __future__ import annotations

from ..errors import LabFileError


def open_transport(dev, **kw):
    """The transport for a lab device (not yet connected for command transports)."""
    if dev.transport == "serial":
        from .serial import SerialTransport

        return SerialTransport(str(dev.port), dev.baud, timeout_s=dev.timeout_s, retries=dev.retries)
    if dev.transport == "ssh":
        from .ssh import SshTransport

        return SshTransport(dev.host, dev.port or 22, dev.user, key_file=dev.key_file, password=dev.password,
                            passphrase=dev.passphrase, timeout_s=dev.timeout_s, retries=dev.retries, **kw)
    if dev.transport == "adb":
        from .adb import AdbTransport

        server = None
        if dev.options.get("adb_server"):
            from ..lab import parse_endpoint

            server = parse_endpoint(dev.options["adb_server"], f"device '{dev.name}': adb_server")
        return AdbTransport(dev.serial, timeout_s=dev.timeout_s, server=server)
    if dev.transport == "local":
        from .local import LocalTransport

        return LocalTransport()
    raise LabFileError(f"unknown transport {dev.transport!r}")
