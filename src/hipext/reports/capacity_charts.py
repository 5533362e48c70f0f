"""Inline SVG of the capacity section: the torque-angle curve and the share of capacity each task uses.

Plain strings from the evaluation document, no plotting library, so a web page or a report can show them at no
start-up cost. Each chart carries a <title> and <desc> for screen readers.
"""

from __future__ import annotations

from html import escape
from typing import Any

ISO, CON, ECC, INK, MUTED, OVER = "#2f6db5", "#d9822b", "#2e8b57", "#222", "#777", "#c0392b"


def _svg(width: int, height: int, title: str, desc: str, body: list[str]) -> str:
    return (f'<svg class="chart capacity" role="img" viewBox="0 0 {width} {height}" width="100%" '
            f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
            f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>" + "".join(body) + "</svg>")


def torque_angle_svg(capacity: dict[str, Any]) -> str | None:
    """Isometric, 60 deg/s concentric and eccentric capacity against hip flexion, with the measured test point."""
    curve = capacity.get("torque_angle_curve") or []
    if not capacity.get("available") or not curve:
        return None
    w, h, left, right, top, bottom = 560, 270, 52, 16, 20, 44
    xs = [p["hip_flexion_deg"] for p in curve]
    series = [("isometric_nm", "isometric", ISO), ("concentric_60_nm", "concentric 60°/s", CON),
              ("eccentric_60_nm", "eccentric 60°/s", ECC)]
    ys = [p[k] for p in curve for k, _, _ in series if isinstance(p.get(k), (int, float))]
    test = capacity.get("test") or {}
    if isinstance(test.get("measured_torque_nm"), (int, float)):
        ys.append(test["measured_torque_nm"])
    x0, x1, y1 = min(xs), max(xs), max(ys) * 1.1 or 1.0

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (w - left - right)

    def py(y: float) -> float:
        return h - bottom - max(y, 0) / y1 * (h - top - bottom)

    body = [f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="{INK}"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="{INK}"/>']
    for tick in range(int(x0 // 20 * 20), int(x1) + 1, 20):
        if tick >= x0:
            body.append(f'<text x="{px(tick):.1f}" y="{h - bottom + 16}" font-size="11" text-anchor="middle" '
                        f'fill="{MUTED}">{tick}°</text>')
    step = max(10, round(y1 / 5 / 10) * 10)
    for tick in range(0, int(y1) + 1, step):
        body.append(f'<text x="{left - 6}" y="{py(tick) + 4:.1f}" font-size="11" text-anchor="end" '
                    f'fill="{MUTED}">{tick}</text>')
    body.append(f'<text x="{(left + w - right) / 2}" y="{h - 6}" font-size="12" text-anchor="middle" '
                f'fill="{INK}">hip flexion</text>')
    body.append(f'<text x="14" y="{(top + h - bottom) / 2}" font-size="12" text-anchor="middle" fill="{INK}" '
                f'transform="rotate(-90 14 {(top + h - bottom) / 2})">N m</text>')
    for i, (key, label, colour) in enumerate(series):
        pts = [(px(p["hip_flexion_deg"]), py(p[key])) for p in curve if isinstance(p.get(key), (int, float))]
        if pts:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
            body.append(f'<text x="{w - right - 4}" y="{top + 14 * i + 4}" font-size="11" text-anchor="end" '
                        f'fill="{colour}">{escape(label)}</text>')
    if isinstance(test.get("measured_torque_nm"), (int, float)) and isinstance(test.get("hip_flexion_deg"),
                                                                                  (int, float)):
        cx, cy = px(test["hip_flexion_deg"]), py(test["measured_torque_nm"])
        body.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="{INK}"/>')
        body.append(f'<text x="{cx + 8:.1f}" y="{cy - 8:.1f}" font-size="11" fill="{INK}">measured '
                    f'{test["measured_torque_nm"]:.0f} N m</text>')
    desc = (f"Predicted {capacity.get('side', '')} hip extension torque from {x0:g} to {x1:g} degrees of hip "
            f"flexion; peak isometric {max(p['isometric_nm'] for p in curve):.0f} N m.")
    return _svg(w, h, "Hip extension capacity by hip angle", desc, body)


def task_bars_svg(capacity: dict[str, Any]) -> str | None:
    """Share of capacity each task uses at its peak, against the 100 % line; tasks without data say so."""
    tasks = capacity.get("tasks") or []
    if not capacity.get("available") or not tasks:
        return None
    row, left, w = 28, 250, 600
    shares = [t["share_of_capacity_percent"] for t in tasks if isinstance(t.get("share_of_capacity_percent"),
                                                                          (int, float))]
    shares += [t["share_range_percent"][1] for t in tasks if t.get("share_range_percent")]
    top_pct = max([100.0, *shares]) * 1.05
    h = row * len(tasks) + 30

    def px(pct: float) -> float:
        return left + pct / top_pct * (w - left - 50)

    body = []
    for i, t in enumerate(tasks):
        y = 10 + i * row
        label = str(t.get("label") or t.get("task")).split(" (")[0]  # details are in the table beside it
        body.append(f'<text x="{left - 8}" y="{y + 15}" font-size="12" text-anchor="end" fill="{INK}">'
                    f'{escape(label)}</text>')
        share = t.get("share_of_capacity_percent")
        if isinstance(share, (int, float)):
            status = t.get("share_status") or "plausible"
            colour = OVER if share > 100 or status == "implausible" else ISO
            body.append(f'<rect x="{left}" y="{y + 3}" width="{px(share) - left:.1f}" height="{row - 10}" '
                        f'fill="{colour}"/>')
            rng = t.get("share_range_percent")
            end = share
            if rng:  # a flagged estimate: its range as a whisker
                end = max(share, rng[1])
                body.append(f'<line x1="{px(rng[0]):.1f}" y1="{y + 12}" x2="{px(rng[1]):.1f}" y2="{y + 12}" '
                            f'stroke="{INK}" stroke-width="1.5"/>')
            flag = "" if status == "plausible" else f" ({status})"
            body.append(f'<text x="{px(end) + 4:.1f}" y="{y + 15}" font-size="11" fill="{INK}">'
                        f'{share:.0f}%{flag}</text>')
        else:
            body.append(f'<text x="{left + 4}" y="{y + 15}" font-size="11" fill="{MUTED}">'
                        "no published value retrieved</text>")
    x100 = px(100)
    body.append(f'<line x1="{x100:.1f}" y1="4" x2="{x100:.1f}" y2="{h - 18}" stroke="{INK}" stroke-dasharray="4 3"/>')
    body.append(f'<text x="{x100:.1f}" y="{h - 4}" font-size="11" text-anchor="middle" fill="{INK}">'
                "100% of capacity</text>")
    described = "; ".join(f"{t.get('task')}: {t['share_of_capacity_percent']:.0f}%" for t in tasks
                          if isinstance(t.get("share_of_capacity_percent"), (int, float)))
    return _svg(w, h, "Share of capacity each task uses", described or "No task values", body)
