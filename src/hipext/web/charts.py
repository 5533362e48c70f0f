"""Server-rendered inline SVG charts: strength by side against the norm band, LSI against its target, LSI over
time against the target, trends over visits with the MDC band, and home-session pain. Each chart carries a <title>
and <desc>, labelled axes with units, and cues besides hue: the right side is hatched and dashed, values below a
target carry the words "below target". Targets are read from the evaluation document, never set here.

Palette: Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), each at least 3:1 against
the white background (`contrast_ratio`, tested)."""

from __future__ import annotations

from html import escape
from typing import Any

from markupsafe import Markup

LEFT, RIGHT, BAND, BAD, GOOD, INK, MUTED = "#0072b2", "#d55e00", "#cfe8cf", "#b3261e", "#007a5a", "#222", "#595959"
# Hatching for the right side (and below-target bars), so the sides differ without colour.
HATCH = (
    '<defs><pattern id="{id}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    '<rect width="6" height="6" fill="{color}"/><line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="2"/>'
    "</pattern></defs>"
)


def contrast_ratio(a: str, b: str = "#ffffff") -> float:
    """WCAG 2 contrast ratio of two #rgb or #rrggbb colours."""

    def lum(c: str) -> float:
        c = "#" + "".join(ch * 2 for ch in c[1:]) if len(c) == 4 else c
        rgb = [int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


NORM_QUANTITY_FIELD = {
    "torque_nm_per_kg": "torque_nm_per_kg",
    "force_percent_bw": "force_percent_bw",
    "value": "value",
}


def _e(x: Any) -> str:
    return escape(str(x), quote=True)


ABBREVIATIONS = {"Hand-held dynamometry": "HHD", "Isokinetic dynamometry": "Isokinetic", "Manual muscle test": "MMT"}


def short_name(name: str) -> str:
    for long, short in ABBREVIATIONS.items():
        name = name.replace(long, short)
    return name


def _label(x: float, y: float, text: str, width: int = 34, size: int = 11) -> str:
    """A label of up to two lines (SVG text does not wrap by itself)."""
    words, lines, line = short_name(text).split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    if len(lines) > 2:
        lines = [lines[0], " ".join(lines[1:])[: width - 1] + "…"]
    spans = "".join(f'<tspan x="{x}" dy="{0 if i == 0 else size + 1}">{_e(t)}</tspan>' for i, t in enumerate(lines))
    return f'<text x="{x}" y="{y}" font-size="{size}">{spans}</text>'


def _fmt(x: float) -> str:
    return f"{x:.2f}" if abs(x) < 10 else f"{x:.0f}"


def _svg(width: int, height: int, title: str, desc: str, body: list[str], css_class: str) -> Markup:
    return Markup(
        f'<svg class="chart {css_class}" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{_e(title)}</title><desc>{_e(desc)}</desc>" + "".join(body) + "</svg>"
    )


def _plotted_value(r: dict[str, Any]) -> tuple[float | None, str]:
    norm = r.get("norm") or {}
    q = norm.get("quantity") if norm.get("available") else None
    if q and q in NORM_QUANTITY_FIELD and isinstance(r.get(NORM_QUANTITY_FIELD[q]), (int, float)):
        return float(r[NORM_QUANTITY_FIELD[q]]), norm.get("unit") or r.get("unit", "")
    if isinstance(r.get("torque_nm_per_kg"), (int, float)):
        return float(r["torque_nm_per_kg"]), "N m/kg"
    if isinstance(r.get("value"), (int, float)):
        return float(r["value"]), r.get("unit", "")
    return None, ""


def strength_chart(results: list[dict[str, Any]]) -> Markup | None:
    """Left and right bars per bilateral test, with the norm band behind them."""
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        if r.get("side") not in ("left", "right") or r.get("kind") not in ("hhd", "isokinetic", "count", "time", "rom"):
            continue
        v, unit = _plotted_value(r)
        if v is None:
            continue
        row = rows.setdefault(r["test"], {"name": r.get("name", r["test"]), "unit": unit, "norm": None})
        row[r["side"]] = v
        norm = r.get("norm") or {}
        if norm.get("available") and (norm.get("low") is not None or norm.get("high") is not None):
            row["norm"] = (norm.get("low"), norm.get("high"))
    if not rows:
        return None
    width, label_w, row_h = 640, 230, 46
    height = 30 + row_h * len(rows) + 20
    body = [
        HATCH.format(id="hatch-right-strength", color=RIGHT),
        f'<rect x="{label_w}" y="6" width="12" height="10" fill="{LEFT}"/><text x="{label_w + 16}" y="15" '
        f'font-size="11">left (solid)</text><rect x="{label_w + 90}" y="6" width="12" height="10" '
        f'fill="url(#hatch-right-strength)"/><text x="{label_w + 106}" y="15" font-size="11">right (hatched)</text>'
        f'<rect x="{label_w + 200}" y="6" width="12" height="10" fill="{BAND}"/>'
        f'<text x="{label_w + 216}" y="15" font-size="11">norm band</text>',
    ]
    desc = []
    for i, (_test, row) in enumerate(rows.items()):
        y = 30 + i * row_h
        vals = [row.get("left") or 0, row.get("right") or 0]
        if row["norm"]:
            vals += [x for x in row["norm"] if x is not None]
        top = max(vals) * 1.15 or 1
        scale = (width - label_w - 60) / top
        body.append(_label(4, y + 12, row["name"]))
        body.append(f'<text x="4" y="{y + 36}" font-size="10" fill="{MUTED}">{_e(row["unit"])}</text>')
        if row["norm"]:
            lo, hi = row["norm"]
            x0 = label_w + (lo or 0) * scale
            x1 = label_w + (hi if hi is not None else top) * scale
            body.append(
                f'<rect class="norm-band" x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" '
                f'height="{row_h - 8}" fill="{BAND}"><title>norm {lo}–{hi} {_e(row["unit"])}</title></rect>'
            )
        for j, side in enumerate(("left", "right")):
            if side not in row:
                continue
            v = row[side]
            fill = LEFT if side == "left" else "url(#hatch-right-strength)"
            body.append(
                f'<rect class="bar-{side}" x="{label_w}" y="{y + 3 + j * 17}" width="{v * scale:.1f}" '
                f'height="14" fill="{fill}"><title>{side} {_fmt(v)} '
                f"{_e(row['unit'])}</title></rect>"
            )
            body.append(
                f'<text x="{label_w + v * scale + 4:.1f}" y="{y + 14 + j * 17}" font-size="10">'
                f"{side[0].upper()} {_fmt(v)}</text>"
            )
            desc.append(f"{row['name']} {side} {_fmt(v)} {row['unit']}")
    return _svg(width, height, "Strength by side against the norm band", "; ".join(desc), body, "strength-chart")


def lsi_targets(evaluation: dict[str, Any] | None) -> dict[str, float]:
    """Each test's symmetry target (%) as the evaluation states it: on the result itself, else in the
    return-to-activity criteria."""
    out: dict[str, float] = {}
    for r in (evaluation or {}).get("results") or []:
        if r.get("lsi_target_percent") is not None:
            out.setdefault(r["test"], float(r["lsi_target_percent"]))
    for c in ((evaluation or {}).get("return_to_activity") or {}).get("criteria") or []:
        if c.get("id") in ("strength_symmetry", "functional_symmetry") and c.get("test") and c.get("threshold"):
            out.setdefault(c["test"], float(c["threshold"]))
    return out


def lsi_chart(results: list[dict[str, Any]], targets: dict[str, float]) -> Markup | None:
    """One bar per test's limb symmetry index, each against its target from the evaluation (when it has one)."""
    seen: dict[str, tuple[str, float]] = {}
    for r in results:
        if isinstance(r.get("lsi_percent"), (int, float)) and r["test"] not in seen:
            seen[r["test"]] = (r.get("name", r["test"]), float(r["lsi_percent"]))
    if not seen:
        return None
    width, label_w, row_h = 640, 230, 30
    top = max(120.0, max(v for _, v in seen.values()) * 1.05)
    scale = (width - label_w - 110) / top
    height = 24 + row_h * len(seen) + 34
    body = [HATCH.format(id="hatch-below-lsi", color=BAD)]
    desc = []
    for i, (test, (name, v)) in enumerate(seen.items()):
        y = 16 + i * row_h
        target = targets.get(test)
        below = target is not None and v < target
        body.append(_label(4, y + 7, name, size=10))
        fill = "url(#hatch-below-lsi)" if below else GOOD if target is not None else LEFT
        body.append(
            f'<rect class="lsi-bar{" below" if below else ""}" x="{label_w}" y="{y}" width="{v * scale:.1f}" '
            f'height="18" fill="{fill}"><title>LSI {v:.0f} %</title></rect>'
        )
        word = " below target" if below else " meets target" if target is not None else ""
        body.append(f'<text x="{label_w + v * scale + 4:.1f}" y="{y + 13}" font-size="10">{v:.0f} %{word}</text>')
        if target is not None:
            x = label_w + target * scale
            body.append(
                f'<line class="lsi-target" x1="{x:.1f}" y1="{y - 3}" x2="{x:.1f}" y2="{y + 21}" stroke="{INK}" '
                f'stroke-width="2" stroke-dasharray="4 3"><title>target {target:g} %</title></line>'
            )
        desc.append(f"{name} LSI {v:.0f} %" + (f" (target {target:g} %)" if target is not None else ""))
    axis_y = height - 22
    body.append(f'<line x1="{label_w}" y1="{axis_y}" x2="{width - 100}" y2="{axis_y}" stroke="{MUTED}"/>')
    for t in (0, 50, 100):
        x = label_w + t * scale
        body.append(f'<text x="{x - 6:.1f}" y="{axis_y + 12}" font-size="9">{t}</text>')
    body.append(f'<text x="{width - 96}" y="{axis_y + 12}" font-size="10">LSI (%)</text>')
    body.append(f'<text x="{label_w}" y="{height - 1}" font-size="9" fill="{MUTED}">dashed line: target</text>')
    return _svg(width, height, "Limb symmetry index against its target", "; ".join(desc), body, "lsi-chart")


def lsi_over_time_chart(results: list[dict[str, Any]], targets: dict[str, float]) -> Markup | None:
    """Each test's limb symmetry index at each visit, against its target line from the evaluation."""
    series: dict[str, dict[str, Any]] = {}
    for r in results:
        if isinstance(r.get("lsi_percent"), (int, float)):
            s = series.setdefault(r["test"], {"name": r.get("name", r["test"]), "points": {}})
            s["points"].setdefault(str(r["date"]), float(r["lsi_percent"]))
    series = {t: s for t, s in series.items() if len(s["points"]) >= 2}
    if not series:
        return None
    dates = sorted({d for s in series.values() for d in s["points"]})
    width, height, pad_l, pad_r, pad_b, pad_t = 640, 240, 48, 170, 40, 14
    values = [v for s in series.values() for v in s["points"].values()] + [targets[t] for t in series if t in targets]
    lo, hi = min(0.0, min(values)), max(110.0, max(values) * 1.05)

    def sx(i: int) -> float:
        return pad_l + 12 + (width - pad_l - pad_r - 24) * (i / max(len(dates) - 1, 1))

    def sy(v: float) -> float:
        return pad_t + (height - pad_t - pad_b) * (1 - (v - lo) / (hi - lo))

    body = [
        f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{height - pad_b}" stroke="{MUTED}"/>',
        f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - pad_r}" y2="{height - pad_b}" stroke="{MUTED}"/>',
        f'<text x="4" y="{pad_t + 4}" font-size="10">LSI (%)</text>',
        f'<text x="{(width - pad_r) / 2:.0f}" y="{height - 4}" font-size="10">visit date</text>',
    ]
    for t in (0, 50, 100):
        if lo <= t <= hi:
            body.append(
                f'<text x="{pad_l - 24}" y="{sy(t) + 3:.1f}" font-size="9">{t}</text>'
                f'<line x1="{pad_l - 3}" y1="{sy(t):.1f}" x2="{pad_l}" y2="{sy(t):.1f}" stroke="{MUTED}"/>'
            )
    for i, d in enumerate(dates):
        body.append(f'<text x="{sx(i) - 14:.1f}" y="{height - pad_b + 14}" font-size="9">{_e(d[5:])}</text>')
    styles = [
        (LEFT, "", "circle"),
        (RIGHT, ' stroke-dasharray="6 3"', "square"),
        (INK, ' stroke-dasharray="2 2"', "diamond"),
    ]
    desc = []
    for k, (test, s) in enumerate(series.items()):
        color, dash, marker = styles[k % len(styles)]
        pts = [(dates.index(d), v) for d, v in sorted(s["points"].items())]
        path = " ".join(f"{'M' if j == 0 else 'L'}{sx(i):.1f},{sy(v):.1f}" for j, (i, v) in enumerate(pts))
        body.append(f'<path class="lsi-line" d="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        for i, v in pts:
            x, y = sx(i), sy(v)
            shape = (
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4"'
                if marker == "circle"
                else f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8"'
                if marker == "square"
                else f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" '
                f'transform="rotate(45 {x:.1f} {y:.1f})"'
            )
            end = "circle" if marker == "circle" else "rect"
            body.append(f'{shape} fill="{color}"><title>{_e(s["name"])} {v:.0f} %</title></{end}>')
        target = targets.get(test)
        if target is not None:
            body.append(
                f'<line class="lsi-target" x1="{pad_l}" y1="{sy(target):.1f}" x2="{width - pad_r}" '
                f'y2="{sy(target):.1f}" stroke="{color}" stroke-width="1.5" stroke-dasharray="1 4">'
                f"<title>target {target:g} %</title></line>"
            )
        ly = pad_t + 12 + k * 30
        body.append(
            f'<line x1="{width - pad_r + 8}" y1="{ly - 4}" x2="{width - pad_r + 28}" y2="{ly - 4}" '
            f'stroke="{color}" stroke-width="2"{dash}/>'
        )
        body.append(_label(width - pad_r + 32, ly, s["name"], width=22, size=9))
        last = pts[-1][1]
        desc.append(
            f"{s['name']}: "
            + ", ".join(f"{dates[i]} {v:.0f} %" for i, v in pts)
            + (
                f"; target {target:g} % ({'met' if last >= target else 'not met'} at the last visit)"
                if target is not None
                else "; no target in the evaluation"
            )
        )
    body.append(f'<text x="{pad_l + 4}" y="{height - pad_b - 4}" font-size="9" fill="{MUTED}">dotted: target</text>')
    return _svg(
        width, height, "Limb symmetry index over time against the target", "; ".join(desc), body, "lsi-time-chart"
    )


def trend_chart(title: str, points: list[dict[str, Any]]) -> Markup:
    """Values over visits; the shaded band is the first value ± the minimal detectable change."""
    width, height, pad_l, pad_b, pad_t = 320, 170, 44, 28, 16
    vals = [float(p["value"]) for p in points]
    mdc = next((p["change"]["mdc"] for p in reversed(points) if (p.get("change") or {}).get("mdc")), None)
    lo, hi = min(vals), max(vals)
    if mdc:
        lo, hi = min(lo, vals[0] - mdc), max(hi, vals[0] + mdc)
    span = (hi - lo) or 1
    lo, hi = lo - span * 0.1, hi + span * 0.1

    def sx(i: int) -> float:
        return pad_l + 10 + (width - pad_l - 50) * (i / max(len(points) - 1, 1))

    def sy(v: float) -> float:
        return pad_t + (height - pad_t - pad_b) * (1 - (v - lo) / (hi - lo))

    unit = str(points[-1].get("unit", ""))
    body = [
        f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - 8}" y2="{height - pad_b}" stroke="{MUTED}"/>',
        f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{height - pad_b}" stroke="{MUTED}"/>',
    ]
    for v in (lo, (lo + hi) / 2, hi):  # a y-axis with values: 28 -> 29 no longer looks like 15 -> 22
        body.append(
            f'<text x="2" y="{sy(v) + 3:.1f}" font-size="9">{_fmt(v)}</text>'
            f'<line x1="{pad_l - 3}" y1="{sy(v):.1f}" x2="{pad_l}" y2="{sy(v):.1f}" stroke="{MUTED}"/>'
        )
    if mdc:
        y0, y1 = sy(vals[0] + mdc), sy(vals[0] - mdc)
        body.append(
            f'<rect class="mdc-band" x="{pad_l}" y="{y0:.1f}" width="{width - pad_l - 8}" '
            f'height="{y1 - y0:.1f}" fill="#e8e8f4"><title>baseline ± MDC ({_fmt(mdc)})</title></rect>'
        )
    path = " ".join(f"{'M' if i == 0 else 'L'}{sx(i):.1f},{sy(v):.1f}" for i, v in enumerate(vals))
    body.append(f'<path d="{path}" fill="none" stroke="{LEFT}" stroke-width="2"/>')
    for i, p in enumerate(points):
        v = vals[i]
        meaningful = (p.get("change") or {}).get("meaningful")
        body.append(
            f'<circle cx="{sx(i):.1f}" cy="{sy(v):.1f}" r="4" fill="{GOOD if meaningful else LEFT}">'
            f"<title>{_e(p['date'])}: {_fmt(v)} {_e(p.get('unit', ''))}</title></circle>"
        )
        body.append(f'<text x="{sx(i) - 18:.1f}" y="{height - 10}" font-size="9">{_e(str(p["date"])[5:])}</text>')
        body.append(f'<text x="{sx(i) + 5:.1f}" y="{sy(v) - 6:.1f}" font-size="9">{_fmt(v)}</text>')
    body.append(f'<text x="{pad_l + 4}" y="{pad_t - 4}" font-size="9" fill="{MUTED}">{_e(unit)}</text>')
    body.append(f'<text x="{width / 2:.0f}" y="{height - 1}" font-size="9" fill="{MUTED}">visit date</text>')
    desc = ", ".join(f"{p['date']} {_fmt(float(p['value']))}" for p in points)
    return _svg(width, height, title, desc + (f"; MDC {_fmt(mdc)}" if mdc else ""), body, "trend-chart")


def pain_chart(logs: list[Any]) -> Markup | None:
    """Pain during and the next morning, per logged home session."""
    pts = [lg for lg in logs if lg.pain_during is not None or lg.pain_next_morning is not None][-30:]
    if not pts:
        return None
    width, height, pad_l, pad_b, pad_t = 640, 170, 30, 28, 12

    def sx(i: int) -> float:
        return pad_l + (width - pad_l - 14) * (i / max(len(pts) - 1, 1))

    def sy(v: float) -> float:
        return pad_t + (height - pad_t - pad_b) * (1 - v / 10)

    body = []
    for v in (0, 5, 10):
        body.append(
            f'<line x1="{pad_l}" y1="{sy(v)}" x2="{width - 8}" y2="{sy(v)}" stroke="#eee"/>'
            f'<text x="4" y="{sy(v) + 3}" font-size="9">{v}</text>'
        )
    for attr, color, label in (("pain_during", LEFT, "during"), ("pain_next_morning", RIGHT, "next morning")):
        series = [(i, getattr(lg, attr)) for i, lg in enumerate(pts) if getattr(lg, attr) is not None]
        if not series:
            continue
        d = " ".join(f"{'M' if k == 0 else 'L'}{sx(i):.1f},{sy(v):.1f}" for k, (i, v) in enumerate(series))
        body.append(
            f'<path class="pain-{label.replace(" ", "-")}" d="{d}" fill="none" stroke="{color}" stroke-width="2"/>'
        )
        for i, v in series:
            body.append(
                f'<circle cx="{sx(i):.1f}" cy="{sy(v):.1f}" r="3" fill="{color}"><title>{_e(pts[i].date)} '
                f"{label}: {v:g}</title></circle>"
            )
    for i, lg in enumerate(pts):
        if len(pts) <= 12 or i % 3 == 0:
            body.append(f'<text x="{sx(i) - 14:.1f}" y="{height - 8}" font-size="9">{_e(str(lg.date)[5:])}</text>')
    body.append(
        f'<text x="{width - 190}" y="12" font-size="10" fill="{LEFT}">— during</text>'
        f'<text x="{width - 120}" y="12" font-size="10" fill="{RIGHT}">— next morning</text>'
    )
    desc = "; ".join(f"{lg.date}: during {lg.pain_during}, next morning {lg.pain_next_morning}" for lg in pts)
    return _svg(width, height, "Pain during home sessions and the next morning (0-10)", desc, body, "pain-chart")
