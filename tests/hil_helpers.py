"""Shared by tests/test_hil*.py: two tiny artifacts (a dense and an 80%-sparse MLP) and lab files."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_artifacts(d: Path) -> tuple[Path, Path]:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edge_sdk.export import export

    out = []
    for name, sp in (("tiny_dense", 0.0), ("tiny_sparse", 0.8)):
        esm = d / f"{name}.esm"
        if not esm.exists():
            rng = np.random.default_rng(0)
            W = (rng.standard_normal((16, 32)) * 0.2).astype(np.float32)
            b = (rng.standard_normal(16) * 0.1).astype(np.float32)
            W2 = (rng.standard_normal((4, 16)) * 0.2).astype(np.float32)
            g = helper.make_graph(
                [helper.make_node("Gemm", ["x", "W", "b"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["r"]),
                 helper.make_node("Gemm", ["r", "W2"], ["y"], transB=1)], "tiny",
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                [numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b"), numpy_helper.from_array(W2, "W2")])
            m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
            m.ir_version = 8
            onnx.save(m, d / f"{name}.onnx")
            export(d / f"{name}.onnx", sparsity=sp).save(esm)
        out.append(esm)
    return out[0], out[1]


def write_lab(path: Path, *devices: str) -> Path:
    path.write_text("\n".join(devices))
    return path


def local_host(name="host-local", extra="") -> str:
    return f'[[device]]\nname = "{name}"\ntarget = "host"\ntransport = "local"\ncooldown_s = 0\n{extra}\n'


def fake_serial(url: str, name="fake-m4", extra="") -> str:
    return (f'[[device]]\nname = "{name}"\ntarget = "cortex-m4"\ntransport = "serial"\nport = "{url}"\n'
            f'timeout_s = 0.5\ninfer_timeout_s = 1\n{extra}\n')


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout: float, what: str) -> None:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def labgrid_client(coord: str, *args: str, place: str | None = None):
    """labgrid-client against `coord` (a CompletedProcess; text)."""
    import os
    import subprocess

    env = dict(os.environ, LG_COORDINATOR=coord)
    return subprocess.run(["labgrid-client", *(["-p", place] if place else []), *args], capture_output=True,
                          text=True, env=env, timeout=30)


class LabgridLoopback:
    """A real labgrid-coordinator and labgrid-exporter (named exp1) on 127.0.0.1, the exporter
    serving, per group, the UART of one emulated Cortex-M4 board (qemu-system-arm, the real bench
    firmware, the artifact in its flash slot) as a raw NetworkSerialPort. The coordinator runs
    in `workdir`: it keeps places.yaml and resources.yaml in its working directory."""

    TOOLS = ("labgrid-coordinator", "labgrid-exporter", "labgrid-client", "qemu-system-arm", "arm-none-eabi-gcc")

    def __init__(self, workdir: Path, artifact: Path, groups: tuple[str, ...] = ("emu-m4",)):
        self.workdir, self.artifact, self.groups = Path(workdir), Path(artifact), groups
        self.coord = f"127.0.0.1:{free_port()}"
        self.uart: dict[str, int] = {}
        self.procs = []

    def __enter__(self) -> "LabgridLoopback":
        import subprocess
        import time

        from edge_sdk.build import mcu
        from edge_sdk.build.mcu_qemu import QemuBoard
        from edge_sdk.compile.target import load_target

        t = load_target("cortex-m4")
        elf = mcu.build_firmware(t, Path(__file__).resolve().parents[1] / "build" / "cortex-m4")
        yaml = ""
        try:
            for g in self.groups:
                self.uart[g] = free_port()
                qb = QemuBoard(t.raw["emulation"]["machine"], elf, self.artifact, int(t.raw["memory"]["model_slot"]))
                cmd = [a.replace("wait=on", "wait=off") for a in qb.command_line(self.uart[g])]
                self.procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                yaml += (f"{g}:\n  NetworkSerialPort:\n    host: 127.0.0.1\n    port: {self.uart[g]}\n"
                         f"    protocol: raw\n    speed: 115200\n")
            (self.workdir / "exporter.yaml").write_text(yaml)
            logs = {n: open(self.workdir / f"{n}.log", "w") for n in ("coordinator", "exporter")}
            self.procs.append(subprocess.Popen(["labgrid-coordinator", "-l", self.coord], stdout=logs["coordinator"],
                                               stderr=subprocess.STDOUT, cwd=self.workdir))
            time.sleep(1.0)
            self.procs.append(subprocess.Popen(["labgrid-exporter", "-c", self.coord, "-n", "exp1", "--hostname",
                                                "127.0.0.1", str(self.workdir / "exporter.yaml")],
                                               stdout=logs["exporter"], stderr=subprocess.STDOUT, cwd=self.workdir))
            for f in logs.values():
                f.close()

            def exported():
                out = labgrid_client(self.coord, "resources").stdout
                return all(f"exp1/{g}/NetworkSerialPort" in out for g in self.groups)

            try:
                wait_for(exported, 60, "the exporter's resources at the coordinator")
            except AssertionError as e:
                tails = {n: (self.workdir / f"{n}.log").read_text()[-600:] for n in logs}
                raise AssertionError(f"{e}; logs: {tails}") from None
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        import subprocess

        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        self.procs = []
