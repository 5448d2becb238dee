"""Small inline-SVG charts (no JavaScript, no external CSS): strip plots with median ticks,
horizontal bars, grouped bars and old-vs-new slope charts."""
from __future__ import annotations

from html import escape

W, ROW, LEFT, RIGHT = 720, 26, 230, 40
COLORS = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6"]


def _frame(height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" '
            f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="12">'
            f'<title>{escape(title)}</title>' + "".join(body) + "</svg>")


def _axis(vmax: float, y: float, unit: str) -> list[str]:
    out = [f'<line x1="{LEFT}" y1="{y}" x2="{W - RIGHT}" y2="{y}" stroke="#888"/>']
    for k in range(5):
        v = vmax * k / 4
        x = LEFT + (W - LEFT - RIGHT) * k / 4
        out.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#888"/>'
                   f'<text x="{x:.1f}" y="{y + 16}" text-anchor="middle">{v:.3g}</text>')
    out.append(f'<text x="{W - RIGHT}" y="{y + 30}" text-anchor="end">{escape(unit)}</text>')
    return out


def _x(v: float, vmax: float) -> float:
    return LEFT + (W - LEFT - RIGHT) * (v / vmax if vmax > 0 else 0)


def strip(rows: list[tuple[str, list[float], float | None]], unit: str, title: str) -> str:
    """rows: (label, raw window values, median) -> dots per window, a bar at the median."""
    vals = [v for _, vs, _ in rows for v in vs]
    meds = [m for _, _, m in rows if m]
    if meds and max(meds) / max(min(meds), 1e-12) > 20:
        # devices differ by orders of magnitude (MCU vs Pi): each row on its own scale, range printed
        body = []
        for i, (label, vs, med) in enumerate(rows):
            y = 10 + i * ROW + ROW / 2
            top = max(vs) * 1.1 if vs else 1.0
            body.append(f'<text x="{LEFT - 8}" y="{y + 4}" text-anchor="end">{escape(label)}</text>'
                        f'<line x1="{LEFT}" y1="{y}" x2="{W - RIGHT}" y2="{y}" stroke="#eee"/>'
                        f'<text x="{W - RIGHT + 2}" y="{y + 4}" font-size="10">{top:.3g}</text>')
            for v in vs:
                body.append(f'<circle cx="{_x(v, top):.1f}" cy="{y}" r="3.5" fill="{COLORS[0]}" fill-opacity="0.55"/>')
            if med is not None:
                x = _x(med, top)
                body.append(f'<line x1="{x:.1f}" y1="{y - 9}" x2="{x:.1f}" y2="{y + 9}" stroke="#000" stroke-width="2"/>')
        y_axis = 10 + len(rows) * ROW + 4
        body.append(f'<text x="{LEFT}" y="{y_axis + 14}">each row from 0 to the value at its right ({escape(unit)})</text>')
        return _frame(int(y_axis + 24), body, title)
    vmax = max(vals) * 1.1 if vals else 1.0
    body = []
    for i, (label, vs, med) in enumerate(rows):
        y = 10 + i * ROW + ROW / 2
        body.append(f'<text x="{LEFT - 8}" y="{y + 4}" text-anchor="end">{escape(label)}</text>')
        for v in vs:
            body.append(f'<circle cx="{_x(v, vmax):.1f}" cy="{y}" r="3.5" fill="{COLORS[0]}" fill-opacity="0.55"/>')
        if med is not None:
            x = _x(med, vmax)
            body.append(f'<line x1="{x:.1f}" y1="{y - 9}" x2="{x:.1f}" y2="{y + 9}" stroke="#000" stroke-width="2"/>')
    y_axis = 10 + len(rows) * ROW + 4
    return _frame(int(y_axis + 40), body + _axis(vmax, y_axis, unit), title)


def bars(rows: list[tuple[str, float | None, str]], unit: str, title: str) -> str:
    """rows: (label, value or None, annotation)."""
    vals = [v for _, v, _ in rows if v is not None]
    vmax = max(vals) * 1.15 if vals else 1.0
    body = []
    for i, (label, v, note) in enumerate(rows):
        y = 10 + i * ROW
        body.append(f'<text x="{LEFT - 8}" y="{y + ROW / 2 + 4}" text-anchor="end">{escape(label)}</text>')
        if v is None:
            body.append(f'<text x="{LEFT + 4}" y="{y + ROW / 2 + 4}" fill="#888">{escape(note or "n/a")}</text>')
            continue
        x = _x(v, vmax)
        body.append(f'<rect x="{LEFT}" y="{y + 4}" width="{x - LEFT:.1f}" height="{ROW - 8}" fill="{COLORS[0]}"/>'
                    f'<text x="{x + 4:.1f}" y="{y + ROW / 2 + 4}">{v:.3g} {escape(note)}</text>')
    y_axis = 10 + len(rows) * ROW + 4
    return _frame(int(y_axis + 40), body + _axis(vmax, y_axis, unit), title)


def grouped(groups: list[tuple[str, dict[str, float]]], series: list[str], unit: str, title: str) -> str:
    """groups: (label, {series name: value}) -> one bar per series in each group, with a legend."""
    vals = [v for _, d in groups for v in d.values()]
    vmax = max(vals) * 1.15 if vals else 1.0
    h = ROW * max(1, len(series))
    body = []
    for i, (label, d) in enumerate(groups):
        y0 = 10 + i * (h + 8)
        body.append(f'<text x="{LEFT - 8}" y="{y0 + h / 2 + 4}" text-anchor="end">{escape(label)}</text>')
        for k, s in enumerate(series):
            if s in d:
                x = _x(d[s], vmax)
                body.append(f'<rect x="{LEFT}" y="{y0 + k * ROW + 3}" width="{x - LEFT:.1f}" height="{ROW - 6}" '
                            f'fill="{COLORS[k % len(COLORS)]}"/><text x="{x + 4:.1f}" y="{y0 + k * ROW + ROW / 2 + 4}">'
                            f'{d[s]:.3g}</text>')
    y_axis = 10 + len(groups) * (h + 8) + 4
    legend = [f'<rect x="{LEFT + 120 * k}" y="{y_axis + 38}" width="10" height="10" fill="{COLORS[k % len(COLORS)]}"/>'
              f'<text x="{LEFT + 120 * k + 14}" y="{y_axis + 47}">{escape(s)}</text>' for k, s in enumerate(series)]
    return _frame(int(y_axis + 56), body + _axis(vmax, y_axis, unit) + legend, title)
