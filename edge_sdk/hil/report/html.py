"""report.html: one self-contained page (inline CSS and SVG, no scripts, no external files):
summary table, latency distribution per device, energy per inference, sparse vs dense, trend
against a baseline report, provenance, raw windows."""
from __future__ import annotations

import re
from html import escape

from . import svg
from .summary import latency_sources

CSS = ("body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}"
       "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}th{background:#f0f0f0}"
       ".pass{color:#107010}.fail,.error{color:#b00000;font-weight:bold}.infra,.offline{color:#a06000}"
       "h2{margin-top:28px;border-bottom:1px solid #ddd}.note{color:#666;font-size:13px}")


def _n(v, d=4):
    return "–" if v is None else f"{v:.{d}g}"


def _label(r):
    return f"{r['device']} · {r['model']}"


def _sparse_dense(results: list[dict]) -> tuple[list, list[str]]:
    """Pairs models named *sparse* / *dense* (same stem otherwise) on the same device."""
    groups: dict[str, dict[str, float]] = {}
    for r in results:
        m = re.search(r"(sparse|dense)", r["model"], re.I)
        if not m or r["latency_ms"]["median"] is None:
            continue
        stem = r["model"][:m.start()] + r["model"][m.end():]
        groups.setdefault(f"{r['device']} · {stem}", {})[m.group(1).lower()] = r["latency_ms"]["median"]
    pairs = [(k, v) for k, v in groups.items() if len(v) == 2]
    return pairs, ["dense", "sparse"]


def render_html(report: dict, baseline: dict | None = None) -> str:
    res = report["results"]
    prov = report["provenance"]
    c = report["counts"]
    h = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>edge-sdk HIL report</title>"
         f"<style>{CSS}</style></head><body>",
         "<h1>edge-sdk hardware-in-the-loop report</h1>",
         f"<p>{c['pass']} pass · {c['fail']} fail · {c['error']} error · {c['infra']} infrastructure error · "
         f"{c['offline']} offline</p>",
         "<table><tr><th>device</th><th>model</th><th>target</th><th>latency ms median [min, max]</th>"
         "<th>energy µJ/inference</th><th>max rel err</th><th>status</th></tr>"]
    for r in res:
        lat, en = r["latency_ms"], r["energy_uj"]
        e = "–" if en["median"] is None else f"{_n(en['median'])} <span class='note'>({escape(str(en['kind']))}: {escape(str(en['source']))})</span>"
        err = f"<br><span class='note'>{escape(r['error']['message'][:160])}</span>" if r.get("error") else ""
        h.append(f"<tr><td>{escape(r['device'])}</td><td>{escape(r['model'])}</td><td>{escape(r['target'])}</td>"
                 f"<td>{_n(lat['median'])} [{_n(lat['min'])}, {_n(lat['max'])}]</td><td>{e}</td>"
                 f"<td>{_n(r['fidelity']['max_rel_err'], 3)}</td><td class='{r['status']}'>{r['status']}{err}</td></tr>")
    h.append("</table>")
    h += [f"<p class='note'>latency on {escape(d)}: {escape(src)}</p>" for d, src in latency_sources(report)]

    measured = [r for r in res if r["latency_ms"]["windows"]]
    h.append("<h2>Latency distribution per device</h2><p class='note'>dots: windows (window duration / N, device "
             "clock); bar: median</p>")
    h.append(svg.strip([(_label(r), r["latency_ms"]["windows"], r["latency_ms"]["median"]) for r in measured],
                       "ms per inference", "latency distribution") if measured else "<p>no measurements</p>")

    h.append("<h2>Energy per inference</h2>")
    h.append(svg.bars([(_label(r), r["energy_uj"]["median"],
                        r["energy_uj"]["kind"] if r["energy_uj"]["median"] is not None else
                        (r["energy_uj"].get("note") or "not measured")) for r in measured],
                      "µJ per inference", "energy per inference") if measured else "<p>no measurements</p>")

    h.append("<h2>Sparse vs dense</h2>")
    pairs, series = _sparse_dense(res)
    h.append(svg.grouped(pairs, series, "ms per inference (median)", "sparse vs dense latency") if pairs else
             "<p class='note'>no sparse/dense model pair in this run (name artifacts *_sparse / *_dense)</p>")

    h.append("<h2>Trend against the baseline</h2>")
    if baseline:
        from .compare import compare

        rows = [r for r in compare(baseline, report) if r["metric"] == "latency_ms"]
        groups = [(f"{r['device']} · {r['model']}", {"baseline": r["old"], "this run": r["new"]}) for r in rows]
        h.append(svg.grouped(groups, ["baseline", "this run"], "ms per inference (median)", "trend") if groups
                 else "<p class='note'>no device x model in common with the baseline</p>")
    else:
        h.append("<p class='note'>no baseline given (edge-sdk hil run --baseline OLD/report.json)</p>")

    h.append("<h2>Provenance</h2><table>")
    for k, v in prov.items():
        h.append(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>")
    h.append("</table><table><tr><th>device</th><th>model</th><th>artifact sha256</th><th>device serial</th>"
             "<th>system before / after</th></tr>")
    for r in res:
        h.append(f"<tr><td>{escape(r['device'])}</td><td>{escape(r['model'])}</td><td><code>{r['artifact_sha256'][:16]}…"
                 f"</code></td><td>{escape(str(r.get('device_serial')))}</td><td class='note'>"
                 f"{escape(str(r.get('sysinfo', {}).get('before')))} / {escape(str(r.get('sysinfo', {}).get('after')))}</td></tr>")
    h.append("</table><h2>Raw windows</h2><table><tr><th>device</th><th>model</th><th>window</th><th>N</th>"
             "<th>duration µs</th><th>ms/inference</th><th>µJ/inference</th></tr>")
    for r in res:
        for w in r["windows"]:
            h.append(f"<tr><td>{escape(r['device'])}</td><td>{escape(r['model'])}</td><td>{w['window']}</td>"
                     f"<td>{w['n']}</td><td>{_n(w['duration_us'], 8)}</td><td>{_n(w['latency_ms'])}</td>"
                     f"<td>{_n(w['energy_uj'])}</td></tr>")
    h.append("</table></body></html>")
    return "\n".join(h) + "\n"
