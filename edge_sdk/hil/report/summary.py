"""summary.md: a short table for a PR comment."""
from __future__ import annotations

ICON = {"pass": "pass", "fail": "**FAIL**", "error": "**ERROR**", "infra": "infra error", "offline": "offline"}


def _n(v, d=3):
    return "–" if v is None else f"{v:.{d}g}"


def latency_sources(report: dict) -> list[tuple[str, str]]:
    """(device, where its latency came from), once per device: emulated clocks must say so."""
    seen: dict[str, str] = {}
    for r in report["results"]:
        src = r["latency_ms"].get("source")
        if src and r["device"] not in seen:
            seen[r["device"]] = src
    return list(seen.items())


def render_summary(report: dict, baseline: dict | None = None) -> str:
    c = report["counts"]
    p = report["provenance"]
    out = [f"### HIL: {c['pass']} pass, {c['fail']} fail, {c['error']} error, "
           f"{c['infra'] + c['offline']} infrastructure", "",
           f"commit `{p['git_commit'][:12]}` · runtime {p['runtime_version']} · "
           f"{report['options']['windows']} windows, median reported", "",
           "| device | model | latency ms (median [min, max]) | energy µJ/inf | max rel err | status |",
           "|---|---|---|---|---|---|"]
    for r in report["results"]:
        lat, en = r["latency_ms"], r["energy_uj"]
        e = "–" if en["median"] is None else f"{_n(en['median'])} ({en['kind']})"
        status = ICON.get(r["status"], r["status"])
        if r["status"] in ("infra", "offline", "error") and r.get("error"):
            status += f": {r['error']['message'][:80]}"
        out.append(f"| {r['device']} | {r['model']} | {_n(lat['median'])} [{_n(lat['min'])}, {_n(lat['max'])}] "
                   f"| {e} | {_n(r['fidelity']['max_rel_err'], 2)} | {status} |")
    out.append("")
    out.append("Energy: *measured* = a power meter, *estimated* = instructions x energy per instruction (emulated boards).")
    for device, source in latency_sources(report):
        out.append(f"Latency on {device}: {source}.")
    return "\n".join(out) + "\n"
