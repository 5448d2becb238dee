"""Serial transport over pyserial: device paths, any pyserial URL (socket://, rfc2217://, loop://)
and usb:SERIALNUMBER (looked up among the USB serial ports). Reads have timeouts; a dropped link
is reopened up to `retries` times."""
from __future__ import annotations

import time

from ..errors import ConnectionLost, DeviceOffline, TransportTimeout


def resolve_port(port: str) -> str:
    """usb:SERIAL -> the /dev path of the USB serial adapter with that serial number."""
    if not port.startswith("usb:"):
        return port
    from serial.tools import list_ports

    want = port[4:]
    for p in list_ports.comports():
        if p.serial_number and p.serial_number == want:
            return p.device
    raise DeviceOffline(f"no USB serial port with serial number {want}")


class SerialTransport:
    name = "serial"

    def __init__(self, port: str, baud: int = 115200, timeout_s: float = 5.0, retries: int = 3):
        self.port, self.baud, self.timeout_s, self.retries = port, baud, timeout_s, retries
        self.ser = None

    @property
    def url(self) -> str:
        return resolve_port(self.port)

    def connect(self) -> None:
        import serial

        last = None
        for attempt in range(max(1, self.retries)):
            try:
                self.ser = serial.serial_for_url(self.url, baudrate=self.baud, timeout=0.05, write_timeout=self.timeout_s)
                return
            except (serial.SerialException, OSError, ValueError) as e:
                last = e
                time.sleep(0.2 * (attempt + 1))
        raise DeviceOffline(f"cannot open serial port {self.port}: {last}")

    def reconnect(self) -> None:
        self.close()
        self.connect()

    def close(self) -> None:
        if self.ser is not None:
            try:
                self.ser.close()
            except Exception:
                pass
            self.ser = None

    def write(self, data: bytes) -> None:
        import serial

        try:
            self.ser.write(data)
            self.ser.flush()
        except serial.SerialTimeoutException:
            raise TransportTimeout(f"write to {self.port} timed out") from None
        except (serial.SerialException, OSError, AttributeError) as e:
            raise ConnectionLost(f"serial link {self.port} lost on write: {e}") from None

    def readline(self, timeout_s: float) -> bytes:
        """One line ending in \\n (or what arrived before the deadline: then TransportTimeout)."""
        import serial

        buf = bytearray()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                b = self.ser.read(1)
            except (serial.SerialException, OSError, AttributeError, TypeError) as e:
                raise ConnectionLost(f"serial link {self.port} lost: {e}") from None
            if b:
                buf += b
                if b == b"\n":
                    return bytes(buf)
        raise TransportTimeout(f"no complete line from {self.port} within {timeout_s:g} s (got {bytes(buf)[:60]!r})")

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()
