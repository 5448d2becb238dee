"""`edge-sdk hil run`: for each device x model deploy, health-check, upload the input, run warmup
plus N inferences per window over the windows, collect outputs and timings, compare with the
host run of the same artifact. Every window is appended to results.jsonl as soon as it is
measured, so a fault later keeps what came before. A device that fails its health check is
offline for the run; the others go on. Infrastructure errors are kept apart from test results.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import measure
from .errors import DeviceReportedError, HilError, InfraError
from .inputs import artifact_sha256, dequantize, host_reference, make_inputs
from .lab import Device, Lab
from .report.store import ResultStore


@dataclass
class RunOptions:
    windows: int = 5
    min_window_s: float = 10.0
    warmup: int = 10
    seed: int = 0
    fidelity_tol: float = 0.02
    cooldown_s: float = 2.0
    max_n: int = 1_000_000


def _status(rec: dict) -> str:
    checks = rec.get("checks", {})
    return "fail" if any(v == "fail" for v in checks.values()) else "pass"


def _checks(rec: dict, dev: Device, tol: float) -> dict:
    c = {}
    lat = rec["latency_ms"]["median"]
    if dev.budget.latency_ms is not None and lat is not None:
        c["latency"] = "pass" if lat <= dev.budget.latency_ms else "fail"
    e = rec["energy_uj"]["median"]
    if dev.budget.energy_uj is not None:
        c["energy"] = ("pass" if e <= dev.budget.energy_uj else "fail") if e is not None else "not measured"
    f = rec["fidelity"]["max_rel_err"]
    if f is not None:
        c["fidelity"] = "pass" if f <= tol else "fail"
    return c


class Runner:
    def __init__(self, lab: Lab, models: list[Path], out_dir: Path, opts: RunOptions | None = None,
                 log: Callable[[str], None] = lambda s: None, connect=None):
        from .devices import connect as _connect

        self.lab, self.models, self.opts, self.log = lab, [Path(m) for m in models], opts or RunOptions(), log
        self.store = ResultStore(Path(out_dir))
        self.connect = connect or _connect
        self.records: list[dict] = []

    def run(self, devices: list[Device]) -> list[dict]:
        refs = {}
        for m in self.models:
            arrays, sess = make_inputs(m, self.opts.seed)
            refs[m] = (arrays, sess, host_reference(sess, arrays), artifact_sha256(m))
        for dev in devices:
            self._device(dev, refs)
        return self.records

    def _base(self, dev: Device, model: Path, sha: str) -> dict:
        return {"device": dev.name, "model": model.name, "artifact": str(model), "artifact_sha256": sha,
                "target": dev.target, "transport": dev.transport, "protocol": dev.protocol, "emulated": dev.emulate,
                "status": "error", "error": None,
                "latency_ms": {"median": None, "min": None, "max": None, "windows": [], "unit": "ms"},
                "energy_uj": {"median": None, "min": None, "max": None, "windows": [], "unit": "uJ",
                              "source": None, "kind": None},
                "fidelity": {"max_rel_err": None, "method": None},
                "budget": {"latency_ms": dev.budget.latency_ms, "energy_uj": dev.budget.energy_uj},
                "checks": {}, "windows": [], "device_info": {}, "sysinfo": {}}

    def _finish(self, rec: dict) -> None:
        self.records.append(rec)
        self.store.record(rec)

    def _device(self, dev: Device, refs: dict) -> None:
        self.log(f"[{dev.name}] connecting ({dev.transport}{', emulated' if dev.emulate else ''})")
        try:
            d = self.connect(dev)
        except InfraError as e:
            return self._offline(dev, refs, e)
        try:
            try:
                info = d.health()
            except InfraError as e:
                return self._offline(dev, refs, e)
            self.log(f"[{dev.name}] healthy: {info}")
            alive = True
            for i, m in enumerate(self.models):
                arrays, sess, ref, sha = refs[m]
                rec = self._base(dev, m, sha)
                rec["device_info"] = dict(info)
                if not alive:
                    rec.update(status="offline", error={"kind": "infrastructure", "type": "DeviceOffline",
                                                        "message": "device went offline earlier in this run"})
                    self._finish(rec)
                    continue
                if i and dev.target_kind != "mcu":
                    time.sleep(dev.cooldown_s or self.opts.cooldown_s)
                try:
                    self._measure(d, dev, m, arrays, sess, ref, rec)
                except InfraError as e:
                    rec.update(status="infra", error={"kind": "infrastructure", "type": type(e).__name__,
                                                      "message": str(e)})
                    self.log(f"[{dev.name}] {m.name}: infrastructure error: {e}")
                    alive = self._recheck(d, dev)
                except (DeviceReportedError, HilError) as e:
                    rec.update(status="error", error={"kind": "test", "type": type(e).__name__, "message": str(e)})
                    self.log(f"[{dev.name}] {m.name}: device error: {e}")
                self._finish(rec)
        finally:
            try:
                d.close()
            except Exception:
                pass

    def _recheck(self, d, dev: Device) -> bool:
        try:
            d.health()
            return True
        except (InfraError, DeviceReportedError) as e:
            self.log(f"[{dev.name}] offline after the fault: {e}")
            return False

    def _offline(self, dev: Device, refs: dict, e: Exception) -> None:
        self.log(f"[{dev.name}] OFFLINE: {e}")
        for m in self.models:
            rec = self._base(dev, m, refs[m][3])
            rec.update(status="offline", error={"kind": "infrastructure", "type": type(e).__name__, "message": str(e)})
            self._finish(rec)

    def _measure(self, d, dev: Device, model: Path, arrays, sess, ref, rec: dict) -> None:
        from .power import meter_for

        o = self.opts
        rec["sysinfo"]["before"] = d.sysinfo()
        self.log(f"[{dev.name}] deploy {model.name}")
        d.deploy(model, arrays)
        meter = meter_for(dev, **({"insns_per_us": d.board.insns_per_us}
                                  if getattr(d, "board", None) is not None and dev.power == "model" else {}))
        meter.open()
        try:
            probe = d.infer(1, o.warmup)
            n = min(o.max_n, measure.per_window_n(probe.duration_us, o.min_window_s))
            if dev.power == "model" and hasattr(d, "count_insns"):
                meter.insns_per_inference = d.count_insns(model)
            rec["n_per_window"], rec["warmup"] = n, o.warmup
            if getattr(d, "proto", None) is not None and getattr(d.proto, "warmup_supported", True) is False:
                rec["warmup_note"] = "bench program has no --warmup: cold first run inside each window"
            self.log(f"[{dev.name}] {model.name}: {o.windows} windows of {n} (+{o.warmup} warmup)")
            for w in range(o.windows):
                meter.start()
                win = d.infer(n, o.warmup, expected_s=probe.duration_us * n / 1e6)
                e_uj = meter.stop(win)
                row = {"window": w, "n": win.n, "duration_us": win.duration_us,
                       "latency_ms": win.duration_us / win.n / 1e3,
                       "energy_uj": (e_uj / win.n) if e_uj is not None else None, "raw": win.raw}
                rec["windows"].append(row)
                self.store.window(dev.name, model.name, row)
            lat = [r["latency_ms"] for r in rec["windows"]]
            rec["latency_ms"].update(measure.summary(lat), windows=lat,
                                     source={"mcu": "device clock (m-lap-us)", "host": "in-process clock around the invoke loop"}.get(
                                         d.kind, "bench program clock on device"))
            if dev.emulate and d.kind == "mcu":
                rec["latency_ms"]["source"] += (" (emulated under qemu -icount shift=0: 1 guest instruction = 1 ns,"
                                                 " not the board's speed)")
            elif dev.emulate:
                rec["latency_ms"]["source"] += " (emulated under qemu-user: wall time, not the board's speed)"
            en = [r["energy_uj"] for r in rec["windows"] if r["energy_uj"] is not None]
            rec["energy_uj"].update(measure.summary(en), windows=en, source=meter.source,
                                    kind=meter.kind if en else "unavailable")
            if meter.reason:
                rec["energy_uj"]["note"] = meter.reason
            if getattr(meter, "last_window", ""):
                rec["energy_uj"]["window"] = meter.last_window
        finally:
            meter.close()
        got, method = d.outputs(sess)
        want = [dequantize(ref[0], sess.outputs[0])] if "m-results" in method else ref
        window_err = max([measure.max_rel_err(w, g) for w, g in zip(want, got)], default=None)
        fid = {"max_rel_err": window_err, "method": method + " after the last window", "tolerance": o.fidelity_tol,
               "reference": "host Session run of the same artifact and input"}
        if hasattr(d, "single_run_outputs"):
            got1, method1 = d.single_run_outputs(sess)
            single_err = max([measure.max_rel_err(w, g) for w, g in zip(ref, got1)], default=None)
            fid.update(max_rel_err=single_err, method=method1, window_max_rel_err=window_err)
            if window_err is not None and single_err is not None and window_err > max(o.fidelity_tol, 10 * single_err):
                fid["note"] = ("outputs after the N-inference window differ from a one-inference run: the bench "
                               "program's repeated invokes do not see the same input (input buffer overwritten?)")
        rec["fidelity"] = fid
        rec["sysinfo"]["after"] = d.sysinfo()
        rec["checks"] = _checks(rec, dev, o.fidelity_tol)
        rec["status"] = _status(rec)
        self.log(f"[{dev.name}] {model.name}: {rec['latency_ms']['median']:.4g} ms median, status {rec['status']}")


def run_lab(lab: Lab, models: list[Path], out_dir: Path, device_names: list[str] | None = None,
            opts: RunOptions | None = None, log=lambda s: None, connect=None,
            baseline: dict | None = None) -> dict:
    """Runs the lab and writes every report; returns the report dict. Raises ReportWriteError
    only after the measurement, when the reports themselves cannot be written."""
    from .report import write_reports

    devices = lab.select(device_names)
    r = Runner(lab, models, out_dir, opts, log, connect)
    records = r.run(devices)
    return write_reports(Path(out_dir), records, devices, r.store, opts or RunOptions(), baseline)
