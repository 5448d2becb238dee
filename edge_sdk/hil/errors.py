"""HIL errors. InfraError = the lab failed (device offline, flash failed, timeout, lost link);
everything else that goes wrong on a device is a test failure or a test error."""
from __future__ import annotations

from ..errors import EdgeSdkError


class HilError(EdgeSdkError):
    """Base of every HIL error."""


class LabFileError(HilError):
    """The lab file is missing, not TOML, or describes an impossible device."""


class InfraError(HilError):
    """Infrastructure: reported apart from test failures."""

    kind = "infrastructure"


class DeviceOffline(InfraError):
    """The device did not answer its health check (or its port does not exist)."""


class TransportTimeout(InfraError):
    """A wait on the device ran past its timeout."""


class ConnectionLost(InfraError):
    """The link to the device dropped (serial closed, ssh session died, board reset)."""


class FlashFailed(InfraError):
    """Flashing or copying to the device failed, or the read-back did not match."""


class ProtocolViolation(InfraError):
    """The device sent bytes the protocol does not allow (garbage, dropped bytes)."""


class ReportWriteError(InfraError):
    """The report directory cannot be written (disk full, read-only)."""


class EmulatorError(InfraError):
    """The emulated board or its helper (qemu, sshd) did not start."""


class DeviceReportedError(HilError):
    """The device answered with an error (e-[...] or a non-zero exit): a test error, not infrastructure."""


class PowerMeterError(InfraError):
    """The power meter did not answer or refused a command."""


class RunCancelled(HilError):
    """The run got SIGTERM / SIGINT / SIGHUP: cleaned up (places released), exit 1 with one line."""
