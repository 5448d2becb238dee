"""One connected lab device, whatever its kind: the runner calls health / deploy / infer /
outputs / sysinfo / close and never looks at transports or protocols itself.

McuDevice: serial link + MLPerf Tiny (edge_sdk/hil/protocols/mlperf_tiny.py); deploy = flash
(pyocd/openocd/gdb, read-back verified) or, for emulated boards, restart qemu with the artifact.
LinuxDevice: ssh/adb/local + the JSON bench program (protocols/edge_bench.py); deploy = copy.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import numpy as np

from .errors import DeviceOffline, InfraError
from .lab import Device


class McuDevice:
    kind = "mcu"

    def __init__(self, dev: Device, board=None):
        self.dev, self.board = dev, board   # board: emulate.McuBoard when emulate = true
        self.link = None
        self.proto = None
        self.health_info: dict = {}

    def _connect(self) -> None:
        from .dut import DutClient
        from .protocols.mlperf_tiny import MlperfTiny
        from .transports.serial import SerialTransport

        if self.board is not None:
            client = self.board.client
        else:
            self.link = SerialTransport(str(self.dev.port), self.dev.baud, self.dev.timeout_s, self.dev.retries)
            self.link.connect()
            client = DutClient(self.link.ser, self.dev.timeout_s, self.dev.infer_timeout_s, self.dev.retries)
        self.proto = MlperfTiny(client, self.dev.retries)

    def health(self) -> dict:
        if self.board is not None and self.board.client is None:
            return {"board": "emulated, starts with the first model"}
        if self.proto is None:
            self._connect()
        self.health_info = self.proto.health()
        return self.health_info

    def deploy(self, artifact: Path, arrays: list[np.ndarray]) -> None:
        if self.board is not None:
            self.proto = None
            self.board.start(artifact)
            self.health()
        elif self.dev.flash in ("pyocd", "openocd", "gdb"):
            from .deploy import flash_mcu

            flash_mcu(self.dev, artifact)
            if self.link is not None:
                self.link.close()
                self.proto = None
            self.health()
        if len(arrays) != 1:
            raise InfraError(f"MLPerf Tiny DUTs take one input tensor; the artifact has {len(arrays)}")
        self.proto.load(np.ascontiguousarray(arrays[0]).tobytes())

    def infer(self, n: int, warmup: int, expected_s: float = 0.0):
        from .protocols.edge_bench import Window

        r = self.proto.infer(n, warmup, expected_s)
        return Window(n, float(r.duration_us), {"t0_us": r.t0_us, "t1_us": r.t1_us, "retries": r.retries,
                                                "results": r.results[:16]})

    def outputs(self, session) -> tuple[list[np.ndarray], str]:
        """Device outputs to compare with the host: raw bytes (`db out`) when the firmware has it,
        else the printed 3-decimal results against the dequantized host output."""
        info = session.outputs[0]
        raw = self.proto.output_bytes(0)
        if raw is not None and len(raw) == int(np.prod(info.shape)) * info.dtype.itemsize:
            return [np.frombuffer(raw, info.dtype).reshape(info.shape)], "raw output bytes (db out)"
        r = self.proto.infer(1, 0)
        return [np.asarray(r.results, np.float32)], "m-results (3 decimals, dequantized)"

    def sysinfo(self) -> dict | None:
        return None

    def close(self) -> None:
        if self.proto is not None and self.board is None:
            self.proto.close()
        if self.link is not None:
            self.link.close()
            self.link = None
        if self.board is not None:
            self.board.stop()


class LinuxDevice:
    kind = "linux"

    def __init__(self, dev: Device, transport=None, prefix: list[str] | None = None, on_close=None):
        from .transports import open_transport

        self.dev = dev
        self.t = transport or open_transport(dev)
        self.prefix = prefix or []
        self._on_close = on_close
        self.proto = None
        self.health_info: dict = {}

    def _bench(self) -> tuple[list[str], Path | None]:
        """(command to run on the device, local file to copy there first or None)."""
        if self.dev.bench_program:
            p = Path(self.dev.bench_program)
            if self.dev.transport != "local" and p.is_file():
                return [], p
            return shlex.split(self.dev.bench_program), None
        if self.dev.target_kind == "host":
            root = Path(__file__).resolve().parents[2]  # importable over ssh too, where no env is passed
            return ["env", f"PYTHONPATH={root}", sys.executable, "-m", "edge_sdk.hil.agent"], None
        from ..build import linux
        from ..compile.target import load_target

        return [], linux.bench_program(load_target(self.dev.target))

    def health(self) -> dict:
        from .protocols.edge_bench import EdgeBench

        try:
            self.t.connect()
        except InfraError:
            raise
        except Exception as e:
            raise DeviceOffline(f"{self.dev.name}: {e}") from None
        cmd, _ = self._bench()
        self.proto = EdgeBench(self.t, cmd, self.dev.workdir, self.prefix, self.dev.timeout_s, self.dev.infer_timeout_s)
        self.health_info = self.proto.health()
        return self.health_info

    def deploy(self, artifact: Path, arrays: list[np.ndarray], tmp: Path | None = None) -> None:
        import tempfile

        tmp = Path(tmp or tempfile.mkdtemp(prefix="esdk-hil-in-"))
        paths = []
        for k, a in enumerate(arrays):
            p = tmp / f"input_{k}.bin"
            np.ascontiguousarray(a).tofile(p)
            paths.append(p)
        _, local_bench = self._bench()
        self.proto.deploy(Path(artifact), paths, local_bench)
        self.proto.warmup_supported = None

    def infer(self, n: int, warmup: int, expected_s: float = 0.0):
        return self.proto.infer(n, warmup, expected_s)

    def single_run_outputs(self, session) -> tuple[list[np.ndarray], str]:
        """Outputs of a separate one-inference run (fresh inputs): the fidelity reference run."""
        self.proto.infer(1, 0)
        outs, _ = self.outputs(session)
        return outs, "raw output files of a one-inference run"

    def outputs(self, session) -> tuple[list[np.ndarray], str]:
        import tempfile

        files = self.proto.fetch_outputs(len(session.outputs), Path(tempfile.mkdtemp(prefix="esdk-hil-out-")))
        outs = []
        for f, info in zip(files, session.outputs):
            outs.append(np.fromfile(f, info.dtype).reshape(info.shape))
        return outs, "raw output files"

    def sysinfo(self) -> dict | None:
        return self.proto.sysinfo()

    def count_insns(self, artifact: Path, runs: int = 2) -> float | None:
        """Guest instructions per inference on an emulated aarch64 board (qemu TCG plugin, through
        the device's own transport): runs with 1 and 1 + runs inferences, the difference / runs."""
        if not self.prefix:
            return None
        from ..build import linux

        plugin = ["-plugin", str(linux.insn_plugin()), "-d", "plugin"]
        counts = []
        for n in (1, 1 + runs):
            r = self.t.run(self.prefix + plugin + self.proto._args(n, 0), self.dev.infer_timeout_s)
            lines = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.startswith("insns:")]
            if r.rc != 0 or not lines:
                return None
            counts.append(int(lines[-1].split(":", 1)[1]))
        return (counts[1] - counts[0]) / runs

    def close(self) -> None:
        try:
            self.t.close()
        finally:
            if self._on_close:
                self._on_close()


def connect(dev: Device):
    """The device object for a lab entry, starting its emulated board when emulate = true."""
    if dev.protocol == "mlperf-tiny":
        board = None
        if dev.emulate:
            from .emulate import McuBoard

            board = McuBoard(dev)
        return McuDevice(dev, board)
    if dev.emulate:
        from .emulate import emulated_linux

        return emulated_linux(dev)
    if dev.target_kind == "host" and dev.transport == "local" and not dev.bench_program:
        return HostDevice(dev)
    return LinuxDevice(dev)


class HostDevice:
    """target = host, transport = local, no bench_program: the runtime runs in this process
    (edge_sdk.Session), timed around the invoke loop only; warmup before the first timestamp."""

    kind = "host"

    def __init__(self, dev: Device):
        self.dev = dev
        self.sess = None
        self.proto = None

    def health(self) -> dict:
        import platform

        return {"uname": f"{platform.release()} {platform.machine()}", "runner": "in-process Session"}

    def deploy(self, artifact: Path, arrays: list[np.ndarray]) -> None:
        from ..runtime.session import Session

        self.sess = Session(artifact)
        self.arrays = arrays
        self.out = self.sess.run(arrays)

    def infer(self, n: int, warmup: int, expected_s: float = 0.0):
        import time

        from .protocols.edge_bench import Window

        self.sess.run(self.arrays)
        for _ in range(warmup):
            self.sess.invoke()
        t0 = time.perf_counter()
        for _ in range(n):
            self.sess.invoke()
        dt = time.perf_counter() - t0
        self.out = self.sess.run(self.arrays)
        return Window(n, dt * 1e6, {"isa": self.sess.isa})

    def outputs(self, session) -> tuple[list[np.ndarray], str]:
        return [self.out[o.name] for o in self.sess.outputs], "in-process outputs"

    def sysinfo(self) -> dict | None:
        from .transports.local import LocalTransport
        from .protocols.edge_bench import EdgeBench

        return EdgeBench(LocalTransport(), [], "/tmp").sysinfo()

    def close(self) -> None:
        self.sess = None
