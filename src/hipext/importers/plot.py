"""The imported force-time curve as inline SVG, with each repetition's onset and peak marked, for screen and paper."""

from __future__ import annotations

from html import escape

from hipext.importers.models import TraceView

INK, MUTED, LINE, ONSET, PEAK = "#222", "#777", "#2f6db5", "#2e8b57", "#c0392b"


def trace_svg(view: TraceView, *, width: int = 640, height: int = 260) -> str:
    left, right, top, bottom = 56, 14, 16, 40
    t, f = view.time_s, view.force_n
    t0, t1 = t[0], t[-1]
    f0, f1 = min(0.0, min(f)), max([*f, *(p for _, p in view.peaks)]) * 1.1 or 1.0

    def px(x: float) -> float:
        return left + (x - t0) / ((t1 - t0) or 1) * (width - left - right)

    def py(y: float) -> float:
        return height - bottom - (y - f0) / (f1 - f0) * (height - top - bottom)

    body = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="{INK}"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="{INK}"/>',
            f'<text x="{(left + width - right) / 2}" y="{height - 6}" font-size="12" text-anchor="middle" '
            f'fill="{INK}">time (s)</text>',
            f'<text x="14" y="{(top + height - bottom) / 2}" font-size="12" text-anchor="middle" fill="{INK}" '
            f'transform="rotate(-90 14 {(top + height - bottom) / 2})">force (N)</text>']
    for i in range(6):
        x = t0 + (t1 - t0) * i / 5
        body.append(f'<text x="{px(x):.1f}" y="{height - bottom + 15}" font-size="11" text-anchor="middle" '
                    f'fill="{MUTED}">{x:.1f}</text>')
        y = f0 + (f1 - f0) * i / 5
        body.append(f'<text x="{left - 6}" y="{py(y) + 4:.1f}" font-size="11" text-anchor="end" '
                    f'fill="{MUTED}">{y:.0f}</text>')
    points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(t, f, strict=True))
    body.append(f'<polyline fill="none" stroke="{LINE}" stroke-width="1.5" points="{points}"/>')
    for k, (r, (t_peak, f_peak)) in enumerate(zip(view.repetitions, view.peaks, strict=True), start=1):
        x_on = px(r.onset_s)
        body.append(f'<line x1="{x_on:.1f}" y1="{top}" x2="{x_on:.1f}" y2="{height - bottom}" stroke="{ONSET}" '
                    'stroke-dasharray="3 3"/>')
        body.append(f'<circle cx="{px(t_peak):.1f}" cy="{py(f_peak):.1f}" r="4" fill="{PEAK}"/>')
        body.append(f'<text x="{px(t_peak) + 6:.1f}" y="{py(f_peak) - 6:.1f}" font-size="11" fill="{INK}">'
                    f'#{k} {r.peak_force_n:.0f} N</text>')
    desc = "; ".join(f"repetition {k}: peak {r.peak_force_n:.0f} N, {r.time_to_peak_s * 1000:.0f} ms to peak"
                     for k, r in enumerate(view.repetitions, start=1))
    return (f'<svg class="chart force-time" role="img" viewBox="0 0 {width} {height}" width="100%" '
            f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
            f"<title>{escape('Force-time curve: ' + view.label)}</title><desc>{escape(desc)}</desc>"
            + "".join(body) + "</svg>")
