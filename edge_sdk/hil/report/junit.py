"""junit.xml: a test suite per device, a test case per device x model x metric (latency,
energy, fidelity). Budgets are pass/fail; infrastructure errors are <error type="infrastructure">
so CI tells a broken lab from a regression; provenance is in <properties>."""
from __future__ import annotations

import xml.etree.ElementTree as ET


def _fmt(v, unit=""):
    return "n/a" if v is None else f"{v:.6g}{unit}"


def render_junit(report: dict) -> str:
    root = ET.Element("testsuites", name="edge-sdk hil")
    prov = report["provenance"]
    by_dev: dict[str, list[dict]] = {}
    for r in report["results"]:
        by_dev.setdefault(r["device"], []).append(r)
    for dev, recs in by_dev.items():
        suite = ET.SubElement(root, "testsuite", name=f"hil.{dev}")
        props = ET.SubElement(suite, "properties")
        first = recs[0]
        for k, v in (("git_commit", prov["git_commit"]), ("runtime_version", prov["runtime_version"]),
                     ("target", first["target"]), ("device_serial", first.get("device_serial", "unavailable")),
                     ("transport", first["transport"]), ("emulated", str(first["emulated"]).lower())):
            ET.SubElement(props, "property", name=k, value=str(v))
        n = fails = errors = skipped = 0
        for r in recs:
            for metric in ("latency", "energy", "fidelity"):
                n += 1
                tc = ET.SubElement(suite, "testcase", classname=f"hil.{dev}.{r['model']}", name=metric,
                                   time=f"{sum(w['duration_us'] for w in r['windows']) / 1e6:.6f}" if metric == "latency" else "0")
                tp = ET.SubElement(tc, "properties")
                for k, v in (("artifact_sha256", r["artifact_sha256"]), ("target", r["target"]),
                             ("device_serial", r.get("device_serial", "unavailable"))):
                    ET.SubElement(tp, "property", name=k, value=str(v))
                if r["status"] in ("infra", "offline"):
                    errors += 1
                    e = ET.SubElement(tc, "error", type="infrastructure", message=(r["error"] or {}).get("message", ""))
                    e.text = f"{(r['error'] or {}).get('type', '')}: {(r['error'] or {}).get('message', '')}"
                    continue
                if r["status"] == "error":
                    errors += 1
                    ET.SubElement(tc, "error", type="device", message=(r["error"] or {}).get("message", ""))
                    continue
                lat, en, fid = r["latency_ms"], r["energy_uj"], r["fidelity"]
                if metric == "latency":
                    ET.SubElement(tp, "property", name="latency_ms_median", value=_fmt(lat["median"]))
                    msg = f"median {_fmt(lat['median'], ' ms')} > budget {_fmt(r['budget']['latency_ms'], ' ms')}"
                elif metric == "energy":
                    ET.SubElement(tp, "property", name="energy_uj_median", value=_fmt(en["median"]))
                    ET.SubElement(tp, "property", name="energy_source", value=f"{en.get('kind')}: {en.get('source')}")
                    msg = f"median {_fmt(en['median'], ' uJ')} > budget {_fmt(r['budget']['energy_uj'], ' uJ')}"
                else:
                    ET.SubElement(tp, "property", name="max_rel_err", value=_fmt(fid["max_rel_err"]))
                    msg = f"max_rel_err {_fmt(fid['max_rel_err'])} > tolerance {fid.get('tolerance')}"
                verdict = r["checks"].get(metric)
                if verdict == "fail":
                    fails += 1
                    ET.SubElement(tc, "failure", type="budget", message=msg)
                elif verdict is None or verdict == "not measured":
                    skipped += 1
                    why = "no budget" if metric != "energy" or en["median"] is not None else \
                        (en.get("note") or "no energy measurement on this device")
                    ET.SubElement(tc, "skipped", message=why)
        suite.set("tests", str(n))
        suite.set("failures", str(fails))
        suite.set("errors", str(errors))
        suite.set("skipped", str(skipped))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
