"""Plots of capacity reports (matplotlib, imported lazily). Each function returns SVG text or writes a file.

``capacity_report`` dictionaries (``hipext.biomech.capacity``) can be drawn by any adapter (CLI, web page,
report) with ``torque_angle_svg`` and ``task_bars_svg``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(fig: Any, path: Path | None) -> str:
    plt = _plt()
    fig.tight_layout()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
        plt.close(fig)
        return str(path)
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    return buf.getvalue()


def torque_angle_svg(report: dict[str, Any], *, path: Path | None = None) -> str:
    """Predicted isometric, concentric 60 deg/s and eccentric 60 deg/s hip extension torque against hip angle.

    Returns SVG text, or the path written when ``path`` is given (PNG or SVG by suffix).
    """
    plt = _plt()
    curve = report.get("torque_angle_curve") or []
    fig, ax = plt.subplots(figsize=(6, 3.6))
    if curve:
        x = [r["hip_flexion_deg"] for r in curve]
        ax.plot(x, [r["eccentric_60_nm"] for r in curve], label="eccentric 60°/s", color="#c44e52")
        ax.plot(x, [r["isometric_nm"] for r in curve], label="isometric", color="#4c72b0", lw=2)
        ax.plot(x, [r["concentric_60_nm"] for r in curve], label="concentric 60°/s", color="#55a868")
        test = report.get("test") or {}
        if report.get("scaled_to_measurement") and test.get("hip_flexion_deg") is not None:
            ax.plot([test["hip_flexion_deg"]], [test["measured_torque_nm"]], "ko", label="measured")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no curve: height and measured torque missing", ha="center", transform=ax.transAxes)
    ax.set_xlabel("hip flexion (deg)")
    ax.set_ylabel("hip extension torque (N m)")
    ax.set_title("Predicted hip extension capacity (Anderson et al. 2007)", fontsize=10)
    ax.grid(alpha=0.3)
    return _finish(fig, path)


def task_bars_svg(report: dict[str, Any], *, path: Path | None = None) -> str:
    """Horizontal bars: share of capacity each task uses (tasks without a published value are labelled)."""
    plt = _plt()
    tasks = report.get("tasks") or []
    labels = [t.get("label") or t["task"] for t in tasks]
    vals = [t.get("share_of_capacity_percent") or 0.0 for t in tasks]
    fig, ax = plt.subplots(figsize=(6.5, 0.5 + 0.5 * max(1, len(tasks))))
    bars = ax.barh(labels, vals, color=["#c44e52" if v >= 100 or t.get("share_status") == "implausible" else "#4c72b0"
                                          for v, t in zip(vals, tasks, strict=True)])
    for b, t in zip(bars, tasks, strict=True):
        if t.get("peak_demand_nm") is None:
            txt = "no published value retrieved"
        elif t.get("share_of_capacity_percent") is None:
            txt = "capacity unknown"
        else:
            status = t.get("share_status") or "plausible"
            rng = t.get("share_range_percent")
            txt = f"{t['share_of_capacity_percent']:.0f}%" + ("" if status == "plausible" else f" ({status}"
                                                               + (f", {rng[0]:.0f}-{rng[1]:.0f}%" if rng else "")
                                                               + ")")
        ax.text(b.get_width() + 1, b.get_y() + b.get_height() / 2, txt, va="center", fontsize=8)
    ax.axvline(100, color="k", lw=0.8, ls="--")
    ax.set_xlim(0, max([110.0, *[v * 1.15 for v in vals]]))
    ax.set_xlabel("share of hip extension capacity at the task's peak (%)")
    ax.invert_yaxis()
    return _finish(fig, path)
