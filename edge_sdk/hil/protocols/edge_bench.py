"""The Linux bench program protocol: run `BENCH ART --runs N [--warmup W] --input 0=in.bin
--out-dir D` on the device through a command transport and read the JSON line it prints.

Latency comes from the program's own clock on the device (`window_ms`, or `mean_ms` x `runs`
for esdk_run builds that print no window), never from how long the transport took.
"""
from __future__ import annotations

import json
import posixpath
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConnectionLost, DeviceReportedError, ProtocolViolation
from ..transports.base import CommandTransport


@dataclass
class Window:
    n: int
    duration_us: float
    raw: dict


class EdgeBench:
    def __init__(self, transport: CommandTransport, bench: list[str], workdir: str, prefix: list[str] | None = None,
                 timeout_s: float = 5.0, infer_timeout_s: float = 30.0):
        self.t, self.bench, self.workdir = transport, list(bench), workdir
        self.prefix = list(prefix or [])
        self.timeout_s, self.infer_timeout_s = timeout_s, infer_timeout_s
        self.warmup_supported: bool | None = None
        self.remote_artifact = None
        self.remote_inputs: list[str] = []

    def _json(self, argv: list[str], timeout_s: float) -> dict:
        r = self.t.run(self.prefix + argv, timeout_s)
        if r.rc != 0:
            msg = (r.stderr.strip().splitlines() or r.stdout.strip().splitlines() or ["no message"])[-1]
            raise DeviceReportedError(f"bench program exited {r.rc}: {msg}")
        lines = [ln for ln in r.stdout.strip().splitlines() if ln.startswith("{")]
        try:
            return json.loads(lines[-1])
        except (ValueError, IndexError):
            raise ProtocolViolation(f"bench program printed no JSON: {r.stdout[-120:]!r}") from None

    def health(self) -> dict:
        """The device answers and runs programs: machine and kernel, then a shell round trip."""
        r = self.t.run(["uname", "-m", "-r"], self.timeout_s)
        if r.rc != 0:
            raise ConnectionLost(f"health check: uname exited {r.rc}")
        r2 = self.t.run(["mkdir", "-p", self.workdir + "/out"], self.timeout_s)
        if r2.rc != 0:
            raise ConnectionLost(f"health check: cannot create {self.workdir}: {r2.stderr.strip()[:100]}")
        return {"uname": r.stdout.strip()}

    def deploy(self, artifact: Path, inputs: list[Path], bench_local: Path | None = None) -> None:
        if bench_local is not None:
            remote = posixpath.join(self.workdir, Path(bench_local).name)
            self.t.put(Path(bench_local), remote)
            self.bench = [remote]
        self.remote_artifact = posixpath.join(self.workdir, Path(artifact).name)
        self.t.put(Path(artifact), self.remote_artifact)
        self.remote_inputs = []
        for k, p in enumerate(inputs):
            remote = posixpath.join(self.workdir, f"input_{k}.bin")
            self.t.put(p, remote)
            self.remote_inputs.append(remote)

    def _args(self, runs: int, warmup: int) -> list[str]:
        a = self.bench + [self.remote_artifact, "--runs", str(runs), "--out-dir", posixpath.join(self.workdir, "out")]
        for k, p in enumerate(self.remote_inputs):
            a += ["--input", f"{k}={p}"]
        if warmup and self.warmup_supported:
            a += ["--warmup", str(warmup)]
        return a

    def probe_warmup(self) -> bool:
        """Does the bench program take --warmup? (native esdk_run may not: then the first run's cold
        caches fall inside the window, and the report says so.)"""
        r = self.t.run(self.prefix + self.bench + [self.remote_artifact, "--runs", "1", "--warmup", "0"], self.infer_timeout_s)
        self.warmup_supported = r.rc == 0
        return self.warmup_supported

    def infer(self, n: int, warmup: int, expected_s: float = 0.0) -> Window:
        if self.warmup_supported is None:
            self.probe_warmup()
        rep = self._json(self._args(n, warmup), self.infer_timeout_s + 3 * expected_s)
        if "window_ms" in rep:
            dur_ms = float(rep["window_ms"])
        elif "mean_ms" in rep:
            dur_ms = float(rep["mean_ms"]) * int(rep.get("runs", n))
        else:
            raise ProtocolViolation(f"bench JSON has neither window_ms nor mean_ms: {sorted(rep)}")
        if int(rep.get("runs", n)) != n:
            raise ProtocolViolation(f"asked for {n} runs, the bench program did {rep.get('runs')}")
        return Window(n, dur_ms * 1e3, rep)

    def fetch_outputs(self, n_outputs: int, into: Path) -> list[Path]:
        into.mkdir(parents=True, exist_ok=True)
        out = []
        for k in range(n_outputs):
            local = into / f"output_{k}.bin"
            self.t.get(posixpath.join(self.workdir, "out", f"output_{k}.bin"), local)
            out.append(local)
        return out

    def sysinfo(self) -> dict:
        """CPU governor, frequency (kHz) and temperature (milli-degC) from /sys; 'unavailable' when absent."""
        paths = {"governor": "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
                 "freq_khz": "/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq",
                 "temp_mc": "/sys/class/thermal/thermal_zone0/temp"}
        out = {}
        for k, p in paths.items():
            try:
                v = self.t.read_text(p, self.timeout_s)
            except (ConnectionLost, DeviceReportedError):
                v = None
            out[k] = v if v is not None else "unavailable"
        return out

    def describe(self) -> str:
        return " ".join(shlex.quote(a) for a in self.prefix + self.bench)
