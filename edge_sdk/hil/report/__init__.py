"""Reports of a HIL run, all in one directory: report.json, junit.xml, report.html, summary.md
(plus results.jsonl, written during the run)."""
from __future__ import annotations

from pathlib import Path

from ..errors import ReportWriteError


def build_report(records: list[dict], devices, opts) -> dict:
    from .provenance import device_serial, run_provenance

    by_name = {d.name: d for d in devices}
    for r in records:
        r["device_serial"] = device_serial(r, by_name[r["device"]])
    return {"schema": "edge-sdk-hil-report/1", "provenance": run_provenance(),
            "options": {"windows": opts.windows, "min_window_s": opts.min_window_s, "warmup": opts.warmup,
                        "fidelity_tol": opts.fidelity_tol},
            "units": {"latency": "ms per inference", "energy": "uJ per inference", "fidelity": "max |dev-host| / max |host|"},
            "devices": [d.public() for d in devices],
            "results": records,
            "counts": {s: sum(1 for r in records if r["status"] == s)
                       for s in ("pass", "fail", "error", "infra", "offline")}}


def write_reports(out_dir: Path, records: list[dict], devices, store, opts, baseline: dict | None = None) -> dict:
    import json

    from .html import render_html
    from .junit import render_junit
    from .summary import render_summary

    report = build_report(records, devices, opts)
    store.write_text("report.json", json.dumps(report, indent=2, default=str))
    store.write_text("junit.xml", render_junit(report))
    store.write_text("report.html", render_html(report, baseline))
    store.write_text("summary.md", render_summary(report))
    if store.error is not None:
        raise ReportWriteError(f"cannot write reports in {out_dir}: {store.error.strerror or store.error} "
                               f"(results measured before the fault are in {store.path})")
    return report
